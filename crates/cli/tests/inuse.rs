//! `scan --in-use` against real processes: python3 run chrooted inside a test image's
//! root filesystem, loading libssl and libsqlite3, then scanned from outside.

mod common;

use common::{chrooted_python, images_dir, in_ci, postwatch, run};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Advisories built for packages of the image (Debian 12 has no OSV corpus here):
/// one for openssl, whose libssl3 python3 loads, one for curl, which nothing runs.
fn constructed_db(dir: &Path, dpkg_tsv: &str) -> PathBuf {
    let version_of = |name: &str| -> String {
        dpkg_tsv
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.first() == Some(&name)).then(|| f[1].to_owned())
            })
            .unwrap_or_else(|| panic!("{name} not in the image"))
    };
    let records = dir.join("records");
    std::fs::create_dir_all(&records).unwrap();
    for (id, source, binary) in [
        ("PW-TEST-0001", "openssl", "libssl3"),
        ("PW-TEST-0002", "curl", "curl"),
    ] {
        let fixed = format!("{}+pw1", version_of(binary));
        let record = serde_json::json!({
            "schema_version": "1.6.0",
            "id": id,
            "modified": "2026-11-27T00:00:00Z",
            "summary": format!("constructed case for {source} (test only)"),
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": source},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }],
        });
        std::fs::write(records.join(format!("{id}.json")), record.to_string()).unwrap();
    }
    let db = dir.join("in-use.db");
    let out = postwatch()
        .args(["db", "import", "--db", db.to_str().unwrap()])
        .arg(&records)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

