//! Java archives (jar, war, ear and their relatives, all zip files): the Maven
//! coordinates they carry, and those of the archives nested inside them.
//!
//! **What is read, per archive.**
//! 1. Every `META-INF/maven/<groupId>/<artifactId>/pom.properties` (also under a prefix
//!    such as `BOOT-INF/classes/`): `groupId`, `artifactId`, `version` → a package named
//!    `groupId:artifactId`. A shaded jar embeds one per bundled artifact; each is
//!    reported. Missing keys are taken from the directory names.
//! 2. Only when the archive has no `pom.properties`: the main section of
//!    `META-INF/MANIFEST.MF`. The fallback rule:
//!    - version: `Implementation-Version`, else the version in the file name, else
//!      `Bundle-Version` (OSGi pads it to three numbers, so the file name is preferred);
//!    - name: a `Bundle-SymbolicName` (attributes after `;` dropped) that contains a dot
//!      is taken as `group.artifact` and split at its last dot into `group:artifact` —
//!      a guess; otherwise an `Implementation-Title` without spaces, otherwise the
//!      artifact from the file name, otherwise a dotless `Bundle-SymbolicName`;
//!    - the file name `artifact-1.2.3.jar` is split at the last `-` that is followed by
//!      a digit (`commons-lang3-3.12.0.jar` → `commons-lang3`, `3.12.0`);
//!    - no name or no version: nothing is reported for that archive (plain
//!      application jars have neither), and no warning.
//! 3. Nested archives (entries ending `.jar`, `.war`, `.ear`, `.sar`, `.jpi`, `.hpi`,
//!    e.g. `WEB-INF/lib/*.jar`, `BOOT-INF/lib/*.jar`), read from memory recursively.
//!
//! **Bounds.** At most [`MAX_DEPTH`] archives deep below the file, [`MAX_DECOMPRESSED`]
//! bytes decompressed in all for one file, [`MAX_ENTRIES`] zip entries looked at, 1 MiB
//! per properties or manifest file. A nested archive identical to one that encloses it
//! (a zip quine) is not opened again. Whatever cannot be read becomes a warning naming
//! the archive as `outer.jar!/inner.jar`, and the scan goes on.
//!
//! **Files.** A package found in the file itself owns `[path]`; one found in a nested
//! archive owns `[path, "path!/WEB-INF/lib/inner.jar"]` (with one `!/` per level).

use super::zipdir::{self, Visit};
use super::{LangPackage, Parsed};
use postwatch_model::PackageManager;
use std::io::{Cursor, Read, Seek};

/// Nested archives opened below the scanned file.
pub const MAX_DEPTH: usize = 4;
/// Bytes decompressed in all while reading one file and everything inside it.
pub const MAX_DECOMPRESSED: u64 = 512 << 20;
/// Zip entries looked at in all while reading one file and everything inside it.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Largest `pom.properties` or `MANIFEST.MF` read.
const MAX_TEXT: u64 = 1 << 20;

const NESTED_EXTENSIONS: [&str; 6] = [".jar", ".war", ".ear", ".sar", ".jpi", ".hpi"];

/// Reads a Java archive and the archives nested in it.
pub fn parse_archive(path: &str, bytes: &[u8]) -> Parsed {
    let mut scan = Scan {
        root: path,
        parsed: Parsed::default(),
        budget: MAX_DECOMPRESSED,
        entries_left: MAX_ENTRIES,
        entries_warned: false,
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    scan.archive(
        path,
        name,
        Cursor::new(bytes),
        Identity::Bytes(bytes),
        0,
        None,
    );
    scan.parsed
}

/// Reads a Java archive straight from its file: only the central directory and the
/// entries that matter are read, so a 50 MB jar does not cost 50 MB of memory.
pub fn parse_archive_file(path: &str, file: std::fs::File) -> Parsed {
    let mut scan = Scan {
        root: path,
        parsed: Parsed::default(),
        budget: MAX_DECOMPRESSED,
        entries_left: MAX_ENTRIES,
        entries_warned: false,
    };
    let len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => {
            scan.warn(path, format_args!("cannot be read: {e}"));
            return scan.parsed;
        }
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    scan.archive(path, name, file, Identity::File { len }, 0, None);
    scan.parsed
}

/// What an enclosing archive is, to recognise one nested in itself.
enum Identity<'a> {
    Bytes(&'a [u8]),
    /// An archive read from disk is known by its length: an entry of exactly that
    /// length is taken for the archive itself (conservatively: it is not read).
    File {
        len: u64,
    },
}

/// The archives enclosing the one being read, to recognise an archive containing itself.
struct Chain<'a> {
    identity: Identity<'a>,
    parent: Option<&'a Chain<'a>>,
}

