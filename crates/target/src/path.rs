//! Path normalisation and symlink resolution confined to a root.
//!
//! Both file-tree backends (a directory on disk and an image's merged layers) resolve
//! paths with the one algorithm here, so "a symlink cannot lead out of the target" is
//! proved once: every `..` is clamped at the root and every absolute link target is
//! re-rooted, the way `chroot` would see it.

use crate::TreeError;

/// Most symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINK_HOPS: usize = 40;

/// What a backend knows about one fully resolved-so-far path.
pub enum NodeKind {
    Missing,
    Dir,
    File,
    Symlink(String),
    /// Any other kind (device, socket, fifo, …): present, but never read.
    Other,
}

/// Turns a path from a tar header or a user into a clean relative key
/// (`a/b/c`, no leading `/` or `./`, no empty or `.` parts). A `..` component is
/// refused: archive entries must not climb.
pub fn normalize_entry_path(raw: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("path {raw:?} climbs out with '..'")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves `path` (absolute or relative, both taken from the root) following every
/// symlink, including the last component, through `lookup`. Returns the resolved
/// relative key (`""` is the root) and its kind.
pub fn resolve(
    path: &str,
    lookup: &mut dyn FnMut(&str) -> Result<NodeKind, TreeError>,
) -> Result<(String, NodeKind), TreeError> {
    let mut resolved: Vec<String> = Vec::new();
    // Components still to walk, in reverse so that pop() yields the next one.
    let mut pending: Vec<String> = path
        .split('/')
        .rev()
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        resolved.push(part);
        let key = resolved.join("/");
        match lookup(&key)? {
            NodeKind::Symlink(target) => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(TreeError::SymlinkLoop(path.to_owned()));
                }
                resolved.pop();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .rev()
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned),
                );
            }
            NodeKind::Missing => {
                return Ok((key, NodeKind::Missing));
            }
            kind @ (NodeKind::File | NodeKind::Other) => {
                if pending.iter().any(|p| p != ".") {
                    // A file used as a directory: the path does not exist.
                    return Ok((key, NodeKind::Missing));
                }
                return Ok((key, kind));
            }
            NodeKind::Dir => {}
        }
    }
    Ok((resolved.join("/"), NodeKind::Dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tree(entries: &[(&str, &str)]) -> HashMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn walk(t: &HashMap<String, String>, p: &str) -> Result<(String, bool), TreeError> {
        let mut lookup = |k: &str| {
            Ok(match t.get(k).map(String::as_str) {
                None => NodeKind::Missing,
                Some("dir") => NodeKind::Dir,
                Some("file") => NodeKind::File,
                Some(link) => NodeKind::Symlink(link.trim_start_matches("->").to_owned()),
            })
        };
        let (k, kind) = resolve(p, &mut lookup)?;
        Ok((k, matches!(kind, NodeKind::File)))
    }

    #[test]
    fn relative_and_absolute_links_stay_inside() {
        let t = tree(&[
            ("etc", "dir"),
            ("usr", "dir"),
            ("usr/lib", "dir"),
            ("usr/lib/os-release", "file"),
            ("etc/os-release", "->../usr/lib/os-release"),
            ("etc/abs", "->/usr/lib/os-release"),
            ("etc/escape", "->../../../../usr/lib/os-release"),
            ("etc/evil", "->/../../etc/passwd"),
        ]);
        assert_eq!(
            walk(&t, "/etc/os-release").unwrap(),
            ("usr/lib/os-release".into(), true)
        );
        assert_eq!(
            walk(&t, "etc/abs").unwrap(),
            ("usr/lib/os-release".into(), true)
        );
        assert_eq!(
            walk(&t, "etc/escape").unwrap(),
            ("usr/lib/os-release".into(), true)
        );
        assert_eq!(walk(&t, "etc/evil").unwrap(), ("etc/passwd".into(), false));
    }

    #[test]
    fn loops_are_an_error() {
        let t = tree(&[("a", "->b"), ("b", "->a")]);
        assert!(matches!(walk(&t, "a"), Err(TreeError::SymlinkLoop(_))));
    }

    #[test]
    fn entry_paths_are_normalised_and_climbing_refused() {
        assert_eq!(
            normalize_entry_path("./etc//os-release").unwrap(),
            "etc/os-release"
        );
        assert_eq!(normalize_entry_path("/abs/x").unwrap(), "abs/x");
        assert!(normalize_entry_path("a/../../x").is_err());
    }
}
