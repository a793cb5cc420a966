//! npm-registry packages ([`PackageManager::Npm`]) from the files that name them:
//!
//! - installed manifests, `node_modules/**/package.json` ([`parse_package_json`]);
//! - npm lockfiles, `package-lock.json`, `npm-shrinkwrap.json` and the hidden
//!   `node_modules/.package-lock.json`, lockfileVersion 1, 2 and 3
//!   ([`parse_package_lock`]);
//! - `yarn.lock`, yarn classic (v1, yarn's own format) and berry (v2+, YAML)
//!   ([`parse_yarn_lock`]);
//! - `pnpm-lock.yaml`, lockfile versions 5.x, 6.x and 9.x ([`parse_pnpm_lock`]).
//!
//! Project sources are not packages: the root project, workspace folders and links
//! (`link:`, `portal:`, `workspace:`) are skipped. Identical (name, version) pairs are
//! reported once, as a development dependency only if every occurrence is one.
//!
//! Malformed input is never fatal: the problem becomes a warning naming the file (and
//! the line or entry when known) and every package read before or around it is kept.
//! JSON lockfiles are read entry by entry, so a truncated file still yields the entries
//! before the cut; YAML is read event by event into a tree that tolerates duplicate keys.

use super::{LangPackage, Parsed};
use postwatch_model::PackageManager;
use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use yaml_rust2::parser::{Event, Parser};

/// Problems reported per file before the rest are only counted.
const MAX_WARNINGS: usize = 50;
/// YAML nesting deeper than this is not a lockfile; reading stops there.
const MAX_YAML_DEPTH: usize = 64;

/// Packages and warnings of one file, with (name, version) deduplication.
struct Out<'a> {
    path: &'a str,
    parsed: Parsed,
    seen: HashMap<(String, String), usize>,
    suppressed: usize,
}

impl<'a> Out<'a> {
    fn new(path: &'a str) -> Self {
        Out {
            path,
            parsed: Parsed::default(),
            seen: HashMap::new(),
            suppressed: 0,
        }
    }

    fn warn(&mut self, message: impl fmt::Display) {
        if self.parsed.warnings.len() < MAX_WARNINGS {
            self.parsed
                .warnings
                .push(format!("{}: {message}", self.path));
        } else {
            self.suppressed += 1;
        }
    }

    /// Adds a package unless the same (name, version) is already there; a repeat that is
    /// not a development dependency clears the `dev` flag of the first.
    fn add(&mut self, name: &str, version: &str, dev: bool) {
        let key = (name.to_owned(), version.to_owned());
        if let Some(&index) = self.seen.get(&key) {
            if !dev {
                if let Some(package) = self.parsed.packages.get_mut(index) {
                    package.dev = false;
                }
            }
            return;
        }
        self.seen.insert(key, self.parsed.packages.len());
        self.parsed.packages.push(LangPackage {
            manager: PackageManager::Npm,
            name: name.to_owned(),
            version: version.to_owned(),
            files: Vec::new(),
            dev,
        });
    }

    /// Checks a name and version before adding them; `what` says where they came from.
    fn add_checked(&mut self, name: &str, version: &str, dev: bool, what: &str) {
        if !valid_name(name) {
            self.warn(format_args!(
                "{what}: malformed package name {:?}; skipped",
                short(name)
            ));
        } else if !valid_version(version) {
            self.warn(format_args!(
                "{what}: malformed version {:?} of {}; skipped",
                short(version),
                short(name)
            ));
        } else {
            self.add(name, version, dev);
        }
    }

    fn finish(mut self) -> Parsed {
        if self.suppressed > 0 {
            self.parsed.warnings.push(format!(
                "{}: {} further problems not shown",
                self.path, self.suppressed
            ));
        }
        self.parsed
    }
}

/// An npm package name: `name` or `@scope/name`, no whitespace or control characters.
fn valid_name(name: &str) -> bool {
    let bare = match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) if !scope.is_empty() => rest,
            _ => return false,
        },
        None => name,
    };
    !bare.is_empty()
        && !bare.contains('/')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Input quoted in a warning, cut to a readable length.
fn short(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or("")),
        None => text.to_owned(),
    }
}

/// What a JSON value is, for warnings.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn valid_version(version: &str) -> bool {
    !version.is_empty() && !version.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Nothing but whitespace (or a byte-order mark): a file cut to nothing.
