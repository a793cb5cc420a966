//! NuGet packages ([`PackageManager::Nuget`]) of .NET applications, from:
//!
//! - `*.deps.json`, the dependency manifest the .NET SDK writes next to a built or
//!   published application: its `libraries` map of `"Name/Version"` →
//!   `{"type": "package" | "project" | …}` ([`parse_deps_json`]);
//! - `packages.lock.json`, NuGet's lock file: `dependencies` → target framework →
//!   `"Name": {"type": "Direct" | "Transitive" | …, "resolved": "1.2.3"}`
//!   ([`parse_packages_lock`]).
//!
//! Projects of the same solution are sources, not packages, and are skipped. Neither
//! format marks development dependencies. Malformed input is never fatal: the problem
//! becomes a warning naming the file (and the entry when known); a document that
//! breaks off keeps the entries before the break.

use super::python::{read_json_object, shown, Sink};
use super::Parsed;
use postwatch_model::PackageManager;
use serde_json::Value;

/// Reads a `*.deps.json`: the `libraries` entries of type `package`, their key split
/// at the last `/` into id and version. Other types (`project`, `reference`,
/// `runtimepack`, …) are skipped silently.
pub fn parse_deps_json(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Nuget);
    let Some(document) = read_json_object(bytes, &mut out) else {
        return out.finish();
    };
    let libraries = match document.get("libraries") {
        Some(Value::Object(libraries)) => libraries,
        Some(_) => {
            out.warn("`libraries` is not an object; no package read");
            return out.finish();
        }
        None => {
            out.warn("no `libraries`; no package read");
            return out.finish();
        }
    };
    for (key, library) in libraries {
        let label = format!("libraries.{}", shown(key));
        let Some(kind) = library.get("type").and_then(Value::as_str) else {
            out.warn(format_args!("{label}: no type string; skipped"));
            continue;
        };
        if !kind.eq_ignore_ascii_case("package") {
            continue;
        }
        let Some((name, version)) = key.rsplit_once('/') else {
            out.warn(format_args!("{label}: not `Name/Version`; skipped"));
            continue;
        };
        out.add(name, version, false, Vec::new(), &label);
    }
    out.finish()
}

/// Reads a NuGet `packages.lock.json`: every target framework's (and runtime's)
/// dependencies with a `resolved` version, each (id, version) once. Entries of type
/// `Project` are skipped.
pub fn parse_packages_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Nuget);
    let Some(document) = read_json_object(bytes, &mut out) else {
        return out.finish();
    };
    let frameworks = match document.get("dependencies") {
        Some(Value::Object(frameworks)) => frameworks,
        Some(_) => {
            out.warn("`dependencies` is not an object; no package read");
            return out.finish();
        }
        None => {
            out.warn("no `dependencies`; no package read");
            return out.finish();
        }
    };
    for (framework, dependencies) in frameworks {
        let Some(dependencies) = dependencies.as_object() else {
            out.warn(format_args!(
                "dependencies.{}: not an object; skipped",
                shown(framework)
            ));
            continue;
        };
        for (name, entry) in dependencies {
            let label = format!("dependencies.{}.{}", shown(framework), shown(name));
            let kind = entry
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind.eq_ignore_ascii_case("Project") {
                continue;
            }
            match entry.get("resolved").and_then(Value::as_str) {
                Some(version) => {
                    out.add(name, version, false, Vec::new(), &label);
                }
                None => out.warn(format_args!("{label}: no resolved version; skipped")),
            }
        }
    }
    out.finish()
}