impl Chain<'_> {
    fn contains(&self, bytes: &[u8]) -> bool {
        let mut link = Some(self);
        while let Some(c) = link {
            let same = match c.identity {
                Identity::Bytes(b) => b == bytes,
                Identity::File { len } => bytes.len() as u64 == len,
            };
            if same {
                return true;
            }
            link = c.parent;
        }
        false
    }
}

struct Scan<'p> {
    root: &'p str,
    parsed: Parsed,
    budget: u64,
    entries_left: usize,
    entries_warned: bool,
}

/// Why an entry's bytes were not read.
enum ReadError {
    Budget,
    TooLarge(u64),
    Zip(String),
}

impl Scan<'_> {
    fn warn(&mut self, label: &str, message: impl std::fmt::Display) {
        self.parsed.warnings.push(format!("{label}: {message}"));
    }

    /// Reads one archive. `label` is how warnings and `files` name it
    /// (`/x/outer.war!/WEB-INF/lib/inner.jar`), `file_name` its last path component.
    fn archive<R: Read + Seek>(
        &mut self,
        label: &str,
        file_name: &str,
        source: R,
        identity: Identity<'_>,
        depth: usize,
        parent: Option<&Chain<'_>>,
    ) {
        let mut source = source;
        let mut entries_left = self.entries_left;
        let mut over_limit = false;
        let listed = zipdir::scan(&mut source, |name| {
            if entries_left == 0 {
                over_limit = true;
                return Visit::Stop;
            }
            entries_left -= 1;
            let lower = name.to_ascii_lowercase();
            let wanted = !name.ends_with('/')
                && (is_pom_properties(name)
                    || lower == "meta-inf/manifest.mf"
                    || NESTED_EXTENSIONS.iter().any(|ext| lower.ends_with(ext)));
            match wanted {
                true => Visit::Keep,
                false => Visit::Skip,
            }
        });
        self.entries_left = entries_left;
        if over_limit && !self.entries_warned {
            self.entries_warned = true;
            self.warn(
                label,
                format_args!("more than {MAX_ENTRIES} zip entries in all; the rest is not read"),
            );
        }
        let listed = match listed {
            Ok(entries) => entries,
            Err(e) => {
                self.warn(label, format_args!("not a readable zip archive: {e}"));
                return;
            }
        };
        let mut poms: Vec<(String, String)> = Vec::new();
        let mut manifest: Option<String> = None;
        let mut nested: Vec<zipdir::Entry> = Vec::new();
        for entry in listed {
            let lower = entry.name.to_ascii_lowercase();
            if !(is_pom_properties(&entry.name) || lower == "meta-inf/manifest.mf") {
                nested.push(entry);
                continue;
            }
            match self.read_entry(&mut source, &entry, MAX_TEXT) {
                Ok(data) => {
                    let text = String::from_utf8_lossy(&data).into_owned();
                    if lower == "meta-inf/manifest.mf" {
                        manifest = Some(text);
                    } else {
                        poms.push((entry.name, text));
                    }
                }
                Err(e) => self.entry_error(label, &entry.name, e),
            }
        }

        let files = if depth == 0 {
            vec![self.root.to_string()]
        } else {
            vec![self.root.to_string(), label.to_string()]
        };
        let before = self.parsed.packages.len();
        for (entry, text) in &poms {
            match pom_package(entry, text) {
                Some((name, version)) => self.push(before, name, version, &files),
                None => self.warn(&format!("{label}!/{entry}"), "no version; skipped"),
            }
        }
        if poms.is_empty() {
            if let Some(text) = &manifest {
                if let Some((name, version)) = manifest_package(text, file_name) {
                    self.push(before, name, version, &files);
                }
            }
        }

        let chain = Chain { identity, parent };
        for entry in nested {
            let name = entry.name.as_str();
            let inner_label = format!("{label}!/{name}");
            if depth >= MAX_DEPTH {
                self.warn(
                    &inner_label,
                    format_args!("nested more than {MAX_DEPTH} archives deep; not read"),
                );
                continue;
            }
            let data = match self.read_entry(&mut source, &entry, u64::MAX) {
                Ok(d) => d,
                Err(e) => {
                    self.entry_error(label, name, e);
                    continue;
                }
            };
            if chain.contains(&data) {
                self.warn(
                    &inner_label,
                    "is the same archive as one that contains it (a zip quine); not read",
                );
                continue;
            }
            let inner_name = name.rsplit('/').next().unwrap_or(name);
            self.archive(
                &inner_label,
                inner_name,
                Cursor::new(&data[..]),
                Identity::Bytes(&data),
                depth + 1,
                Some(&chain),
            );
        }
    }

    /// Adds a package unless this archive already reported the same coordinates.
    fn push(&mut self, from: usize, name: String, version: String, files: &[String]) {
        let dup = self
            .parsed
            .packages
            .get(from..)
            .unwrap_or_default()
            .iter()
            .any(|p| p.name == name && p.version == version);
        if !dup {
            self.parsed.packages.push(LangPackage {
                manager: PackageManager::Maven,
                name,
                version,
                files: files.to_vec(),
                dev: false,
            });
        }
    }

    fn entry_error(&mut self, label: &str, name: &str, e: ReadError) {
        let at = format!("{label}!/{name}");
        match e {
            ReadError::Budget => self.warn(
                &at,
                format_args!("more than {MAX_DECOMPRESSED} bytes decompressed in all; not read"),
            ),
            ReadError::TooLarge(limit) => {
                self.warn(&at, format_args!("larger than {limit} bytes; not read"))
            }
            ReadError::Zip(e) => self.warn(&at, format_args!("cannot be read: {e}")),
        }
    }

    /// Decompresses one entry, charging the bytes to the budget.
    fn read_entry<R: Read + Seek>(
        &mut self,
        source: &mut R,
        entry: &zipdir::Entry,
        limit: u64,
    ) -> Result<Vec<u8>, ReadError> {
        let cap = limit.min(self.budget);
        let data = zipdir::read(source, entry, cap).map_err(|e| ReadError::Zip(e.to_string()))?;
        let read = data.len() as u64;
        self.budget = self.budget.saturating_sub(read.min(cap));
        if read > cap {
            return Err(if cap == limit {
                ReadError::TooLarge(limit)
            } else {
                self.budget = 0;
                ReadError::Budget
            });
        }
        Ok(data)
    }
}

