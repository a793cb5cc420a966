//! The command line as a user meets it: help, formats, output files, errors, `host`.

mod common;

use common::{images_dir, postwatch, run, scan_json, testdata};
use std::collections::BTreeSet;
use std::process::Command;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_lists_only_working_commands_and_teaches() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = text
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        // Command names sit at a two-space indent; wrapped descriptions deeper.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        ["scan", "db", "version", "cvss", "up", "server", "token", "agent", "promql", "help"],
        "{text}"
    );
    let scan = String::from_utf8_lossy(&run(&["scan", "--help"]).stdout).into_owned();
    for needle in [
        "docker save",
        "OCI",
        "--format",
        "cyclonedx",
        "spdx",
        "--output",
        "Examples",
    ] {
        assert!(scan.contains(needle), "scan --help lacks {needle}: {scan}");
    }
}

#[test]
fn sboms_pass_the_reference_validators() {
    let dir = tempfile::tempdir().unwrap();
    let mut targets = vec![
        testdata("pkgdb/dpkg/debian-12-minbase-curl"),
        testdata("pkgdb/apk/alpine-3.18-scalibr"),
        testdata("pkgdb/rpm/sle15-bci"),
        testdata("pkgdb/rpm/scalibr-epoch-bdb"),
    ];
    if let Some(images) = images_dir() {
        targets.push(images.join("bookworm-py.docker.tar"));
    }
    for (i, target) in targets.iter().enumerate() {
        for kind in ["cyclonedx", "spdx"] {
            let file = dir.path().join(format!("{i}.{kind}.json"));
            let out = run(&[
                "scan",
                &target.to_string_lossy(),
                "-f",
                kind,
                "-o",
                &file.to_string_lossy(),
                "-q",
            ]);
            assert!(out.status.success(), "{}", stderr(&out));
            let doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            let count = if kind == "cyclonedx" {
                doc["components"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["type"] == "library")
                    .count()
            } else {
                doc["packages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["primaryPackagePurpose"] == "LIBRARY")
                    .count()
            };
            let expected = scan_json(target)["packages"].as_array().unwrap().len();
            assert_eq!(count, expected, "{kind} {}", target.display());
            common::validate_sbom(kind, &file);
        }
    }
}

#[test]
fn json_is_versioned_and_files_are_opt_in() {
    let target = testdata("pkgdb/apk/alpine-3.18-scalibr");
    let plain = scan_json(&target);
    assert_eq!(plain["schema_version"], "1.1");
    assert_eq!(plain["target"]["type"], "rootfs");
    assert!(plain["packages"][0].get("files").is_none());
    assert!(plain["packages"][0]["file_count"].as_u64().unwrap() > 0);
    let out = run(&[
        "scan",
        &target.to_string_lossy(),
        "-f",
        "json",
        "--with-files",
    ]);
    let full: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = full["packages"][0]["files"].as_array().unwrap();
    assert_eq!(
        files.len() as u64,
        full["packages"][0]["file_count"].as_u64().unwrap()
    );
}

#[test]
fn table_names_target_os_and_count() {
    let out = run(&[
        "scan",
        &testdata("pkgdb/dpkg/debian-11-minbase").to_string_lossy(),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(rootfs)") && text.contains("Debian:11") && text.contains("Packages: 96"),
        "{text}"
    );
    assert!(
        text.contains("util-linux") && text.contains("libc6"),
        "{text}"
    );
}

#[test]
fn output_file_is_whole_or_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    std::fs::write(&file, "previous report").unwrap();
    // A failing scan leaves the previous report as it was.
    let out = run(&[
        "scan",
        "/nonexistent/postwatch-target",
        "-f",
        "json",
        "-o",
        &file.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "previous report");
    let msg = stderr(&out);
    assert!(
        msg.contains("/nonexistent/postwatch-target") && msg.starts_with("error:"),
        "{msg}"
    );
    // A good one replaces it, and no temporary files are left behind.
    let out = run(&[
        "scan",
        &testdata("pkgdb/apk/alpine-3.18-scalibr").to_string_lossy(),
        "-f",
        "json",
        "-o",
        &file.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["packages"].as_array().unwrap().len(), 15);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // An output directory that does not exist is an error that names it.
    let out = run(&[
        "scan",
        &testdata("pkgdb/apk/alpine-3.18-scalibr").to_string_lossy(),
        "-o",
        "/nonexistent-dir/x.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent-dir"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_targets_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "just text").unwrap();
    let out = run(&["scan", &junk.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(
        msg.contains("notes.txt")
            && msg.contains("not a directory, a docker save tarball or an OCI archive"),
        "{msg}"
    );
    // A forced type that does not fit.
    let out = run(&["scan", &junk.to_string_lossy(), "--type", "rootfs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
    // Broken database records are warnings naming the file, and the scan goes on.
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: ok\nStatus: install ok installed\nVersion: 1.0\n\nPackage: broken\nStatus: install ok installed\n\nthis is not a field\n",
    )
    .unwrap();
    let out = run(&["scan", &root.to_string_lossy(), "-f", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains("warning: var/lib/dpkg/status: stanza at line 5"),
        "{msg}"
    );
    assert!(msg.contains("var/lib/dpkg/status: line 8"), "{msg}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["packages"].as_array().unwrap().len(), 1);
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 2);
    // --max-image-size must be a size.
    let out = run(&["scan", "host", "--max-image-size", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a size like 512M"),
        "{}",
        stderr(&out)
    );
}

/// `scan host` reads this machine; dpkg-query is the oracle where dpkg is the
/// package manager.
#[test]
fn host_scan_matches_dpkg_query() {
    let Ok(out) = Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Status}\t${Package}\t${Version}\n"])
        .output()
    else {
        eprintln!("SKIPPED: no dpkg-query on this host");
        return;
    };
    let expected: BTreeSet<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 3 && f[0] != "config-files" && f[0] != "not-installed")
                .then(|| (f[1].to_owned(), f[2].to_owned()))
        })
        .collect();
    let mut cmd = postwatch();
    let out = cmd
        .args(["scan", "host", "-f", "json", "-q", "--pkg-types", "os"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["target"]["type"], "host");
    let got: BTreeSet<(String, String)> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["package_manager"] == "dpkg")
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);
}
