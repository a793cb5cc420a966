//! Python packages ([`PackageManager::Pip`]) from the files that name them:
//!
//! - installed distributions: `*.dist-info/METADATA` and `*.egg-info/PKG-INFO`
//!   (core metadata, RFC 822 headers) ([`parse_metadata`]), and the files a wheel
//!   installed, from `*.dist-info/RECORD` ([`parse_record`]);
//! - Poetry's `poetry.lock` (TOML, `[[package]]` tables) ([`parse_poetry_lock`]);
//! - Pipenv's `Pipfile.lock` (JSON, `default` and `develop`) ([`parse_pipfile_lock`]);
//! - uv's `uv.lock` (TOML, `[[package]]` tables) ([`parse_uv_lock`]);
//! - pip's `requirements*.txt`, exactly pinned `name==version` lines only
//!   ([`parse_requirements`]).
//!
//! Names are kept as written (PyPI normalisation happens elsewhere). Identical
//! (name, version) pairs are reported once, as a development dependency only if every
//! occurrence is one. Malformed input is never fatal: the problem becomes a warning
//! naming the file (and the line or entry when known) and every package read around it
//! is kept. A TOML lockfile that does not parse as a whole is read again one
//! `[[package]]` table at a time; a JSON file that breaks off keeps what came before
//! the break.
//!
//! This module also holds the few helpers the other scripting-language parsers
//! ([`super::ruby`], [`super::php`], [`super::dotnet`]) share: the package sink with
//! validation, deduplication and a cap on warnings, and the forgiving JSON reader.

use super::{LangPackage, Parsed};
use postwatch_model::PackageManager;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

// ---------------------------------------------------------------------------------------
// Core metadata: METADATA, PKG-INFO

/// Reads the `Name:` and `Version:` headers of a distribution's core metadata: a
/// `*.dist-info/METADATA` or `*.egg-info/PKG-INFO` file (or a single-file `.egg-info`).
///
/// Headers end at the first empty line (what follows is the description) or at the
/// first line that is not a header. Indented lines continue the previous header and
/// are ignored. `files` is left empty: see [`parse_record`].
pub fn parse_metadata(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Pip);
    let text = out.text(bytes);
    if text.trim().is_empty() {
        out.warn("empty file; no package read");
        return out.finish();
    }
    let mut name: Option<(&str, usize)> = None;
    let mut version: Option<(&str, usize)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let header = line
            .split_once(':')
            .filter(|(key, _)| !key.is_empty() && !key.contains(char::is_whitespace));
        let Some((key, value)) = header else {
            if name.is_none() || version.is_none() {
                out.warn(format_args!(
                    "line {number}: not a header line ({}); headers end here",
                    shown(line)
                ));
            }
            break;
        };
        if key.eq_ignore_ascii_case("Name") && name.is_none() {
            name = Some((value.trim(), number));
        } else if key.eq_ignore_ascii_case("Version") && version.is_none() {
            version = Some((value.trim(), number));
        }
    }
    match (name, version) {
        (Some((name, line)), Some((version, _))) => {
            out.add(
                name,
                version,
                false,
                Vec::new(),
                format_args!("line {line}"),
            );
        }
        (None, _) => out.warn("no Name header; no package read"),
        (Some((name, _)), None) => out.warn(format_args!(
            "no Version header for {}; no package read",
            shown(name)
        )),
    }
    out.finish()
}

// ---------------------------------------------------------------------------------------
// RECORD

/// The files a wheel installed, from its `*.dist-info/RECORD` (CSV rows of
/// `path,hash,size`; the path may be quoted).
///
/// `path` is the RECORD's own absolute path; relative entries are relative to the
/// directory that holds the `.dist-info` directory (`site-packages`). Returned paths
/// are absolute and normalised: `.` and empty components dropped, `..` resolved
/// lexically and never above `/`. An entry that resolves to `/` itself is dropped.
pub fn parse_record(path: &str, bytes: &[u8]) -> Vec<String> {
    let mut base = components(path);
    // RECORD → its .dist-info directory → the directory that holds it.
    base.pop();
    base.pop();
    let text = String::from_utf8_lossy(bytes);
    let mut files = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some(entry) = first_csv_field(line) else {
            continue;
        };
        if entry.trim().is_empty() {
            continue;
        }
        let mut parts = if entry.starts_with('/') {
            Vec::new()
        } else {
            base.clone()
        };
        push_components(&mut parts, &entry);
        if !parts.is_empty() {
            files.push(format!("/{}", parts.join("/")));
        }
    }
    files
}