fn is_blank(bytes: &[u8]) -> bool {
    strip_bom(bytes).iter().all(u8::is_ascii_whitespace)
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The text of a file; invalid UTF-8 is replaced and reported.
fn text_of(bytes: &[u8], out: &mut Out) -> String {
    let bytes = strip_bom(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(e) => {
            out.warn(format_args!(
                "not valid UTF-8 (first bad byte at offset {}); bad bytes replaced",
                e.valid_up_to()
            ));
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// Splits a descriptor or locator `name@range` at the first `@` after the first
/// character (scoped names start with `@`; ranges and URLs may hold more `@`).
fn split_at_name(descriptor: &str) -> Option<(&str, &str)> {
    let at = descriptor.get(1..)?.find('@')? + 1;
    let (name, rest) = descriptor.split_at(at);
    Some((name, rest.get(1..)?))
}

// ---------------------------------------------------------------------------------------
// package.json

/// Reads one installed `node_modules/**/package.json`: its `name` and `version`.
///
/// A manifest without a `name` or `version` string is not an installed package (nested
/// test fixtures, `{"type": "module"}` markers) and yields nothing, silently; malformed
/// JSON or a malformed name or version is reported. `files` is left empty: the caller
/// knows the directory.
pub fn parse_package_json(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Out::new(path);
    if is_blank(bytes) {
        out.warn("empty file; no package");
        return out.finish();
    }
    let value: Value = match serde_json::from_slice(strip_bom(bytes)) {
        Ok(value) => value,
        Err(e) => {
            out.warn(format_args!("malformed JSON: {e}; ignored"));
            return out.finish();
        }
    };
    let Some(object) = value.as_object() else {
        out.warn("not a JSON object; ignored");
        return out.finish();
    };
    let (Some(Value::String(name)), Some(version)) = (object.get("name"), object.get("version"))
    else {
        return out.finish();
    };
    match version {
        Value::String(version) => out.add_checked(name, version, false, "manifest"),
        other => out.warn(format_args!(
            "manifest: version of {} is {}, not a string; ignored",
            short(name),
            kind(other)
        )),
    }
    out.finish()
}

// ---------------------------------------------------------------------------------------
// package-lock.json

/// The parts of an npm lockfile that name packages, filled entry by entry so that a
/// parse error keeps what came before it.
#[derive(Default)]
struct LockDoc {
    /// `packages` (lockfileVersion 2 and 3): install path → entry.
    packages: Option<Vec<(String, Value)>>,
    /// `dependencies` (lockfileVersion 1, kept in 2): name → entry, nested.
    dependencies: Option<Vec<(String, Value)>>,
}

struct LockVisitor<'a>(&'a mut LockDoc);

impl<'de> Visitor<'de> for LockVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a package-lock object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "packages" => {
                    let entries = self.0.packages.get_or_insert_with(Vec::new);
                    map.next_value_seed(Entries(entries))?;
                }
                "dependencies" => {
                    let entries = self.0.dependencies.get_or_insert_with(Vec::new);
                    map.next_value_seed(Entries(entries))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A JSON object whose members are appended to a list as soon as each is read.
struct Entries<'a>(&'a mut Vec<(String, Value)>);

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of packages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            self.0.push((key, value));
        }
        Ok(())
    }
}

fn is_true(entry: &Map<String, Value>, field: &str) -> bool {
    entry.get(field).and_then(Value::as_bool) == Some(true)
}

/// Reads an npm lockfile: `package-lock.json`, `npm-shrinkwrap.json` or the hidden
/// `node_modules/.package-lock.json`.
///
/// lockfileVersion 2 and 3: the `packages` map keyed by install path. The root project
/// (`""`), workspace folders (keys outside `node_modules/`), links (`link: true`) and
/// entries without a version are skipped; the name is `name` when given (aliases), else
/// the key's last `node_modules/` segment. `dev` or `devOptional` marks a development
/// dependency. lockfileVersion 1: the nested `dependencies` maps, with `dev`; local
/// `file:`/`link:` versions are skipped and `npm:real@1.2.3` aliases name `real`.
pub fn parse_package_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Out::new(path);
    if is_blank(bytes) {
        out.warn("empty file; no packages");
        return out.finish();
    }
    let mut doc = LockDoc::default();
    let mut deserializer = serde_json::Deserializer::from_slice(strip_bom(bytes));
    let result = deserializer
        .deserialize_map(LockVisitor(&mut doc))
        .and_then(|()| deserializer.end());
    if let Err(e) = result {
        let read = doc.packages.as_ref().map_or(0, Vec::len)
            + doc.dependencies.as_ref().map_or(0, Vec::len);
        out.warn(format_args!(
            "malformed JSON: {e}; kept the {read} entries read before it"
        ));
    }
    match (doc.packages, doc.dependencies) {
        (Some(packages), _) => lock_packages(&packages, &mut out),
        (None, Some(dependencies)) => lock_dependencies(&dependencies, &mut out),
        (None, None) => {
            if out.parsed.warnings.is_empty() {
                out.warn("neither `packages` nor `dependencies`; no packages");
            }
        }
    }
    out.finish()
}

