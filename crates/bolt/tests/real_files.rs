//! The reader on databases a real containerd wrote (see testdata/README.md for how
//! they were made), and on damaged copies of them.

use postwatch_bolt::{Bucket, Db, Item};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

fn gunzip(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.expect("value present")).unwrap()
}

const IMAGE: &str = "docker.io/postwatch-test/bookworm-layered:1";
/// The container created with a Kubernetes-style id and pod labels.
const POD_CONTAINER: &str = "5e1f0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

fn containers<'db>(db: &'db Db) -> Bucket<'db> {
    db.root()
        .path(&[b"v1", b"k8s.io", b"containers"])
        .unwrap()
        .expect("v1/k8s.io/containers")
}

#[test]
fn containerd_meta_db_lists_every_container_with_its_fields() {
    let db = Db::from_bytes("meta.db", gunzip("containerd-meta.db.gz")).unwrap();
    let containers = containers(&db);
    let names: Vec<String> = containers
        .bucket_names()
        .unwrap()
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .collect();
    let mut expected = vec![POD_CONTAINER.to_owned()];
    expected.extend((1..=120).map(|i| format!("bulk-{i:03}")));
    expected.extend(["ctr-native".to_owned(), "ctr-overlay".to_owned()]);
    // In key order, across the branch pages the bucket needs.
    assert_eq!(names, expected);
    for name in &names {
        // Every key is also found by descending the tree.
        let c = containers.bucket(name.as_bytes()).unwrap().expect(name);
        assert_eq!(text(c.value(b"image").unwrap()), IMAGE);
        assert_eq!(text(c.value(b"snapshotKey").unwrap()), *name);
        let snapshotter = if name == "ctr-native" {
            "native"
        } else {
            "overlayfs"
        };
        assert_eq!(text(c.value(b"snapshotter").unwrap()), snapshotter);
        let labels = c.bucket(b"labels").unwrap().expect("labels");
        let pod = labels.value(b"io.kubernetes.pod.name").unwrap();
        match name.as_str() {
            "ctr-native" => assert_eq!(pod, None),
            "ctr-overlay" => assert_eq!(text(pod), "web"),
            POD_CONTAINER => {
                assert_eq!(text(pod), "shop-web-7d4b9");
                let ns = labels.value(b"io.kubernetes.pod.namespace").unwrap();
                assert_eq!(text(ns), "shop");
            }
            bulk => assert_eq!(text(pod), bulk),
        }
        // A value is not a bucket, a bucket not a value.
        assert!(c.bucket(b"image").unwrap().is_none());
        assert!(c.value(b"labels").unwrap().is_none());
    }
    // Keys before, between and after the stored ones are absent.
    for missing in ["", "a", "bulk-000", "bulk-0505", "bulk-121", "zzz"] {
        assert!(
            containers.get(missing.as_bytes()).unwrap().is_none(),
            "{missing}"
        );
    }
    let image = db
        .root()
        .path(&[b"v1", b"k8s.io", b"images", IMAGE.as_bytes(), b"target"])
        .unwrap()
        .expect("image target");
    let digest = text(image.value(b"digest").unwrap());
    let hex = digest.strip_prefix("sha256:").unwrap();
    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(db.root().path(&[b"v1", b"moby"]).unwrap().is_none());
}

#[test]
fn snapshotter_metadata_db_has_every_snapshot_with_an_id() {
    let db = Db::from_bytes("metadata.db", gunzip("containerd-overlayfs-metadata.db.gz")).unwrap();
    let snapshots = db
        .root()
        .path(&[b"v1", b"snapshots"])
        .unwrap()
        .expect("v1/snapshots");
    let entries = snapshots.entries().unwrap();
    assert_eq!(entries.len(), 2 + 122);
    let mut ids = BTreeSet::new();
    let mut committed = Vec::new();
    for (key, item) in &entries {
        let Item::Bucket(s) = item else {
            panic!("a value where a snapshot was expected")
        };
        let key = String::from_utf8(key.clone()).unwrap();
        // The id is a uvarint; all of these fit one byte.
        let id = s.value(b"id").unwrap().expect("id");
        assert_eq!(id.len(), 1, "{key}");
        ids.insert(id[0]);
        // Kind 3 is committed, 2 active.
        match s.value(b"kind").unwrap().as_deref() {
            Some([3]) => committed.push(key),
            Some([2]) => assert!(s.value(b"parent").unwrap().is_some()),
            other => panic!("{key}: kind {other:?}"),
        }
    }
    assert_eq!(ids.len(), entries.len(), "ids are unique");
    assert_eq!(committed.len(), 2, "{committed:?}");
}

