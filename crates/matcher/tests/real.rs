//! Matching on real advisories against real inventories.

use postwatch_advisory::{import_paths, Store};
use postwatch_inventory::collect;
use postwatch_matcher::{explain, match_packages, MemoryAdvisories};
use postwatch_model::{FixState, Package, PackageManager, Severity};
use postwatch_target::DirTree;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// One database with every corpus the tests use, built once per test binary run.
fn store() -> Store {
    static DB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let path = DB.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("postwatch-matcher-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("advisories.db");
        let _ = std::fs::remove_file(&db);
        let mut s = Store::open_writable(&db).unwrap();
        let paths: Vec<PathBuf> = ["AlmaLinux", "PyPI", "Go", "crates.io", "Maven"]
            .iter()
            .map(|e| testdata(&format!("osv/{e}/all.zip")))
            .chain([
                testdata("osv-built/Debian/all.zip"),
                testdata("osv-built/Alpine/all.zip"),
                testdata("osv/_os-samples/Ubuntu/UBUNTU-CVE-2025-38094.json"),
                testdata("kev/known_exploited_vulnerabilities.json"),
            ])
            .collect();
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        import_paths(&mut s, &refs, &|_, _| {}).unwrap();
        db
    });
    Store::open(path).unwrap()
}

fn lang(manager: PackageManager, ecosystem: &str, name: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        ecosystem: ecosystem.into(),
        purl: format!("pkg:generic/{name}@{version}"),
        package_manager: manager,
        arch: None,
        source_name: None,
        source_version: None,
        epoch: None,
        license: None,
        found_in: "test".into(),
        file_count: 0,
        files: Vec::new(),
    }
}

/// Record ids whose `affected[].versions` lists `version` for the package: the
/// advisory authors' own enumeration, an oracle independent of range evaluation.
fn listed_in_versions(zip: &str, ecosystem: &str, name: &str, version: &str) -> BTreeSet<String> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(testdata(zip)).unwrap()).unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..z.len() {
        let mut s = String::new();
        z.by_index(i).unwrap().read_to_string(&mut s).unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        if v.get("withdrawn").is_some() {
            continue;
        }
        for a in v["affected"].as_array().into_iter().flatten() {
            let same_name = a["package"]["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name));
            if a["package"]["ecosystem"] == ecosystem
                && same_name
                && a["versions"]
                    .as_array()
                    .is_some_and(|vs| vs.iter().any(|x| x == version))
            {
                ids.insert(v["id"].as_str().unwrap().to_owned());
            }
        }
    }
    ids
}

