//! Language packages end to end: project folders with real lockfiles, binaries and
//! jars matched against real OSV data; the Python application image against its
//! ground truth; broken files that must only warn.

mod common;

use common::{images_dir, postwatch, run, scan_json, testdata};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn copy_file(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
}

/// A database of the real PyPI, Go, crates.io and Maven corpora.
fn language_db(dir: &Path) -> PathBuf {
    let db = dir.join("lang.db");
    let out = postwatch()
        .args(["db", "import", "--db", &db.to_string_lossy()])
        .arg(testdata("osv/PyPI/all.zip"))
        .arg(testdata("osv/Go/all.zip"))
        .arg(testdata("osv/crates.io/all.zip"))
        .arg(testdata("osv/Maven/all.zip"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    db
}

/// A project folder holding every kind of language file the fixtures have.
fn project(dir: &Path) -> PathBuf {
    let root = dir.join("project");
    let pkgdb = testdata("pkgdb");
    copy_file(
        &pkgdb.join("cargo/generated/Cargo.lock"),
        &root.join("rust/Cargo.lock"),
    );
    copy_file(
        &pkgdb.join("go/postwatch-gobin-xnet070"),
        &root.join("bin/xnet"),
    );
    copy_file(
        &pkgdb.join("java/debian-libyaml-snake-java_1.33-2/snakeyaml-1.33.jar"),
        &root.join("lib/snakeyaml-1.33.jar"),
    );
    copy_tree(
        &pkgdb.join("python/site-packages"),
        &root.join("venv/lib/python3.11/site-packages"),
    );
    copy_file(
        &pkgdb.join("python/syft-pipfile/Pipfile.lock"),
        &root.join("py/Pipfile.lock"),
    );
    copy_file(
        &pkgdb.join("npm/generated/package-lock.json"),
        &root.join("web/package-lock.json"),
    );
    copy_tree(
        &pkgdb.join("npm/generated/node_modules"),
        &root.join("web/node_modules"),
    );
    copy_tree(&pkgdb.join("php/syft"), &root.join("php"));
    copy_file(
        &pkgdb.join("ruby/syft/Gemfile.lock"),
        &root.join("ruby/Gemfile.lock"),
    );
    copy_tree(
        &pkgdb.join("ruby/debian-12-rubygems-integration"),
        &root.join("gems"),
    );
    root
}

fn packages_of<'a>(doc: &'a Value, manager: &str) -> Vec<&'a Value> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["package_manager"] == manager)
        .collect()
}

fn finding<'a>(doc: &'a Value, package: &str, record: &str) -> Option<&'a Value> {
    doc["findings"].as_array().unwrap().iter().find(|f| {
        f["package"]["name"] == package
            && (f["id"] == record
                || f["records"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|x| x == record)))
    })
}

