//! Synthetic images, built here with the tar crate, for what real images rarely show:
//! whiteout corner cases, traversal, escaping and looping symlinks, truncation,
//! corruption and decompression bombs.

use postwatch_model::TargetKind;
use postwatch_target::{open, DirTree, FileTree, Limits, OpenOptions, OpenedTarget, TreeError};
use std::io::Write;
use std::path::Path;

enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// A regular file whose name is written raw, bypassing the tar crate's checks.
    RawName(&'a str, &'a [u8]),
}

fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match e {
            E::File(p, data) => {
                h.set_size(data.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, p, *data).unwrap();
            }
            E::Dir(p) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::Symlink(p, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, p, target).unwrap();
            }
            E::Hardlink(p, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Link);
                b.append_link(&mut h, p, target).unwrap();
            }
            E::RawName(name, data) => {
                h.set_size(data.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                let raw = &mut h.as_old_mut().name;
                raw[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// Writes a docker-save tarball holding the given layer blobs, bottom first.
fn docker_archive(path: &Path, layers: &[Vec<u8>]) {
    let config = br#"{"architecture":"amd64","os":"linux","created":"2026-01-02T03:04:05Z","config":{"Labels":{"team":"sre"}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("layer{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": ["example/hostile:1"],
        "Layers": names,
    }]);
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("manifest.json", manifest.to_string().as_bytes());
    add("config.json", config);
    for (name, data) in names.iter().zip(layers) {
        add(name, data);
    }
    b.finish().unwrap();
}

fn want_all(_: &str) -> bool {
    true
}

fn no_progress(_: postwatch_target::Progress) {}

fn open_with(path: &Path, limits: Limits) -> Result<OpenedTarget, TreeError> {
    open(
        &path.to_string_lossy(),
        &OpenOptions {
            kind: None,
            wanted: &want_all,
            probe: None,
            limits,
            progress: &no_progress,
        },
    )
}

fn read(t: &OpenedTarget, p: &str) -> Option<String> {
    t.tree
        .read(p)
        .unwrap()
        .map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn whiteouts_and_opaque_directories_apply_in_layer_order() {
    let dir = tempfile::tempdir().unwrap();
    let base = layer(&[
        E::Dir("etc"),
        E::File("etc/os-release", b"ID=base\n"),
        E::Dir("opt/a"),
        E::File("opt/a/gone", b"1"),
        E::File("opt/a/kept", b"2"),
        E::Dir("opt/b"),
        E::File("opt/b/old", b"3"),
        E::Dir("opt/c"),
        E::File("opt/c/deep/file", b"4"),
    ]);
    let upper = layer(&[
        E::File("opt/a/.wh.gone", b""),
        E::Dir("opt/b"),
        E::File("opt/b/new", b"5"),
        // The opaque marker comes after this layer's own entry: it must keep it.
        E::File("opt/b/.wh..wh..opq", b""),
        E::File(".wh.opt/c", b""),
        E::File("opt/.wh.c", b""),
        E::File("etc/os-release", b"ID=upper\n"),
    ]);
    let top = layer(&[
        E::File("opt/a/gone", b"back"),
        E::File("opt/.wh.missing", b""),
    ]);
    let path = dir.path().join("img.tar");
    docker_archive(&path, &[base, gzip(&upper), zstd(&top)]);
    let t = open_with(&path, Limits::default()).unwrap();
    assert_eq!(t.kind, TargetKind::DockerArchive);
    assert_eq!(read(&t, "/etc/os-release").as_deref(), Some("ID=upper\n"));
    assert_eq!(
        read(&t, "opt/a/gone").as_deref(),
        Some("back"),
        "re-added above its whiteout"
    );
    assert_eq!(read(&t, "opt/a/kept").as_deref(), Some("2"));
    assert_eq!(
        read(&t, "opt/b/old"),
        None,
        "opaque dir hides lower entries"
    );
    assert_eq!(
        read(&t, "opt/b/new").as_deref(),
        Some("5"),
        "opaque keeps its own layer"
    );
    assert_eq!(
        read(&t, "opt/c/deep/file"),
        None,
        "whited-out directory takes its subtree"
    );
    assert!(t.tree.list_dir("opt").unwrap().iter().all(|n| n != "c"));
    let meta = t.image.unwrap();
    assert_eq!(meta.repo_tags, ["example/hostile:1"]);
    assert_eq!(meta.labels["team"], "sre");
    let kinds: Vec<_> = meta.layers.iter().map(|l| l.compression.as_str()).collect();
    assert_eq!(kinds, ["none", "gzip", "zstd"]);
}

#[test]
fn traversal_and_absolute_entries_are_skipped_or_rerooted_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let evil = layer(&[
        E::RawName("../../../tmp/postwatch-evil", b"x"),
        E::RawName("/etc/abs-file", b"abs"),
        E::RawName("a/../../b", b"y"),
        E::File("etc/os-release", b"ID=ok\n"),
    ]);
    let path = dir.path().join("img.tar");
    docker_archive(&path, &[evil]);
    let t = open_with(&path, Limits::default()).unwrap();
    assert_eq!(read(&t, "etc/os-release").as_deref(), Some("ID=ok\n"));
    assert_eq!(read(&t, "etc/abs-file").as_deref(), Some("abs"));
    assert_eq!(read(&t, "tmp/postwatch-evil"), None);
    assert!(!Path::new("/tmp/postwatch-evil").exists());
    let w = t.warnings.join("\n");
    assert!(
        w.contains("../../../tmp/postwatch-evil") && w.contains("layer 1"),
        "{w}"
    );
    assert!(w.contains("a/../../b"), "{w}");
    assert!(w.contains("/etc/abs-file") && w.contains("absolute"), "{w}");
}