/// lockfileVersion 2 and 3 `packages`.
fn lock_packages(packages: &[(String, Value)], out: &mut Out) {
    for (key, entry) in packages {
        if key.is_empty() {
            continue; // the root project
        }
        let Some(entry) = entry.as_object() else {
            out.warn(format_args!(
                "packages[{:?}]: {}, not an object; skipped",
                short(key),
                kind(entry)
            ));
            continue;
        };
        if is_true(entry, "link") {
            continue;
        }
        // A key outside node_modules is a workspace folder: the project's own source.
        let Some(at) = key.rfind("node_modules/") else {
            continue;
        };
        let from_key = key.get(at + "node_modules/".len()..).unwrap_or("");
        let name = match entry.get("name") {
            Some(Value::String(name)) => name.as_str(),
            _ => from_key,
        };
        let version = match entry.get("version") {
            None => continue,
            Some(Value::String(version)) => version,
            Some(other) => {
                out.warn(format_args!(
                    "packages[{:?}]: version is {}, not a string; skipped",
                    short(key),
                    kind(other)
                ));
                continue;
            }
        };
        let dev = is_true(entry, "dev") || is_true(entry, "devOptional");
        out.add_checked(name, version, dev, &format!("packages[{:?}]", short(key)));
    }
}

/// lockfileVersion 1 `dependencies`, walked depth first without recursion.
fn lock_dependencies(dependencies: &[(String, Value)], out: &mut Out) {
    // (the entry's name, where it sits for warnings, the entry)
    let mut stack: Vec<(&str, String, &Value)> = dependencies
        .iter()
        .rev()
        .map(|(name, entry)| {
            let what = format!("dependencies[{:?}]", short(name));
            (name.as_str(), what, entry)
        })
        .collect();
    while let Some((key, what, entry)) = stack.pop() {
        let Some(entry) = entry.as_object() else {
            out.warn(format_args!(
                "{what}: {}, not an object; skipped",
                kind(entry)
            ));
            continue;
        };
        if let Some(Value::Object(nested)) = entry.get("dependencies") {
            for (name, child) in nested.iter().rev() {
                stack.push((name, format!("{what}[{:?}]", short(name)), child));
            }
        }
        // Keys are names; a stray install path keeps its last `node_modules/` segment.
        let name = key
            .rfind("node_modules/")
            .and_then(|at| key.get(at + "node_modules/".len()..))
            .unwrap_or(key);
        let version = match entry.get("version") {
            None => continue,
            Some(Value::String(version)) => version.as_str(),
            Some(other) => {
                out.warn(format_args!(
                    "{what}: version is {}, not a string; skipped",
                    kind(other)
                ));
                continue;
            }
        };
        if version.starts_with("file:") || version.starts_with("link:") {
            continue; // a local folder
        }
        let dev = is_true(entry, "dev");
        match version.strip_prefix("npm:").and_then(split_at_name) {
            Some((real, real_version)) => out.add_checked(real, real_version, dev, &what),
            None => out.add_checked(name, version, dev, &what),
        }
    }
}

// ---------------------------------------------------------------------------------------
// YAML, read leniently

/// A YAML node as lockfiles use it. Scalars keep their text as written (`1.10` stays
/// `1.10`); mappings keep every member, in order, with the line of its key.
#[derive(Debug)]
enum Yaml {
    Scalar(String),
    Seq,
    Map(Vec<(String, usize, Yaml)>),
}

impl Yaml {
    fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(members) => members.iter().find(|m| m.0 == key).map(|m| &m.2),
            _ => None,
        }
    }

    fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Yaml::Scalar(s) => Some(s),
            _ => None,
        }
    }

    fn members(&self) -> &[(String, usize, Yaml)] {
        match self {
            Yaml::Map(members) => members,
            _ => &[],
        }
    }
}

enum Frame {
    Seq,
    /// Members so far, and a key (with its line) waiting for its value.
    Map(Vec<(String, usize, Yaml)>, Option<(String, usize)>),
}