#[test]
fn project_folder_packages_are_found_and_matched() {
    let dir = tempfile::tempdir().unwrap();
    let db = language_db(dir.path());
    let root = project(dir.path());
    let out = run(&[
        "scan",
        &root.to_string_lossy(),
        "--db",
        &db.to_string_lossy(),
        "-f",
        "json",
        "--with-files",
        "-q",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();

    // Cargo.lock: every registry crate, none of the local root.
    let lock = std::fs::read_to_string(root.join("rust/Cargo.lock")).unwrap();
    let registry_crates = lock.matches("source = \"registry+").count();
    let crates = packages_of(&doc, "cargo");
    assert_eq!(crates.len(), registry_crates, "{crates:?}");
    assert!(crates
        .iter()
        .all(|p| p["found_in"] == "/rust/Cargo.lock" && p["ecosystem"] == "crates.io"));
    let smallvec = finding(&doc, "smallvec", "RUSTSEC-2021-0003").expect("smallvec finding");
    assert_eq!(
        smallvec["fix_command"],
        "cargo update -p smallvec --precise 1.6.1"
    );

    // The Go binary: the toolchain as `stdlib` and both modules, as `go version -m` says.
    let go: BTreeSet<(String, String)> = packages_of(&doc, "go")
        .iter()
        .map(|p| {
            assert_eq!(p["found_in"], "/bin/xnet");
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("golang.org/x/net", "v0.7.0"),
        ("golang.org/x/text", "v0.7.0"),
        ("stdlib", "1.19.8"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(go, expected);
    assert!(finding(&doc, "golang.org/x/net", "GO-2023-1988").is_some());
    let stdlib_findings = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["package"]["name"] == "stdlib")
        .count();
    assert!(stdlib_findings >= 40, "stdlib 1.19.8: {stdlib_findings}");

    // The jar: Maven coordinates from pom.properties, matched against GHSA data.
    let jar = packages_of(&doc, "maven");
    assert_eq!(jar.len(), 1, "{jar:?}");
    assert_eq!(jar[0]["name"], "org.yaml:snakeyaml");
    assert_eq!(jar[0]["purl"], "pkg:maven/org.yaml/snakeyaml@1.33");
    assert!(finding(&doc, "org.yaml:snakeyaml", "GHSA-mjmj-j48q-9wg2").is_some());

    // dist-info: 13 installed distributions with their RECORD files; Pipfile.lock's
    // default section, not its develop section.
    let pip = packages_of(&doc, "pip");
    let installed: Vec<_> = pip
        .iter()
        .filter(|p| p["found_in"].as_str().unwrap().contains("site-packages"))
        .collect();
    assert_eq!(installed.len(), 13);
    for p in &installed {
        let files = p["files"].as_array().unwrap();
        assert!(!files.is_empty(), "{p}");
        assert!(files
            .iter()
            .all(|f| f.as_str().unwrap().starts_with("/venv/")));
    }
    let pipfile: BTreeSet<&str> = pip
        .iter()
        .filter(|p| p["found_in"] == "/py/Pipfile.lock")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(pipfile.len(), 4, "{pipfile:?}");
    assert!(!pipfile.contains("astroid"));
    let django = finding(&doc, "Django", "PYSEC-2019-13")
        .or_else(|| {
            doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["package"]["name"] == "Django")
        })
        .expect("Django 2.2 has findings");
    assert!(django["fix_command"]
        .as_str()
        .unwrap()
        .starts_with("pip install 'Django>="));

    // npm: the installed node_modules tree, each with its own files; lockfile pins of
    // installed packages are not repeated.
    let npm = packages_of(&doc, "npm");
    let lodash: Vec<_> = npm.iter().filter(|p| p["name"] == "lodash").collect();
    assert_eq!(lodash.len(), 1, "{lodash:?}");
    assert_eq!(lodash[0]["version"], "4.17.15");
    assert_eq!(
        lodash[0]["found_in"],
        "/web/node_modules/lodash/package.json"
    );
    let lock: Value =
        serde_json::from_slice(&std::fs::read(root.join("web/package-lock.json")).unwrap())
            .unwrap();
    let pinned = lock["packages"].as_object().unwrap().len() - 1;
    let distinct: BTreeSet<(&str, &str)> = npm
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    assert_eq!(distinct.len(), pinned);

    // Composer, RubyGems: lockfiles, installed.json and gemspecs.
    assert!(!packages_of(&doc, "composer").is_empty());
    let gems: BTreeSet<&str> = packages_of(&doc, "gem")
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in ["rack", "nokogiri", "loofah", "rails-html-sanitizer", "json"] {
        assert!(gems.contains(name), "{name} missing from {gems:?}");
    }

    // --explain shows the range evaluation for a language package too.
    let out = run(&[
        "scan",
        &root.to_string_lossy(),
        "--db",
        &db.to_string_lossy(),
        "--explain",
        "RUSTSEC-2021-0003",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(
        text.contains("smallvec 1.6.0") && text.contains("AFFECTED"),
        "{text}"
    );
}

#[test]
fn dev_dependencies_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    copy_file(
        &testdata("pkgdb/python/syft-pipfile/Pipfile.lock"),
        &root.join("Pipfile.lock"),
    );
    let names = |extra: &[&str]| -> BTreeSet<String> {
        let mut args = vec!["scan", root.to_str().unwrap(), "-f", "json", "-q"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        packages_of(&doc, "pip")
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let default = names(&[]);
    let with_dev = names(&["--include-dev-deps"]);
    assert_eq!(default.len(), 4);
    assert_eq!(with_dev.len(), 6);
    assert!(with_dev.contains("astroid") && !default.contains("astroid"));
}

/// The application image: its PyPI set is exactly the pip ground truth, with files;
/// Debian's python3-requests is reported once, as the dpkg package.
#[test]
fn python_application_image_matches_its_ground_truth() {
    let Some(images) = images_dir() else { return };
    let truth: BTreeSet<(String, String)> =
        std::fs::read_to_string(images.join("bookworm-pyapp.pypi.tsv"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
    assert_eq!(truth.len(), 13);
    for form in ["docker.tar", "oci", "rootfs"] {
        let doc = scan_json(&images.join(format!("bookworm-pyapp.{form}")));
        let pip = packages_of(&doc, "pip");
        let found: BTreeSet<(String, String)> = pip
            .iter()
            .map(|p| {
                assert!(
                    p["found_in"]
                        .as_str()
                        .unwrap()
                        .starts_with("/app/site-packages/"),
                    "{form}: {p}"
                );
                assert!(p["file_count"].as_u64().unwrap() > 0, "{form}: {p}");
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["version"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(found, truth, "{form}");
        let requests: Vec<_> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "python3-requests")
            .collect();
        assert_eq!(requests.len(), 1, "{form}");
        assert_eq!(requests[0]["package_manager"], "dpkg");
        assert!(!pip.iter().any(|p| p["version"] == "2.28.1"), "{form}");
    }

    // --pkg-types keeps one kind or the other.
    let rootfs = images.join("bookworm-pyapp.rootfs");
    for (types, kept) in [("os", "dpkg"), ("lang", "pip")] {
        let out = run(&[
            "scan",
            rootfs.to_str().unwrap(),
            "--pkg-types",
            types,
            "-f",
            "json",
            "-q",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let managers: BTreeSet<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["package_manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, BTreeSet::from([kept]), "--pkg-types {types}");
    }
}

/// Broken files each give a warning naming them; everything else is still reported.
#[test]
fn broken_language_files_warn_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("broken");
    let pkgdb = testdata("pkgdb");
    copy_file(
        &pkgdb.join("python/syft-poetry/poetry.lock"),
        &root.join("ok/poetry.lock"),
    );
    let lock = std::fs::read(pkgdb.join("npm/generated/package-lock.json")).unwrap();
    std::fs::create_dir_all(root.join("web")).unwrap();
    std::fs::write(root.join("web/package-lock.json"), &lock[..lock.len() / 2]).unwrap();
    std::fs::create_dir_all(root.join("rust")).unwrap();
    std::fs::write(root.join("rust/Cargo.lock"), "[[package]\nname = \"x\n").unwrap();
    let jar = std::fs::read(pkgdb.join("java/debian-libyaml-snake-java_1.33-2/snakeyaml-1.33.jar"))
        .unwrap();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::write(root.join("lib/cut.jar"), &jar[..jar.len() / 3]).unwrap();
    let gobin = std::fs::read(pkgdb.join("go/postwatch-gobin-xnet070")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let cut = root.join("bin/cut");
    std::fs::write(&cut, &gobin[..gobin.len() / 2]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cut, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = run(&["scan", root.to_str().unwrap(), "-f", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for file in ["/web/package-lock.json", "/rust/Cargo.lock", "/lib/cut.jar"] {
        assert!(
            warnings.iter().any(|w| w.contains(file)),
            "no warning names {file}: {warnings:?}"
        );
    }
    // Warnings reach the terminal too.
    assert!(
        stderr(&out).contains("/rust/Cargo.lock"),
        "{}",
        stderr(&out)
    );
    // The good lockfile and the readable half of the npm lockfile are still reported.
    assert_eq!(packages_of(&doc, "pip").len(), 5);
    assert!(!packages_of(&doc, "npm").is_empty());
}

/// RubyGems, Packagist and NuGet through the same engine, against the real GHSA
/// records that name them (in the Maven corpus). The lockfiles are written here in
/// each tool's format, pinning versions those records cover.
#[test]
fn rubygems_packagist_and_nuget_pins_match_real_ghsa_records() {
    let dir = tempfile::tempdir().unwrap();
    let db = language_db(dir.path());
    let root = dir.path().join("apps");
    std::fs::create_dir_all(root.join("ruby")).unwrap();
    std::fs::create_dir_all(root.join("php")).unwrap();
    std::fs::create_dir_all(root.join("dotnet")).unwrap();
    std::fs::write(
        root.join("ruby/Gemfile.lock"),
        "GEM\n  remote: https://rubygems.org/\n  specs:\n    google-protobuf (3.21.5)\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  google-protobuf\n\nBUNDLED WITH\n   2.4.10\n",
    )
    .unwrap();
    std::fs::write(
        root.join("php/composer.lock"),
        r#"{"packages": [{"name": "google/protobuf", "version": "v3.14.0"}], "packages-dev": []}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("dotnet/packages.lock.json"),
        r#"{"version": 1, "dependencies": {"net8.0": {"BouncyCastle.Cryptography": {"type": "Direct", "requested": "[2.2.1, )", "resolved": "2.2.1"}}}}"#,
    )
    .unwrap();
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
    let ids = |package: &str| -> BTreeSet<String> {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["package"]["name"] == package)
            .flat_map(|f| f["records"].as_array().unwrap().iter())
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    // 3.21.5 is inside [3.21.0.rc.1, 3.21.7) and past GHSA-wrvw's fix (3.19.2).
    assert_eq!(
        ids("google-protobuf"),
        BTreeSet::from(["GHSA-h4h5-3hr4-j3g2".to_owned()])
    );
    let gem = finding(&doc, "google-protobuf", "GHSA-h4h5-3hr4-j3g2").unwrap();
    assert_eq!(gem["fixed_versions"], serde_json::json!(["3.21.7"]));
    assert_eq!(gem["package"]["ecosystem"], "RubyGems");
    assert_eq!(
        ids("google/protobuf"),
        BTreeSet::from(["GHSA-77rm-9x9h-xj3g".to_owned()])
    );
    assert_eq!(
        ids("BouncyCastle.Cryptography"),
        [
            "GHSA-8xfc-gm6g-vgpv",
            "GHSA-m44j-cfrm-g8qc",
            "GHSA-v435-xc8x-wvr9"
        ]
        .map(String::from)
        .into_iter()
        .collect::<BTreeSet<_>>()
    );
    let nuget = finding(&doc, "BouncyCastle.Cryptography", "GHSA-8xfc-gm6g-vgpv").unwrap();
    assert_eq!(
        nuget["fix_command"],
        "dotnet add package BouncyCastle.Cryptography --version 2.3.1"
    );
}
