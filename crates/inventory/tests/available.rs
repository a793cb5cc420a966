//! Fix availability on real repository indexes, against the real tools:
//! apt lists cut from Debian's bookworm lists against `apt-cache madison` (and the
//! host's own lists against the host's apt), repodata made by `rpmbuild` +
//! `createrepo_c` (gzip, xz, zstd, zchunk, SQLite) against `rpm -qp`, zchunk files of
//! every shape the `zck` tools write against `unzck`, and APKINDEX archives wrapped
//! the way Alpine's are, from real apk databases, against `awk`.
//!
//! Debian packages these tests run: apt (apt-cache), rpm (rpm, rpmbuild),
//! createrepo-c, zchunk, zstd, gzip, tar, and an awk.
//!
//! Under CI=true a missing tool fails the test; elsewhere the test prints SKIPPED.

use postwatch_inventory::apk;
use postwatch_inventory::available::{
    collect, parse_apkindex, parse_apt_packages, parse_rpm_primary_xml, wants, Available,
};
use postwatch_model::PackageManager;
use postwatch_target::DirTree;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

type VersionsByName = BTreeMap<String, BTreeSet<(String, String)>>;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// True when every tool answers; otherwise fails under CI=true, else says SKIPPED.
fn have_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            !std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file())
            })
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: required tools missing under CI: {missing:?}");
    }
    println!("SKIPPED {test}: tools missing: {missing:?}");
    false
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tool output is UTF-8")
}