/// The files a `setup.py install` recorded in `*.egg-info/installed-files.txt`: one
/// path per line, relative to the `.egg-info` directory. Returned as [`parse_record`]
/// returns them: absolute, normalised, never above `/`.
pub fn parse_installed_files(path: &str, bytes: &[u8]) -> Vec<String> {
    let mut base = components(path);
    // installed-files.txt → its .egg-info directory.
    base.pop();
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line).trim())
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let mut parts = if line.starts_with('/') {
                Vec::new()
            } else {
                base.clone()
            };
            push_components(&mut parts, line);
            (!parts.is_empty()).then(|| format!("/{}", parts.join("/")))
        })
        .collect()
}

/// The lexically normalised components of an absolute or relative path.
fn components(path: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    push_components(&mut parts, path);
    parts
}

/// Appends `path`'s components to `parts`, resolving `.` and `..` (clamped at the root).
fn push_components<'a>(parts: &mut Vec<&'a str>, path: &'a str) {
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
}

/// The first field of a CSV row: up to the first comma, or a double-quoted field with
/// `""` standing for a quote. `None` for an unterminated quoted field.
fn first_csv_field(line: &str) -> Option<Cow<'_, str>> {
    let Some(quoted) = line.strip_prefix('"') else {
        return Some(Cow::Borrowed(line.split(',').next().unwrap_or(line)));
    };
    let mut field = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            match chars.next() {
                Some('"') => field.push('"'),
                _ => return Some(Cow::Owned(field)),
            }
        } else {
            field.push(c);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// poetry.lock

/// Reads a Poetry `poetry.lock`: every `[[package]]` table's `name` and `version`.
///
/// Development dependencies are marked from `category = "dev"` (lock format 1.x) or,
/// in lock format 2.1 (Poetry 2), from `groups` not naming `main`. Lock format 2.0
/// (Poetry 1.5 to 1.8) records neither, so its packages are not marked.
pub fn parse_poetry_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Pip);
    let text = out.text(bytes);
    for (label, entry) in toml_packages(&text, &mut out) {
        let Some((name, version)) = name_and_version(&entry, &label, &mut out) else {
            continue;
        };
        let category_dev = match entry.get("category") {
            Some(toml::Value::String(category)) => Some(category == "dev"),
            _ => None,
        };
        let groups_dev = match entry.get("groups") {
            Some(toml::Value::Array(groups)) if !groups.is_empty() => Some(
                !groups
                    .iter()
                    .any(|group| group.as_str().is_some_and(|g| g == "main")),
            ),
            _ => None,
        };
        let dev = category_dev.or(groups_dev).unwrap_or(false);
        out.add(name, version, dev, Vec::new(), &label);
    }
    out.finish()
}

// ---------------------------------------------------------------------------------------
// uv.lock

/// Reads a uv `uv.lock`: every `[[package]]` table's `name` and `version`.
///
/// The project itself and workspace members are sources, not packages: entries whose
/// `source` is `{ editable = … }` or `{ virtual = … }` (`"."` for the project) are
/// skipped. uv.lock does not mark development dependencies, so none are.
pub fn parse_uv_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Pip);
    let text = out.text(bytes);
    for (label, entry) in toml_packages(&text, &mut out) {
        if let Some(toml::Value::Table(source)) = entry.get("source") {
            if source.contains_key("editable") || source.contains_key("virtual") {
                continue;
            }
        }
        let Some((name, version)) = name_and_version(&entry, &label, &mut out) else {
            continue;
        };
        out.add(name, version, false, Vec::new(), &label);
    }
    out.finish()
}

/// The `name` and `version` strings of a `[[package]]` table; a warning when missing.
fn name_and_version<'t>(
    entry: &'t toml::Table,
    label: &str,
    out: &mut Sink,
) -> Option<(&'t str, &'t str)> {
    match (entry.get("name"), entry.get("version")) {
        (Some(toml::Value::String(name)), Some(toml::Value::String(version))) => {
            Some((name, version))
        }
        (Some(toml::Value::String(name)), _) => {
            out.warn(format_args!(
                "{label}: {} has no version string; skipped",
                shown(name)
            ));
            None
        }
        _ => {
            out.warn(format_args!("{label}: no name string; skipped"));
            None
        }
    }
}

