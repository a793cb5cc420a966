//! Files in use → the packages that own them.
//!
//! Ownership comes from the inventory: dpkg `.list` files, rpm and apk file lists,
//! Python `RECORD`, `node_modules` folders, and the binary or archive a Go, Rust or
//! Java package was read from (`found_in`).

use crate::{Access, FileUse};
use postwatch_model::{Package, UseEvidence};
use std::collections::HashMap;
use std::time::SystemTime;

/// Directories that merged-/usr systems alias into `/usr`: dpkg may list
/// `/lib/x86_64-linux-gnu/libc.so.6` while a process maps `/usr/lib/…`.
const MERGED_USR: [&str; 6] = ["/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"];

/// The path a merged-/usr system resolves `path` to.
fn merged(path: &str) -> Option<String> {
    MERGED_USR
        .iter()
        .any(|dir| path.starts_with(dir))
        .then(|| format!("/usr{path}"))
}

/// The paths that processes use, indexed so that owned files can be streamed past it:
/// a host's packages own hundreds of thousands of files, its processes use a few
/// thousand. Built before the inventory, it also tells the inventory which owned
/// files are worth keeping ([`UsedPaths::is_used`]).
pub struct UsedPaths {
    /// Each used path → the uses (by index) that look for it directly.
    direct: HashMap<String, Vec<usize>>,
    /// A compiled Python file's source module → its uses, consulted only when the
    /// compiled file itself has no owner.
    via_source: HashMap<String, Vec<usize>>,
    merged_usr: bool,
}

impl UsedPaths {
    /// Indexes `uses`; `merged_usr` says the target aliases `/lib` and friends into
    /// `/usr`.
    pub fn new(uses: &[(FileUse, Option<String>)], merged_usr: bool) -> UsedPaths {
        let mut direct: HashMap<String, Vec<usize>> = HashMap::new();
        let mut via_source: HashMap<String, Vec<usize>> = HashMap::new();
        for (use_index, (file_use, _)) in uses.iter().enumerate() {
            let key = match merged_usr {
                true => merged(&file_use.path).unwrap_or_else(|| file_use.path.clone()),
                false => file_use.path.clone(),
            };
            if let Some(source) = python_source(&key) {
                via_source.entry(source).or_default().push(use_index);
            }
            direct.entry(key).or_default().push(use_index);
        }
        UsedPaths {
            direct,
            via_source,
            merged_usr,
        }
    }

    /// The index key of an owned path, built in a reused buffer.
    fn key<'k>(&self, path: &str, key: &'k mut String) -> &'k str {
        key.clear();
        if self.merged_usr && MERGED_USR.iter().any(|dir| path.starts_with(dir)) {
            key.push_str("/usr");
        }
        key.push_str(path);
        key
    }

    /// Whether a package owning `path` would be evidence of use.
    pub fn is_used(&self, path: &str) -> bool {
        let found = |key: &str| self.direct.contains_key(key) || self.via_source.contains_key(key);
        if self.merged_usr && MERGED_USR.iter().any(|dir| path.starts_with(dir)) {
            return found(&format!("/usr{path}"));
        }
        found(path)
    }
}

/// Which packages the files in `uses` belong to: for each package (by index in
/// `packages`), the evidence of its use, strongest and earliest first. `merged_usr`
/// says the target aliases `/lib` and friends into `/usr`.
pub fn attribute(
    packages: &[Package],
    uses: &[(FileUse, Option<String>)],
    merged_usr: bool,
) -> Vec<Vec<UseEvidence>> {
    attribute_with(packages, uses, &UsedPaths::new(uses, merged_usr))
}