/// Reads every YAML document of `text`. On a syntax error, what was read is kept (open
/// collections are closed) and the error is returned beside it.
fn load_yaml(text: &str) -> (Vec<Yaml>, Option<String>) {
    fn attach(stack: &mut [Frame], docs: &mut Vec<Yaml>, node: Yaml, line: usize) {
        match stack.last_mut() {
            None => docs.push(node),
            Some(Frame::Seq) => {}
            Some(Frame::Map(members, pending)) => match pending.take() {
                Some((key, key_line)) => members.push((key, key_line, node)),
                None => {
                    // Only scalar keys name anything; others get a key nothing looks up.
                    let key = match node {
                        Yaml::Scalar(s) => s,
                        _ => String::from("\u{0}"),
                    };
                    *pending = Some((key, line));
                }
            },
        }
    }

    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut docs = Vec::new();
    let mut error = None;
    let mut line = 1;
    loop {
        let event = match parser.next_token() {
            Ok((event, mark)) => {
                line = mark.line();
                event
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        };
        match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {}
            Event::Scalar(value, ..) => attach(&mut stack, &mut docs, Yaml::Scalar(value), line),
            Event::Alias(_) => attach(&mut stack, &mut docs, Yaml::Scalar(String::new()), line),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_YAML_DEPTH {
                    error = Some(format!(
                        "nesting deeper than {MAX_YAML_DEPTH} at line {line}"
                    ));
                    break;
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Frame::Seq,
                    _ => Frame::Map(Vec::new(), None),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = stack.pop() {
                    let node = match frame {
                        Frame::Seq => Yaml::Seq,
                        Frame::Map(members, _) => Yaml::Map(members),
                    };
                    attach(&mut stack, &mut docs, node, line);
                }
            }
        }
    }
    while let Some(frame) = stack.pop() {
        let node = match frame {
            Frame::Seq => Yaml::Seq,
            Frame::Map(members, _) => Yaml::Map(members),
        };
        attach(&mut stack, &mut docs, node, line);
    }
    (docs, error)
}

// ---------------------------------------------------------------------------------------
// yarn.lock

/// A descriptor's protocol that points at the project's own folders.
fn is_local(descriptor: &str) -> bool {
    split_at_name(descriptor).is_some_and(|(_, range)| {
        ["workspace:", "link:", "portal:"]
            .iter()
            .any(|p| range.starts_with(p))
    })
}

/// The package a yarn descriptor or locator names: the part before the `@` that starts
/// the range; for an alias `alias@npm:real@^1`, `real`.
fn yarn_name(descriptor: &str) -> Option<&str> {
    let (name, range) = split_at_name(descriptor)?;
    if let Some((real, _)) = range.strip_prefix("npm:").and_then(split_at_name) {
        if valid_name(real) {
            return Some(real);
        }
    }
    Some(name)
}

/// Reads a `yarn.lock`: yarn classic (v1) or berry (v2+, recognised by its
/// `__metadata` entry).
///
/// Each entry's key lists the descriptors resolved to it (`lodash@^4.17.15, lodash@~4.17.1`)
/// and its `version` field the version. The name comes from berry's `resolution` when
/// present, else from the first descriptor, with `npm:` aliases naming the real package.
/// Workspace, `link:` and `portal:` entries are the project's own and are skipped. yarn
/// does not record development dependencies: `dev` is always false.
pub fn parse_yarn_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Out::new(path);
    if is_blank(bytes) {
        out.warn("empty file; no packages");
        return out.finish();
    }
    let text = text_of(bytes, &mut out);
    if text.lines().any(|l| l.trim_end() == "__metadata:") {
        yarn_berry(&text, &mut out);
    } else {
        yarn_classic(&text, &mut out);
    }
    out.finish()
}