/// `…META-INF/maven/<group>/<artifact>/pom.properties`.
fn is_pom_properties(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    matches!(
        parts.as_slice(),
        [.., meta, maven, g, a, "pom.properties"]
            if meta.eq_ignore_ascii_case("META-INF") && *maven == "maven" && !g.is_empty() && !a.is_empty()
    )
}

/// `groupId:artifactId` and version from one pom.properties; ids default to the
/// directory names.
fn pom_package(entry: &str, text: &str) -> Option<(String, String)> {
    let props = properties(text);
    let get = |key: &str| {
        props
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let mut dirs = entry.rsplit('/').skip(1);
    let dir_artifact = dirs.next().unwrap_or_default().to_string();
    let dir_group = dirs.next().unwrap_or_default().to_string();
    let group = get("groupId").unwrap_or(dir_group);
    let artifact = get("artifactId").unwrap_or(dir_artifact);
    let version = get("version")?;
    Some((format!("{group}:{artifact}"), version))
}

/// Java `.properties` syntax: `key=value`, `key: value` or `key value`; `#`/`!`
/// comments; a trailing backslash continues the line; `\uXXXX` and the usual escapes.
fn properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut logical = String::new();
    for raw in text.lines() {
        // Leading whitespace is dropped, on continuation lines too.
        let line = raw.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        // An odd number of trailing backslashes continues the line.
        let trailing = line.chars().rev().take_while(|&c| c == '\\').count();
        if trailing % 2 == 1 {
            logical.push_str(line.get(..line.len() - 1).unwrap_or_default());
            continue;
        }
        logical.push_str(line);
        out.push(split_property(&logical));
        logical.clear();
    }
    if !logical.is_empty() {
        out.push(split_property(&logical));
    }
    out
}

fn split_property(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(e) = chars.next() {
                    push_escape(&mut key, e, &mut chars);
                }
            }
            '=' | ':' => break,
            c if c.is_whitespace() => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('=') | Some(':')) {
                    chars.next();
                }
                break;
            }
            c => key.push(c),
        }
    }
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(e) = chars.next() {
                push_escape(&mut value, e, &mut chars);
            }
        } else {
            value.push(c);
        }
    }
    (key, value.trim_end().to_string())
}

fn push_escape(out: &mut String, e: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match e {
        't' => out.push('\t'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        'f' => out.push('\u{c}'),
        'u' => {
            let hex: String = (0..4).filter_map(|_| chars.next()).collect();
            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                Some(c) => out.push(c),
                None => out.push_str(&hex),
            }
        }
        other => out.push(other),
    }
}

