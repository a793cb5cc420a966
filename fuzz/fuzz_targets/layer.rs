//! A layer blob (plain, gzip or zstd tar with whiteouts) inside a docker archive,
//! then reads through the merged tree: nothing may panic or escape.
#![no_main]
use libfuzzer_sys::fuzz_target;
use postwatch_target::{open, Limits, OpenOptions};
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("img.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let manifest = br#"[{"Config":"c.json","RepoTags":[],"Layers":["l.tar"]}]"#;
    for (name, bytes) in [("manifest.json", &manifest[..]), ("c.json", b"{}"), ("l.tar", data)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, bytes).unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
    let options = OpenOptions {
        kind: None,
        wanted: &|_| true,
        probe: None,
        limits: Limits { max_image_bytes: 64 << 20, max_file_bytes: 16 << 20 },
        progress: &|_| {},
    };
    if let Ok(t) = open(&path.to_string_lossy(), &options) {
        for p in ["etc/os-release", "a", "a/b", "var/lib/dpkg/status", "x/../y"] {
            let _ = t.tree.read(p);
            let _ = t.tree.list_dir(p);
        }
        let _ = postwatch_inventory::collect(t.tree.as_ref());
    }
});