/// [`attribute`] with the index of `uses` already built.
pub fn attribute_with(
    packages: &[Package],
    uses: &[(FileUse, Option<String>)],
    used: &UsedPaths,
) -> Vec<Vec<UseEvidence>> {
    // Per use, the packages owning its file, in package order without repeats.
    let mut owners: Vec<Vec<usize>> = vec![Vec::new(); uses.len()];
    let mut source_owners: Vec<Vec<usize>> = vec![Vec::new(); uses.len()];
    let mut key = String::new();
    for (index, package) in packages.iter().enumerate() {
        let owned = package.files.iter().map(String::as_str);
        // A binary or archive is its own evidence: a Go binary's modules, a jar's
        // classes. Lockfile pins are not files that run. (`file_count`, not `files`:
        // an inventory may keep only the owned files that are in use.)
        let itself = (!package.package_manager.is_os() && package.file_count == 0)
            .then_some(package.found_in.as_str())
            .filter(|p| !is_lockfile(p));
        for path in owned.chain(itself) {
            let key = used.key(path, &mut key);
            for (index_of, found) in [
                (&used.direct, &mut owners),
                (&used.via_source, &mut source_owners),
            ] {
                for &use_index in index_of.get(key).into_iter().flatten() {
                    if let Some(list) = found.get_mut(use_index) {
                        if !list.contains(&index) {
                            list.push(index);
                        }
                    }
                }
            }
        }
    }
    let mut evidence: Vec<Vec<UseEvidence>> = vec![Vec::new(); packages.len()];
    for (use_index, (file_use, container)) in uses.iter().enumerate() {
        let direct_owners = owners.get(use_index).filter(|o| !o.is_empty());
        let Some(indexes) = direct_owners.or_else(|| source_owners.get(use_index)) else {
            continue;
        };
        for &index in indexes {
            evidence[index].push(UseEvidence {
                pid: file_use.pid,
                command: file_use.command.clone(),
                container: container.clone(),
                file: file_use.path.clone(),
                access: access_name(file_use.access).to_owned(),
                first_seen: rfc3339(file_use.first_seen),
                last_seen: rfc3339(file_use.last_seen),
            });
        }
    }
    for list in &mut evidence {
        list.sort_by(|a, b| {
            access_rank(&a.access)
                .cmp(&access_rank(&b.access))
                .then_with(|| a.first_seen.cmp(&b.first_seen))
                .then_with(|| a.pid.cmp(&b.pid))
                .then_with(|| a.file.cmp(&b.file))
        });
        list.dedup_by(|a, b| a.pid == b.pid && a.file == b.file);
    }
    evidence
}

/// The module a compiled Python file belongs to: `dir/__pycache__/mod.cpython-311.pyc`
/// → `dir/mod.py`. Python opens only the `.pyc` when it is current, and Debian does
/// not list the `.pyc` files it compiles after installing.
fn python_source(path: &str) -> Option<String> {
    let (dir, name) = path.rsplit_once('/')?;
    let dir = dir.strip_suffix("/__pycache__")?;
    let stem = name.strip_suffix(".pyc")?;
    let module = stem.split('.').next()?;
    Some(format!("{dir}/{module}.py"))
}

fn is_lockfile(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".lock")
        || name.ends_with("-lock.json")
        || name.ends_with("lock.yaml")
        || name == "go.mod"
        || name.ends_with(".txt")
        || name.ends_with(".deps.json")
        || name == "packages.lock.json"
}

pub fn access_name(access: Access) -> &'static str {
    match access {
        Access::Exec => "exec",
        Access::Mapped => "mapped",
        Access::Opened => "opened",
    }
}

