//! Findings lifecycle, history per day, queries and the fleet summary.

mod common;

use common::*;
use postwatch_fleetstore::{FindingChanges, FindingFilter, StoreError};
use postwatch_model::{InUse, Severity};
use time::macros::{date, datetime};

#[test]
fn lifecycle_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let openssl = pkg("openssl", "3.0.11-1");
    let curl = pkg("curl", "7.88.1-10");
    let (_, id) = store
        .store_report(
            &full("r1", host_ref("web-1"), vec![openssl.clone(), curl.clone()]),
            None,
        )
        .unwrap();
    let id = id.unwrap();

    let a = finding(
        "CVE-2024-0001",
        &openssl,
        Severity::Critical,
        InUse::Yes,
        true,
        90.0,
    );
    let b = finding(
        "CVE-2024-0002",
        &openssl,
        Severity::High,
        InUse::Yes,
        false,
        60.0,
    );
    let c = finding(
        "CVE-2024-0003",
        &curl,
        Severity::Medium,
        InUse::No,
        true,
        30.0,
    );

    // Day 1: a, b, c are new.
    let day1 = datetime!(2024-05-01 10:00 UTC);
    let ch = store
        .replace_findings(id, &[a.clone(), b.clone(), c.clone()], day1)
        .unwrap();
    assert_eq!(
        ch,
        FindingChanges {
            new: 3,
            resolved: 0,
            reopened: 0,
            open: 3
        }
    );
    // Again the same day, same set: nothing changes.
    let ch = store
        .replace_findings(
            id,
            &[a.clone(), b.clone(), c.clone()],
            datetime!(2024-05-01 12:00 UTC),
        )
        .unwrap();
    assert_eq!(
        ch,
        FindingChanges {
            new: 0,
            resolved: 0,
            reopened: 0,
            open: 3
        }
    );

    // Day 2: a is fixed.
    let day2 = datetime!(2024-05-02 09:30 UTC);
    let ch = store
        .replace_findings(id, &[b.clone(), c.clone()], day2)
        .unwrap();
    assert_eq!(
        ch,
        FindingChanges {
            new: 0,
            resolved: 1,
            reopened: 0,
            open: 2
        }
    );
    let all = store
        .findings(&FindingFilter {
            include_resolved: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 3);
    let fa = all.iter().find(|f| f.finding.id == a.id).unwrap();
    assert_eq!(fa.first_seen, "2024-05-01T10:00:00Z");
    assert_eq!(fa.resolved_at.as_deref(), Some("2024-05-02T09:30:00Z"));
    let open = store.findings(&FindingFilter::default()).unwrap();
    assert_eq!(open.len(), 2);
    assert!(open.iter().all(|f| f.resolved_at.is_none()));
    // Riskiest first.
    assert_eq!(open[0].finding.id, b.id);
    assert_eq!(open[0].asset_name, "web-1");
    assert_eq!(open[0].finding, b);

    // Day 3: a comes back (a downgrade), c goes, d is new (on a package whose finding
    // was listed twice: counted once).
    let day3 = datetime!(2024-05-03 23:59 UTC);
    let d = finding(
        "CVE-2024-0004",
        &curl,
        Severity::Low,
        InUse::Unknown,
        false,
        5.0,
    );
    let mut d_lower = d.clone();
    d_lower.risk = 1.0;
    let ch = store
        .replace_findings(id, &[a.clone(), b.clone(), d_lower, d.clone()], day3)
        .unwrap();
    assert_eq!(
        ch,
        FindingChanges {
            new: 1,
            resolved: 1,
            reopened: 1,
            open: 3
        }
    );
    let all = store
        .findings(&FindingFilter {
            include_resolved: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 4);
    let fa = all.iter().find(|f| f.finding.id == a.id).unwrap();
    assert_eq!(
        fa.first_seen, "2024-05-01T10:00:00Z",
        "first_seen kept on reopen"
    );
    assert_eq!(fa.resolved_at, None);
    assert_eq!(fa.last_seen, "2024-05-03T23:59:00Z");
    let fc = all.iter().find(|f| f.finding.id == c.id).unwrap();
    assert_eq!(fc.resolved_at.as_deref(), Some("2024-05-03T23:59:00Z"));
    let fd = all.iter().find(|f| f.finding.id == d.id).unwrap();
    assert_eq!(fd.finding.risk, 5.0, "the riskier duplicate is kept");

    // History of the asset.
    let h = store
        .history(Some(id), date!(2024 - 04 - 30), date!(2024 - 05 - 05))
        .unwrap();
    assert_eq!(
        h.iter().map(|p| p.day.as_str()).collect::<Vec<_>>(),
        ["2024-05-01", "2024-05-02", "2024-05-03"]
    );
    assert_eq!(
        (h[0].open, h[0].new, h[0].resolved, h[0].reopened),
        (3, 3, 0, 0)
    );
    assert_eq!(
        (h[1].open, h[1].new, h[1].resolved, h[1].reopened),
        (2, 0, 1, 0)
    );
    assert_eq!(
        (h[2].open, h[2].new, h[2].resolved, h[2].reopened),
        (3, 1, 1, 1)
    );
    assert_eq!(h[0].assets, 1);
    // Cells of day 1: critical/yes/fixable, high/yes/unfixable, medium/no/fixable.
    let cells: Vec<(Severity, InUse, bool, u64)> = h[0]
        .counts
        .iter()
        .map(|c| (c.severity, c.in_use, c.fixable, c.count))
        .collect();
    assert_eq!(
        cells,
        [
            (Severity::Critical, InUse::Yes, true, 1),
            (Severity::High, InUse::Yes, false, 1),
            (Severity::Medium, InUse::No, true, 1),
        ]
    );
    let cells: Vec<(Severity, InUse, bool, u64)> = h[2]
        .counts
        .iter()
        .map(|c| (c.severity, c.in_use, c.fixable, c.count))
        .collect();
    assert_eq!(
        cells,
        [
            (Severity::Critical, InUse::Yes, true, 1),
            (Severity::High, InUse::Yes, false, 1),
            (Severity::Low, InUse::Unknown, false, 1),
        ]
    );

    // The fleet history equals the asset's while there is one asset.
    let fleet = store
        .history(None, date!(2024 - 04 - 30), date!(2024 - 05 - 05))
        .unwrap();
    assert_eq!(fleet, h);
    // A narrower range.
    let one = store
        .history(None, date!(2024 - 05 - 02), date!(2024 - 05 - 02))
        .unwrap();
    assert_eq!(one.len(), 1);
    assert!(store
        .history(None, date!(2024 - 05 - 05), date!(2024 - 05 - 01))
        .unwrap()
        .is_empty());

    // A second asset on day 3: fleet points sum both.
    let (_, id2) = store
        .store_report(&full("s1", host_ref("web-2"), vec![openssl.clone()]), None)
        .unwrap();
    let id2 = id2.unwrap();
    store
        .replace_findings(
            id2,
            std::slice::from_ref(&a),
            datetime!(2024-05-03 08:00 UTC),
        )
        .unwrap();
    let fleet = store
        .history(None, date!(2024 - 05 - 03), date!(2024 - 05 - 03))
        .unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!((fleet[0].assets, fleet[0].open, fleet[0].new), (2, 4, 2));
    let crit = fleet[0]
        .counts
        .iter()
        .find(|c| c.severity == Severity::Critical)
        .unwrap();
    assert_eq!(crit.count, 2);
    // Replacing web-2's day-3 snapshot adjusts the fleet sum instead of adding to it.
    store
        .replace_findings(id2, &[], datetime!(2024-05-03 09:00 UTC))
        .unwrap();
    let fleet = store
        .history(None, date!(2024 - 05 - 03), date!(2024 - 05 - 03))
        .unwrap();
    assert_eq!(
        (
            fleet[0].assets,
            fleet[0].open,
            fleet[0].new,
            fleet[0].resolved
        ),
        (2, 3, 2, 2)
    );

    // Pruning: keep 2 days as of 2024-05-03 → day 1 goes; findings resolved before
    // 2024-05-02 00:00 go (none: a was reopened), c (resolved on day 3) stays.
    let deleted = store.prune_history(2, date!(2024 - 05 - 03)).unwrap();
    assert!(deleted >= 4, "{deleted}");
    let h = store
        .history(Some(id), date!(2024 - 04 - 30), date!(2024 - 05 - 05))
        .unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        store
            .history(None, date!(2024 - 05 - 01), date!(2024 - 05 - 01))
            .unwrap(),
        vec![]
    );
    // Keeping 0 days as of the far future removes the resolved findings too.
    store.prune_history(0, date!(2030 - 01 - 01)).unwrap();
    let all = store
        .findings(&FindingFilter {
            include_resolved: true,
            ..Default::default()
        })
        .unwrap();
    assert!(all.iter().all(|f| f.resolved_at.is_none()));
    assert_eq!(all.len(), 3);

    // Unknown asset.
    assert!(matches!(
        store.replace_findings(9999, &[], day1),
        Err(StoreError::UnknownAsset(9999))
    ));
}

