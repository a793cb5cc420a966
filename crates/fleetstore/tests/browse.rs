//! Paged listings with totals, alias and package-name search, and the fleet's risk.

mod common;

use common::*;
use postwatch_fleetstore::{AssetColumn, AssetFilter, FindingFilter};
use postwatch_model::{InUse, Severity};
use time::macros::datetime;

#[test]
fn asset_pages_cover_every_asset_once_with_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let p = pkg("openssl", "3.0.11-1");
    for i in 0..23 {
        let (_, id) = store
            .store_report(
                &full(
                    &format!("r{i}"),
                    host_ref(&format!("Web-{i:02}")),
                    vec![p.clone()],
                ),
                None,
            )
            .unwrap();
        let findings: Vec<_> = (0..i % 4)
            .map(|k| {
                finding(
                    &format!("CVE-{k}"),
                    &p,
                    Severity::High,
                    InUse::No,
                    true,
                    10.0,
                )
            })
            .collect();
        store
            .replace_findings(id.unwrap(), &findings, datetime!(2024-05-01 10:00 UTC))
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let filter = AssetFilter {
            limit: Some(10),
            offset,
            ..AssetFilter::default()
        };
        let page = store
            .asset_page(&filter, AssetColumn::Findings, true)
            .unwrap();
        assert_eq!(page.total, 23);
        assert!(page.items.len() <= 10);
        if page.items.is_empty() {
            break;
        }
        seen.extend(
            page.items
                .iter()
                .map(|a| (a.open_findings.total, a.name.clone())),
        );
        offset += 10;
    }
    assert_eq!(seen.len(), 23);
    // Most findings first, ties by name.
    let mut want = seen.clone();
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(seen, want);
    // The name filter ignores ASCII case, and % is not a wildcard.
    let web = AssetFilter {
        name_contains: Some("web-1".into()),
        ..AssetFilter::default()
    };
    assert_eq!(store.count_assets(&web).unwrap(), 10);
    let pct = AssetFilter {
        name_contains: Some("%".into()),
        ..AssetFilter::default()
    };
    assert_eq!(store.count_assets(&pct).unwrap(), 0);
    let page = store.asset_page(&web, AssetColumn::Name, false).unwrap();
    assert_eq!(page.total, 10);
    assert_eq!(page.items.first().unwrap().name, "Web-10");
    assert_eq!(page.items.last().unwrap().name, "Web-19");
}

#[test]
fn aliases_find_the_primary_id_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let p = pkg("openssl", "3.0.11-1");
    let (_, id) = store
        .store_report(&full("r", host_ref("h"), vec![p.clone()]), None)
        .unwrap();
    let id = id.unwrap();
    // common::finding aliases CVE-X as DSA-CVE-X and records DEBIAN-CVE-X.
    let f = finding("CVE-2024-1", &p, Severity::High, InUse::No, true, 10.0);
    store
        .replace_findings(id, &[f], datetime!(2024-05-01 10:00 UTC))
        .unwrap();
    for q in [
        "CVE-2024-1",
        "cve-2024-1",
        "DSA-CVE-2024-1",
        "debian-cve-2024-1",
    ] {
        let found = store.search_vulns(q).unwrap();
        assert_eq!(found.len(), 1, "{q}");
        assert_eq!(found[0].vuln_id, "CVE-2024-1", "{q}");
    }
    assert_eq!(
        store.vuln_aliases("CVE-2024-1").unwrap(),
        vec!["DEBIAN-CVE-2024-1".to_owned(), "DSA-CVE-2024-1".to_owned()]
    );
    assert!(store.search_vulns("CVE-2024-2").unwrap().is_empty());
    // Once resolved, the alias no longer finds anything.
    store
        .replace_findings(id, &[], datetime!(2024-05-02 10:00 UTC))
        .unwrap();
    assert!(store.search_vulns("DSA-CVE-2024-1").unwrap().is_empty());
}

#[test]
fn package_search_pages_and_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ssl = pkg("libssl3", "3.0.11-1");
    let ssl_old = pkg("libssl3", "3.0.9-1");
    let curl = pkg("curl", "7.88.1-10");
    for i in 0..5 {
        let p = if i < 3 { ssl.clone() } else { ssl_old.clone() };
        let (_, id) = store
            .store_report(
                &full(
                    &format!("r{i}"),
                    host_ref(&format!("h{i}")),
                    vec![p.clone(), curl.clone()],
                ),
                None,
            )
            .unwrap();
        let f = finding(
            "CVE-9",
            &p,
            Severity::Critical,
            InUse::Yes,
            true,
            50.0 + i as f64,
        );
        store
            .replace_findings(id.unwrap(), &[f], datetime!(2024-05-01 10:00 UTC))
            .unwrap();
    }
    let found = store.search_packages("SSL", 10, 0).unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(
        (found.items[0].name.as_str(), found.items[0].assets),
        ("libssl3", 5)
    );
    assert_eq!(store.search_packages("l", 1, 1).unwrap().total, 2);
    assert_eq!(store.search_packages("l", 1, 1).unwrap().items.len(), 1);

    let page = store.package_assets_page("libssl3", None, 2, 4).unwrap();
    assert_eq!((page.total, page.items.len()), (5, 1));
    let stats = store.package_stats("libssl3", None).unwrap();
    assert_eq!((stats.assets, stats.versions), (5, 2));
    assert_eq!(stats.ecosystems, vec!["Debian:12".to_owned()]);

    let filter = FindingFilter {
        package: Some("libssl3".into()),
        ..FindingFilter::default()
    };
    let groups = store.vuln_groups(&filter).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].assets, groups[0].findings), (5, 5));
    assert_eq!(groups[0].risk_max, 54.0);
    assert_eq!(store.count_finding_assets(&filter).unwrap(), 5);

    let risk = store.fleet_risk().unwrap();
    assert_eq!(risk.total, 50.0 + 51.0 + 52.0 + 53.0 + 54.0);
    assert_eq!(risk.in_use_total, risk.total);
    assert_eq!(risk.max, 54.0);
    assert_eq!(
        store.hosts_by_open_findings(&[0, 1, 2]).unwrap(),
        vec![0, 5, 0]
    );
}