fn loaded_names(doc: &Value) -> Vec<String> {
    doc["in_use"]["packages"]
        .as_array()
        .expect("in_use.packages")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn chrooted_python_loads_libssl_and_libsqlite_but_not_curl() {
    let Some(images) = images_dir() else { return };
    let root = images.join("bookworm-py.rootfs");
    let Some(python) = chrooted_python(
        &root,
        "import ssl, sqlite3, time; print('ready', flush=True); time.sleep(120)",
    ) else {
        return;
    };
    let pid = python.0.id();
    let dir = tempfile::tempdir().unwrap();
    let tsv = std::fs::read_to_string(images.join("bookworm-py.dpkg.tsv")).unwrap();
    let db = constructed_db(dir.path(), &tsv);
    let root_s = root.to_str().unwrap();

    // Inventory with in-use evidence, no advisories.
    let out = run(&["scan", root_s, "--in-use", "--no-vulns", "-f", "json", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let loaded = loaded_names(&doc);
    for name in ["libssl3", "libsqlite3-0", "python3.11-minimal", "libc6"] {
        assert!(
            loaded.iter().any(|n| n == name),
            "{name} not in use: {loaded:?}"
        );
    }
    for name in ["curl", "libcurl4", "apt"] {
        assert!(
            !loaded.iter().any(|n| n == name),
            "{name} in use: {loaded:?}"
        );
    }
    let libssl = doc["in_use"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "libssl3")
        .unwrap();
    let evidence = &libssl["evidence"][0];
    assert_eq!(evidence["pid"], pid);
    assert!(evidence["command"].as_str().unwrap().starts_with("python3"));
    assert_eq!(evidence["access"], "mapped");
    assert!(evidence["file"]
        .as_str()
        .unwrap()
        .starts_with("/usr/lib/x86_64-linux-gnu/lib"));
    assert_eq!(doc["in_use"]["processes"], 1);

    // Findings: the openssl one is in use, the curl ones are not.
    let scan = |extra: &[&str]| -> Value {
        let mut args = vec![
            "scan",
            root_s,
            "--db",
            db.to_str().unwrap(),
            "-f",
            "json",
            "-q",
        ];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let doc = scan(&["--in-use"]);
    let findings = doc["findings"].as_array().unwrap();
    let state = |package: &str| -> &str {
        findings
            .iter()
            .find(|f| f["package"]["name"] == package)
            .unwrap_or_else(|| panic!("no finding for {package}"))["in_use"]
            .as_str()
            .unwrap()
    };
    assert_eq!(state("libssl3"), "yes");
    assert_eq!(state("curl"), "no");
    assert_eq!(state("libcurl4"), "no");
    let summary = &doc["in_use"];
    let total = findings.len() as u64;
    let in_use = findings.iter().filter(|f| f["in_use"] == "yes").count() as u64;
    assert_eq!(summary["findings"], total);
    assert_eq!(summary["findings_in_use"], in_use);
    assert!(in_use >= 1 && in_use < total);
    // Risk: the loaded finding ranks first.
    assert_eq!(findings[0]["in_use"], "yes", "{findings:?}");
    assert!(
        findings[0]["risk"].as_f64().unwrap()
            > findings[total as usize - 1]["risk"].as_f64().unwrap()
    );

    let only = scan(&["--in-use-only"]);
    let only = only["findings"].as_array().unwrap();
    assert_eq!(only.len() as u64, in_use);
    assert!(only.iter().all(|f| f["in_use"] == "yes"));

    // Without --in-use nothing claims to know.
    let plain = scan(&[]);
    assert!(plain["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["in_use"] == "unknown"));
    assert!(plain.get("in_use").is_none());

    // The table says what it saved.
    let out = run(&[
        "scan",
        root_s,
        "--db",
        db.to_str().unwrap(),
        "--in-use",
        "-q",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "In use: {total} findings, {in_use} in packages loaded in memory"
        )),
        "{text}"
    );

    // The process's own root, as a container would be scanned.
    let proc_root = format!("/proc/{pid}/root");
    let out = run(&[
        "scan",
        &proc_root,
        "--in-use",
        "--no-vulns",
        "-f",
        "json",
        "-q",
        "--pkg-types",
        "os",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(loaded_names(&doc).iter().any(|n| n == "libssl3"));

    // The host scan points at the chroot instead of claiming its packages.
    let out = run(&[
        "scan",
        "host",
        "--in-use",
        "--no-vulns",
        "--pkg-types",
        "os",
        "-f",
        "json",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = doc["in_use"]["notes"].to_string();
    assert!(
        notes.contains(&format!(
            "chroot {}",
            std::fs::canonicalize(&root).unwrap().display()
        )),
        "{notes}"
    );
    drop(python);
}

#[test]
fn images_are_unknown_not_unused() {
    let Some(images) = images_dir() else { return };
    let image = images.join("bookworm-minbase.docker.tar");
    let out = run(&[
        "scan",
        image.to_str().unwrap(),
        "--in-use",
        "--no-vulns",
        "-f",
        "json",
    ]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc.get("in_use").is_none());
    assert!(doc["warnings"].to_string().contains("--in-use"));
}

/// A Python module imported and closed before the scan looks: only the fanotify
/// watcher (`--watch`) can know it was loaded. The process lives a second after the
/// import so the watcher can read its root (a process gone within milliseconds of its
/// opens cannot be placed in its chroot), and has exited before the snapshot.
#[test]
fn watched_imports_count_after_the_process_is_gone() {
    let Some(images) = images_dir() else { return };
    let root = images.join("bookworm-pyapp.rootfs");
    if chrooted_python(&root, "print('ready')").is_none() {
        return;
    }
    let mut scan = postwatch()
        .args([
            "scan",
            root.to_str().unwrap(),
            "--pkg-types",
            "os",
            "--no-vulns",
            "--in-use",
            "--watch",
            "4s",
            "-f",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = scan.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines
            .next()
            .expect("scan ended before watching")
            .expect("stderr");
        if line.starts_with("note: fanotify") {
            assert!(!in_ci(), "fanotify unavailable under CI=true: {line}");
            eprintln!("SKIPPED: {line}");
            let _ = scan.kill();
            let _ = scan.wait();
            return;
        }
        if line.starts_with("watching files opened") {
            break;
        }
    }
    let import = Command::new("chroot")
        .arg(&root)
        .args([
            "/usr/bin/python3",
            "-B",
            "-c",
            "import idna, time; print(idna.encode('bücher.example')); time.sleep(1)",
        ])
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let out = scan.wait_with_output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["in_use"]["sources"],
        serde_json::json!(["proc-snapshot", "fanotify"])
    );
    let idna = doc["in_use"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "python3-idna")
        .unwrap_or_else(|| panic!("python3-idna not in use: {}", doc["in_use"]));
    let evidence = &idna["evidence"][0];
    assert_eq!(evidence["access"], "opened");
    assert!(evidence["command"].as_str().unwrap().starts_with("python3"));
    assert!(evidence["file"]
        .as_str()
        .unwrap()
        .starts_with("/usr/lib/python3/dist-packages/idna/"));

    // The snapshot alone, now that python has exited, cannot see it.
    let out = run(&[
        "scan",
        root.to_str().unwrap(),
        "--pkg-types",
        "os",
        "--no-vulns",
        "--in-use",
        "-f",
        "json",
        "-q",
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!loaded_names(&doc).iter().any(|n| n == "python3-idna"));
}
