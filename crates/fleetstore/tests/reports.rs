//! Reports: full, delta, wrong base, duplicate ids; inventories read back exactly.

mod common;

use common::*;
use postwatch_fleetstore::{AssetFilter, AssetSort};
use postwatch_model::fleet::{package_key, AssetKind, InventoryPayload};
use postwatch_model::{InUseSummary, PackageInUse};

#[test]
fn full_delta_wrong_base_and_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());

    let curl = pkg("curl", "7.88.1-10");
    let openssl = pkg("openssl", "3.0.11-1");
    let bash = pkg("bash", "5.2.15-2");
    let requests = pypi("requests", "2.31.0");

    // Full.
    let (ack, id) = store
        .store_report(
            &full(
                "a-1",
                host_ref("web-1"),
                vec![curl.clone(), openssl.clone(), bash.clone()],
            ),
            Some("agent-x"),
        )
        .unwrap();
    assert!(ack.stored, "{ack:?}");
    assert_eq!(ack.report_id, "a-1");
    let id = id.unwrap();
    let inv = store.inventory(id).unwrap().unwrap();
    assert_eq!(
        inv.packages,
        sorted(vec![curl.clone(), openssl.clone(), bash.clone()])
    );
    assert_eq!(inv.report_id.as_deref(), Some("a-1"));
    assert_eq!(inv.os.as_ref().map(|o| o.id.as_str()), Some("debian"));
    assert_eq!(inv.target.as_ref().map(|t| t.name.as_str()), Some("web-1"));

    // Delta on a-1: openssl upgraded, requests added.
    let openssl2 = pkg("openssl", "3.0.13-1");
    let (ack, id2) = store
        .store_report(
            &delta(
                "a-2",
                host_ref("web-1"),
                "a-1",
                vec![openssl2.clone(), requests.clone()],
                vec![package_key(&openssl)],
            ),
            Some("agent-x"),
        )
        .unwrap();
    assert!(ack.stored, "{ack:?}");
    assert_eq!(id2, Some(id));
    let expected = sorted(vec![
        curl.clone(),
        bash.clone(),
        openssl2.clone(),
        requests.clone(),
    ]);
    let inv = store.inventory(id).unwrap().unwrap();
    assert_eq!(inv.packages, expected);
    assert_eq!(inv.report_id.as_deref(), Some("a-2"));
    // A delta without OS keeps the stored one.
    assert!(inv.os.is_some());

    // Delta on a stale base: refused, nothing changes.
    let (ack, id3) = store
        .store_report(
            &delta(
                "a-3",
                host_ref("web-1"),
                "a-1",
                vec![],
                vec![package_key(&curl)],
            ),
            None,
        )
        .unwrap();
    assert!(!ack.stored);
    let reason = ack.reason.unwrap();
    assert!(reason.contains("a-1") && reason.contains("a-2"), "{reason}");
    assert_eq!(id3, Some(id));
    assert_eq!(store.inventory(id).unwrap().unwrap().packages, expected);

    // Delta for an asset never seen: refused.
    let (ack, none) = store
        .store_report(&delta("b-1", host_ref("db-9"), "b-0", vec![], vec![]), None)
        .unwrap();
    assert!(!ack.stored);
    assert_eq!(none, None);

    // The same report id again: acknowledged, no change (even though its payload now
    // differs).
    let (ack, id4) = store
        .store_report(
            &full("a-2", host_ref("web-1"), vec![curl.clone()]),
            Some("agent-x"),
        )
        .unwrap();
    assert!(ack.stored);
    assert_eq!(id4, Some(id));
    let inv = store.inventory(id).unwrap().unwrap();
    assert_eq!(inv.packages, expected);
    assert_eq!(inv.report_id.as_deref(), Some("a-2"));

    // The refused delta's id was not remembered: once rebased it is stored.
    let (ack, _) = store
        .store_report(
            &delta(
                "a-3",
                host_ref("web-1"),
                "a-2",
                vec![],
                vec![package_key(&curl)],
            ),
            None,
        )
        .unwrap();
    assert!(ack.stored, "{ack:?}");
    let inv = store.inventory(id).unwrap().unwrap();
    assert_eq!(
        inv.packages,
        sorted(vec![bash.clone(), openssl2.clone(), requests.clone()])
    );

    // A full rewrites a package whose key is unchanged but whose details are not.
    let mut relicensed = bash.clone();
    relicensed.license = Some("GPL-3.0-or-later".into());
    relicensed.file_count = 99;
    let (ack, _) = store
        .store_report(
            &full(
                "a-3b",
                host_ref("web-1"),
                vec![relicensed.clone(), openssl2.clone(), requests.clone()],
            ),
            None,
        )
        .unwrap();
    assert!(ack.stored);
    assert_eq!(
        store.inventory(id).unwrap().unwrap().packages,
        sorted(vec![relicensed, openssl2.clone(), requests.clone()])
    );

    // A full replaces everything.
    let (ack, _) = store
        .store_report(
            &full("a-4", host_ref("web-1"), vec![requests.clone()]),
            None,
        )
        .unwrap();
    assert!(ack.stored);
    assert_eq!(
        store.inventory(id).unwrap().unwrap().packages,
        vec![requests.clone()]
    );

    let summary = store.asset(id).unwrap().unwrap();
    assert_eq!(summary.packages, 1);
    assert_eq!(summary.kind, AssetKind::Host);
    assert_eq!(summary.agent_id.as_deref(), Some("agent-x"));
    assert_eq!(summary.last_report_id.as_deref(), Some("a-4"));
    assert_eq!(
        summary.os_label.as_deref(),
        Some("Debian GNU/Linux 12 (bookworm)")
    );
    assert_eq!(summary.facts.as_ref().map(|f| f.cpu_cores), Some(2));
    assert_eq!(store.asset_ids().unwrap(), vec![id]);
    assert!(store.inventory(id + 100).unwrap().is_none());
    assert!(store.asset(id + 100).unwrap().is_none());
}

