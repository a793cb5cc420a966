//! Language packages found in binaries, archives and lock files: a real Go executable
//! against `go version -m`, a real jar (and wars, shaded and nested jars built from
//! it), real Cargo.lock files, a cargo-auditable binary built on the spot, go.mod text;
//! plus truncation and corruption loops that must never panic.

use postwatch_inventory::lang::{golang, java, rust, LangPackage, Parsed};
use postwatch_model::PackageManager;
use std::io::{Cursor, Read, Write};
use std::path::PathBuf;

fn pkgdb(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/pkgdb")
        .join(rel)
}

fn fixture(rel: &str) -> (String, Vec<u8>) {
    let path = pkgdb(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (format!("/fixture/{rel}"), bytes)
}

fn pairs(parsed: &Parsed) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = parsed
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    v.sort();
    v
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

fn assert_warnings_name(parsed: &Parsed, path: &str) {
    for w in &parsed.warnings {
        assert!(w.starts_with(path), "warning does not name {path}: {w}");
    }
}

/// A small deterministic generator for the corruption loops.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------- Go binaries

const GO_BIN: &str = "go/postwatch-gobin-xnet070";

/// The oracle: `go version -m` output → the packages the parser must report.
fn go_version_m_expected() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(pkgdb(
        "go/postwatch-gobin-xnet070.go-version-m.expected.txt",
    ))
    .unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let go = first.rsplit_once(": ").unwrap().1.trim();
    let mut out = vec![(
        "stdlib".to_string(),
        go.strip_prefix("go").unwrap().to_string(),
    )];
    let mut modules: Vec<(String, String, bool)> = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
        match f.as_slice() {
            ["mod", p, v, ..] => modules.push((p.to_string(), v.to_string(), true)),
            ["dep", p, v, ..] => modules.push((p.to_string(), v.to_string(), false)),
            ["=>", p, v, ..] if !v.is_empty() => {
                let last = modules.last_mut().unwrap();
                last.0 = p.to_string();
                last.1 = v.to_string();
            }
            _ => {}
        }
    }
    for (p, v, main) in modules {
        if !(main && v == "(devel)") {
            out.push((p, v));
        }
    }
    out.sort();
    out
}

#[test]
fn go_binary_matches_go_version_m() {
    let expected = go_version_m_expected();
    assert_eq!(
        expected,
        owned(&[
            ("stdlib", "1.19.8"),
            ("golang.org/x/net", "v0.7.0"),
            ("golang.org/x/text", "v0.7.0"),
        ]),
        "the oracle file itself"
    );
    let (path, bytes) = fixture(GO_BIN);
    assert!(golang::is_candidate(&bytes[..64]));
    let parsed = golang::parse_go_binary(&path, &bytes);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(pairs(&parsed), expected);
    for p in &parsed.packages {
        assert_eq!(p.manager, PackageManager::Go);
        assert_eq!(p.files, vec![path.clone()]);
        assert!(!p.dev);
    }
}