fn yarn_berry(text: &str, out: &mut Out) {
    let (docs, error) = load_yaml(text);
    if let Some(error) = error {
        out.warn(format_args!(
            "malformed YAML: {error}; kept what was read before it"
        ));
    }
    let Some(doc) = docs.first() else {
        return;
    };
    for (key, line, entry) in doc.members() {
        if key == "__metadata" {
            continue;
        }
        let first = key.split(',').next().unwrap_or("").trim();
        let resolution = entry.str("resolution");
        if is_local(first) || resolution.is_some_and(is_local) {
            continue;
        }
        let what = format!("line {line} ({})", short(first));
        let Some(name) = resolution.and_then(yarn_name).or_else(|| yarn_name(first)) else {
            out.warn(format_args!("{what}: entry key names no package; skipped"));
            continue;
        };
        let Some(version) = entry.str("version") else {
            out.warn(format_args!("{what}: entry has no version; skipped"));
            continue;
        };
        out.add_checked(name, version, false, &what);
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

fn yarn_classic(text: &str, out: &mut Out) {
    /// The entry being read: its line, first descriptor, version once seen.
    struct Entry {
        line: usize,
        descriptor: String,
        version: Option<String>,
    }

    fn close(entry: Option<Entry>, out: &mut Out) {
        let Some(entry) = entry else { return };
        if is_local(&entry.descriptor) {
            return;
        }
        let what = format!("line {} ({})", entry.line, short(&entry.descriptor));
        match (yarn_name(&entry.descriptor), entry.version) {
            (None, _) => out.warn(format_args!("{what}: entry key names no package; skipped")),
            (Some(_), None) => out.warn(format_args!("{what}: entry has no version; skipped")),
            (Some(name), Some(version)) => out.add_checked(name, &version, false, &what),
        }
    }

    let mut current: Option<Entry> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim_end();
        if line.is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            close(current.take(), out);
            match line.strip_suffix(':') {
                Some(header) => {
                    let first = header.split(',').next().unwrap_or("");
                    current = Some(Entry {
                        line: number,
                        descriptor: unquote(first).to_owned(),
                        version: None,
                    });
                }
                None => out.warn(format_args!("line {number}: not a lockfile entry; ignored")),
            }
            continue;
        }
        // Fields of the entry are indented by two spaces; deeper lines are their values.
        let Some(field) = line
            .strip_prefix("  ")
            .filter(|f| !f.starts_with([' ', '\t']))
        else {
            continue;
        };
        let value = field
            .strip_prefix("version ")
            .or_else(|| field.strip_prefix("version:"));
        if let (Some(value), Some(entry)) = (value, current.as_mut()) {
            entry.version = Some(unquote(value).to_owned());
        }
    }
    close(current, out);
}

// ---------------------------------------------------------------------------------------
// pnpm-lock.yaml

/// A pnpm 6+ package key: `/name@1.2.3(peer@1.0.0)` (6.x), `name@1.2.3(peer@1.0.0)`
/// (9.x); scoped `@a/b@1.0.0`.
fn pnpm6_key(key: &str) -> Option<(&str, &str)> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let key = key.split('(').next().unwrap_or(key);
    split_at_name(key).filter(|(name, _)| valid_name(name))
}

/// A pnpm 5.x package key: `/name/1.2.3`, `/@a/b/1.2.3`, `/name/1.2.3_peer@1.0.0`, or
/// with a registry host instead of the leading `/`.
fn pnpm5_key(key: &str) -> Option<(String, &str)> {
    let rest = match key.strip_prefix('/') {
        Some(rest) => rest,
        None => key.split_once('/')?.1,
    };
    let (name, tail) = if rest.starts_with('@') {
        let (scope, rest) = rest.split_once('/')?;
        let (name, tail) = rest.split_once('/')?;
        (format!("{scope}/{name}"), tail)
    } else {
        let (name, tail) = rest.split_once('/')?;
        (name.to_owned(), tail)
    };
    let version = tail.split('_').next().unwrap_or(tail);
    if version.contains('/') || !valid_name(&name) {
        return None;
    }
    Some((name, version))
}

/// The (name, version) a pnpm package key names, in the lockfile's format first.
fn pnpm_key(key: &str, major: Option<u32>) -> Option<(String, String)> {
    let six = || pnpm6_key(key).map(|(n, v)| (n.to_owned(), v.to_owned()));
    let five = || pnpm5_key(key).map(|(n, v)| (n, v.to_owned()));
    if major.is_some_and(|m| m < 6) {
        five().or_else(six)
    } else {
        six().or_else(five)
    }
}

/// Strips a pnpm 6+ peer suffix and leading `/`: `a@1.0.0(b@2.0.0)` → `a@1.0.0`.
fn pnpm_id(key: &str) -> &str {
    let key = key.strip_prefix('/').unwrap_or(key);
    key.split('(').next().unwrap_or(key)
}