#[test]
fn symlinks_cannot_leave_the_image_and_loops_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let l = layer(&[
        E::File("usr/lib/os-release", b"ID=inside\n"),
        E::Symlink("etc/os-release", "../../../../../usr/lib/os-release"),
        E::Symlink("etc/passwd-link", "/../../../etc/passwd"),
        E::Symlink("loop/a", "b"),
        E::Symlink("loop/b", "/loop/a"),
        E::Symlink("dirlink", "/usr/lib"),
        E::Hardlink("hard/os-release", "usr/lib/os-release"),
    ]);
    let path = dir.path().join("img.tar");
    docker_archive(&path, &[gzip(&l)]);
    let t = open_with(&path, Limits::default()).unwrap();
    assert_eq!(read(&t, "etc/os-release").as_deref(), Some("ID=inside\n"));
    assert_eq!(
        read(&t, "etc/passwd-link"),
        None,
        "host /etc/passwd must not be read"
    );
    assert_eq!(
        read(&t, "dirlink/os-release").as_deref(),
        Some("ID=inside\n")
    );
    assert_eq!(read(&t, "hard/os-release").as_deref(), Some("ID=inside\n"));
    let err = t.tree.read("loop/a").unwrap_err();
    assert!(matches!(err, TreeError::SymlinkLoop(_)), "{err}");
    assert!(err.to_string().contains("loop/a"), "{err}");
}

#[test]
fn directory_targets_resolve_symlinks_inside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("usr/lib/os-release"), "ID=inside\n").unwrap();
    std::os::unix::fs::symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/hostname", root.join("etc/hn")).unwrap();
    std::os::unix::fs::symlink("/proc/self/root/etc/passwd", root.join("etc/proc")).unwrap();
    std::os::unix::fs::symlink("x", root.join("etc/y")).unwrap();
    std::os::unix::fs::symlink("y", root.join("etc/x")).unwrap();
    let tree = DirTree::new(root);
    // The absolute link is taken from the target's root, not the host's.
    assert_eq!(
        tree.read("etc/os-release").unwrap().unwrap(),
        b"ID=inside\n"
    );
    assert_eq!(
        tree.read("etc/hn").unwrap(),
        None,
        "host /etc/hostname must not be read"
    );
    assert_eq!(tree.read("etc/proc").unwrap(), None);
    assert!(matches!(tree.read("etc/x"), Err(TreeError::SymlinkLoop(_))));
}