#[test]
fn migrating_a_version_1_store_indexes_the_aliases_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let p = pkg("openssl", "3.0.11-1");
        let (_, id) = store
            .store_report(&full("r", host_ref("h"), vec![p.clone()]), None)
            .unwrap();
        let f = finding("CVE-2024-7", &p, Severity::High, InUse::Yes, true, 12.5);
        store
            .replace_findings(id.unwrap(), &[f], datetime!(2024-05-01 10:00 UTC))
            .unwrap();
    }
    // Back to the version 1 layout: no alias index, no risk columns, no container facts.
    {
        let conn = rusqlite::Connection::open(dir.path().join("fleet.db")).unwrap();
        conn.execute_batch(
            "DROP TABLE vuln_aliases;
             ALTER TABLE daily_changes DROP COLUMN risk_milli;
             ALTER TABLE daily_changes DROP COLUMN risk_in_use_milli;
             ALTER TABLE fleet_daily_changes DROP COLUMN risk_milli;
             ALTER TABLE fleet_daily_changes DROP COLUMN risk_in_use_milli;
             ALTER TABLE assets DROP COLUMN container;
             ALTER TABLE assets DROP COLUMN container_name;
             DROP TRIGGER packages_name_known;
             DROP TABLE package_names;
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.asset_ids().unwrap().len(), 1);
    // The package names the store held are searchable after the migration.
    assert_eq!(store.search_packages("openss", 10, 0).unwrap().total, 1);
    let found = store.search_vulns("dsa-cve-2024-7").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].vuln_id, "CVE-2024-7");
    // History written before the migration reads as zero risk; the next write records it.
    let day = time::macros::date!(2024 - 05 - 01);
    let before = store.history(None, day, day).unwrap();
    assert_eq!((before[0].open, before[0].risk), (1, 0.0));
    let id = store.asset_ids().unwrap()[0];
    let p = pkg("openssl", "3.0.11-1");
    let f = finding("CVE-2024-7", &p, Severity::High, InUse::Yes, true, 12.5);
    store
        .replace_findings(id, &[f], datetime!(2024-05-01 11:00 UTC))
        .unwrap();
    let after = store.history(None, day, day).unwrap();
    assert_eq!((after[0].risk, after[0].risk_in_use), (12.5, 12.5));
}

#[test]
fn package_search_agrees_with_a_scan_of_every_package() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // A fixed linear congruential sequence: the same fleet every run.
    let mut state = 11u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let names: Vec<String> = (0..150)
        .map(|i| {
            format!(
                "{}lib{}-{i}",
                ["", "py", "Node"][i % 3],
                ["ssl", "xml", "z"][i % 4 % 3]
            )
        })
        .collect();
    // (name, ecosystem) → the hosts that have it.
    let mut truth: std::collections::BTreeMap<(String, String), std::collections::BTreeSet<usize>> =
        Default::default();
    for host in 0..25 {
        let mut packages = Vec::new();
        for name in &names {
            if next() % 3 == 0 {
                let p = if next() % 2 == 0 {
                    pkg(name, "1.0-1")
                } else {
                    pypi(name, "1.0")
                };
                truth
                    .entry((p.name.clone(), p.ecosystem.clone()))
                    .or_default()
                    .insert(host);
                packages.push(p);
            }
        }
        store
            .store_report(
                &full(&format!("r{host}"), host_ref(&format!("h{host}")), packages),
                None,
            )
            .unwrap();
    }
    // Two hosts drop everything: names only they had must not be found any more.
    for host in [0, 1] {
        store
            .store_report(
                &full(
                    &format!("r{host}-empty"),
                    host_ref(&format!("h{host}")),
                    vec![],
                ),
                None,
            )
            .unwrap();
        for hosts in truth.values_mut() {
            hosts.remove(&host);
        }
    }
    truth.retain(|_, hosts| !hosts.is_empty());
    for needle in ["ssl", "SSL", "pylib", "node", "-1", "z-14", "nothing", ""] {
        let found = store.search_packages(needle, 10_000, 0).unwrap();
        let got: std::collections::BTreeMap<(String, String), u64> = found
            .items
            .iter()
            .map(|m| ((m.name.clone(), m.ecosystem.clone()), m.assets))
            .collect();
        let expected: std::collections::BTreeMap<(String, String), u64> = truth
            .iter()
            .filter(|((name, _), _)| {
                name.to_ascii_lowercase()
                    .contains(&needle.to_ascii_lowercase())
            })
            .map(|(k, hosts)| (k.clone(), hosts.len() as u64))
            .collect();
        assert_eq!(got, expected, "{needle}");
        assert_eq!(found.total, expected.len() as u64, "{needle}");
    }
}