/// The main section of a manifest: `Name: value` headers, continuation lines starting
/// with one space, up to the first blank line.
fn manifest_main(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(more) = line.strip_prefix(' ') {
            if let Some((_, value)) = out.last_mut() {
                value.push_str(more);
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The package a manifest names, by the fallback rule in the module documentation.
fn manifest_package(text: &str, file_name: &str) -> Option<(String, String)> {
    let headers = manifest_main(text);
    let get = |key: &str| {
        headers
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(key) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let from_file = split_file_name(file_name);
    let version = get("Implementation-Version")
        .map(str::to_string)
        .or_else(|| from_file.as_ref().map(|(_, v)| v.clone()))
        .or_else(|| get("Bundle-Version").map(str::to_string))?;
    let symbolic = get("Bundle-SymbolicName")
        .and_then(|s| s.split(';').next())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let title = get("Implementation-Title").filter(|t| !t.contains(char::is_whitespace));
    let name = match symbolic.and_then(|s| s.rsplit_once('.')) {
        Some((group, artifact)) if !group.is_empty() && !artifact.is_empty() => {
            format!("{group}:{artifact}")
        }
        _ => title
            .map(str::to_string)
            .or_else(|| from_file.map(|(a, _)| a))
            .or_else(|| symbolic.map(str::to_string))?,
    };
    Some((name, version))
}

/// `artifact-1.2.3.jar` → (`artifact`, `1.2.3`): the extension dropped, split at the
/// last `-` followed by a digit.
fn split_file_name(file_name: &str) -> Option<(String, String)> {
    let lower = file_name.to_ascii_lowercase();
    let ext = NESTED_EXTENSIONS.iter().find(|e| lower.ends_with(*e))?;
    let stem = file_name.get(..file_name.len() - ext.len())?;
    let split = stem
        .char_indices()
        .rev()
        .find(|&(i, c)| {
            c == '-'
                && stem
                    .get(i + 1..)
                    .is_some_and(|rest| rest.starts_with(|d: char| d.is_ascii_digit()))
        })
        .map(|(i, _)| i)?;
    let (artifact, version) = (stem.get(..split)?, stem.get(split + 1..)?);
    (!artifact.is_empty()).then(|| (artifact.to_string(), version.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// A real zip quine cannot be built here, so the archive being read is given an
    /// enclosing archive whose bytes are those of its own nested entry.
    #[test]
    fn an_archive_enclosing_itself_is_not_reopened() {
        let inner = zip_of(&[(
            "META-INF/maven/q/q/pom.properties",
            b"groupId=q\nartifactId=q\nversion=1\n",
        )]);
        let outer = zip_of(&[("lib/inner.jar", &inner)]);
        let mut scan = Scan {
            root: "/x.jar",
            parsed: Parsed::default(),
            budget: MAX_DECOMPRESSED,
            entries_left: MAX_ENTRIES,
            entries_warned: false,
        };
        let enclosing = Chain {
            identity: Identity::Bytes(&inner),
            parent: None,
        };
        scan.archive(
            "/x.jar!/inner.jar",
            "inner.jar",
            Cursor::new(&outer[..]),
            Identity::Bytes(&outer),
            1,
            Some(&enclosing),
        );
        assert!(scan.parsed.packages.is_empty());
        assert_eq!(scan.parsed.warnings.len(), 1, "{:?}", scan.parsed.warnings);
        assert!(scan.parsed.warnings[0]
            .starts_with("/x.jar!/inner.jar!/lib/inner.jar: is the same archive"));
    }

    #[test]
    fn file_names() {
        let split = |n: &str| split_file_name(n);
        assert_eq!(
            split("commons-lang3-3.12.0.jar"),
            Some(("commons-lang3".into(), "3.12.0".into()))
        );
        assert_eq!(
            split("foo-bar-2.0-SNAPSHOT.war"),
            Some(("foo-bar".into(), "2.0-SNAPSHOT".into()))
        );
        assert_eq!(split("snakeyaml.jar"), None);
        assert_eq!(split("-1.0.jar"), None);
        assert_eq!(split("x-1.0.zip"), None);
    }

    #[test]
    fn properties_syntax() {
        let p = properties("# c\n! c\n a = 1 \nb:2\nc 3\nd=\\\n  4\ne=\\u0041\\t\nf\\=g=h\n");
        let get = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("a"), Some("1"));
        assert_eq!(get("b"), Some("2"));
        assert_eq!(get("c"), Some("3"));
        assert_eq!(get("d"), Some("4"));
        assert_eq!(get("e"), Some("A"));
        assert_eq!(get("f=g"), Some("h"));
    }
}