#[test]
fn a_gzip_bomb_stops_at_the_limit_with_an_error_naming_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = vec![0u8; 64 << 20];
    let bomb = gzip(&layer(&[E::File("zeros", &zeros)]));
    assert!(bomb.len() < 1 << 20, "compressed to {}", bomb.len());
    let path = dir.path().join("bomb.tar");
    docker_archive(&path, &[bomb]);
    let limits = Limits {
        max_image_bytes: 8 << 20,
        ..Limits::default()
    };
    let err = open_with(&path, limits)
        .err()
        .expect("bomb must be refused");
    let msg = err.to_string();
    assert!(matches!(err, TreeError::TooLarge { .. }), "{msg}");
    assert!(msg.contains("layer 1") && msg.contains("8388608"), "{msg}");
}

#[test]
fn truncated_and_corrupt_archives_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let l = gzip(&layer(&[
        E::File("etc/os-release", b"ID=x\n"),
        E::File("big", &content),
    ]));
    let good = dir.path().join("good.tar");
    docker_archive(&good, std::slice::from_ref(&l));
    let bytes = std::fs::read(&good).unwrap();

    // The outer archive cut short: members run past the end.
    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() - 200_000]).unwrap();
    let err = open_with(&cut, Limits::default()).err().expect("truncated");
    assert!(
        err.to_string().contains("layer") || err.to_string().contains("cut.tar"),
        "{err}"
    );

    // A layer with garbage inside its gzip stream.
    let mut bad = l.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 512] {
        *b ^= 0x5a;
    }
    let corrupt = dir.path().join("corrupt.tar");
    docker_archive(&corrupt, &[bad]);
    let err = open_with(&corrupt, Limits::default())
        .err()
        .expect("corrupt layer");
    let msg = err.to_string();
    assert!(msg.contains("layer 1") && msg.contains("corrupt"), "{msg}");

    // Not an archive at all, and a compressed outer archive.
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"hello, not a tar").unwrap();
    let err = open_with(&junk, Limits::default()).err().unwrap();
    assert!(err.to_string().contains("junk.bin"), "{err}");
    let gz = dir.path().join("image.tar.gz");
    std::fs::write(&gz, gzip(&bytes)).unwrap();
    let err = open_with(&gz, Limits::default()).err().unwrap();
    assert!(err.to_string().contains("decompress it first"), "{err}");
}

#[test]
fn manifests_that_point_outside_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("img.tar");
    let manifest = br#"[{"Config":"config.json","RepoTags":[],"Layers":["../../etc/passwd"]}]"#;
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for (name, data) in [("manifest.json", &manifest[..]), ("config.json", b"{}")] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    let err = open_with(&path, Limits::default()).err().unwrap();
    assert!(err.to_string().contains("climbs out"), "{err}");

    // An OCI layout whose index names a blob by a path instead of a digest.
    let oci = dir.path().join("oci");
    std::fs::create_dir_all(oci.join("blobs/sha256")).unwrap();
    std::fs::write(oci.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        oci.join("index.json"),
        br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc/passwd","size":1}]}"#,
    )
    .unwrap();
    let err = open_with(&oci, Limits::default()).err().unwrap();
    assert!(err.to_string().contains("not algorithm:hex"), "{err}");
}

/// Random damage to a real layered archive: any outcome but a panic is acceptable.
#[test]
fn mutated_archives_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let base = layer(&[
        E::File("etc/os-release", b"ID=base\n"),
        E::Symlink("etc/l", "../etc/os-release"),
        E::File("opt/.wh..wh..opq", b""),
    ]);
    let path = dir.path().join("img.tar");
    docker_archive(&path, &[gzip(&base), base.clone()]);
    let good = std::fs::read(&path).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let bad = dir.path().join("bad.tar");
    for _ in 0..300 {
        let mut m = good.clone();
        for _ in 0..(1 + next() % 8) {
            let at = (next() as usize) % m.len();
            m[at] = next() as u8;
        }
        if next() % 4 == 0 {
            m.truncate((next() as usize) % m.len());
        }
        std::fs::write(&bad, &m).unwrap();
        if let Ok(t) = open_with(&bad, Limits::default()) {
            let _ = t.tree.read("etc/l");
            let _ = t.tree.list_dir("opt");
        }
    }
}
