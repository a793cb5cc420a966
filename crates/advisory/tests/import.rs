//! Importing the real OSV corpora, KEV and EPSS; hostile zips.

use postwatch_advisory::{import_paths, Store, Table};
use std::io::Write;
use std::path::{Path, PathBuf};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn import(db: &Path, paths: &[PathBuf]) -> Vec<postwatch_advisory::ImportReport> {
    let mut store = Store::open_writable(db).unwrap();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    import_paths(&mut store, &refs, &|_, _| {}).unwrap()
}

#[test]
fn real_osv_zips_import_with_the_documented_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    // Counts from shared/data/PROVENANCE.md (records, withdrawn).
    let expected = [
        ("AlmaLinux", 5637, 0),
        ("crates.io", 1206, 13),
        ("Go", 4291, 17),
        ("PyPI", 2661, 10),
        ("Maven", 364, 0),
    ];
    let paths: Vec<PathBuf> = expected
        .iter()
        .map(|(e, _, _)| testdata(&format!("osv/{e}/all.zip")))
        .collect();
    let reports = import(&db, &paths);
    for ((eco, records, withdrawn), r) in expected.iter().zip(&reports) {
        assert_eq!(r.imported, *records as u64, "{eco}: {:?}", r.errors);
        assert_eq!(r.withdrawn, *withdrawn as u64, "{eco}");
        assert_eq!(r.skipped, 0, "{eco}: {:?}", r.errors);
    }
    let store = Store::open(&db).unwrap();
    assert_eq!(
        store.count(Table::Records).unwrap(),
        5637 + 1206 + 4291 + 2661 + 364
    );
    // AlmaLinux ids with ':' survive; lookups by (ecosystem, name) work.
    assert!(store.get("ALSA-2023:7010").unwrap().is_some());
    let sysstat = store.lookup("AlmaLinux:8", "sysstat").unwrap();
    assert!(sysstat.iter().any(|r| r.id == "ALSA-2023:7010"));
    // PyPI names are folded as PEP 503 says.
    assert!(!store.lookup("PyPI", "Django").unwrap().is_empty());
    assert_eq!(
        store.lookup("PyPI", "Django").unwrap(),
        store.lookup("PyPI", "django").unwrap()
    );
    // Withdrawn records are kept but never returned.
    let eco_counts = store.counts_by_ecosystem().unwrap();
    let alma8 = eco_counts
        .iter()
        .find(|(e, _)| e == "AlmaLinux:8")
        .unwrap()
        .1;
    assert_eq!(alma8, 3237, "AlmaLinux:8 per PROVENANCE.md");
    // The index is no larger than the zips it came from.
    let zips: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let size = std::fs::metadata(&db).unwrap().len();
    assert!(size <= zips, "index {size} bytes > zips {zips} bytes");
}

#[test]
fn reimport_replaces_instead_of_duplicating() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let zip = testdata("osv/crates.io/all.zip");
    import(&db, std::slice::from_ref(&zip));
    import(&db, std::slice::from_ref(&zip));
    assert_eq!(
        Store::open(&db).unwrap().count(Table::Records).unwrap(),
        1206
    );
}

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn malformed_records_and_path_tricks_are_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let good = br#"{"id":"GOOD-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"x"},"versions":["1.0"]}]}"#;
    let zip = dir.path().join("all.zip");
    write_zip(
        &zip,
        &[
            ("GOOD-1.json", good),
            ("../evil.json", good),
            ("/abs.json", good),
            ("BROKEN.json", b"{not json"),
            ("WRONG.json", br#"{"id": 5}"#),
            ("NOID.json", br#"{"modified":"x"}"#),
            ("README.txt", b"ignored"),
        ],
    );
    let db = dir.path().join("a.db");
    let reports = import(&db, &[zip]);
    let r = &reports[0];
    assert_eq!(r.imported, 1);
    assert_eq!(r.skipped, 5, "{:?}", r.errors);
    let text = r.errors.join("\n");
    assert!(
        text.contains("../evil.json") && text.contains("unsafe path"),
        "{text}"
    );
    assert!(
        text.contains("BROKEN.json") && text.contains("not JSON"),
        "{text}"
    );
    assert!(!dir.path().join("../evil.json").exists());
    assert_eq!(Store::open(&db).unwrap().count(Table::Records).unwrap(), 1);
}

#[test]
fn oversized_records_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // 17 MiB of JSON whitespace compresses to almost nothing but must not be read whole.
    let mut huge = b"{\"id\":\"HUGE-1\",".to_vec();
    huge.resize(17 << 20, b' ');
    huge.extend_from_slice(b"\"modified\":\"x\"}");
    let zip = dir.path().join("all.zip");
    write_zip(
        &zip,
        &[
            ("HUGE-1.json", &huge),
            ("OK-1.json", br#"{"id":"OK-1","modified":"x"}"#),
        ],
    );
    let reports = import(&dir.path().join("a.db"), &[zip]);
    assert_eq!((reports[0].imported, reports[0].skipped), (1, 1));
    assert!(
        reports[0].errors[0].contains("HUGE-1.json") && reports[0].errors[0].contains("limit"),
        "{:?}",
        reports[0].errors
    );
}

#[test]
fn kev_and_epss() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let epss = dir.path().join("epss.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&epss).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(b"#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.94358,0.99963\nCVE-2024-0001,0.0004,0.1\nbroken,line\n").unwrap();
    gz.finish().unwrap();
    let reports = import(
        &db,
        &[testdata("kev/known_exploited_vulnerabilities.json"), epss],
    );
    assert_eq!(
        reports[0].imported, 1404,
        "KEV catalogue 2025.08.25 has 1404 entries"
    );
    assert_eq!(reports[1].imported, 2);
    assert_eq!(reports[1].skipped, 1);
    let store = Store::open(&db).unwrap();
    let log4j = store.kev("CVE-2021-44228").unwrap().unwrap();
    assert_eq!(log4j.date_added, "2021-12-10");
    assert!(log4j.known_ransomware_use);
    assert_eq!(
        store.epss("CVE-2021-44228").unwrap().unwrap().score,
        0.94358
    );
    assert_eq!(
        store.meta("epss_score_date").unwrap().as_deref(),
        Some("2025-08-25T00:00:00+0000")
    );
}

#[test]
fn opening_a_missing_database_says_what_to_do() {
    let e = Store::open(Path::new("/nonexistent/a.db"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("postwatch db update"), "{e}");
}
