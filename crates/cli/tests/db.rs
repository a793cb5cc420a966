//! `postwatch db`: import, stats, and update from a local HTTP server (with a
//! connection cut mid-download, resumed on the next run), plus scans with findings.

mod common;

use common::{postwatch, run, testdata};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A minimal HTTP/1.1 file server on loopback that honours `Range: bytes=N-`. The
/// first `cut_first` requests for files over 64 KiB send half the body and hang up.
struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    ranges: Arc<AtomicUsize>,
}

fn serve(root: PathBuf, cut_first: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(AtomicUsize::new(0));
    let (h, r) = (hits.clone(), ranges.clone());
    std::thread::spawn(move || {
        let cuts = AtomicUsize::new(cut_first);
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut range_from = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range_from = v.trim().trim_end_matches('-').parse::<usize>().ok();
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .replace("%20", " ");
            let file = root.join(path.trim_start_matches('/'));
            let Ok(body) = std::fs::read(&file) else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            let (status, slice) = match range_from {
                Some(from) if from < body.len() => {
                    r.fetch_add(1, Ordering::SeqCst);
                    ("206 Partial Content", &body[from..])
                }
                Some(_) => {
                    let _ = stream.write_all(b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                None => ("200 OK", &body[..]),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                slice.len()
            );
            let cut = slice.len() > 65536 && cuts.load(Ordering::SeqCst) > 0;
            if cut {
                cuts.fetch_sub(1, Ordering::SeqCst);
                let _ = stream.write_all(&slice[..slice.len() / 2]);
            } else {
                let _ = stream.write_all(slice);
            }
            let _ = stream.flush();
        }
    });
    Server { url, hits, ranges }
}

/// A mirror laid out like the real feeds: osv/<Ecosystem>/all.zip, kev JSON, EPSS CSV.
fn mirror() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for eco in ["PyPI", "crates.io"] {
        let d = dir.path().join("osv").join(eco);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(testdata(&format!("osv/{eco}/all.zip")), d.join("all.zip")).unwrap();
    }
    std::fs::copy(
        testdata("kev/known_exploited_vulnerabilities.json"),
        dir.path().join("kev.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("epss.csv"), "#model_version:v1,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2019-11324,0.5,0.9\n").unwrap();
    dir
}

fn update_args(server: &Server, db: &Path) -> Vec<String> {
    vec![
        "db".into(),
        "update".into(),
        "--db".into(),
        db.display().to_string(),
        "--ecosystem".into(),
        "PyPI".into(),
        "--ecosystem".into(),
        "crates.io".into(),
        "--osv-url".into(),
        format!("{}/osv/{{ecosystem}}/all.zip", server.url),
        "--kev-url".into(),
        format!("{}/kev.json", server.url),
        "--epss-url".into(),
        format!("{}/epss.csv", server.url),
    ]
}

fn stats(db: &Path) -> Value {
    let out = run(&[
        "db",
        "stats",
        "--db",
        &db.to_string_lossy(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn update_resumes_after_a_cut_and_a_failed_update_keeps_the_old_database() {
    let files = mirror();
    let server = serve(files.path().to_owned(), 1);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("advisories.db");
    let args = update_args(&server, &db);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // First run: the first big download is cut half-way. Nothing is swapped in.
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run the update again to resume"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("left as it was"), "{}", stderr(&out));
    assert!(!db.exists());

    // Second run resumes the partial file with a Range request and completes.
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        server.ranges.load(Ordering::SeqCst) >= 1,
        "no Range request was made"
    );
    let s = stats(&db);
    assert_eq!(s["records"], 2661 + 1206);
    assert_eq!(s["kev"], 1404);
    assert_eq!(s["epss"], 1);
    assert!(s["age_hours"].as_f64().unwrap() < 1.0);
    let ecosystems: Vec<&str> = s["ecosystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ecosystem"].as_str().unwrap())
        .collect();
    assert_eq!(ecosystems, ["PyPI", "crates.io"]);

    // A corrupt feed fails verification: the working database is untouched.
    let before = std::fs::read(&db).unwrap();
    std::fs::write(
        files.path().join("osv/PyPI/all.zip"),
        b"PK\x03\x04 this is not a zip",
    )
    .unwrap();
    std::fs::remove_dir_all(dir.path().join("downloads")).unwrap();
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a complete zip") || stderr(&out).contains("all.zip"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(server.hits.load(Ordering::SeqCst) >= 6);
}

fn imported_db(dir: &Path) -> PathBuf {
    let db = dir.join("a.db");
    let mut cmd = postwatch();
    let out = cmd
        .args(["db", "import", "--db", &db.to_string_lossy()])
        .arg(testdata("osv-built/Debian/all.zip"))
        .arg(testdata("osv/PyPI/all.zip"))
        .arg(testdata("osv/AlmaLinux/all.zip"))
        .arg(testdata("kev/known_exploited_vulnerabilities.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("5637 imported"), "{}", stderr(&out));
    db
}

/// A Debian 11 root whose openssl is one revision before DSA-5343-1's fix.
fn vulnerable_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"11\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: libssl1.1\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 1.1.1n-0+deb11u3\n\n\
         Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.74.0-1.3+deb11u7\n",
    )
    .unwrap();
    root
}

#[test]
fn scan_reports_findings_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported_db(dir.path());
    let root = vulnerable_root(dir.path());
    let db_s = db.to_string_lossy().into_owned();
    let root_s = root.to_string_lossy().into_owned();

    let out = run(&["scan", &root_s, "--db", &db_s, "-f", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let openssl: Vec<&Value> = findings
        .iter()
        .filter(|f| f["package"]["name"] == "libssl1.1")
        .collect();
    assert!(!openssl.is_empty(), "{doc}");
    let dsa = openssl
        .iter()
        .find(|f| {
            f["records"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "DSA-5343-1")
        })
        .unwrap();
    assert_eq!(dsa["fixed_versions"][0], "1.1.1n-0+deb11u4");
    assert_eq!(dsa["package"]["matched_name"], "openssl");
    assert_eq!(
        dsa["fix_command"],
        "apt-get install --only-upgrade libssl1.1=1.1.1n-0+deb11u4"
    );
    for key in ["id", "aliases", "package", "fixed_versions", "severity"] {
        assert!(dsa.get(key).is_some(), "{key} missing: {dsa}");
    }
    // curl is at DSA-5365-1's fixed version exactly: not affected.
    assert!(
        !findings.iter().any(|f| f["package"]["name"] == "curl"),
        "{doc}"
    );
    assert_eq!(doc["database"]["stale"], false);
    assert_eq!(
        doc["fixes"][0]["command"],
        "apt-get install --only-upgrade libssl1.1=1.1.1n-0+deb11u4"
    );

    // Table: grouped by package, with the fix command.
    let out = run(&["scan", &root_s, "--db", &db_s]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("libssl1.1")
            && text.contains("To fix")
            && text.contains("apt-get install --only-upgrade"),
        "{text}"
    );

    // --fail-on exits 3 when something at or above the threshold is shown. An
    // AlmaLinux 8 root whose libuuid predates ALSA-2026:1852 (rated Moderate).
    let alma = dir.path().join("alma");
    std::fs::create_dir_all(alma.join("etc")).unwrap();
    std::fs::create_dir_all(alma.join("var/lib/rpm")).unwrap();
    std::fs::write(
        alma.join("etc/os-release"),
        "ID=\"almalinux\"\nVERSION_ID=\"8.8\"\n",
    )
    .unwrap();
    std::fs::copy(
        testdata("pkgdb/rpm/libuuid-bdb/var/lib/rpm/Packages"),
        alma.join("var/lib/rpm/Packages"),
    )
    .unwrap();
    let alma_s = alma.to_string_lossy().into_owned();
    let out = run(&["scan", &alma_s, "--db", &db_s, "-f", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &doc["findings"][0];
    assert_eq!(f["package"]["name"], "libuuid");
    assert_eq!(
        f["package"]["matched_name"], "util-linux",
        "matched on the source rpm"
    );
    assert_eq!(
        (f["severity"].as_str(), f["vendor_severity"].as_str()),
        (Some("MEDIUM"), Some("Moderate"))
    );
    assert!(
        f["fix_command"]
            .as_str()
            .unwrap()
            .starts_with("dnf upgrade libuuid-2.32.1-"),
        "{f}"
    );
    let out = run(&["scan", &alma_s, "--db", &db_s, "--fail-on", "MEDIUM", "-q"]);
    assert_eq!(out.status.code(), Some(3));
    let out = run(&["scan", &alma_s, "--db", &db_s, "--fail-on", "HIGH", "-q"]);
    assert_eq!(out.status.code(), Some(0), "nothing HIGH or worse");
    let out = run(&[
        "scan",
        &alma_s,
        "--db",
        &db_s,
        "--fail-on",
        "LOW",
        "--severity",
        "CRITICAL",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "nothing CRITICAL is shown");
    // A stale database is called out.
    let out = run(&["scan", &alma_s, "--db", &db_s, "--db-max-age", "0"]);
    assert!(
        stderr(&out).contains("run `postwatch db update`"),
        "{}",
        stderr(&out)
    );

    // SARIF, CycloneDX with vulnerabilities, OpenVEX.
    let out = run(&["scan", &root_s, "--db", &db_s, "-f", "sarif"]);
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "var/lib/dpkg/status"
    );
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert!(rules
        .iter()
        .all(|r| r["properties"]["security-severity"].is_string()));

    let cdx_file = dir.path().join("bom.json");
    let out = run(&[
        "scan",
        &root_s,
        "--db",
        &db_s,
        "-f",
        "cyclonedx",
        "-o",
        &cdx_file.to_string_lossy(),
    ]);
    assert!(out.status.success());
    let bom: Value = serde_json::from_slice(&std::fs::read(&cdx_file).unwrap()).unwrap();
    assert_eq!(
        bom["vulnerabilities"].as_array().unwrap().len(),
        findings.len()
    );
    common::validate_sbom("cyclonedx", &cdx_file);

    let out = run(&["scan", &root_s, "--db", &db_s, "-f", "openvex"]);
    let vex: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vex["@context"], "https://openvex.dev/ns/v0.2.0");
    let st = vex["statements"].as_array().unwrap();
    assert_eq!(st.len(), findings.len());
    assert!(st
        .iter()
        .all(|s| s["status"] == "affected" && s["action_statement"].is_string()));

    // --explain walks through the comparisons.
    let out = run(&["scan", &root_s, "--db", &db_s, "--explain", "DSA-5343-1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("libssl1.1 1.1.1n-0+deb11u3 (Debian:11): AFFECTED"),
        "{text}"
    );
    assert!(
        text.contains("fixed 1.1.1n-0+deb11u4: 1.1.1n-0+deb11u3 < 1.1.1n-0+deb11u4"),
        "{text}"
    );
}

#[test]
fn version_and_cvss_tools() {
    let out = run(&[
        "version",
        "compare",
        "--ecosystem",
        "Debian:12",
        "1:1.0-1",
        "2.0-1",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), ">\n");
    let mut child = postwatch()
        .args(["version", "compare", "--ecosystem", "PyPI", "--batch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"1.0a1\t1.0\n2.0\t2.0.0\nnot a version\t1.0\nno tab\n")
        .unwrap();
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..2], ["<", "="]);
    assert!(
        lines[2].starts_with("error: ") && lines[2].contains("not a version"),
        "{text}"
    );
    assert!(lines[3].starts_with("error: line 4"), "{text}");
    let out = run(&["version", "compare", "--ecosystem", "Nope", "1", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown ecosystem"));

    let out = run(&[
        "cvss",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "9.8\tCritical\n7.5\tHigh\n"
    );
    let out = run(&["cvss", "CVSS:3.1/AV:X"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("error: "));
}

/// A fixed version counts as installable only when the host's own apt lists (real
/// bookworm, -updates and -security stanzas, lz4, plain and xz) offer it.
#[test]
fn fix_availability_comes_from_the_targets_apt_lists() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let lists = root.join("var/lib/apt/lists");
    std::fs::create_dir_all(&lists).unwrap();
    for entry in std::fs::read_dir(testdata("available/apt/var/lib/apt/lists")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), lists.join(entry.file_name())).unwrap();
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n\n\
         Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u4\n",
    )
    .unwrap();
    // Constructed cases: openssl fixed in a version -security offers, curl in one
    // no list has yet.
    let records = dir.path().join("records");
    std::fs::create_dir_all(&records).unwrap();
    for (id, source, fixed) in [
        ("PW-AVAIL-1", "openssl", "3.0.22-1~deb12u1"),
        ("PW-AVAIL-2", "curl", "7.88.1-10+deb12u16"),
    ] {
        let record = serde_json::json!({
            "id": id, "modified": "2026-11-27T00:00:00Z",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": source},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        });
        std::fs::write(records.join(format!("{id}.json")), record.to_string()).unwrap();
    }
    let db = dir.path().join("a.db");
    let out = postwatch()
        .args(["db", "import", "--db", db.to_str().unwrap()])
        .arg(&records)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&[
        "scan",
        root.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "-f",
        "json",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = |name: &str| -> Value {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["package"]["name"] == name)
            .unwrap_or_else(|| panic!("no {name} finding: {doc}"))
            .clone()
    };
    let ssl = finding("libssl3");
    assert_eq!(ssl["fix_available"], true);
    assert_eq!(ssl["available_version"], "3.0.22-1~deb12u2");
    let curl = finding("curl");
    assert_eq!(curl["fix_available"], false);
    assert!(curl.get("available_version").is_none());
    // Installable now ranks above not yet installable, all else equal.
    assert!(ssl["risk"].as_f64().unwrap() > curl["risk"].as_f64().unwrap());

    let out = run(&[
        "scan",
        root.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "-q",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("repo has 3.0.22-1~deb12u2"), "{text}");
    assert!(text.contains("not in repos yet"), "{text}");
}
