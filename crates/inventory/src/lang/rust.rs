//! Rust crates: `Cargo.lock` files and the dependency list that `cargo auditable`
//! embeds in executables.
//!
//! **Cargo.lock** (every format version): each `[[package]]` table's `name` and
//! `version`. Packages without a `source` are workspace members or path dependencies —
//! the project itself — and are not reported. The same name and version from two
//! sources (crates.io and a git checkout) is reported once. When the file is not valid
//! TOML as a whole, each `[[package]]` table is read on its own so one damaged table
//! costs only itself.
//!
//! **Auditable binaries.** `cargo auditable` stores zlib-compressed JSON
//! (`{"packages":[{"name","version","source","kind","dependencies","root"}],…}`) in a
//! section named `.dep-v0` (ELF, PE, Mach-O). The root package and packages whose
//! `source` is `local` are the project and are skipped; `kind: "build"` packages only
//! ran at build time and are reported with `dev = true`. At most 8 MiB are
//! decompressed.

use super::{LangPackage, Parsed};
use object::{Object, ObjectSection};
use postwatch_model::PackageManager;
use std::io::Read;

/// Largest decompressed `.dep-v0` accepted.
const MAX_AUDIT_JSON: u64 = 8 << 20;

/// Reads a `Cargo.lock`.
pub fn parse_cargo_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let text = String::from_utf8_lossy(bytes);
    if matches!(text, std::borrow::Cow::Owned(_)) {
        parsed
            .warnings
            .push(format!("{path}: not valid UTF-8; invalid bytes replaced"));
    }
    match toml::from_str::<toml::Table>(&text) {
        Ok(doc) => match doc.get("package") {
            None => {}
            Some(toml::Value::Array(tables)) => {
                for (i, table) in tables.iter().enumerate() {
                    let where_ = format!("package #{}", i + 1);
                    lock_package(path, &where_, table, &mut parsed);
                }
            }
            Some(_) => parsed
                .warnings
                .push(format!("{path}: `package` is not an array of tables")),
        },
        Err(e) => {
            parsed.warnings.push(format!(
                "{path}: not valid TOML ({}); reading each [[package]] table on its own",
                one_line(&e.to_string())
            ));
            for (line, chunk) in package_chunks(&text) {
                let where_ = format!("[[package]] on line {line}");
                match toml::from_str::<toml::Table>(&chunk) {
                    Ok(doc) => match doc.get("package") {
                        Some(toml::Value::Array(tables)) => {
                            for table in tables {
                                lock_package(path, &where_, table, &mut parsed);
                            }
                        }
                        _ => parsed
                            .warnings
                            .push(format!("{path}: {where_}: not a package table")),
                    },
                    Err(e) => parsed.warnings.push(format!(
                        "{path}: {where_}: {}; skipped",
                        one_line(&e.to_string())
                    )),
                }
            }
        }
    }
    parsed
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits a lock file's text at its `[[package]]` headers: (line of the header, the
/// header and its table as a standalone TOML document). Text after a table that
/// belongs to another table (`[metadata]`) stays with it and parses as its own table.
fn package_chunks(text: &str) -> Vec<(usize, String)> {
    let mut chunks: Vec<(usize, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim() == "[[package]]" {
            chunks.push((n + 1, String::new()));
        }
        if let Some((_, chunk)) = chunks.last_mut() {
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    chunks
}

fn lock_package(path: &str, where_: &str, table: &toml::Value, parsed: &mut Parsed) {
    let field = |key: &str| table.get(key).and_then(toml::Value::as_str);
    let (Some(name), Some(version)) = (field("name"), field("version")) else {
        parsed
            .warnings
            .push(format!("{path}: {where_}: no name or version; skipped"));
        return;
    };
    if field("source").is_none() {
        return;
    }
    push_unique(path, name, version, false, parsed);
}

fn push_unique(path: &str, name: &str, version: &str, dev: bool, parsed: &mut Parsed) {
    // Once as a normal dependency makes it one.
    if let Some(known) = parsed
        .packages
        .iter_mut()
        .find(|p| p.name == name && p.version == version)
    {
        known.dev &= dev;
        return;
    }
    parsed.packages.push(LangPackage {
        manager: PackageManager::Cargo,
        name: name.to_string(),
        version: version.to_string(),
        files: vec![path.to_string()],
        dev,
    });
}

#[derive(serde::Deserialize)]
struct AuditInfo {
    packages: Vec<AuditPackage>,
}

#[derive(serde::Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    root: bool,
}

/// Reads the `cargo auditable` dependency list of an executable. Files that are not
/// executables or have no `.dep-v0` section give an empty result without a warning.
pub fn parse_auditable_binary(path: &str, bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let Ok(file) = object::File::parse(bytes) else {
        return parsed;
    };
    let Some(section) = file.section_by_name(".dep-v0") else {
        return parsed;
    };
    match section.data() {
        Ok(compressed) => parse_dep_v0(path, compressed),
        Err(e) => {
            parsed
                .warnings
                .push(format!("{path}: section .dep-v0 cannot be read: {e}"));
            parsed
        }
    }
}

/// Reads the zlib-compressed JSON of a `.dep-v0` section (the section's bytes only).
pub fn parse_dep_v0(path: &str, compressed: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut json = Vec::new();
    let read = flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_AUDIT_JSON + 1)
        .read_to_end(&mut json);
    if let Err(e) = read {
        parsed
            .warnings
            .push(format!("{path}: section .dep-v0 does not decompress: {e}"));
        return parsed;
    }
    if json.len() as u64 > MAX_AUDIT_JSON {
        parsed.warnings.push(format!(
            "{path}: section .dep-v0 decompresses to more than {MAX_AUDIT_JSON} bytes; not read"
        ));
        return parsed;
    }
    let info: AuditInfo = match serde_json::from_slice(&json) {
        Ok(i) => i,
        Err(e) => {
            parsed
                .warnings
                .push(format!("{path}: section .dep-v0 is not valid: {e}"));
            return parsed;
        }
    };
    for p in &info.packages {
        if p.root || p.source.as_deref() == Some("local") {
            continue;
        }
        let dev = p.kind.as_deref() == Some("build");
        push_unique(path, &p.name, &p.version, dev, &mut parsed);
    }
    parsed
}