/// The `[[package]]` tables of a TOML lockfile, each with a label for warnings.
///
/// When the document does not parse, the error is reported and the text is cut at
/// each `[[package]]` header line and every piece parsed on its own, so that one bad
/// table costs only itself.
fn toml_packages(text: &str, out: &mut Sink) -> Vec<(String, toml::Table)> {
    if text.trim().is_empty() {
        out.warn("empty file; no package read");
        return Vec::new();
    }
    let headers: Vec<(usize, usize)> = header_lines(text);
    match text.parse::<toml::Table>() {
        Ok(mut document) => {
            let entries = match document.remove("package") {
                Some(toml::Value::Array(entries)) => entries,
                Some(_) => {
                    out.warn("`package` is not an array of tables; no package read");
                    return Vec::new();
                }
                None => {
                    out.warn("no [[package]] tables; no package read");
                    return Vec::new();
                }
            };
            // Header lines label entries only when they evidently correspond one to one.
            let lines_match = headers.len() == entries.len();
            let mut tables = Vec::with_capacity(entries.len());
            for (index, entry) in entries.into_iter().enumerate() {
                let label = match headers.get(index) {
                    Some((line, _)) if lines_match => format!("[[package]] at line {line}"),
                    _ => format!("[[package]] #{}", index + 1),
                };
                match entry {
                    toml::Value::Table(table) => tables.push((label, table)),
                    _ => out.warn(format_args!("{label}: not a table; skipped")),
                }
            }
            tables
        }
        Err(error) => {
            out.warn(format_args!(
                "malformed TOML at line {}: {}; reading the [[package]] tables one by one",
                toml_error_line(text, 0, &error),
                one_line(error.message())
            ));
            let mut tables = Vec::new();
            for (position, (line, start)) in headers.iter().enumerate() {
                let end = headers.get(position + 1).map_or(text.len(), |(_, s)| *s);
                let Some(piece) = text.get(*start..end) else {
                    continue;
                };
                let label = format!("[[package]] at line {line}");
                match piece.parse::<toml::Table>() {
                    Ok(mut document) => match document.remove("package") {
                        Some(toml::Value::Array(entries)) => {
                            for entry in entries {
                                if let toml::Value::Table(table) = entry {
                                    tables.push((label.clone(), table));
                                }
                            }
                        }
                        _ => out.warn(format_args!("{label}: not a table; skipped")),
                    },
                    Err(error) => out.warn(format_args!(
                        "{label}: malformed TOML at line {}: {}; skipped",
                        toml_error_line(text, *start, &error),
                        one_line(error.message())
                    )),
                }
            }
            tables
        }
    }
}

/// (1-based line number, byte offset) of every `[[package]]` header line.
fn header_lines(text: &str) -> Vec<(usize, usize)> {
    let mut headers = Vec::new();
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim() == "[[package]]" {
            headers.push((index + 1, offset));
        }
        offset += line.len();
    }
    headers
}

/// The 1-based line of `text` where a TOML error in the piece starting at `start` is.
fn toml_error_line(text: &str, start: usize, error: &toml::de::Error) -> usize {
    let at = start + error.span().map_or(0, |span| span.start);
    let before = text.get(..at).unwrap_or(text);
    before.bytes().filter(|&b| b == b'\n').count() + 1
}

// ---------------------------------------------------------------------------------------
// Pipfile.lock

/// Reads a Pipenv `Pipfile.lock`: the `default` and `develop` (development) maps of
/// name → `{"version": "==1.2.3", …}`.
///
/// Entries without a `version` (editable, path and VCS dependencies) name no release
/// and are skipped silently.
pub fn parse_pipfile_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Pip);
    let Some(document) = read_json_object(bytes, &mut out) else {
        return out.finish();
    };
    if !document.contains_key("default") && !document.contains_key("develop") {
        out.warn("no `default` or `develop` section; no package read");
    }
    for (section, dev) in [("default", false), ("develop", true)] {
        let entries = match document.get(section) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(entries)) => entries,
            Some(_) => {
                out.warn(format_args!("`{section}` is not an object; skipped"));
                continue;
            }
        };
        for (name, entry) in entries {
            let what = format!("{section}.{}", shown(name));
            let Some(entry) = entry.as_object() else {
                out.warn(format_args!("{what}: not an object; skipped"));
                continue;
            };
            match entry.get("version") {
                None | Some(Value::Null) => {}
                Some(Value::String(spec)) => {
                    let pinned = spec
                        .trim()
                        .strip_prefix("===")
                        .or_else(|| spec.trim().strip_prefix("=="));
                    match pinned {
                        Some(version) => {
                            out.add(name, version.trim(), dev, Vec::new(), &what);
                        }
                        None => out.warn(format_args!(
                            "{what}: version {} is not an exact pin; skipped",
                            shown(spec)
                        )),
                    }
                }
                Some(_) => out.warn(format_args!("{what}: version is not a string; skipped")),
            }
        }
    }
    out.finish()
}