#[test]
fn a_report_id_of_another_asset_is_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (ack, _) = store
        .store_report(&full("r-1", host_ref("one"), vec![pkg("a", "1")]), None)
        .unwrap();
    assert!(ack.stored);
    let (ack, id) = store
        .store_report(&full("r-1", host_ref("two"), vec![pkg("b", "1")]), None)
        .unwrap();
    assert!(!ack.stored, "{ack:?}");
    assert!(ack.reason.unwrap().contains("one"));
    assert_eq!(id, None);
    assert_eq!(store.asset_ids().unwrap().len(), 1);
}

#[test]
fn large_packages_in_use_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());

    // Many files: stored compressed, read back exactly.
    let mut big = pkg("linux-image", "6.1.76-1");
    big.files = (0..3000)
        .map(|i| format!("/lib/modules/6.1.0/kernel/drivers/net/mod{i}.ko"))
        .collect();
    big.file_count = big.files.len();
    big.epoch = Some(1);
    let mut report = full(
        "h-1",
        host_ref("big"),
        vec![big.clone(), pypi("six", "1.16.0")],
    );
    let mut in_use = InUseSummary {
        sources: vec!["proc-snapshot".into()],
        processes: 12,
        packages_in_use: 1,
        findings: 0,
        findings_in_use: 0,
        reduction_percent: f64::NAN,
        notes: vec![],
        packages: vec![PackageInUse {
            name: big.name.clone(),
            version: big.version.clone(),
            purl: big.purl.clone(),
            evidence: vec![],
        }],
    };
    report.in_use = Some(in_use.clone());
    let (_, id) = store.store_report(&report, None).unwrap();
    let id = id.unwrap();
    let inv = store.inventory(id).unwrap().unwrap();
    assert_eq!(inv.packages, sorted(vec![big, pypi("six", "1.16.0")]));
    // NaN is stored as 0 so that it reads back.
    in_use.reduction_percent = 0.0;
    assert_eq!(inv.in_use, Some(in_use));
    assert_eq!(store.asset(id).unwrap().unwrap().in_use_packages, Some(1));

    // An image, no facts; listing and filters.
    let (_, img) = store
        .store_report(
            &full("i-1", image_ref("nginx:1.25"), vec![pkg("nginx", "1.25")]),
            None,
        )
        .unwrap();
    let img = img.unwrap();
    let all = store.assets(&AssetFilter::default()).unwrap();
    assert_eq!(all.len(), 2);
    let images = store
        .assets(&AssetFilter {
            kind: Some(AssetKind::Image),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].id, img);
    assert!(images[0].facts.is_none());
    assert!(images[0]
        .image_digest
        .as_deref()
        .unwrap()
        .starts_with("sha256:"));
    let by_name = store
        .assets(&AssetFilter {
            name_contains: Some("ngin".into()),
            sort: AssetSort::Name,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_name.len(), 1);
    let paged = store
        .assets(&AssetFilter {
            sort: AssetSort::Name,
            limit: Some(1),
            offset: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(paged.len(), 1);
    assert_eq!(paged[0].name, "nginx:1.25");

    // Which assets hold a package.
    let six = store.package_assets("six", None).unwrap();
    assert_eq!(six.len(), 1);
    assert_eq!(six[0].asset_id, id);
    assert!(store
        .package_assets("six", Some("Debian:12"))
        .unwrap()
        .is_empty());
    assert_eq!(
        store.asset_id(AssetKind::Image, "nginx:1.25").unwrap(),
        Some(img)
    );

    // Deleting an asset removes it and its packages.
    assert!(store.delete_asset(img).unwrap());
    assert!(!store.delete_asset(img).unwrap());
    assert!(store.inventory(img).unwrap().is_none());
    assert!(store.package_assets("nginx", None).unwrap().is_empty());
}

#[test]
fn bad_reports_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let err = store
        .store_report(&full("", host_ref("x"), vec![]), None)
        .unwrap_err();
    assert!(err.to_string().contains("report_id"), "{err}");
    let err = store
        .store_report(&full("r", host_ref(" "), vec![]), None)
        .unwrap_err();
    assert!(err.to_string().contains("asset name"), "{err}");
    assert!(matches!(
        full("r", host_ref("x"), vec![]).inventory,
        InventoryPayload::Full { .. }
    ));
}

#[test]
fn container_facts_are_kept_shown_and_searchable() {
    use postwatch_model::fleet::{AssetRef, ContainerFacts, MAX_CONTAINER_LABELS};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let container = AssetRef {
        kind: AssetKind::Container,
        name: "3f4e1c9d2b7a".repeat(5),
        host: Some("node-1".into()),
        image_digest: None,
    };
    let mut labels: std::collections::BTreeMap<String, String> = (0..100)
        .map(|i| (format!("label-{i:03}"), "v".into()))
        .collect();
    labels.insert("io.kubernetes.pod.name".into(), "é".repeat(200));
    let facts = ContainerFacts::new(
        "containerd",
        Some("shop/shop-web-7d4b9/nginx".into()),
        Some("nginx:1.25".into()),
        &labels,
    );
    // Bounded: 64 labels (the first by key), values cut at a character boundary.
    assert_eq!(facts.labels.len(), MAX_CONTAINER_LABELS);
    let pod = &facts.labels["io.kubernetes.pod.name"];
    assert_eq!(pod.len(), 256);
    assert!(pod.chars().all(|c| c == 'é'));

    let mut first = full("c-1", container.clone(), vec![pkg("curl", "7.88.1-10")]);
    first.container = Some(facts.clone());
    let (_, id) = store.store_report(&first, None).unwrap();
    let id = id.unwrap();
    assert_eq!(
        store.asset(id).unwrap().unwrap().container,
        Some(facts.clone())
    );
    // A later report without facts keeps them.
    let later = full("c-2", container, vec![pkg("curl", "7.88.1-10")]);
    store.store_report(&later, None).unwrap();
    assert_eq!(store.asset(id).unwrap().unwrap().container, Some(facts));
    // Found by its runtime name as well as its id, and only by those.
    for (part, found) in [("shop-web", 1), ("3F4E1C", 1), ("nginx:1.25", 0)] {
        let filter = AssetFilter {
            kind: Some(AssetKind::Container),
            name_contains: Some(part.into()),
            ..AssetFilter::default()
        };
        assert_eq!(store.assets(&filter).unwrap().len(), found, "{part}");
    }
}
