//! OS identity on 86 real identity files from syft's and claircore's fixtures.

use postwatch_inventory::collect;
use postwatch_target::DirTree;
use std::path::PathBuf;

fn root(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/os-release")
        .join(rel)
}

fn detect(rel: &str) -> (String, Option<String>, Option<String>) {
    let found = collect(&DirTree::new(root(rel))).unwrap();
    let os = found.os.unwrap_or_else(|| panic!("{rel}: no OS detected"));
    (os.id, os.version_id, os.ecosystem)
}

#[test]
fn labelled_identities() {
    let s = |x: &str| Some(x.to_owned());
    let cases: &[(&str, &str, Option<String>, Option<String>)] = &[
        (
            "syft/almalinux/from-os-release",
            "almalinux",
            s("8.4"),
            s("AlmaLinux:8"),
        ),
        (
            "syft/almalinux/from-redhat-release",
            "almalinux",
            s("8.10"),
            s("AlmaLinux:8"),
        ),
        ("syft/alpine", "alpine", s("3.11.6"), s("Alpine:v3.11")),
        ("syft/centos5", "centos", s("5.7"), None),
        ("syft/centos6", "centos", s("6"), None),
        (
            "syft/debian/from-debian_version",
            "debian",
            s("10"),
            s("Debian:10"),
        ),
        (
            "syft/debian/from-os-release",
            "debian",
            s("8"),
            s("Debian:8"),
        ),
        ("syft/redhat/from-redhat-release", "rhel", s("8.10"), None),
        (
            "syft/rockylinux/from-redhat-release",
            "rocky",
            s("8.10"),
            s("Rocky Linux:8"),
        ),
        (
            "syft/opensuse-leap",
            "opensuse-leap",
            s("15.2"),
            s("openSUSE:Leap 15.2"),
        ),
        (
            "syft/sles",
            "sles",
            s("15.2"),
            s("SUSE:Linux Enterprise Server 15 SP2"),
        ),
        ("syft/mariner", "mariner", s("1.0"), s("Mariner:1.0")),
        ("syft/wolfi", "wolfi", s("20220914"), s("Wolfi")),
        (
            "claircore/alpine-3.18",
            "alpine",
            s("3.18.4"),
            s("Alpine:v3.18"),
        ),
        (
            "claircore/alpine-edge",
            "alpine",
            s("3.19_alpha20230901"),
            s("Alpine:v3.19"),
        ),
        ("claircore/debian-12", "debian", s("12"), s("Debian:12")),
        (
            "claircore/ubuntu-10.04",
            "ubuntu",
            s("10.04"),
            s("Ubuntu:10.04:LTS"),
        ),
        (
            "claircore/ubuntu-22.04",
            "ubuntu",
            s("22.04"),
            s("Ubuntu:22.04:LTS"),
        ),
        (
            "claircore/ubuntu-23.10",
            "ubuntu",
            s("23.10"),
            s("Ubuntu:23.10"),
        ),
    ];
    for (dir, id, version, eco) in cases {
        assert_eq!(
            &detect(dir),
            &(id.to_string(), version.clone(), eco.clone()),
            "{dir}"
        );
    }
}

/// Every fixture directory yields some identity with a non-empty id.
#[test]
fn every_fixture_is_identified() {
    let mut dirs = Vec::new();
    for vendor in ["syft", "claircore"] {
        let mut stack = vec![root(vendor)];
        while let Some(d) = stack.pop() {
            let has_etc = d.join("etc").is_dir() || d.join("usr/lib/os-release").is_file();
            if has_etc {
                dirs.push(d);
                continue;
            }
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
    }
    assert!(dirs.len() >= 60, "{}", dirs.len());
    for d in dirs {
        let found = collect(&DirTree::new(&d)).unwrap();
        let os = found.os.unwrap_or_else(|| panic!("{}: no OS", d.display()));
        assert!(!os.id.is_empty(), "{}", d.display());
        assert!(
            os.version_id.is_some() || os.id == "arch",
            "{}: {os:?}",
            d.display()
        );
    }
}