// ---------------------------------------------------------------------------------------
// requirements.txt

/// Reads a pip requirements file: the exactly pinned `name==version` (or `===`) lines,
/// with optional extras (`name[extra]==1.0`), environment markers after `;`, comments,
/// `\` line continuations and per-requirement options such as `--hash`.
///
/// Options (`-r`, `-c`, `-e`, `--index-url`, …), URL and path requirements, lines
/// using environment variables and requirements that are not exact pins (`>=`, `~=`,
/// none, `==1.*`) are skipped silently; lines that are not requirements at all are
/// reported.
pub fn parse_requirements(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Pip);
    let text = out.text(bytes);
    if text.trim().is_empty() {
        out.warn("empty file; no package read");
        return out.finish();
    }
    let mut logical = String::new();
    let mut first_line = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if logical.is_empty() {
            first_line = index + 1;
        }
        let comment = line.trim_start().starts_with('#');
        if line.ends_with('\\') && !comment {
            logical.push_str(line.trim_end_matches('\\'));
            continue;
        }
        if !comment {
            logical.push_str(line);
        }
        requirement_line(&logical, first_line, &mut out);
        logical.clear();
    }
    if !logical.is_empty() {
        requirement_line(&logical, first_line, &mut out);
    }
    out.finish()
}

/// Handles one logical requirements line (continuations joined).
fn requirement_line(line: &str, number: usize, out: &mut Sink) {
    // A comment starts at a `#` at the start or after whitespace.
    let mut end = line.len();
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        if c == '#' && previous.is_whitespace() {
            end = at;
            break;
        }
        previous = c;
    }
    let line = line.get(..end).unwrap_or(line).trim();
    if line.is_empty() || line.starts_with('-') {
        return;
    }
    // Options after the requirement (`--hash=…`, `--config-settings …`) end it.
    let requirement = line
        .split_whitespace()
        .take_while(|token| !token.starts_with('-'))
        .collect::<Vec<_>>()
        .join(" ");
    let requirement = requirement
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let is_reference = requirement.contains("://")
        || requirement.contains('@')
        || requirement.contains('$')
        || requirement.starts_with(['.', '/', '~'])
        || requirement.contains(['/', '\\'])
        || requirement.starts_with("file:");
    if requirement.is_empty() || is_reference {
        return;
    }
    let what = format!("line {number}");
    match parse_pin(&requirement) {
        Ok(Some((name, version))) => {
            out.add(name, version, false, Vec::new(), &what);
        }
        Ok(None) => {}
        Err(why) => out.warn(format_args!(
            "{what}: {why} ({}); skipped",
            shown(&requirement)
        )),
    }
}

/// Parses `name[extras] specifiers`: `Ok(Some)` for one exact `==`/`===` pin,
/// `Ok(None)` for a valid requirement that is not one, `Err` when it is malformed.
fn parse_pin(requirement: &str) -> Result<Option<(&str, &str)>, &'static str> {
    let name_end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(requirement.len());
    let (name, rest) = requirement.split_at(name_end);
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !name_ok {
        return Err("no valid project name");
    }
    let mut rest = rest.trim_start();
    if let Some(extras) = rest.strip_prefix('[') {
        let Some((inside, after)) = extras.split_once(']') else {
            return Err("unclosed extras");
        };
        let extras_ok = inside.split(',').map(str::trim).all(|extra| {
            extra.is_empty()
                || extra
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
        if !extras_ok {
            return Err("malformed extras");
        }
        rest = after.trim_start();
    }
    if let Some(inner) = rest.strip_prefix('(') {
        rest = inner
            .strip_suffix(')')
            .ok_or("unclosed parenthesis")?
            .trim();
    }
    if rest.is_empty() {
        return Ok(None);
    }
    let mut pin = None;
    let mut count = 0;
    for spec in rest.split(',') {
        count += 1;
        let spec = spec.trim();
        let Some(op) = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|op| spec.starts_with(op))
        else {
            return Err("not a version specifier");
        };
        let version = spec.get(op.len()..).unwrap_or_default().trim();
        let version_ok = !version.is_empty()
            && version.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '!' | '+' | '-' | '_' | '*')
            });
        if !version_ok {
            return Err("malformed version");
        }
        if (op == "==" || op == "===") && !version.contains('*') {
            pin = Some(version);
        }
    }
    Ok(if count == 1 {
        pin.map(|v| (name, v))
    } else {
        None
    })
}