#[test]
fn native_snapshotter_metadata_db_chains_its_snapshots() {
    let db = Db::from_bytes("metadata.db", gunzip("containerd-native-metadata.db.gz")).unwrap();
    let snapshots = db
        .root()
        .path(&[b"v1", b"snapshots"])
        .unwrap()
        .expect("v1/snapshots");
    let keys: Vec<String> = snapshots
        .bucket_names()
        .unwrap()
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    // The container's snapshot → the top layer's → the base layer's, which has none.
    let container = keys.iter().find(|k| k.ends_with("/ctr-native")).unwrap();
    let mut chain = vec![container.clone()];
    while let Some(parent) = snapshots
        .bucket(chain.last().unwrap().as_bytes())
        .unwrap()
        .unwrap()
        .value(b"parent")
        .unwrap()
    {
        chain.push(String::from_utf8(parent).unwrap());
        assert!(chain.len() <= 3, "{chain:?}");
    }
    assert_eq!(chain.len(), 3, "{chain:?}");
}

/// Walks everything the database holds; the result does not matter, only that it
/// returns.
fn walk(bucket: &Bucket<'_>, depth: usize) -> Result<usize, postwatch_bolt::Error> {
    let mut n = 0;
    for (key, item) in bucket.entries()? {
        n += 1;
        bucket.get(&key)?;
        if let Item::Bucket(child) = item {
            if depth < 8 {
                n += walk(&child, depth + 1)?;
            }
        }
    }
    Ok(n)
}

#[test]
fn damaged_files_give_errors_naming_the_file_never_panics() {
    let good = gunzip("containerd-meta.db.gz");
    let whole = walk(&Db::from_bytes("meta.db", good.clone()).unwrap().root(), 0).unwrap();
    assert!(whole > 123 * 5, "{whole}");
    // Truncated anywhere.
    for len in [
        0, 10, 100, 4095, 4096, 4200, 8192, 8200, 20_000, 100_000, 300_000,
    ] {
        let cut = good[..len.min(good.len())].to_vec();
        if let Err(e) = Db::from_bytes("meta.db", cut).and_then(|db| walk(&db.root(), 0)) {
            assert!(e.to_string().contains("meta.db"), "{e}");
        }
    }
    // Single bytes changed across the used pages: headers, elements, keys, values.
    let used = good
        .iter()
        .rposition(|b| *b != 0)
        .map_or(good.len(), |last| last + 1);
    let mut failures = 0;
    // About 300 places, an odd stride so that every offset within a page is hit.
    let stride = (used / 300) | 1;
    for (n, at) in (0..used).step_by(stride).enumerate() {
        let mut bad = good.clone();
        bad[at] ^= [0xff, 0x01, 0x80, 0x7f][n % 4];
        match Db::from_bytes("meta.db", bad).and_then(|db| walk(&db.root(), 0)) {
            Ok(_) => {}
            Err(e) => {
                assert!(e.to_string().contains("meta.db"), "{e}");
                failures += 1;
            }
        }
    }
    assert!(failures > 0, "some damage is detected");
}

#[test]
fn a_damaged_meta_page_falls_back_to_the_other() {
    let good = gunzip("containerd-meta.db.gz");
    let db = Db::from_bytes("meta.db", good.clone()).unwrap();
    let txid = db.txid();
    let current = containers(&db).bucket_names().unwrap();
    // Both meta pages damaged: refused, naming the file and why.
    let mut bad = good.clone();
    bad[16] ^= 0xff;
    bad[4096 + 16] ^= 0xff;
    let e = Db::from_bytes("meta.db", bad).err().expect("refused");
    assert!(
        e.to_string().contains("meta.db") && e.to_string().contains("meta page"),
        "{e}"
    );
    // One damaged (its checksum no longer holds): the other one is used, whichever
    // is the current one.
    for page in [0usize, 4096] {
        let mut bad = good.clone();
        bad[page + 16 + 20] ^= 0x01;
        let db = Db::from_bytes("meta.db", bad).unwrap();
        assert!(db.txid() == txid || db.txid() + 1 == txid, "{}", db.txid());
        if db.txid() == txid {
            assert_eq!(containers(&db).bucket_names().unwrap(), current);
        }
    }
}

#[test]
fn files_on_disk_are_read_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    std::fs::write(&path, gunzip("containerd-meta.db.gz")).unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(containers(&db).bucket_names().unwrap().len(), 123);
    let e = Db::open(&dir.path().join("missing.db"))
        .err()
        .expect("missing");
    assert!(e.to_string().contains("missing.db"), "{e}");
}