fn access_rank(name: &str) -> u8 {
    match name {
        "exec" => 0,
        "mapped" => 1,
        _ => 2,
    }
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use postwatch_model::PackageManager;
    use std::time::Duration;

    fn package(name: &str, manager: PackageManager, found_in: &str, files: &[&str]) -> Package {
        Package {
            name: name.into(),
            version: "1".into(),
            ecosystem: "x".into(),
            purl: format!("pkg:x/{name}@1"),
            package_manager: manager,
            arch: None,
            source_name: None,
            source_version: None,
            epoch: None,
            license: None,
            found_in: found_in.into(),
            file_count: files.len(),
            files: files.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn used(path: &str, access: Access) -> (FileUse, Option<String>) {
        (
            FileUse {
                path: path.into(),
                root: "/".into(),
                access,
                pid: 42,
                command: "python3".into(),
                first_seen: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                last_seen: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_060),
            },
            None,
        )
    }

    #[test]
    fn files_map_to_their_owners_across_merged_usr() {
        let packages = [
            package(
                "libc6",
                PackageManager::Dpkg,
                "/var/lib/dpkg/status",
                &["/lib/x86_64-linux-gnu/libc.so.6"],
            ),
            package(
                "curl",
                PackageManager::Dpkg,
                "/var/lib/dpkg/status",
                &["/usr/bin/curl"],
            ),
            package("tool", PackageManager::Go, "/usr/local/bin/tool", &[]),
            package("x", PackageManager::Cargo, "/app/Cargo.lock", &[]),
        ];
        let uses = [
            used("/usr/lib/x86_64-linux-gnu/libc.so.6", Access::Mapped),
            used("/usr/local/bin/tool", Access::Exec),
            used("/app/Cargo.lock", Access::Opened),
        ];
        let evidence = attribute(&packages, &uses, true);
        assert_eq!(evidence[0].len(), 1);
        assert_eq!(evidence[0][0].access, "mapped");
        assert_eq!(evidence[0][0].first_seen, "2023-11-14T22:13:20Z");
        assert!(evidence[1].is_empty());
        assert_eq!(evidence[2][0].access, "exec");
        assert!(
            evidence[3].is_empty(),
            "a lockfile being read is not code loaded"
        );
        // Without merged /usr the aliases stay apart.
        assert!(attribute(&packages, &uses, false)[0].is_empty());
    }

    #[test]
    fn compiled_python_counts_for_its_source() {
        assert_eq!(
            python_source("/usr/lib/python3/dist-packages/idna/__pycache__/core.cpython-311.pyc")
                .as_deref(),
            Some("/usr/lib/python3/dist-packages/idna/core.py")
        );
        assert_eq!(
            python_source("/usr/lib/python3/dist-packages/idna/core.py"),
            None
        );
        let packages = [package(
            "python3-idna",
            PackageManager::Dpkg,
            "/var/lib/dpkg/status",
            &["/usr/lib/python3/dist-packages/idna/core.py"],
        )];
        let uses = [used(
            "/usr/lib/python3/dist-packages/idna/__pycache__/core.cpython-311.opt-1.pyc",
            Access::Opened,
        )];
        assert_eq!(attribute(&packages, &uses, true)[0].len(), 1);
    }

    #[test]
    fn a_file_listed_by_two_packages_counts_for_both_and_its_own_owner_beats_the_source() {
        let pyc = "/opt/app/__pycache__/m.cpython-311.pyc";
        let packages = [
            package(
                "a",
                PackageManager::Dpkg,
                "/var/lib/dpkg/status",
                &["/usr/bin/x"],
            ),
            package(
                "b",
                PackageManager::Dpkg,
                "/var/lib/dpkg/status",
                &["/bin/x", "/opt/app/m.py"],
            ),
            package("c", PackageManager::Dpkg, "/var/lib/dpkg/status", &[pyc]),
        ];
        let uses = [used("/usr/bin/x", Access::Exec), used(pyc, Access::Opened)];
        let evidence = attribute(&packages, &uses, true);
        assert_eq!(evidence[0].len(), 1, "a owns /usr/bin/x");
        assert_eq!(evidence[1].len(), 1, "b owns it as /bin/x, not m.py's .pyc");
        assert_eq!(evidence[1][0].file, "/usr/bin/x");
        assert_eq!(evidence[2].len(), 1);
        assert_eq!(evidence[2][0].file, pyc);
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