// ---------------------------------------------------------------------------------------
// Helpers shared with the ruby, php and dotnet parsers.

/// Problems reported per file before the rest are only counted.
const MAX_WARNINGS: usize = 50;
/// Names and versions longer than this are not real ones.
const MAX_FIELD: usize = 256;

/// Collects the packages and warnings of one file: checks names and versions, reports
/// each (name, version) once and caps the number of warnings.
pub(super) struct Sink<'a> {
    path: &'a str,
    manager: PackageManager,
    parsed: Parsed,
    seen: HashMap<(String, String), usize>,
    suppressed: usize,
}

impl<'a> Sink<'a> {
    pub(super) fn new(path: &'a str, manager: PackageManager) -> Self {
        Sink {
            path,
            manager,
            parsed: Parsed::default(),
            seen: HashMap::new(),
            suppressed: 0,
        }
    }

    /// Records a problem, prefixed with the file's path.
    pub(super) fn warn(&mut self, message: impl fmt::Display) {
        if self.parsed.warnings.len() < MAX_WARNINGS {
            self.parsed
                .warnings
                .push(format!("{}: {message}", self.path));
        } else {
            self.suppressed += 1;
        }
    }

    /// Adds a package after checking its name and version (non-empty, at most
    /// [`MAX_FIELD`] bytes, no whitespace or control characters); `what` names the
    /// entry in the warning otherwise. A repeated (name, version) is dropped, and clears
    /// `dev` on the first when the repeat is not a development dependency.
    pub(super) fn add(
        &mut self,
        name: &str,
        version: &str,
        dev: bool,
        files: Vec<String>,
        what: impl fmt::Display,
    ) -> bool {
        if let Err(why) = check_field(name) {
            self.warn(format_args!(
                "{what}: package name {}: {why}; skipped",
                shown(name)
            ));
            return false;
        }
        if let Err(why) = check_field(version) {
            self.warn(format_args!(
                "{what}: version {} of {name}: {why}; skipped",
                shown(version)
            ));
            return false;
        }
        let key = (name.to_owned(), version.to_owned());
        if let Some(&index) = self.seen.get(&key) {
            if let Some(package) = self.parsed.packages.get_mut(index) {
                package.dev &= dev;
                package.files.extend(files);
            }
            return true;
        }
        self.seen.insert(key, self.parsed.packages.len());
        self.parsed.packages.push(LangPackage {
            manager: self.manager,
            name: name.to_owned(),
            version: version.to_owned(),
            files,
            dev,
        });
        true
    }

    /// The file as text, without a byte-order mark; invalid UTF-8 is replaced and
    /// reported.
    pub(super) fn text<'b>(&mut self, bytes: &'b [u8]) -> Cow<'b, str> {
        let bytes = strip_bom(bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(error) => {
                self.warn(format_args!(
                    "not valid UTF-8 (first bad byte at offset {}); bad bytes replaced",
                    error.valid_up_to()
                ));
                String::from_utf8_lossy(bytes)
            }
        }
    }

    pub(super) fn finish(mut self) -> Parsed {
        if self.suppressed > 0 {
            self.parsed.warnings.push(format!(
                "{}: {} further problems not shown",
                self.path, self.suppressed
            ));
        }
        self.parsed
    }
}

fn check_field(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        Err("empty")
    } else if value.len() > MAX_FIELD {
        Err("too long")
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("contains whitespace or control characters")
    } else {
        Ok(())
    }
}

/// A value quoted for a warning, cut short when long.
pub(super) fn shown(value: &str) -> String {
    const KEEP: usize = 60;
    if value.len() <= KEEP {
        return format!("{value:?}");
    }
    let mut end = KEEP;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{:?}… ({} bytes)",
        value.get(..end).unwrap_or_default(),
        value.len()
    )
}