fn ours(available: &Available, manager: PackageManager, names: &[&str]) -> VersionsByName {
    names
        .iter()
        .map(|name| {
            let set = available
                .versions(manager, name)
                .into_iter()
                .map(|(v, o)| (v.to_owned(), o.to_owned()))
                .collect();
            ((*name).to_owned(), set)
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// apt

/// The package names the apt fixtures were cut for (testdata/PROVENANCE.md).
const APT_NAMES: &[&str] = &[
    "ca-certificates",
    "curl",
    "libc-bin",
    "libc6",
    "libcurl3-gnutls",
    "libcurl4",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libsqlite3-0",
    "libssl-dev",
    "libssl3",
    "libwireshark-data",
    "linux-doc",
    "openssh-client",
    "openssl",
    "python3.11",
    "python3.11-minimal",
    "tzdata",
    "zlib1g",
];

/// The list file name apt gives `URI suite/component arch Packages` (as `madison`
/// prints it) for a `dists/` repository.
fn apt_list_origin(site: &str) -> Option<String> {
    let mut words = site.split_whitespace();
    let uri = words.next()?;
    let (suite, component) = words.next()?.split_once('/')?;
    let arch = words.next()?;
    let host_path = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    Some(format!(
        "{}_dists_{suite}_{component}_binary-{arch}_Packages",
        host_path.trim_end_matches('/').replace('/', "_")
    ))
}

/// `apt-cache madison` rows as name → {(version, list name)}.
fn parse_madison(output: &str) -> VersionsByName {
    let mut out = VersionsByName::new();
    for line in output.lines() {
        let parts: Vec<&str> = line.split(" | ").map(str::trim).collect();
        let [name, version, site] = parts.as_slice() else {
            panic!("unexpected madison line {line:?}");
        };
        let origin = apt_list_origin(site).unwrap_or_else(|| panic!("madison site {site:?}"));
        out.entry((*name).to_owned())
            .or_default()
            .insert(((*version).to_owned(), origin));
    }
    out
}

fn madison(lists: Option<&Path>, names: &[&str]) -> VersionsByName {
    let mut cmd = Command::new("apt-cache");
    let scratch = tempfile::tempdir().unwrap();
    if let Some(lists) = lists {
        let sources = scratch.path().join("sources.list");
        std::fs::write(
            &sources,
            "deb [arch=amd64] http://deb.debian.org/debian bookworm main\n\
             deb [arch=amd64] http://deb.debian.org/debian bookworm-updates main\n\
             deb [arch=amd64] http://deb.debian.org/debian-security bookworm-security main\n",
        )
        .unwrap();
        let opt = |cmd: &mut Command, kv: String| {
            cmd.arg("-o").arg(kv);
        };
        opt(&mut cmd, format!("Dir::State::Lists={}", lists.display()));
        opt(
            &mut cmd,
            format!("Dir::Etc::SourceList={}", sources.display()),
        );
        opt(&mut cmd, "Dir::Etc::SourceParts=/nonexistent".into());
        opt(&mut cmd, format!("Dir::Cache={}", scratch.path().display()));
        opt(&mut cmd, "Dir::Cache::pkgcache=".into());
        opt(&mut cmd, "Dir::Cache::srcpkgcache=".into());
        opt(&mut cmd, "Dir::State::status=/dev/null".into());
        opt(&mut cmd, "Dir::Etc::Preferences=/dev/null".into());
        opt(&mut cmd, "Dir::Etc::PreferencesParts=/nonexistent".into());
        opt(&mut cmd, "APT::Architecture=amd64".into());
        opt(&mut cmd, "APT::Architectures::=amd64".into());
    }
    cmd.arg("madison").args(names);
    parse_madison(&run(&mut cmd))
}

#[test]
fn apt_fixtures_match_apt_cache_madison() {
    if !have_tools("apt_fixtures_match_apt_cache_madison", &["apt-cache"]) {
        return;
    }
    // apt: lz4 (as apt stores it), plain, xz; apt-gz: gzip, lz4, zstd.
    for root in ["available/apt", "available/apt-gz"] {
        let root = testdata(root);
        let mut warnings = Vec::new();
        let available = collect(&DirTree::new(&root), &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{}: {warnings:?}", root.display());
        assert_eq!(available.sources().len(), 3, "{:?}", available.sources());
        assert_eq!(
            available.package_count(PackageManager::Dpkg),
            APT_NAMES.len()
        );
        let mut names = APT_NAMES.to_vec();
        names.push("no-such-package");
        let expected = madison(Some(&root.join("var/lib/apt/lists")), &names);
        let got = ours(&available, PackageManager::Dpkg, &names);
        let got: VersionsByName = got.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        assert_eq!(got, expected, "{}", root.display());
        // The same package at different versions in main, updates and security.
        assert_eq!(got["libssl3"].len(), 3);
        assert_eq!(got["linux-doc"].len(), 6);
    }
}

#[test]
fn host_apt_lists_match_host_apt_cache() {
    let lists = Path::new("/var/lib/apt/lists");
    let has_lists = std::fs::read_dir(lists).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            wants(&format!(
                "var/lib/apt/lists/{}",
                e.file_name().to_string_lossy()
            ))
        })
    });
    if !has_lists {
        println!("SKIPPED host_apt_lists_match_host_apt_cache: no apt lists on this host");
        return;
    }
    if !have_tools("host_apt_lists_match_host_apt_cache", &["apt-cache"]) {
        return;
    }
    let tree = DirTree::new("/");
    let mut warnings = Vec::new();
    let start = std::time::Instant::now();
    let available = collect(&tree, &mut warnings).unwrap();
    println!(
        "host: {} indexes, {} dpkg names in {:?}; warnings {warnings:?}",
        available.sources().len(),
        available.package_count(PackageManager::Dpkg),
        start.elapsed()
    );
    let names = [
        "libc6",
        "libssl3",
        "openssl",
        "tzdata",
        "curl",
        "zlib1g",
        "bash",
        "linux-doc",
        "apt",
        "python3.11",
        "libwireshark-data",
        "openssh-client",
    ];
    let expected = madison(None, &names);
    assert!(!expected.is_empty(), "host madison found none of {names:?}");
    let got: VersionsByName = ours(&available, PackageManager::Dpkg, &names)
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn apt_parser_reports_stanzas_without_version() {
    let text = "Package: good\nVersion: 1.0-1\nArchitecture: amd64\n\n\
                Package: noversion\nArchitecture: all\n\n\
                Version: 2.0\n";
    let mut warnings = Vec::new();
    let rows = parse_apt_packages(text, "L_Packages", &mut warnings);
    assert_eq!(
        rows,
        vec![("good".into(), "1.0-1".into(), Some("amd64".into()))]
    );
    assert_eq!(
        warnings,
        vec![
            "L_Packages: stanza at line 5 (Package: noversion) has no Version; skipped".to_owned(),
            "L_Packages: stanza at line 8 has no Package; skipped".to_owned(),
        ]
    );
}

// ---------------------------------------------------------------------------------
// apk

/// (name, version) of each record of an apk database text, by awk.
fn awk_apk_records(file: &Path) -> BTreeSet<(String, String)> {
    let out = run(Command::new("awk")
        .arg(
            "function flush() { if (p != \"\" && v != \"\") print p \"\\t\" v; p = \"\"; v = \"\" } \
             /^P:/ { p = substr($0, 3) } /^V:/ { v = substr($0, 3) } /^[ \\t]*$/ { flush() } \
             END { flush() }",
        )
        .arg(file));
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// Builds `APKINDEX.tar.gz` as Alpine's abuild does: a gzip member holding a
/// signature tar segment cut before its end-of-archive blocks, then a gzip member
/// holding the tar of DESCRIPTION and APKINDEX.
fn build_apkindex(dir: &Path, index_text: &Path, out: &Path) {
    let work = dir.join(format!(
        "work-{}",
        out.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(index_text, work.join("APKINDEX")).unwrap();
    std::fs::write(work.join("DESCRIPTION"), "postwatch test index").unwrap();
    let sig_name = ".SIGN.RSA.postwatch-test.rsa.pub";
    std::fs::write(work.join(sig_name), [0x5au8; 256]).unwrap();
    run(Command::new("tar").current_dir(&work).args([
        "--format=ustar",
        "--owner=0",
        "--group=0",
        "-cf",
        "sig.tar",
        sig_name,
    ]));
    // One header block and one data block; drop the end-of-archive blocks.
    let sig = work.join("sig.tar");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&sig)
        .unwrap()
        .set_len(1024)
        .unwrap();
    run(Command::new("gzip").args(["-9", "-n"]).arg(&sig));
    run(Command::new("tar").current_dir(&work).args([
        "--format=ustar",
        "--owner=0",
        "--group=0",
        "-cf",
        "index.tar",
        "DESCRIPTION",
        "APKINDEX",
    ]));
    run(Command::new("gzip")
        .args(["-9", "-n"])
        .arg(work.join("index.tar")));
    let mut bytes = std::fs::read(work.join("sig.tar.gz")).unwrap();
    bytes.extend(std::fs::read(work.join("index.tar.gz")).unwrap());
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn apkindex_archives_match_awk() {
    if !have_tools("apkindex_archives_match_awk", &["tar", "gzip", "awk"]) {
        return;
    }
    // No real APKINDEX is available offline: the records are real apk databases
    // (lib/apk/db/installed has the same P:/V: record format), wrapped like APKINDEX.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let sources = [
        (
            "APKINDEX.2c4ac24e.tar.gz",
            "pkgdb/apk/alpine-3.18-scalibr/lib/apk/db/installed",
        ),
        (
            "APKINDEX.40a3604f.tar.gz",
            "pkgdb/apk/alpine-3.4-trivy/lib/apk/db/installed",
        ),
    ];
    let mut expected: VersionsByName = BTreeMap::new();
    for (index, db) in sources {
        let path = format!("var/cache/apk/{index}");
        assert!(wants(&path));
        build_apkindex(tmp.path(), &testdata(db), &root.join(&path));
        for (name, version) in awk_apk_records(&testdata(db)) {
            expected
                .entry(name)
                .or_default()
                .insert((version, index.to_owned()));
        }
        // The pure parser agrees with awk and with the installed-database parser.
        let text = std::fs::read_to_string(testdata(db)).unwrap();
        let mut w = Vec::new();
        let parsed: BTreeSet<(String, String)> =
            parse_apkindex(&text, index, &mut w).into_iter().collect();
        assert_eq!(parsed, awk_apk_records(&testdata(db)));
        let installed: BTreeSet<(String, String)> =
            apk::parse_installed(&text, db, &mut Vec::new())
                .into_iter()
                .map(|p| (p.name, p.version))
                .collect();
        assert_eq!(parsed, installed);
    }
    // Not an index: the installed database is ignored.
    std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
    std::fs::copy(
        testdata("pkgdb/apk/alpine-3.18-scalibr/lib/apk/db/installed"),
        root.join("lib/apk/db/installed"),
    )
    .unwrap();
    let mut warnings = Vec::new();
    let available = collect(&DirTree::new(&root), &mut warnings).unwrap();
    // alpine-3.4-trivy holds one record without a version, reported by name.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "var/cache/apk/APKINDEX.40a3604f.tar.gz: record invalidPackageWithoutAVersion"
        ),
        "{warnings:?}"
    );
    assert_eq!(available.sources().len(), 2);
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    assert_eq!(ours(&available, PackageManager::Apk, &names), expected);
    assert_eq!(available.package_count(PackageManager::Apk), expected.len());
    assert!(available
        .versions(PackageManager::Apk, "musl")
        .contains(&("1.2.4-r0", "APKINDEX.2c4ac24e.tar.gz")));
    assert!(available.versions(PackageManager::Dpkg, "musl").is_empty());
}

// ---------------------------------------------------------------------------------
// rpm repodata

const SPECS: &[(&str, &str, Option<&str>, &str, &str)] = &[
    // name, version, epoch, release, summary
    (
        "pw-hello",
        "1.2.3",
        Some("2"),
        "4.fc40",
        "hello with an epoch",
    ),
    ("pw-hello", "1.2.4", Some("2"), "1.fc40", "a newer hello"),
    ("pw-lib", "0.9", None, "1.el9_2", "a library without epoch"),
    ("pw-zero", "3.0", Some("0"), "7", "an explicit zero epoch"),
];

fn build_rpms(dir: &Path) -> Vec<PathBuf> {
    let top = dir.join("rpmbuild");
    for (name, version, epoch, release, summary) in SPECS {
        let spec = dir.join(format!("{name}-{version}.spec"));
        let epoch = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
        std::fs::write(
            &spec,
            format!(
                "Name: {name}\nVersion: {version}\nRelease: {release}\n{epoch}\
                 Summary: {summary}\nLicense: MIT\nBuildArch: noarch\n\
                 %description\npostwatch fix-availability test package\n%files\n"
            ),
        )
        .unwrap();
        run(Command::new("rpmbuild")
            .arg("-bb")
            .arg("--quiet")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg(&spec));
    }
    let noarch = top.join("RPMS/noarch");
    let mut rpms: Vec<PathBuf> = std::fs::read_dir(&noarch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    rpms.sort();
    assert_eq!(rpms.len(), SPECS.len());
    rpms
}

/// `rpm -qp` of the built packages: name → {[epoch:]version-release}.
fn rpm_oracle(rpms: &[PathBuf]) -> BTreeMap<String, BTreeSet<String>> {
    let out = run(Command::new("rpm")
        .arg("-qp")
        .arg("--qf")
        .arg("%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\n")
        .args(rpms));
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in out.lines() {
        let (name, evr) = line.split_once('\t').unwrap();
        let (epoch, vr) = evr.split_once(':').unwrap();
        let version = if epoch == "(none)" || epoch == "0" {
            vr.to_owned()
        } else {
            evr.to_owned()
        };
        map.entry(name.to_owned()).or_default().insert(version);
    }
    map
}

fn createrepo(rpms: &[PathBuf], repo: &Path, extra: &[&str]) -> PathBuf {
    std::fs::create_dir_all(repo).unwrap();
    for rpm in rpms {
        std::fs::copy(rpm, repo.join(rpm.file_name().unwrap())).unwrap();
    }
    run(Command::new("createrepo_c")
        .arg("--quiet")
        .args(extra)
        .arg(repo));
    repo.join("repodata")
}

fn find_one(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{suffix} in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

#[test]
fn repodata_from_createrepo_matches_rpm_qp() {
    if !have_tools(
        "repodata_from_createrepo_matches_rpm_qp",
        &["rpmbuild", "rpm", "createrepo_c", "gzip", "zstd"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rpms = build_rpms(tmp.path());
    let oracle = rpm_oracle(&rpms);
    assert_eq!(oracle["pw-hello"].len(), 2);
    assert!(oracle["pw-hello"].contains("2:1.2.3-4.fc40"));

    // The pure parser on the primary.xml createrepo_c wrote.
    let plain = createrepo(&rpms, &tmp.path().join("plain"), &[]);
    let xml = run(Command::new("gzip")
        .arg("-dc")
        .arg(find_one(&plain, "-primary.xml.gz")));
    let mut w = Vec::new();
    let rows = parse_rpm_primary_xml(xml.as_bytes(), "primary.xml", &mut w);
    assert!(w.is_empty(), "{w:?}");
    let mut parsed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, version, arch) in rows {
        assert_eq!(arch.as_deref(), Some("noarch"));
        parsed.entry(name).or_default().insert(version);
    }
    assert_eq!(parsed, oracle);

    // The caches as dnf 4, dnf 5 and yum lay them out, in every compression
    // createrepo_c writes (gz + sqlite.bz2 by default, xz), and zstd (Fedora's).
    let root = tmp.path().join("root");
    let dnf = root.join("var/cache/dnf/pwgz-0123456789abcdef/repodata");
    std::fs::create_dir_all(&dnf).unwrap();
    std::fs::copy(
        find_one(&plain, "-primary.xml.gz"),
        dnf.join("aa-primary.xml.gz"),
    )
    .unwrap();
    std::fs::copy(find_one(&plain, "repomd.xml"), dnf.join("repomd.xml")).unwrap();
    std::fs::copy(
        find_one(&plain, "-filelists.xml.gz"),
        dnf.join("bb-filelists.xml.gz"),
    )
    .unwrap();

    let xz = createrepo(
        &rpms,
        &tmp.path().join("xz"),
        &["--general-compress-type=xz"],
    );
    let dnf5 = root.join("var/cache/libdnf5/pwxz-fedcba9876543210/repodata");
    std::fs::create_dir_all(&dnf5).unwrap();
    std::fs::copy(
        find_one(&xz, "-primary.xml.xz"),
        dnf5.join("cc-primary.xml.xz"),
    )
    .unwrap();
    std::fs::copy(
        find_one(&xz, "-primary.sqlite.xz"),
        dnf5.join("cc-primary.sqlite.xz"),
    )
    .unwrap();

    let zst = root.join("var/cache/dnf/pwzst-00000000000000ff/repodata");
    std::fs::create_dir_all(&zst).unwrap();
    let plain_xml = tmp.path().join("primary.xml");
    std::fs::write(&plain_xml, &xml).unwrap();
    run(Command::new("zstd")
        .args(["-q", "-19", "-o"])
        .arg(zst.join("dd-primary.xml.zst"))
        .arg(&plain_xml));

    // Fedora's dnf downloads the zchunk variant createrepo_c --zck writes.
    let zck = createrepo(&rpms, &tmp.path().join("zck"), &["--zck"]);
    let dnf_zck = root.join("var/cache/libdnf5/pwzck-0a0b0c0d0e0f1011/repodata");
    std::fs::create_dir_all(&dnf_zck).unwrap();
    std::fs::copy(
        find_one(&zck, "-primary.xml.zck"),
        dnf_zck.join("ff-primary.xml.zck"),
    )
    .unwrap();

    let yum = root.join("var/cache/yum/x86_64/9/pwyum");
    std::fs::create_dir_all(yum.join("packages")).unwrap();
    std::fs::copy(
        find_one(&plain, "-primary.sqlite.bz2"),
        yum.join("ee-primary.sqlite.bz2"),
    )
    .unwrap();

    let mut warnings = Vec::new();
    let available = collect(&DirTree::new(&root), &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut sources = available.sources().to_vec();
    sources.sort();
    assert_eq!(
        sources,
        vec![
            "var/cache/dnf/pwgz-0123456789abcdef/repodata/aa-primary.xml.gz",
            "var/cache/dnf/pwzst-00000000000000ff/repodata/dd-primary.xml.zst",
            "var/cache/libdnf5/pwxz-fedcba9876543210/repodata/cc-primary.sqlite.xz",
            "var/cache/libdnf5/pwxz-fedcba9876543210/repodata/cc-primary.xml.xz",
            "var/cache/libdnf5/pwzck-0a0b0c0d0e0f1011/repodata/ff-primary.xml.zck",
            "var/cache/yum/x86_64/9/pwyum/ee-primary.sqlite.bz2",
        ]
    );
    for source in &sources {
        assert!(wants(source), "{source}");
    }
    for (name, versions) in &oracle {
        let mut expected = BTreeSet::new();
        for version in versions {
            for origin in ["pwgz", "pwzst", "pwxz", "pwzck", "pwyum"] {
                expected.insert((version.clone(), origin.to_owned()));
            }
        }
        let got: BTreeSet<(String, String)> = available
            .versions(PackageManager::Rpm, name)
            .into_iter()
            .map(|(v, o)| (v.to_owned(), o.to_owned()))
            .collect();
        assert_eq!(got, expected, "{name}");
    }
    assert_eq!(available.package_count(PackageManager::Rpm), oracle.len());
    let offers = available.offers(PackageManager::Rpm, "pw-lib");
    assert!(
        offers.iter().all(|o| o.arch == Some("noarch")),
        "{offers:?}"
    );
}

#[test]
fn zchunk_variants_match_unzck() {
    if !have_tools(
        "zchunk_variants_match_unzck",
        &["zck", "zck_gen_zdict", "zck_read_header", "unzck", "gzip"],
    ) {
        return;
    }
    // Real deb822 text (the main and updates fixture lists), chunked by stanza, in
    // every shape the zchunk tools write: plain zstd, with a dictionary made by
    // zck_gen_zdict, with uncompressed checksums, SHA-256 chunk checksums, and no
    // compression. unzck must give the text back, and so must we.
    let tmp = tempfile::tempdir().unwrap();
    let main = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages";
    let updates = "deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages";
    let mut text = run(Command::new("gzip").arg("-dc").arg(testdata(&format!(
        "available/apt-gz/var/lib/apt/lists/{main}.gz"
    ))));
    text.push('\n');
    text.push_str(
        &std::fs::read_to_string(testdata(&format!(
            "available/apt/var/lib/apt/lists/{updates}"
        )))
        .unwrap(),
    );
    let input = tmp.path().join("Packages");
    std::fs::write(&input, &text).unwrap();
    let zck = |out: &str, extra: &[&str]| {
        run(Command::new("zck")
            .current_dir(tmp.path())
            .args(extra)
            .args(["-s", "Package: ", "-o", out, "Packages"]));
    };
    zck("plain.zck", &[]);
    run(Command::new("zck_gen_zdict")
        .current_dir(tmp.path())
        .arg("plain.zck"));
    let variants: [(&str, &[&str]); 5] = [
        ("plain", &[]),
        ("dict", &["-D", "plain.zdict"]),
        ("unc", &["-u"]),
        ("sha256", &["-h", "sha256"]),
        ("none", &["--compression-format=none"]),
    ];
    let lists = tmp.path().join("root/var/lib/apt/lists");
    std::fs::create_dir_all(&lists).unwrap();
    for (name, extra) in variants {
        let file = format!("{name}.zck");
        if name != "plain" {
            zck(&file, extra);
        }
        let back = run(Command::new("unzck").arg("-c").arg(tmp.path().join(&file)));
        assert_eq!(back, text, "unzck {file}");
        std::fs::copy(
            tmp.path().join(&file),
            lists.join(format!("{name}_Packages.zck")),
        )
        .unwrap();
    }
    let header = run(Command::new("zck_read_header").arg(tmp.path().join("dict.zck")));
    assert!(!header.contains("No dictionary"), "{header}");

    let mut expected = parse_apt_packages(&text, "Packages", &mut Vec::new());
    expected.sort();
    let mut warnings = Vec::new();
    let available = collect(&DirTree::new(tmp.path().join("root")), &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(available.sources().len(), variants.len());
    for (name, _) in variants {
        let origin = format!("{name}_Packages");
        let mut got = Vec::new();
        for (package, _, _) in &expected {
            for offer in available.offers(PackageManager::Dpkg, package) {
                if offer.origin == origin {
                    got.push((
                        package.clone(),
                        offer.version.to_owned(),
                        offer.arch.map(str::to_owned),
                    ));
                }
            }
        }
        got.sort();
        got.dedup();
        let mut want = expected.clone();
        want.dedup();
        assert_eq!(got, want, "{origin}");
    }

    // Cut anywhere, a zchunk file is an error, never a panic or a partial list.
    let whole = std::fs::read(tmp.path().join("dict.zck")).unwrap();
    let cut_root = tmp.path().join("cut");
    let cut_lists = cut_root.join("var/lib/apt/lists");
    std::fs::create_dir_all(&cut_lists).unwrap();
    for len in (0..whole.len()).step_by(97) {
        std::fs::write(cut_lists.join("x_Packages.zck"), &whole[..len]).unwrap();
        let mut warnings = Vec::new();
        let available = collect(&DirTree::new(&cut_root), &mut warnings).unwrap();
        assert!(available.is_empty(), "cut at {len}");
        assert_eq!(warnings.len(), 1, "cut at {len}: {warnings:?}");
    }
}

// ---------------------------------------------------------------------------------
// Bad input

fn cut(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len() / 2].to_vec()
}

#[test]
fn bad_indexes_become_warnings_and_the_rest_is_read() {
    let lists = testdata("available/apt/var/lib/apt/lists");
    let gz_lists = testdata("available/apt-gz/var/lib/apt/lists");
    let main = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages";
    let updates = "deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages";
    let security =
        "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages";
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let out = root.join("var/lib/apt/lists");
    std::fs::create_dir_all(out.join("partial")).unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(out.join(name), bytes).unwrap();
    // Good: the updates list, plain.
    put(updates, &read(lists.join(updates)));
    // Truncated lz4, gzip, xz and zstd.
    put(
        &format!("a_{main}.lz4"),
        &cut(&read(lists.join(format!("{main}.lz4")))),
    );
    put(
        &format!("b_{main}.gz"),
        &cut(&read(gz_lists.join(format!("{main}.gz")))),
    );
    put(
        &format!("c_{security}.xz"),
        &cut(&read(lists.join(format!("{security}.xz")))),
    );
    put(
        &format!("d_{security}.zst"),
        &cut(&read(gz_lists.join(format!("{security}.zst")))),
    );
    // lz4 data in a file named .gz.
    put(
        &format!("e_{main}.gz"),
        &read(lists.join(format!("{main}.lz4"))),
    );
    // Binary garbage as a plain list; an unknown compression; a stanza without Version.
    let garbage: Vec<u8> = (0u32..20_000)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    put(&format!("f_{main}"), &garbage);
    put(&format!("g_{main}.br"), b"whatever");
    put(
        &format!("h_{main}"),
        b"Package: half\nArchitecture: amd64\n\nPackage: whole\nVersion: 1.0\n",
    );
    // Not lists at all: ignored silently.
    put("lock", b"");
    put(&format!("{main}.IndexDiff"), b"SHA256-Current: x\n");
    put(
        &format!("partial/{main}"),
        b"Package: partial\nVersion: 9\n",
    );

    // apk: garbage and a truncated archive.
    let apk = root.join("var/cache/apk");
    std::fs::create_dir_all(&apk).unwrap();
    std::fs::write(apk.join("APKINDEX.00000001.tar.gz"), &garbage).unwrap();
    std::fs::write(
        apk.join("APKINDEX.00000002.tar.gz"),
        cut(&read(gz_lists.join(format!("{main}.gz")))),
    )
    .unwrap();

    // dnf: truncated gzip XML, garbage sqlite, a zchunk lead alone, an unknown
    // compression, XML cut inside a package.
    let repodata = root.join("var/cache/dnf/bad-0123456789abcdef/repodata");
    std::fs::create_dir_all(&repodata).unwrap();
    std::fs::write(
        repodata.join("x-primary.xml.gz"),
        cut(&read(gz_lists.join(format!("{main}.gz")))),
    )
    .unwrap();
    std::fs::write(repodata.join("y-primary.sqlite"), &garbage).unwrap();
    std::fs::write(repodata.join("z-primary.xml.zck"), b"\0ZCK1").unwrap();
    std::fs::write(repodata.join("v-primary.xml.zz9"), b"").unwrap();
    std::fs::write(
        repodata.join("w-primary.xml"),
        b"<metadata><package><name>a</name>",
    )
    .unwrap();

    let mut warnings = Vec::new();
    let available = collect(&DirTree::new(root), &mut warnings).unwrap();
    let joined = warnings.join("\n");
    println!("{joined}");
    for (file, why) in [
        (
            format!("var/lib/apt/lists/a_{main}.lz4"),
            "corrupt or truncated lz4",
        ),
        (
            format!("var/lib/apt/lists/b_{main}.gz"),
            "corrupt or truncated gzip",
        ),
        (
            format!("var/lib/apt/lists/c_{security}.xz"),
            "corrupt or truncated xz",
        ),
        (
            format!("var/lib/apt/lists/d_{security}.zst"),
            "corrupt or truncated zstd",
        ),
        (
            format!("var/lib/apt/lists/e_{main}.gz"),
            "corrupt or truncated gzip",
        ),
        (format!("var/lib/apt/lists/f_{main}"), "no package stanzas"),
        (
            format!("var/lib/apt/lists/g_{main}.br"),
            "unknown compression '.br'",
        ),
        (
            format!("var/lib/apt/lists/h_{main}"),
            "(Package: half) has no Version",
        ),
        (
            "var/cache/apk/APKINDEX.00000001.tar.gz".to_owned(),
            "corrupt or truncated APKINDEX",
        ),
        (
            "var/cache/apk/APKINDEX.00000002.tar.gz".to_owned(),
            "corrupt or truncated APKINDEX",
        ),
        (
            "var/cache/dnf/bad-0123456789abcdef/repodata/x-primary.xml.gz".to_owned(),
            "corrupt or truncated gzip",
        ),
        (
            "var/cache/dnf/bad-0123456789abcdef/repodata/y-primary.sqlite".to_owned(),
            "not an SQLite database",
        ),
        (
            "var/cache/dnf/bad-0123456789abcdef/repodata/z-primary.xml.zck".to_owned(),
            "corrupt or truncated zchunk",
        ),
        (
            "var/cache/dnf/bad-0123456789abcdef/repodata/v-primary.xml.zz9".to_owned(),
            "unknown compression '.zz9'",
        ),
        (
            "var/cache/dnf/bad-0123456789abcdef/repodata/w-primary.xml".to_owned(),
            "truncated",
        ),
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("{file}: ")) && w.contains(why)),
            "no warning naming {file} with {why:?}:\n{joined}"
        );
    }
    // What was good is still there; nothing from the broken files or partial/.
    let mut sources = available.sources().to_vec();
    sources.sort();
    assert_eq!(
        sources,
        vec![
            format!("var/lib/apt/lists/{updates}"),
            format!("var/lib/apt/lists/h_{main}"),
        ]
    );
    assert_eq!(
        available.versions(PackageManager::Dpkg, "libssl3"),
        vec![("3.0.17-1~deb12u2", updates)]
    );
    assert_eq!(
        available.versions(PackageManager::Dpkg, "whole"),
        vec![("1.0", format!("h_{main}").as_str())]
    );
    assert!(available.versions(PackageManager::Dpkg, "half").is_empty());
    assert!(available
        .versions(PackageManager::Dpkg, "partial")
        .is_empty());
    assert_eq!(available.package_count(PackageManager::Rpm), 0);
    assert_eq!(available.package_count(PackageManager::Apk), 0);
}

#[test]
fn empty_and_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let mut warnings = Vec::new();
    let available = collect(&DirTree::new(tmp.path()), &mut warnings).unwrap();
    assert!(available.is_empty());
    assert!(available.sources().is_empty());
    assert!(warnings.is_empty());
    assert!(available.versions(PackageManager::Pip, "x").is_empty());
}

#[test]
fn many_versions_of_one_package_stay_linear() {
    // 200,000 versions of one name (and each twice): a per-insert duplicate check
    // would be quadratic and never finish.
    let tmp = tempfile::tempdir().unwrap();
    let lists = tmp.path().join("var/lib/apt/lists");
    std::fs::create_dir_all(&lists).unwrap();
    let mut text = String::new();
    for _ in 0..2 {
        for i in 0..200_000u32 {
            text.push_str(&format!(
                "Package: p\nVersion: 1.{i}\nArchitecture: all\n\n"
            ));
        }
    }
    std::fs::write(lists.join("x_Packages"), text).unwrap();
    let start = std::time::Instant::now();
    let mut warnings = Vec::new();
    let available = collect(&DirTree::new(tmp.path()), &mut warnings).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(available.versions(PackageManager::Dpkg, "p").len(), 200_000);
    println!("400,000 stanzas in {:?}", start.elapsed());
}
