//! `postwatch scan` on real Debian images in every form the build script writes,
//! against the ground truth `dpkg-query` wrote, and cross-checked with trivy.

mod common;

use common::{images_dir, scan_json, trivy};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const IMAGES: &[(&str, &[&str])] = &[
    (
        "bookworm-minbase",
        &["docker.tar", "oci", "oci.tar", "rootfs"],
    ),
    ("bookworm-py", &["docker.tar", "oci", "oci.tar", "rootfs"]),
    ("bullseye-py", &["docker.tar", "oci", "oci.tar", "rootfs"]),
    ("bookworm-layered", &["docker.tar", "oci", "oci-zstd"]),
];

type Row = (String, String, String, String);

/// package, version, source, arch — as `dpkg-query -W` printed them.
fn ground_truth(dir: &Path, name: &str) -> BTreeSet<Row> {
    std::fs::read_to_string(dir.join(format!("{name}.dpkg.tsv")))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

fn rows(scan: &Value) -> BTreeSet<Row> {
    scan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("name"), s("version"), s("source_name"), s("arch"))
        })
        .collect()
}

#[test]
fn every_form_gives_exactly_the_dpkg_query_list() {
    let Some(dir) = images_dir() else { return };
    let mut checked = 0;
    for (name, forms) in IMAGES {
        let expected = ground_truth(&dir, name);
        assert!(expected.len() > 80, "{name}: {}", expected.len());
        for form in *forms {
            let target = dir.join(format!("{name}.{form}"));
            let scan = scan_json(&target);
            let got = rows(&scan);
            let missing: Vec<_> = expected.difference(&got).collect();
            let extra: Vec<_> = got.difference(&expected).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{name}.{form}: missing {missing:?}, extra {extra:?}"
            );
            assert_eq!(scan["schema_version"], "1.1");
            assert_eq!(scan["os"]["id"], "debian", "{name}.{form}");
            let eco = if name.starts_with("bullseye") {
                "Debian:11"
            } else {
                "Debian:12"
            };
            assert_eq!(scan["os"]["ecosystem"], eco, "{name}.{form}");
            for p in scan["packages"].as_array().unwrap() {
                assert_eq!(p["ecosystem"], eco);
                assert!(p["source_version"].is_string(), "{p}");
                assert!(
                    p["purl"].as_str().unwrap().starts_with("pkg:deb/debian/"),
                    "{p}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 15);
}

/// sha256 of a file, via the coreutils tool so the check is independent of our code.
fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

#[test]
fn image_metadata_is_reported() {
    let Some(dir) = images_dir() else { return };
    let oci = dir.join("bookworm-layered.oci");
    let scan = scan_json(&oci);
    let image = &scan["target"]["image"];
    assert_eq!(scan["target"]["type"], "oci-layout");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(oci.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    assert_eq!(image["manifest_digest"], manifest_digest);
    let manifest_path = oci.join("blobs/sha256").join(&manifest_digest[7..]);
    assert_eq!(sha256_file(&manifest_path), manifest_digest);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    assert_eq!(image["config_digest"], manifest["config"]["digest"]);
    assert_eq!(image["os"], "linux");
    assert_eq!(image["architecture"], "amd64");
    assert!(
        image["created"].as_str().unwrap().starts_with("20"),
        "{image}"
    );
    let layers = image["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (layer, descriptor) in layers.iter().zip(manifest["layers"].as_array().unwrap()) {
        assert_eq!(layer["digest"], descriptor["digest"]);
        assert_eq!(layer["size"], descriptor["size"]);
        assert_eq!(layer["compression"], "gzip");
        assert!(layer["diff_id"].as_str().unwrap().starts_with("sha256:"));
    }

    let docker = dir.join("bookworm-layered.docker.tar");
    let scan = scan_json(&docker);
    let image = &scan["target"]["image"];
    assert_eq!(scan["target"]["type"], "docker-archive");
    assert_eq!(
        image["repo_tags"][0],
        "docker.io/postwatch-test/bookworm-layered:1"
    );
    // Docker's image id is the config digest: same config, same id as the OCI form.
    assert_eq!(image["config_digest"], manifest["config"]["digest"]);
    let layers = image["layers"].as_array().unwrap();
    assert!(
        layers.iter().all(|l| l["compression"] == "none"),
        "{layers:?}"
    );

    let zstd = scan_json(&dir.join("bookworm-layered.oci-zstd"));
    let layers = zstd["target"]["image"]["layers"].as_array().unwrap();
    assert!(
        layers.iter().all(|l| l["compression"] == "zstd"),
        "{layers:?}"
    );
}

/// The top layer of bookworm-layered deletes os-release and purges curl: whiteouts.
#[test]
fn whiteouts_in_a_real_layer_hide_lower_files() {
    let Some(dir) = images_dir() else { return };
    for form in ["oci", "oci-zstd", "docker.tar"] {
        let scan = scan_json(&dir.join(format!("bookworm-layered.{form}")));
        assert_eq!(
            scan["os"]["source_file"], "etc/debian_version",
            "{form}: os-release should be whited out"
        );
        let names: BTreeSet<&str> = scan["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            !names.contains("curl") && !names.contains("libcurl4"),
            "{form}"
        );
        assert!(names.contains("python3"), "{form}");
    }
}

fn our_packages(target: &Path) -> BTreeSet<(String, String)> {
    scan_json(target)["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn trivy_packages(trivy: &Path, args: &[&str]) -> BTreeSet<(String, String)> {
    let out = Command::new(trivy)
        .args(args)
        .args([
            "--scanners",
            "",
            "--skip-db-update",
            "--offline-scan",
            "--format",
            "cyclonedx",
            "-q",
        ])
        .env(
            "TRIVY_CACHE_DIR",
            std::env::temp_dir().join("postwatch-trivy-cache"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "trivy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bom: Value = serde_json::from_slice(&out.stdout).unwrap();
    bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "library")
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn same_packages_as_trivy() {
    let Some(dir) = images_dir() else { return };
    let Some(trivy) = trivy() else { return };
    for name in ["bookworm-py", "bullseye-py"] {
        // trivy cannot read an OCI archive (a tar of a layout), so it gets the directory.
        for (form, mode) in [
            ("docker.tar", "image"),
            ("oci", "image"),
            ("rootfs", "rootfs"),
        ] {
            let target = dir.join(format!("{name}.{form}"));
            let target_s = target.to_string_lossy();
            let theirs = if mode == "image" {
                trivy_packages(&trivy, &["image", "--input", &target_s])
            } else {
                trivy_packages(&trivy, &["rootfs", &target_s])
            };
            assert_eq!(our_packages(&target), theirs, "{name}.{form}");
        }
    }
}

/// The rpm fixtures in all three database formats, against trivy's reader. This is
/// the only independent check for NDB, which Debian's rpm cannot read.
#[test]
fn rpm_databases_agree_with_trivy() {
    let Some(trivy) = trivy() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pkgdb/rpm");
    for fixture in [
        "sle15-bci",
        "cbl-mariner-2.0",
        "libuuid-bdb",
        "syft-bdb",
        "scalibr-epoch-bdb",
    ] {
        let dir = root.join(fixture);
        let theirs = trivy_packages(&trivy, &["rootfs", &dir.to_string_lossy()]);
        let ours = our_packages(&dir);
        assert!(!ours.is_empty(), "{fixture}");
        assert_eq!(ours, theirs, "{fixture}");
    }
}