/// The first line of a possibly multi-line message.
fn one_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default().trim()
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Reads a JSON document whose top level must be an object. A document that breaks
/// off or goes wrong part way is reported and what was read before the problem is
/// returned; `None` (reported) when there is no object at all.
pub(super) fn read_json_object(bytes: &[u8], out: &mut Sink) -> Option<Map<String, Value>> {
    match read_json(bytes, out)? {
        Value::Object(object) => Some(object),
        _ => {
            out.warn("not a JSON object; no package read");
            None
        }
    }
}

/// Reads a JSON document, keeping what was read before an error (which is reported).
/// `None` when nothing at all was read.
pub(super) fn read_json(bytes: &[u8], out: &mut Sink) -> Option<Value> {
    let bytes = strip_bom(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        out.warn("empty file; no package read");
        return None;
    }
    let mut value = None;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let result = Partial(&mut value)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Err(error) = result {
        match value {
            Some(_) => out.warn(format_args!(
                "malformed JSON ({error}); kept the entries read before it"
            )),
            None => out.warn(format_args!("malformed JSON ({error}); no package read")),
        }
    }
    value
}

/// Deserializes any JSON value into a slot as it goes, so that when the input breaks
/// off, the slot holds everything read up to the break: arrays and objects keep their
/// complete members (and the part read of the member that broke off); a scalar cut
/// short is left out.
struct Partial<'a>(&'a mut Option<Value>);

impl<'de> DeserializeSeed<'de> for Partial<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Partial<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        *self.0 = Some(Value::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        *self.0 = Some(Value::Number(v.into()));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        *self.0 = Some(Value::Number(v.into()));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        *self.0 = Some(Number::from_f64(v).map_or(Value::Null, Value::Number));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        *self.0 = Some(Value::String(v.to_owned()));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        *self.0 = Some(Value::String(v));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        *self.0 = Some(Value::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        *self.0 = Some(Value::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let items = match self.0.insert(Value::Array(Vec::new())) {
            Value::Array(items) => items,
            _ => return Ok(()),
        };
        loop {
            let mut item = None;
            let result = seq.next_element_seed(Partial(&mut item));
            if let Some(item) = item {
                items.push(item);
            }
            if result?.is_none() {
                return Ok(());
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let entries = match self.0.insert(Value::Object(Map::new())) {
            Value::Object(entries) => entries,
            _ => return Ok(()),
        };
        while let Some(key) = map.next_key::<String>()? {
            let mut value = None;
            let result = map.next_value_seed(Partial(&mut value));
            if let Some(value) = value {
                entries.insert(key, value);
            }
            result?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_paths_are_clamped_at_the_root() {
        let files = parse_record(
            "/lib/site-packages/x-1.dist-info/RECORD",
            b"../../../../../etc/passwd,,\nx/./a.py,sha256=abc,1\n\"q,uoted\"\"\",,\n../../..,,\n",
        );
        assert_eq!(
            files,
            [
                "/etc/passwd",
                "/lib/site-packages/x/a.py",
                "/lib/site-packages/q,uoted\""
            ]
        );
    }

    #[test]
    fn partial_json_keeps_whole_entries() {
        let mut out = Sink::new("f", PackageManager::Pip);
        let value = read_json(br#"{"a": {"x": "1"}, "b": {"x": "2", "y": [1, 2"#, &mut out);
        let value = value.unwrap_or_default();
        assert_eq!(value["a"]["x"], "1");
        assert_eq!(value["b"]["x"], "2");
        assert_eq!(value["b"]["y"], serde_json::json!([1, 2]));
        assert_eq!(out.finish().warnings.len(), 1);
    }

    #[test]
    fn pins() {
        assert_eq!(parse_pin("a==1"), Ok(Some(("a", "1"))));
        assert_eq!(parse_pin("a [x, y] == 1.0"), Ok(Some(("a", "1.0"))));
        assert_eq!(parse_pin("a (==1.0)"), Ok(Some(("a", "1.0"))));
        assert_eq!(parse_pin("a==1.*"), Ok(None));
        assert_eq!(parse_pin("a>=1,<2"), Ok(None));
        assert_eq!(parse_pin("a"), Ok(None));
        assert!(parse_pin("==1").is_err());
        assert!(parse_pin("a==").is_err());
        assert!(parse_pin("a 1.0").is_err());
        assert!(parse_pin("a[x==1").is_err());
    }
}