#[test]
fn language_packages_hit_every_record_that_lists_their_version() {
    let db = store();
    let cases = [
        (
            PackageManager::Pip,
            "PyPI",
            "osv/PyPI/all.zip",
            "Django",
            "2.2",
        ),
        (
            PackageManager::Pip,
            "PyPI",
            "osv/PyPI/all.zip",
            "urllib3",
            "1.24.1",
        ),
        (
            PackageManager::Pip,
            "PyPI",
            "osv/PyPI/all.zip",
            "requests",
            "2.19.1",
        ),
        (
            PackageManager::Pip,
            "PyPI",
            "osv/PyPI/all.zip",
            "Werkzeug",
            "0.15.3",
        ),
        (
            PackageManager::Maven,
            "Maven",
            "osv/Maven/all.zip",
            "org.yaml:snakeyaml",
            "1.33",
        ),
    ];
    for (manager, eco, zip, name, version) in cases {
        let expected = listed_in_versions(zip, eco, name, version);
        assert!(
            !expected.is_empty(),
            "{name} {version}: oracle found nothing"
        );
        let report = match_packages(&[lang(manager, eco, name, version)], &db).unwrap();
        let got: BTreeSet<String> = report
            .findings
            .iter()
            .flat_map(|f| f.records.clone())
            .collect();
        let missing: Vec<_> = expected.difference(&got).collect();
        assert!(
            missing.is_empty(),
            "{name} {version}: records listing the version but not matched: {missing:?}"
        );
        for f in &report.findings {
            assert_eq!(f.fix_state, FixState::Fixed, "{f:?}");
            assert!(f.fix_command.as_deref().unwrap().contains(name), "{f:?}");
        }
    }
    // A version newer than every fix has nothing.
    let report =
        match_packages(&[lang(PackageManager::Pip, "PyPI", "django", "999.0")], &db).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn semver_ranges_for_go_and_rust() {
    let db = store();
    // PROVENANCE.md: golang.org/x/net v0.7.0 is hit by 16 Go entries.
    let report = match_packages(
        &[lang(PackageManager::Go, "Go", "golang.org/x/net", "v0.7.0")],
        &db,
    )
    .unwrap();
    let ids: BTreeSet<String> = report
        .findings
        .iter()
        .flat_map(|f| f.records.clone())
        .collect();
    let go_ids: BTreeSet<&String> = ids.iter().filter(|id| id.starts_with("GO-")).collect();
    assert_eq!(go_ids.len(), 16, "{ids:?}");
    // The Maven corpus's GHSA record for HTTP/2 rapid reset (CVE-2023-44487) also lists
    // Go. GO-2023-2102 is CVE-2023-39325 and only *related* to 44487: OSV's `related`
    // is not `aliases`, so they stay two findings.
    let rapid_reset = report
        .findings
        .iter()
        .find(|f| f.id == "CVE-2023-44487")
        .unwrap();
    assert_eq!(rapid_reset.records, ["GHSA-qppj-fm5r-hxr3"]);
    let go = report
        .findings
        .iter()
        .find(|f| f.records.contains(&"GO-2023-2102".to_string()))
        .unwrap();
    assert_eq!(go.id, "CVE-2023-39325");
    assert!(
        go.aliases.contains(&"GHSA-4374-p667-p6c8".to_string()),
        "{:?}",
        go.aliases
    );
    assert!(
        ids.contains("GO-2023-1988") && ids.contains("GO-2023-2102"),
        "{ids:?}"
    );
    // smallvec 1.6.0 is RUSTSEC-2021-0003; a fixed version is not.
    let hit = match_packages(
        &[lang(
            PackageManager::Cargo,
            "crates.io",
            "smallvec",
            "1.6.0",
        )],
        &db,
    )
    .unwrap();
    assert!(
        hit.findings
            .iter()
            .any(|f| f.records.contains(&"RUSTSEC-2021-0003".to_string())),
        "{:?}",
        hit.findings
    );
    let f = hit
        .findings
        .iter()
        .find(|f| f.records.contains(&"RUSTSEC-2021-0003".to_string()))
        .unwrap();
    assert_eq!(f.fixed_versions, ["1.6.1"]);
    assert_eq!(
        f.fix_command.as_deref(),
        Some("cargo update -p smallvec --precise 1.6.1")
    );
    let clean = match_packages(
        &[lang(
            PackageManager::Cargo,
            "crates.io",
            "smallvec",
            "1.6.1",
        )],
        &db,
    )
    .unwrap();
    assert!(!clean
        .findings
        .iter()
        .any(|f| f.records.contains(&"RUSTSEC-2021-0003".to_string())));
}

#[test]
fn patched_debian_is_not_flagged_for_backported_fixes() {
    let db = store();
    let found = collect(&DirTree::new(testdata("pkgdb/dpkg/debian-11-minbase"))).unwrap();
    assert_eq!(
        found.os.as_ref().unwrap().ecosystem.as_deref(),
        Some("Debian:11")
    );
    // Some of its source packages do have DSAs (so the test is not vacuous)…
    let with_records: Vec<&Package> = found
        .packages
        .iter()
        .filter(|p| {
            !db.lookup("Debian:11", p.source_name.as_deref().unwrap())
                .unwrap()
                .is_empty()
        })
        .collect();
    assert!(with_records.len() >= 5, "{}", with_records.len());
    // …and every one of them is at or past the fixed version: Debian 11.11 is patched.
    let report = match_packages(&found.packages, &db).unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // The same packages one revision back are affected, fixed in the DSA's version.
    let older: Vec<Package> = with_records
        .iter()
        .map(|p| {
            let mut p = (*p).clone();
            p.source_version = Some("0.1-1".into());
            p
        })
        .collect();
    let report = match_packages(&older, &db).unwrap();
    let affected: BTreeSet<&str> = report
        .findings
        .iter()
        .map(|f| f.package.name.as_str())
        .collect();
    assert_eq!(affected.len(), older.len(), "{affected:?}");
    for f in &report.findings {
        assert_eq!(
            f.package.matched_name,
            older
                .iter()
                .find(|p| p.name == f.package.name)
                .unwrap()
                .source_name
                .clone()
                .unwrap()
        );
        assert!(
            f.fix_command
                .as_deref()
                .unwrap()
                .starts_with("apt-get install --only-upgrade "),
            "{f:?}"
        );
    }
    // Only the distribution's own advisories apply: the Debian:10 entries of the same
    // DSAs are never used for Debian:11.
    let mut as_buster = older.clone();
    for p in &mut as_buster {
        p.ecosystem = "Debian:12".into();
    }
    assert!(match_packages(&as_buster, &db).unwrap().findings.is_empty());
}

#[test]
fn alpine_secdb_fixes_apply_to_the_alpine_3_4_database() {
    let db = store();
    let found = collect(&DirTree::new(testdata("pkgdb/apk/alpine-3.4-trivy"))).unwrap();
    let mut packages = found.packages;
    // The fixture has no os-release; it is an Alpine 3.4 base image's database.
    for p in &mut packages {
        p.ecosystem = "Alpine:v3.4".into();
    }
    let report = match_packages(&packages, &db).unwrap();
    let musl = report
        .findings
        .iter()
        .find(|f| f.package.name == "musl" && f.id == "CVE-2016-8859")
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert_eq!(musl.package.version, "1.1.14-r10");
    assert_eq!(musl.fixed_versions, ["1.1.14-r13"]);
    assert_eq!(musl.records, ["ALPINE-CVE-2016-8859"]);
    assert_eq!(musl.fix_command.as_deref(), Some("apk add --upgrade musl"));
}

#[test]
fn ubuntu_record_with_versions_list_and_no_fix() {
    let db = store();
    let mut p = lang(
        PackageManager::Dpkg,
        "Ubuntu:Pro:14.04:LTS",
        "linux-image-3.13.0-24-generic",
        "3.13.0-24.47",
    );
    p.source_name = Some("linux".into());
    p.source_version = Some("3.13.0-24.47".into());
    let report = match_packages(std::slice::from_ref(&p), &db).unwrap();
    let f = &report.findings[0];
    assert_eq!(f.id, "CVE-2025-38094");
    assert_eq!(f.fix_state, FixState::Unfixed);
    assert_eq!(f.severity, Severity::Medium, "Ubuntu's own priority");
    assert_eq!(f.severity_source, "vendor");
    assert!(f.fix_command.is_none());
}

#[test]
fn almalinux_rpm_packages_match_on_the_source_rpm() {
    let db = store();
    let mut found = collect(&DirTree::new(testdata("pkgdb/rpm/libuuid-bdb"))).unwrap();
    for p in &mut found.packages {
        p.ecosystem = "AlmaLinux:8".into();
    }
    let report = match_packages(&found.packages, &db).unwrap();
    for f in &report.findings {
        assert_eq!(f.package.name, "libuuid");
        assert!(
            f.fixed_versions.iter().all(|v| v.starts_with("2.32.1-")),
            "{f:?}"
        );
        assert_eq!(f.vendor_severity.is_some(), f.severity_source == "vendor");
    }
}

#[test]
fn aliases_merge_into_one_finding_and_kev_joins_on_cve() {
    let mut mem = MemoryAdvisories::default();
    let rec = |id: &str, aliases: &[&str], fixed: &str| -> postwatch_advisory::osv::Record {
        serde_json::from_value(serde_json::json!({
            "id": id, "modified": "2024-01-01T00:00:00Z", "aliases": aliases,
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
        }))
        .unwrap()
    };
    mem.records
        .push(rec("GHSA-aaaa-bbbb-cccc", &["CVE-2021-44228"], "1.2"));
    mem.records.push(rec(
        "PYSEC-2021-1",
        &["CVE-2021-44228", "GHSA-aaaa-bbbb-cccc"],
        "1.3",
    ));
    mem.records.push(rec("PYSEC-2021-2", &[], "1.1"));
    mem.kev.insert(
        "CVE-2021-44228".into(),
        postwatch_advisory::KevEntry {
            cve: "CVE-2021-44228".into(),
            date_added: "2021-12-10".into(),
            known_ransomware_use: true,
            vendor: "Apache".into(),
            product: "Log4j".into(),
            name: "Log4Shell".into(),
            due_date: "2021-12-24".into(),
        },
    );
    let report = match_packages(&[lang(PackageManager::Pip, "PyPI", "demo", "1.0")], &mem).unwrap();
    assert_eq!(report.findings.len(), 2, "{:#?}", report.findings);
    let merged = report
        .findings
        .iter()
        .find(|f| f.id == "CVE-2021-44228")
        .unwrap();
    assert_eq!(merged.aliases, ["GHSA-aaaa-bbbb-cccc", "PYSEC-2021-1"]);
    assert_eq!(merged.fixed_versions, ["1.2", "1.3"]);
    assert_eq!(
        merged.fix_command.as_deref(),
        Some("pip install 'demo>=1.3'")
    );
    assert_eq!(merged.severity, Severity::Critical);
    assert!(merged.kev.as_ref().unwrap().known_ransomware_use);
    assert_eq!(merged.cvss.as_ref().unwrap().score, 9.8);
}

#[test]
fn explain_shows_each_comparison() {
    let db = store();
    let text = explain(
        "RUSTSEC-2021-0003",
        &[lang(
            PackageManager::Cargo,
            "crates.io",
            "smallvec",
            "1.6.0",
        )],
        &db,
    )
    .unwrap();
    assert!(
        text.contains("smallvec 1.6.0 (crates.io): AFFECTED"),
        "{text}"
    );
    assert!(text.contains("fixed 1.6.1: 1.6.0 < 1.6.1"), "{text}");
    let text = explain(
        "RUSTSEC-2021-0003",
        &[lang(
            PackageManager::Cargo,
            "crates.io",
            "smallvec",
            "1.6.1",
        )],
        &db,
    )
    .unwrap();
    assert!(text.contains("not affected"), "{text}");
    let text = explain(
        "CVE-0000-0000",
        &[lang(
            PackageManager::Cargo,
            "crates.io",
            "smallvec",
            "1.6.1",
        )],
        &db,
    )
    .unwrap();
    assert!(text.contains("no advisory with this id"), "{text}");
}