/// pnpm 9 records no `dev` flags; they follow from the graph. Returns the ids
/// (`name@version`, no peer suffix) reachable from some importer's `devDependencies`
/// and from none of its `dependencies` or `optionalDependencies`, or `None` when the
/// lockfile does not carry the graph.
fn pnpm9_dev(doc: &Yaml) -> Option<BTreeSet<String>> {
    let importers = doc.get("importers")?;
    let snapshots = doc.get("snapshots")?;
    let lookup: HashMap<&str, &Yaml> = snapshots
        .members()
        .iter()
        .map(|(key, _, entry)| (key.as_str(), entry))
        .collect();
    // `name: version` or `name: {specifier, version}`; an alias's version is `real@1.0.0`;
    // `link:` targets are project folders, outside the graph.
    let target = |name: &str, spec: &Yaml| -> Option<String> {
        let version = match spec {
            Yaml::Scalar(s) => s.as_str(),
            map => map.str("version")?,
        };
        let bare = version.split('(').next().unwrap_or(version);
        if version.starts_with("link:") {
            None
        } else if split_at_name(bare).is_some() {
            Some(version.to_owned())
        } else {
            Some(format!("{name}@{version}"))
        }
    };
    let reach = |fields: &[&str]| -> BTreeSet<String> {
        let mut queue: Vec<String> = importers
            .members()
            .iter()
            .flat_map(|(_, _, importer)| fields.iter().filter_map(|f| importer.get(f)))
            .flat_map(Yaml::members)
            .filter_map(|(name, _, spec)| target(name, spec))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(key) = queue.pop() {
            if !seen.insert(key.clone()) {
                continue;
            }
            if let Some(snapshot) = lookup.get(key.as_str()) {
                for field in ["dependencies", "optionalDependencies"] {
                    if let Some(deps) = snapshot.get(field) {
                        queue.extend(
                            deps.members()
                                .iter()
                                .filter_map(|(name, _, spec)| target(name, spec)),
                        );
                    }
                }
            }
        }
        seen.iter().map(|key| pnpm_id(key).to_owned()).collect()
    };
    let prod = reach(&["dependencies", "optionalDependencies"]);
    let dev = reach(&["devDependencies"]);
    Some(dev.difference(&prod).cloned().collect())
}

/// Reads a `pnpm-lock.yaml`, lockfile versions 5.x, 6.x and 9.x.
///
/// Packages are the keys of `packages` (and of 9.x `snapshots`): `/name/1.2.3` with
/// `_peer` suffixes in 5.x, `/name@1.2.3` with `(peer)` suffixes in 6.x, `name@1.2.3`
/// in 9.x; an entry's own `name` and `version` fields (git and tarball dependencies)
/// take precedence. `dev: true` marks a development dependency; 9.x, which has no such
/// field, gets it from the graph (`importers` and `snapshots`) when both are present.
/// Of a file with several documents, the last (the project's lockfile) is read.
pub fn parse_pnpm_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Out::new(path);
    if is_blank(bytes) {
        out.warn("empty file; no packages");
        return out.finish();
    }
    let text = text_of(bytes, &mut out);
    let (docs, error) = load_yaml(&text);
    if let Some(error) = error {
        out.warn(format_args!(
            "malformed YAML: {error}; kept what was read before it"
        ));
    }
    let Some(doc) = docs.iter().rev().find(|d| matches!(d, Yaml::Map(_))) else {
        if out.parsed.warnings.is_empty() {
            out.warn("not a pnpm lockfile (no mapping); no packages");
        }
        return out.finish();
    };
    let major = doc
        .str("lockfileVersion")
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.trim().parse::<u32>().ok());
    let inferred_dev = if major.is_some_and(|m| m >= 9) {
        pnpm9_dev(doc)
    } else {
        None
    };
    let entries = ["packages", "snapshots"]
        .iter()
        .filter_map(|section| doc.get(section))
        .flat_map(Yaml::members);
    for (key, line, entry) in entries {
        let what = format!("line {line} ({})", short(key));
        let parsed = pnpm_key(key, major);
        let name = entry
            .str("name")
            .map(str::to_owned)
            .or_else(|| parsed.as_ref().map(|(n, _)| n.clone()));
        let version = entry
            .str("version")
            .map(str::to_owned)
            .or_else(|| parsed.as_ref().map(|(_, v)| v.clone()));
        let (Some(name), Some(version)) = (name, version) else {
            out.warn(format_args!("{what}: package key not understood; skipped"));
            continue;
        };
        let dev = match entry.str("dev") {
            Some(flag) => flag == "true",
            None => inferred_dev
                .as_ref()
                .is_some_and(|dev| dev.contains(pnpm_id(key))),
        };
        out.add_checked(&name, &version, dev, &what);
    }
    out.finish()
}