#[test]
fn filters_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let now = datetime!(2024-06-01 00:00 UTC);
    let openssl = pkg("openssl", "3.0.11-1");
    let zlib = pkg("zlib1g", "1.2.13");
    let requests = pypi("requests", "2.31.0");

    let (_, h1) = store
        .store_report(
            &full("h1", host_ref("h1"), vec![openssl.clone(), zlib.clone()]),
            None,
        )
        .unwrap();
    let h1 = h1.unwrap();
    let mut big = full(
        "h2",
        host_ref("h2"),
        vec![openssl.clone(), requests.clone()],
    );
    big.facts = Some(facts("h2", 16, 64));
    let (_, h2) = store.store_report(&big, None).unwrap();
    let h2 = h2.unwrap();
    let (_, img) = store
        .store_report(&full("i1", image_ref("app:1"), vec![openssl.clone()]), None)
        .unwrap();
    let img = img.unwrap();

    store
        .replace_findings(
            h1,
            &[
                kev(finding(
                    "CVE-1",
                    &openssl,
                    Severity::Critical,
                    InUse::Yes,
                    true,
                    95.0,
                )),
                finding("CVE-2", &zlib, Severity::Low, InUse::No, false, 3.0),
            ],
            now,
        )
        .unwrap();
    store
        .replace_findings(
            h2,
            &[
                kev(finding(
                    "CVE-1",
                    &openssl,
                    Severity::Critical,
                    InUse::No,
                    true,
                    80.0,
                )),
                finding(
                    "CVE-3",
                    &requests,
                    Severity::Medium,
                    InUse::Unknown,
                    true,
                    20.0,
                ),
                finding("CVE-4", &requests, Severity::High, InUse::Yes, false, 50.0),
            ],
            now,
        )
        .unwrap();
    store
        .replace_findings(
            img,
            &[finding(
                "CVE-1",
                &openssl,
                Severity::Critical,
                InUse::Unknown,
                true,
                70.0,
            )],
            now,
        )
        .unwrap();

    let q = |f: FindingFilter| -> Vec<(i64, String)> {
        store
            .findings(&f)
            .unwrap()
            .into_iter()
            .map(|s| (s.asset_id, s.finding.id))
            .collect()
    };
    assert_eq!(q(FindingFilter::default()).len(), 6);
    assert_eq!(
        q(FindingFilter::default()),
        [
            (h1, "CVE-1".to_string()),
            (h2, "CVE-1".into()),
            (img, "CVE-1".into()),
            (h2, "CVE-4".into()),
            (h2, "CVE-3".into()),
            (h1, "CVE-2".into()),
        ]
    );
    assert_eq!(
        q(FindingFilter {
            asset: Some(h2),
            ..Default::default()
        })
        .len(),
        3
    );
    assert_eq!(
        q(FindingFilter {
            severity: vec![Severity::High, Severity::Low],
            ..Default::default()
        }),
        [(h2, "CVE-4".to_string()), (h1, "CVE-2".into())]
    );
    assert_eq!(
        q(FindingFilter {
            in_use: Some(InUse::Yes),
            ..Default::default()
        }),
        [(h1, "CVE-1".to_string()), (h2, "CVE-4".into())]
    );
    assert_eq!(
        q(FindingFilter {
            kev: Some(true),
            ..Default::default()
        })
        .len(),
        2
    );
    assert_eq!(
        q(FindingFilter {
            kev: Some(false),
            ..Default::default()
        })
        .len(),
        4
    );
    assert_eq!(
        q(FindingFilter {
            fixable: Some(false),
            ..Default::default()
        })
        .len(),
        2
    );
    assert_eq!(
        q(FindingFilter {
            package: Some("requests".into()),
            ..Default::default()
        })
        .len(),
        2
    );
    assert_eq!(
        q(FindingFilter {
            ecosystem: Some("PyPI".into()),
            ..Default::default()
        })
        .len(),
        2
    );
    assert_eq!(
        q(FindingFilter {
            vuln_id: Some("CVE-1".into()),
            ..Default::default()
        })
        .len(),
        3
    );
    assert_eq!(
        q(FindingFilter {
            limit: Some(2),
            offset: 1,
            ..Default::default()
        }),
        [(h2, "CVE-1".to_string()), (img, "CVE-1".into())]
    );
    assert_eq!(
        store
            .count_findings(&FindingFilter {
                ecosystem: Some("PyPI".into()),
                limit: Some(1),
                ..Default::default()
            })
            .unwrap(),
        2
    );

    let asset = store.asset(h2).unwrap().unwrap();
    assert_eq!(asset.open_findings.critical, 1);
    assert_eq!(asset.open_findings.high, 1);
    assert_eq!(asset.open_findings.medium, 1);
    assert_eq!(asset.open_findings.total, 3);
    assert_eq!(asset.open_kev, 1);
    assert_eq!(asset.open_in_use, 1);
    assert_eq!(asset.open_fixable, 2);
    assert_eq!(asset.risk_max, 80.0);
    assert_eq!(asset.risk_total, 150.0);
    assert_eq!(
        asset.findings_evaluated_at.as_deref(),
        Some("2024-06-01T00:00:00Z")
    );

    let s = store.fleet_summary().unwrap();
    assert_eq!(s.findings.critical.total, 3);
    assert_eq!(
        (
            s.findings.critical.yes,
            s.findings.critical.no,
            s.findings.critical.unknown
        ),
        (1, 1, 1)
    );
    assert_eq!(s.findings.total.total, 6);
    assert_eq!(
        (
            s.assets_by_kind.host,
            s.assets_by_kind.image,
            s.assets_by_kind.total
        ),
        (2, 1, 3)
    );
    assert_eq!(s.hosts_by_os.len(), 1);
    assert_eq!(s.hosts_by_os[0].label, "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(s.hosts_by_os[0].count, 2);
    let hw: Vec<(&str, u64)> = s
        .hosts_by_hardware
        .iter()
        .map(|l| (l.label.as_str(), l.count))
        .collect();
    assert_eq!(
        hw,
        [("2 cores / 4-8 GiB", 1), ("9-16 cores / 32-64 GiB", 1)]
    );
    let top = &s.top_packages[0];
    assert_eq!(
        (top.name.as_str(), top.assets, top.open_findings),
        ("openssl", 3, 3)
    );
    assert_eq!(top.worst_severity, Severity::Critical);
    assert_eq!(s.top_packages[1].name, "requests");
    assert_eq!(s.most_severe_images.len(), 1);
    assert_eq!(s.most_severe_images[0].id, img);
    assert_eq!(
        s.hosts_by_threats.iter().map(|a| a.id).collect::<Vec<_>>(),
        [h2, h1]
    );
    // The summary is JSON for the server.
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["findings"]["critical"]["yes"], 1);
}
