//! Composer (Packagist) packages ([`PackageManager::Composer`]) from the files that
//! name them:
//!
//! - `composer.lock`, JSON with `packages` and `packages-dev` arrays
//!   ([`parse_composer_lock`]);
//! - `vendor/composer/installed.json`, what is installed in a `vendor` directory:
//!   a JSON array (Composer 1) or `{"packages": [...], "dev-package-names": [...]}`
//!   (Composer 2) ([`parse_installed_json`]).
//!
//! Names are `vendor/name` as written; a leading `v` before a digit is dropped from
//! versions (`v4.6.2` → `4.6.2`), branch versions (`dev-main`) are kept as written.
//! Malformed input is never fatal: the problem becomes a warning naming the file (and
//! the entry when known); a document that breaks off keeps the entries before the break.

use super::python::{read_json, read_json_object, shown, Sink};
use super::Parsed;
use postwatch_model::PackageManager;
use serde_json::Value;
use std::collections::HashSet;

/// Reads a `composer.lock`: `packages` (runtime) and `packages-dev` (development).
pub fn parse_composer_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Composer);
    let Some(document) = read_json_object(bytes, &mut out) else {
        return out.finish();
    };
    if !document.contains_key("packages") && !document.contains_key("packages-dev") {
        out.warn("no `packages` or `packages-dev`; no package read");
    }
    for (key, dev) in [("packages", false), ("packages-dev", true)] {
        match document.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(entries)) => {
                read_entries(entries, key, |_| dev, &mut out);
            }
            Some(_) => out.warn(format_args!("`{key}` is not an array; skipped")),
        }
    }
    out.finish()
}

/// Reads `vendor/composer/installed.json`. Composer 2 lists the development packages
/// in `dev-package-names`; Composer 1 does not say, so none are marked.
pub fn parse_installed_json(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Composer);
    let Some(document) = read_json(bytes, &mut out) else {
        return out.finish();
    };
    match &document {
        Value::Array(entries) => read_entries(entries, "installed", |_| false, &mut out),
        Value::Object(object) => {
            let dev_names: HashSet<&str> = match object.get("dev-package-names") {
                Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
                None | Some(Value::Null) => HashSet::new(),
                Some(_) => {
                    out.warn("`dev-package-names` is not an array; ignored");
                    HashSet::new()
                }
            };
            match object.get("packages") {
                Some(Value::Array(entries)) => read_entries(
                    entries,
                    "packages",
                    |name| dev_names.contains(name),
                    &mut out,
                ),
                Some(_) => out.warn("`packages` is not an array; no package read"),
                None => out.warn("no `packages`; no package read"),
            }
        }
        _ => out.warn("neither a JSON array nor an object; no package read"),
    }
    out.finish()
}

/// Adds each `{"name": …, "version": …}` entry of an array; `what` names the array.
fn read_entries(entries: &[Value], what: &str, is_dev: impl Fn(&str) -> bool, out: &mut Sink) {
    for (index, entry) in entries.iter().enumerate() {
        let label = format!("{what}[{index}]");
        let (Some(name), Some(version)) = (
            entry.get("name").and_then(Value::as_str),
            entry.get("version").and_then(Value::as_str),
        ) else {
            let named = entry
                .get("name")
                .and_then(Value::as_str)
                .map(|name| format!(" ({})", shown(name)))
                .unwrap_or_default();
            out.warn(format_args!(
                "{label}{named}: no name or version string; skipped"
            ));
            continue;
        };
        out.add(name, strip_v(version), is_dev(name), Vec::new(), &label);
    }
}

/// `v1.2.3` → `1.2.3`; anything not a `v` followed by a digit is kept.
fn strip_v(version: &str) -> &str {
    match version.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => version,
    }
}