#[test]
fn go_is_candidate_rejects_non_executables() {
    let (_, jar) = fixture("java/debian-libyaml-snake-java_1.33-2/snakeyaml-1.33.jar");
    assert!(!golang::is_candidate(&jar));
    assert!(!golang::is_candidate(b"module example.com/x\n"));
    assert!(!golang::is_candidate(b""));
    assert!(golang::is_candidate(b"MZ\x90\x00"));
    assert!(golang::is_candidate(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01"));
}

#[test]
fn non_go_executables_give_nothing() {
    // This test program is a Rust ELF (or PE/Mach-O): no Go build information.
    let me = std::env::current_exe().unwrap();
    let bytes = std::fs::read(&me).unwrap();
    let parsed = golang::parse_go_binary("/bin/rusty", &bytes);
    assert_eq!(parsed, Parsed::default());
    // And text that merely quotes the magic is not an executable.
    let parsed = golang::parse_go_binary("/x.txt", b"\xff Go buildinf:\x08\x02");
    assert_eq!(parsed, Parsed::default());
}

/// File offset and address of `.go.buildinfo`, and the inline strings after its header.
fn go_buildinfo(bytes: &[u8]) -> (usize, u64, Vec<u8>, Vec<u8>) {
    use object::{Object, ObjectSection};
    let file = object::File::parse(bytes).unwrap();
    let section = file.section_by_name(".go.buildinfo").unwrap();
    let (offset, _) = section.file_range().unwrap();
    let data = section.data().unwrap();
    let mut at = 32;
    let mut varint_string = || {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = data[at];
            at += 1;
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let s = data[at..at + len].to_vec();
        at += len;
        s
    };
    let version = varint_string();
    let modinfo = varint_string();
    (offset as usize, section.address(), version, modinfo)
}

/// Zeroes the ELF64 section header table fields, as `strip --strip-section-headers`
/// or a damaged file would leave it.
fn without_section_headers(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[0x28..0x30].fill(0); // e_shoff
    b[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    b
}

#[test]
fn go_binary_without_section_headers_is_found_by_search() {
    let (path, bytes) = fixture(GO_BIN);
    let stripped = without_section_headers(&bytes);
    let parsed = golang::parse_go_binary(&path, &stripped);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(pairs(&parsed), go_version_m_expected());
}

/// Rewrites the real binary's build information into the pre-1.18 pointer format:
/// the header points to two string headers (data pointer, length), which point to the
/// version and module text placed further into the same loaded segment.
fn pointer_format(bytes: &[u8], ptr_size: usize, big_endian: bool, version: &[u8]) -> Vec<u8> {
    let (off, addr, _, modinfo) = go_buildinfo(bytes);
    let mut b = bytes.to_vec();
    let word = |v: u64| -> Vec<u8> {
        let full = if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        if big_endian {
            full[8 - ptr_size..].to_vec()
        } else {
            full[..ptr_size].to_vec()
        }
    };
    let (hdr1, hdr2) = (0x40u64, 0x60u64);
    let (vers_at, mod_at) = (0x200u64, 0x300u64);
    b[off + 14] = ptr_size as u8;
    b[off + 15] = u8::from(big_endian);
    let mut put = |at: u64, data: &[u8]| {
        let at = off + at as usize;
        b[at..at + data.len()].copy_from_slice(data);
    };
    put(16, &word(addr + hdr1));
    put(16 + ptr_size as u64, &word(addr + hdr2));
    put(
        hdr1,
        &[word(addr + vers_at), word(version.len() as u64)].concat(),
    );
    put(
        hdr2,
        &[word(addr + mod_at), word(modinfo.len() as u64)].concat(),
    );
    put(vers_at, version);
    put(mod_at, &modinfo);
    b
}

#[test]
fn go_binary_pointer_format_all_layouts() {
    let (path, bytes) = fixture(GO_BIN);
    let mut expected = go_version_m_expected();
    expected.retain(|(n, _)| n != "stdlib");
    expected.push(("stdlib".into(), "1.16.15".into()));
    expected.sort();
    for (ptr_size, big_endian) in [(8, false), (8, true), (4, false), (4, true)] {
        let rewritten = pointer_format(&bytes, ptr_size, big_endian, b"go1.16.15");
        let parsed = golang::parse_go_binary(&path, &rewritten);
        assert!(
            parsed.warnings.is_empty(),
            "{ptr_size}/{big_endian}: {:?}",
            parsed.warnings
        );
        assert_eq!(pairs(&parsed), expected, "{ptr_size}/{big_endian}");
        // Without section headers the segments still resolve the pointers.
        let parsed = golang::parse_go_binary(&path, &without_section_headers(&rewritten));
        assert_eq!(pairs(&parsed), expected, "stripped {ptr_size}/{big_endian}");
    }
    // A pointer that leads outside the image is a warning, not a panic.
    let mut broken = pointer_format(&bytes, 8, false, b"go1.16.15");
    let (off, ..) = go_buildinfo(&bytes);
    broken[off + 24..off + 32].copy_from_slice(&0xdead_beef_0000u64.to_le_bytes());
    let parsed = golang::parse_go_binary(&path, &broken);
    assert_eq!(pairs(&parsed), owned(&[("stdlib", "1.16.15")]));
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with(&path));
}

#[test]
fn go_binary_replacements_and_devel() {
    let (path, bytes) = fixture(GO_BIN);
    let (off, _, _, modinfo) = go_buildinfo(&bytes);
    let old = String::from_utf8_lossy(&modinfo[16..modinfo.len() - 16]).into_owned();
    // Same length as the original so the rest of the section stays in place.
    // The main module gets a version first, then the local replacement adds a
    // `(devel)` of its own.
    let new_text = old
        .replace("(devel)", "v1.2.3")
        .replace(
            "dep\tgolang.org/x/text\tv0.7.0\t\n",
            "dep\tgolang.org/x/text\tv0.7.0\t\n=>\tgithub.com/f/text\tv0.9.1\t\n",
        )
        .replace(
            "dep\tgolang.org/x/net\tv0.7.0\t\n",
            "dep\tgolang.org/x/net\tv0.7.0\t\n=>\t../net\t(devel)\t\n",
        )
        .replace(
            "build\t-compiler=gc\nbuild\t-trimpath=true\nbuild\tCGO_ENABLED=0\n",
            "",
        );
    assert!(new_text.len() <= old.len());
    let padded = format!("{new_text:\n<width$}", width = old.len());
    let mut b = bytes.clone();
    let start = off + 32 + 1 + 8 + 2 + 16;
    b[start..start + old.len()].copy_from_slice(padded.as_bytes());
    let parsed = golang::parse_go_binary(&path, &b);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(
        pairs(&parsed),
        owned(&[
            ("stdlib", "1.19.8"),
            ("example.com/postwatch-fixture", "v1.2.3"),
            ("golang.org/x/net", "v0.7.0"),
            ("github.com/f/text", "v0.9.1"),
        ])
    );
}

#[test]
fn go_binary_truncated_never_panics() {
    let (path, bytes) = fixture(GO_BIN);
    let (off, _, version, modinfo) = go_buildinfo(&bytes);
    let full = go_version_m_expected();
    let info_end = off + 32 + 1 + version.len() + 2 + modinfo.len();
    let mut cuts: Vec<usize> = (0..200).map(|i| i * bytes.len() / 200).collect();
    cuts.extend((off.saturating_sub(4)..info_end + 4).step_by(3));
    cuts.extend([0, 1, 4, 16, 63, 64, bytes.len() - 1]);
    for cut in cuts {
        let parsed = golang::parse_go_binary(&path, &bytes[..cut]);
        assert_warnings_name(&parsed, &path);
        if cut >= info_end {
            assert_eq!(pairs(&parsed), full, "cut at {cut}");
            assert!(
                parsed.warnings.is_empty(),
                "cut at {cut}: {:?}",
                parsed.warnings
            );
        } else if cut > off + 16 {
            // The header is there but its strings are not: a warning, and whatever
            // whole lines could be read.
            assert!(!parsed.warnings.is_empty(), "cut at {cut}");
            for pair in pairs(&parsed) {
                assert!(full.contains(&pair), "cut at {cut}: {pair:?}");
            }
        } else {
            assert!(parsed.packages.is_empty(), "cut at {cut}");
        }
    }
}

#[test]
fn go_binary_corrupted_never_panics() {
    let (path, bytes) = fixture(GO_BIN);
    let (off, ..) = go_buildinfo(&bytes);
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..150 {
        let mut b = bytes.clone();
        let flips = 1 + rng.below(8);
        for _ in 0..flips {
            // Half the flips land in the build information, the rest in the headers
            // and anywhere else.
            let at = match rng.below(3) {
                0 => off + rng.below(0x150),
                1 => rng.below(0x1000),
                _ => rng.below(b.len()),
            };
            b[at] ^= 1 << rng.below(8);
        }
        let parsed = golang::parse_go_binary(&path, &b);
        assert_warnings_name(&parsed, &path);
        let stripped = golang::parse_go_binary(&path, &without_section_headers(&b));
        assert_warnings_name(&stripped, &path);
        let _ = round;
    }
    // Random bytes behind an ELF magic.
    for _ in 0..50 {
        let len = rng.below(4096);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        b.splice(0..0, b"\x7fELF\x02\x01\x01".iter().copied());
        let parsed = golang::parse_go_binary(&path, &b);
        assert_warnings_name(&parsed, &path);
    }
}

// ---------------------------------------------------------------- go.mod

#[test]
fn go_mod_requires_and_replacements() {
    let go_mod = br#"module example.com/postwatch/service // the project

go 1.21

toolchain go1.21.5

require (
	github.com/gin-gonic/gin v1.9.1
	golang.org/x/net v0.17.0 // indirect
	"github.com/quoted/mod" v0.1.0
	github.com/replaced/any v1.0.0
	github.com/replaced/exact v1.4.0
	github.com/replaced/other-version v1.5.0
	github.com/local/fork v0.3.0 // indirect
)

require golang.org/x/text v0.13.0

require (
	// only a comment here
)

exclude golang.org/x/net v0.1.0

replace github.com/replaced/any => github.com/fork/any v1.0.1

replace (
	github.com/replaced/exact v1.4.0 => github.com/fork/exact v1.4.1-fix
	github.com/replaced/other-version v9.9.9 => github.com/fork/never v0.0.1
	github.com/local/fork => ../fork
)

retract (
	v1.0.0 // published by mistake
	[v1.1.0, v1.2.0]
)
"#;
    let parsed = golang::parse_go_mod("/src/go.mod", go_mod);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(
        pairs(&parsed),
        owned(&[
            ("github.com/gin-gonic/gin", "v1.9.1"),
            ("golang.org/x/net", "v0.17.0"),
            ("github.com/quoted/mod", "v0.1.0"),
            ("github.com/fork/any", "v1.0.1"),
            ("github.com/fork/exact", "v1.4.1-fix"),
            ("github.com/replaced/other-version", "v1.5.0"),
            ("github.com/local/fork", "v0.3.0"),
            ("golang.org/x/text", "v0.13.0"),
        ])
    );
    for p in &parsed.packages {
        assert_eq!(p.manager, PackageManager::Go);
        assert_eq!(p.files, vec!["/src/go.mod".to_string()]);
    }
}

#[test]
fn go_mod_malformed_lines_warn() {
    let go_mod = b"module m\nrequire onlyone\nrequire \"unterminated v1.0.0\nrequire (\n\tgood/mod v1.0.0\n\tbad\n";
    let parsed = golang::parse_go_mod("/src/go.mod", go_mod);
    assert_eq!(pairs(&parsed), owned(&[("good/mod", "v1.0.0")]));
    assert_eq!(parsed.warnings.len(), 4, "{:?}", parsed.warnings);
    assert_warnings_name(&parsed, "/src/go.mod");
    assert!(parsed.warnings.iter().any(|w| w.contains("not closed")));
    let parsed = golang::parse_go_mod("/src/go.mod", b"\xff\xfe require x v1\n");
    assert_warnings_name(&parsed, "/src/go.mod");
}

// ---------------------------------------------------------------- Cargo.lock

#[test]
fn cargo_lock_generated() {
    let (path, bytes) = fixture("cargo/generated/Cargo.lock");
    let parsed = rust::parse_cargo_lock(&path, &bytes);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    // 40 [[package]] tables; postwatch-fixture has no source (the project itself).
    let expected = owned(&[
        ("aho-corasick", "0.7.20"),
        ("autocfg", "1.5.1"),
        ("bytes", "1.12.2"),
        ("cc", "1.11.3"),
        ("chrono", "0.4.19"),
        ("find-msvc-tools", "0.1.15"),
        ("fnv", "1.0.7"),
        ("futures-channel", "0.3.34"),
        ("futures-core", "0.3.34"),
        ("futures-task", "0.3.34"),
        ("futures-util", "0.3.34"),
        ("http", "0.2.12"),
        ("http-body", "0.4.6"),
        ("httparse", "1.10.1"),
        ("httpdate", "1.0.3"),
        ("hyper", "0.14.9"),
        ("itoa", "0.4.8"),
        ("itoa", "1.0.19"),
        ("libc", "0.2.191"),
        ("memchr", "2.8.3"),
        ("num-integer", "0.1.47"),
        ("num-traits", "0.2.19"),
        ("once_cell", "1.21.4"),
        ("openssl-src", "111.16.0+1.1.1l"),
        ("pin-project-lite", "0.2.18"),
        ("regex", "1.5.4"),
        ("regex-syntax", "0.6.29"),
        ("shlex", "2.0.1"),
        ("smallvec", "1.6.0"),
        ("time", "0.1.43"),
        ("tokio", "1.8.0"),
        ("tower-service", "0.3.3"),
        ("tracing", "0.1.44"),
        ("tracing-core", "0.1.36"),
        ("try-lock", "0.2.5"),
        ("want", "0.3.2"),
        ("winapi", "0.3.9"),
        ("winapi-i686-pc-windows-gnu", "0.4.0"),
        ("winapi-x86_64-pc-windows-gnu", "0.4.0"),
    ]);
    assert_eq!(expected.len(), 39);
    assert_eq!(pairs(&parsed), expected);
    for p in &parsed.packages {
        assert_eq!(p.manager, PackageManager::Cargo);
        assert_eq!(p.files, vec![path.clone()]);
        assert!(!p.dev);
    }
}

#[test]
fn cargo_lock_syft() {
    let (path, bytes) = fixture("cargo/syft/Cargo.lock");
    let parsed = rust::parse_cargo_lock(&path, &bytes);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(
        pairs(&parsed),
        owned(&[
            ("ansi_term", "0.12.1"),
            ("errno", "0.3.9"),
            ("matches", "0.1.8"),
            ("memchr", "2.3.3"),
            ("natord", "1.0.9"),
            ("nom", "4.2.3"),
            ("schannel", "0.1.26"),
            ("unicode-bidi", "0.3.4"),
            ("version_check", "0.1.5"),
            ("winapi", "0.3.9"),
            ("winapi-i686-pc-windows-gnu", "0.4.0"),
            ("winapi-x86_64-pc-windows-gnu", "0.4.0"),
            ("windows-sys", "0.52.0"),
            ("windows-sys", "0.59.0"),
        ])
    );
}

#[test]
fn cargo_lock_with_git_deps() {
    let (path, bytes) = fixture("cargo/syft/Cargo.lock-with-git-deps");
    let parsed = rust::parse_cargo_lock(&path, &bytes);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    // 12 tables: hello_world is the project; regex, regex-automata and regex-syntax
    // come from both crates.io and git at the same version and are reported once.
    assert_eq!(
        pairs(&parsed),
        owned(&[
            ("aho-corasick", "1.1.3"),
            ("memchr", "2.7.4"),
            ("minimal-lexical", "0.2.1"),
            ("nom", "7.1.3"),
            ("nom-regex", "0.2.0"),
            ("regex", "1.11.1"),
            ("regex-automata", "0.4.9"),
            ("regex-syntax", "0.8.5"),
        ])
    );
}

#[test]
fn cargo_lock_damaged_table_costs_only_itself() {
    let (path, bytes) = fixture("cargo/generated/Cargo.lock");
    let text = String::from_utf8(bytes).unwrap();
    let broken = text.replacen(
        "name = \"smallvec\"\nversion = \"1.6.0\"",
        "name = \"smallvec\nversion = \"1.6.0\"",
        1,
    );
    assert_ne!(broken, text);
    let parsed = rust::parse_cargo_lock(&path, broken.as_bytes());
    let names: Vec<(String, String)> = pairs(&parsed);
    assert_eq!(names.len(), 38, "{:?}", parsed.warnings);
    assert!(!names.iter().any(|(n, _)| n == "smallvec"));
    assert!(names.contains(&("tokio".to_string(), "1.8.0".to_string())));
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    assert_warnings_name(&parsed, &path);

    let mut rng = XorShift(7);
    let clean = text.as_bytes();
    for cut in (0..clean.len()).step_by(97) {
        let parsed = rust::parse_cargo_lock(&path, &clean[..cut]);
        assert_warnings_name(&parsed, &path);
    }
    for _ in 0..100 {
        let mut b = clean.to_vec();
        for _ in 0..4 {
            let at = rng.below(b.len());
            b[at] = rng.next() as u8;
        }
        let parsed = rust::parse_cargo_lock(&path, &b);
        assert_warnings_name(&parsed, &path);
    }
}

// ---------------------------------------------------------------- cargo auditable

/// Builds a tiny binary with `cargo auditable`: one normal dependency (itoa) and one
/// build dependency (cfg-if), both at the versions this workspace locks so they are
/// in the local cache. `None` (after printing `SKIPPED:`) when cargo-auditable is not
/// installed or the build fails; under `CI=true` that is a failure instead.
fn auditable_binary() -> Option<(tempfile::TempDir, PathBuf)> {
    let skip = |why: String| -> Option<(tempfile::TempDir, PathBuf)> {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cargo-auditable test cannot run under CI=true: {why}");
        }
        println!("SKIPPED: cargo-auditable binary test: {why}");
        None
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let probe = std::process::Command::new(&cargo)
        .args(["auditable", "--version"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return skip(format!(
                "`cargo auditable` is not available ({}); install it with `cargo install cargo-auditable`",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => return skip(format!("cannot run {cargo}: {e}")),
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        r#"[package]
name = "pw-auditable-fixture"
version = "0.1.0"
edition = "2021"

[dependencies]
itoa = "=1.0.19"

[build-dependencies]
cfg-if = "=1.0.5"

[workspace]
"#,
    )
    .unwrap();
    std::fs::write(
        root.join("src/main.rs"),
        "fn main() { let mut b = itoa::Buffer::new(); println!(\"{}\", b.format(42u32)); }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("build.rs"),
        "fn main() { cfg_if::cfg_if! { if #[cfg(unix)] { } else { } } }\n",
    )
    .unwrap();
    let target = root.join("target");
    let build = |offline: bool| {
        let mut cmd = std::process::Command::new(&cargo);
        cmd.args(["auditable", "build", "--quiet"])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", &target);
        if offline {
            cmd.arg("--offline");
        }
        cmd.output()
    };
    let output = match build(true) {
        Ok(o) if o.status.success() => o,
        _ => match build(false) {
            Ok(o) => o,
            Err(e) => return skip(format!("cargo auditable build: {e}")),
        },
    };
    if !output.status.success() {
        return skip(format!(
            "cargo auditable build failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let exe = target.join("debug").join(format!(
        "pw-auditable-fixture{}",
        std::env::consts::EXE_SUFFIX
    ));
    Some((dir, exe))
}

#[test]
fn auditable_binary_built_with_cargo_auditable() {
    let Some((_dir, exe)) = auditable_binary() else {
        return;
    };
    let bytes = std::fs::read(&exe).unwrap();
    let path = "/usr/local/bin/pw-auditable-fixture";
    let parsed = rust::parse_auditable_binary(path, &bytes);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let mut got: Vec<(String, String, bool)> = parsed
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), p.dev))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("cfg-if".to_string(), "1.0.5".to_string(), true),
            ("itoa".to_string(), "1.0.19".to_string(), false),
        ]
    );
    for p in &parsed.packages {
        assert_eq!(p.manager, PackageManager::Cargo);
        assert_eq!(p.files, vec![path.to_string()]);
    }
    // A Rust binary is not a Go binary.
    assert_eq!(golang::parse_go_binary(path, &bytes), Parsed::default());

    // Damage the compressed section: a warning, never a panic.
    use object::{Object, ObjectSection};
    let file = object::File::parse(&*bytes).unwrap();
    let (off, size) = file
        .section_by_name(".dep-v0")
        .unwrap()
        .file_range()
        .unwrap();
    let (off, size) = (off as usize, size as usize);
    let mut broken = bytes.clone();
    for b in &mut broken[off + 2..off + size] {
        *b ^= 0x55;
    }
    let parsed = rust::parse_auditable_binary(path, &broken);
    assert!(parsed.packages.is_empty());
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert_warnings_name(&parsed, path);
    let mut rng = XorShift(99);
    for _ in 0..100 {
        let mut b = bytes.clone();
        let at = off + rng.below(size);
        b[at] ^= 1 << rng.below(8);
        assert_warnings_name(&rust::parse_auditable_binary(path, &b), path);
    }
    for cut in (0..bytes.len()).step_by(bytes.len() / 100 + 1) {
        assert_warnings_name(&rust::parse_auditable_binary(path, &bytes[..cut]), path);
    }
}

#[test]
fn non_auditable_files_give_nothing() {
    let (path, bytes) = fixture(GO_BIN);
    assert_eq!(
        rust::parse_auditable_binary(&path, &bytes),
        Parsed::default()
    );
    assert_eq!(
        rust::parse_auditable_binary("/x", b"not an executable"),
        Parsed::default()
    );
}

// ---------------------------------------------------------------- Java archives

const SNAKE: &str = "java/debian-libyaml-snake-java_1.33-2/snakeyaml-1.33.jar";

fn snake() -> Vec<u8> {
    fixture(SNAKE).1
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The entries of a zip, in order, without directories, minus those `drop` rejects.
fn entries_of(bytes: &[u8], drop: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        if f.is_dir() || drop(f.name()) {
            continue;
        }
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.push((f.name().to_string(), data));
    }
    out
}

fn maven(parsed: &Parsed) -> Vec<(String, String, Vec<String>)> {
    let mut v: Vec<(String, String, Vec<String>)> = parsed
        .packages
        .iter()
        .map(|p: &LangPackage| {
            assert_eq!(p.manager, PackageManager::Maven);
            assert!(!p.dev);
            (p.name.clone(), p.version.clone(), p.files.clone())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn jar_snakeyaml() {
    let (path, bytes) = fixture(SNAKE);
    let parsed = java::parse_archive(&path, &bytes);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(
        maven(&parsed),
        vec![(
            "org.yaml:snakeyaml".into(),
            "1.33".into(),
            vec![path.clone()]
        )]
    );
}

#[test]
fn war_with_nested_jar() {
    let war = zip_of(&[
        ("WEB-INF/web.xml", b"<web-app/>"),
        ("WEB-INF/lib/snakeyaml-1.33.jar", &snake()),
        ("index.html", b"<html/>"),
    ]);
    let path = "/srv/app.war";
    let parsed = java::parse_archive(path, &war);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(
        maven(&parsed),
        vec![(
            "org.yaml:snakeyaml".into(),
            "1.33".into(),
            vec![
                path.to_string(),
                "/srv/app.war!/WEB-INF/lib/snakeyaml-1.33.jar".to_string()
            ]
        )]
    );
}

fn pom(group: &str, artifact: &str, version: &str) -> Vec<u8> {
    format!(
        "#Generated by Maven\n#Thu Jan 01 00:00:00 UTC 2024\ngroupId={group}\nartifactId={artifact}\nversion={version}\n"
    )
    .into_bytes()
}

#[test]
fn jar_nested_ten_deep_stops_at_the_depth_limit() {
    // level 0 is the real snakeyaml jar; level k holds its own pom.properties and
    // lib/level-(k-1).jar.
    let mut current = snake();
    for k in 1..=10 {
        let inner_name = format!("lib/level-{}.jar", k - 1);
        let props = pom("test.nest", &format!("level-{k}"), &format!("1.{k}"));
        let pom_path = format!("META-INF/maven/test.nest/level-{k}/pom.properties");
        current = zip_of(&[(&pom_path, &props), (&inner_name, &current)]);
    }
    let path = "/app/level-10.jar";
    let parsed = java::parse_archive(path, &current);
    // The file itself and MAX_DEPTH levels below it.
    assert_eq!(java::MAX_DEPTH, 4);
    let mut expected = Vec::new();
    let mut label = path.to_string();
    for k in (6..=10).rev() {
        let files = if k == 10 {
            vec![path.to_string()]
        } else {
            vec![path.to_string(), label.clone()]
        };
        expected.push((format!("test.nest:level-{k}"), format!("1.{k}"), files));
        label = format!("{label}!/lib/level-{}.jar", k - 1);
    }
    expected.sort();
    assert_eq!(maven(&parsed), expected);
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(
        parsed.warnings[0].starts_with(&format!("{label}: nested more than 4")),
        "{} / {label}",
        parsed.warnings[0]
    );
}

#[test]
fn corrupt_inner_jar_warns_and_the_scan_goes_on() {
    let s = snake();
    let truncated = s[..s.len() / 2].to_vec();
    let ear = zip_of(&[
        ("lib/broken.jar", b"PK\x03\x04 this is not really a jar"),
        ("lib/half.jar", &truncated),
        ("lib/snakeyaml-1.33.jar", &s),
    ]);
    let path = "/opt/outer.jar";
    let parsed = java::parse_archive(path, &ear);
    assert_eq!(
        maven(&parsed),
        vec![(
            "org.yaml:snakeyaml".into(),
            "1.33".into(),
            vec![
                path.to_string(),
                "/opt/outer.jar!/lib/snakeyaml-1.33.jar".to_string()
            ]
        )]
    );
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with("/opt/outer.jar!/lib/broken.jar: "));
    assert!(parsed.warnings[1].starts_with("/opt/outer.jar!/lib/half.jar: "));

    // A corrupt outer file: a warning naming it.
    let parsed = java::parse_archive("/opt/bad.jar", b"definitely not a zip");
    assert!(parsed.packages.is_empty());
    assert_eq!(parsed.warnings.len(), 1);
    assert!(parsed.warnings[0].starts_with("/opt/bad.jar: "));
}

#[test]
fn same_inner_archive_at_two_places_is_read_twice() {
    // Identical bytes are refused only when they enclose themselves (a zip quine; see
    // the unit test in java.rs), not when a war ships the same jar twice.
    let inner = zip_of(&[("META-INF/maven/q/q/pom.properties", &pom("q", "q", "1"))]);
    let twice = zip_of(&[("a/q.jar", &inner), ("b/q.jar", &inner)]);
    let parsed = java::parse_archive("/q.war", &twice);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(
        maven(&parsed),
        vec![
            (
                "q:q".into(),
                "1".into(),
                vec!["/q.war".into(), "/q.war!/a/q.jar".into()]
            ),
            (
                "q:q".into(),
                "1".into(),
                vec!["/q.war".into(), "/q.war!/b/q.jar".into()]
            ),
        ]
    );
}

#[test]
fn shaded_jar_reports_every_pom_properties() {
    let mut entries = entries_of(&snake(), |_| false);
    entries.push((
        "META-INF/maven/com.example/shaded-app/pom.properties".into(),
        pom("com.example", "shaded-app", "2.0.0"),
    ));
    // An entry with only a version: group and artifact from the directories.
    entries.push((
        "META-INF/maven/org.dir/from-dirs/pom.properties".into(),
        b"version = 0.9\\\n    .1\n".to_vec(),
    ));
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let jar = zip_of(&refs);
    let parsed = java::parse_archive("/app/shaded.jar", &jar);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let files = vec!["/app/shaded.jar".to_string()];
    assert_eq!(
        maven(&parsed),
        vec![
            (
                "com.example:shaded-app".into(),
                "2.0.0".into(),
                files.clone()
            ),
            ("org.dir:from-dirs".into(), "0.9.1".into(), files.clone()),
            ("org.yaml:snakeyaml".into(), "1.33".into(), files.clone()),
        ]
    );
}

#[test]
fn manifest_fallback_without_pom_properties() {
    let entries = entries_of(&snake(), |n| n.starts_with("META-INF/maven/"));
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let jar = zip_of(&refs);
    // Bundle-SymbolicName org.yaml.snakeyaml → org.yaml:snakeyaml; no
    // Implementation-Version, so the file name's version wins over Bundle-Version.
    let parsed = java::parse_archive("/usr/share/java/snakeyaml-1.33.jar", &jar);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(pairs(&parsed), owned(&[("org.yaml:snakeyaml", "1.33")]));
    // Without a version in the file name: Bundle-Version.
    let parsed = java::parse_archive("/usr/share/java/snakeyaml.jar", &jar);
    assert_eq!(pairs(&parsed), owned(&[("org.yaml:snakeyaml", "1.33.0")]));

    // A plain manifest: Implementation-* headers (one continued on the next line);
    // the name falls back to a title without spaces; later sections are ignored.
    let plain = zip_of(&[(
        "META-INF/MANIFEST.MF",
        b"Manifest-Version: 1.0\r\nImplementation-Title: commons-\r\n lang3\r\nImplementation-Version: 3.12.0\r\n\r\nName: other/\r\nImplementation-Version: 9\r\n",
    )]);
    let parsed = java::parse_archive("/lib/x.jar", &plain);
    assert_eq!(pairs(&parsed), owned(&[("commons-lang3", "3.12.0")]));
    let plain = zip_of(&[(
        "META-INF/MANIFEST.MF",
        b"Manifest-Version: 1.0\r\nImplementation-Title: Apache Commons Lang\r\nImplementation-Version: 3.12.0\r\n",
    )]);
    let parsed = java::parse_archive("/lib/commons-lang3-3.12.0.jar", &plain);
    assert_eq!(pairs(&parsed), owned(&[("commons-lang3", "3.12.0")]));
    // Nothing to name it by: nothing, and no warning.
    let parsed = java::parse_archive("/lib/app.jar", &plain);
    assert_eq!(parsed, Parsed::default());
}

#[test]
fn oversized_manifest_is_skipped_with_a_warning() {
    let mut manifest =
        b"Manifest-Version: 1.0\nBundle-SymbolicName: a.b\nBundle-Version: 1\n".to_vec();
    manifest.extend(vec![b'x'; 2 << 20]);
    let jar = zip_of(&[("META-INF/MANIFEST.MF", &manifest)]);
    let parsed = java::parse_archive("/big.jar", &jar);
    assert!(parsed.packages.is_empty());
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with("/big.jar!/META-INF/MANIFEST.MF: "));
}

#[test]
fn jar_truncated_and_corrupted_never_panics() {
    let (path, bytes) = fixture(SNAKE);
    let war = zip_of(&[("WEB-INF/lib/snakeyaml-1.33.jar", &bytes)]);
    for input in [&bytes, &war] {
        let step = input.len() / 300 + 1;
        for cut in (0..input.len()).step_by(step).chain([input.len() - 1]) {
            let parsed = java::parse_archive(&path, &input[..cut]);
            assert_warnings_name(&parsed, &path);
            // A zip is read from its end: any cut loses the central directory.
            assert!(!parsed.warnings.is_empty(), "cut at {cut}");
        }
        let mut rng = XorShift(0xdead_beef);
        for _ in 0..300 {
            let mut b = input.clone();
            for _ in 0..1 + rng.below(6) {
                let at = match rng.below(2) {
                    // The central directory and the end record are the sensitive part.
                    0 => b.len() - 1 - rng.below(b.len().min(8192)),
                    _ => rng.below(b.len()),
                };
                b[at] ^= 1 << rng.below(8);
            }
            let parsed = java::parse_archive(&path, &b);
            assert_warnings_name(&parsed, &path);
        }
    }
}
