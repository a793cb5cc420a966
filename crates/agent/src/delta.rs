//! What changed between two inventories of one asset, as an
//! [`InventoryPayload::Delta`](postwatch_model::fleet::InventoryPayload) carries it.
//!
//! Packages are identified by [`package_key`] (PURL and the database they were read
//! from). A package whose key is the same but whose record differs in any field
//! (version, files, source, license, …) is sent as removed and added again, so that
//! the server can apply a delta by deleting every removed key, then inserting every
//! added package, with no merging rules of its own.

use postwatch_model::fleet::package_key;
use postwatch_model::Package;
use std::collections::{BTreeMap, HashSet};

/// The packages of `current` that are new or changed since `previous`, and the keys of
/// those gone or changed. Added packages keep `current`'s order; removed keys are
/// sorted and unique.
pub fn diff(previous: &[Package], current: &[Package]) -> (Vec<Package>, Vec<String>) {
    // A key may name several records (the same PURL read twice from one file); a key
    // is unchanged only when its whole group is.
    let before = group(previous);
    let after = group(current);
    let mut removed = Vec::new();
    let mut changed: HashSet<&str> = HashSet::new();
    for (key, old) in &before {
        match after.get(key) {
            None => removed.push(key.clone()),
            Some(new) if !same_group(old, new) => {
                removed.push(key.clone());
                changed.insert(key);
            }
            Some(_) => {}
        }
    }
    let added = current
        .iter()
        .filter(|p| {
            let key = package_key(p);
            !before.contains_key(&key) || changed.contains(key.as_str())
        })
        .cloned()
        .collect();
    (added, removed)
}

fn group(packages: &[Package]) -> BTreeMap<String, Vec<&Package>> {
    let mut by_key: BTreeMap<String, Vec<&Package>> = BTreeMap::new();
    for p in packages {
        by_key.entry(package_key(p)).or_default().push(p);
    }
    by_key
}

/// Equal as multisets: order inside a group does not matter.
fn same_group(a: &[&Package], b: &[&Package]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b
            .iter()
            .enumerate()
            .find(|(i, y)| !used[*i] && x == *y)
            .map(|(i, _)| i);
        match found {
            Some(i) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

/// Applies a delta to the packages of its base: what the server does. `diff` then
/// `apply` gives back `current` (in another order).
pub fn apply(base: &[Package], added: &[Package], removed: &[String]) -> Vec<Package> {
    let removed: HashSet<&str> = removed.iter().map(String::as_str).collect();
    base.iter()
        .filter(|p| !removed.contains(package_key(p).as_str()))
        .chain(added.iter())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use postwatch_model::PackageManager;

    fn deb(name: &str, version: &str) -> Package {
        Package {
            name: name.to_owned(),
            version: version.to_owned(),
            ecosystem: "Debian:12".to_owned(),
            purl: format!("pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"),
            package_manager: PackageManager::Dpkg,
            arch: Some("amd64".to_owned()),
            source_name: None,
            source_version: None,
            epoch: None,
            license: None,
            found_in: "/var/lib/dpkg/status".to_owned(),
            file_count: 1,
            files: vec![format!("/usr/share/doc/{name}/copyright")],
        }
    }

    fn sorted(mut v: Vec<Package>) -> Vec<Package> {
        v.sort_by_key(package_key);
        v
    }

    #[test]
    fn upgrades_installs_and_removals() {
        let previous = vec![
            deb("bash", "5.2.15-2+b2"),
            deb("openssl", "3.0.11-1~deb12u2"),
            deb("curl", "7.88.1-10+deb12u5"),
        ];
        let current = vec![
            deb("bash", "5.2.15-2+b2"),
            deb("openssl", "3.0.13-1~deb12u1"),
            deb("jq", "1.6-2.1"),
        ];
        let (added, removed) = diff(&previous, &current);
        assert_eq!(added, vec![current[1].clone(), current[2].clone()]);
        let mut expected = vec![package_key(&previous[1]), package_key(&previous[2])];
        expected.sort();
        assert_eq!(removed, expected);
        assert_eq!(
            sorted(apply(&previous, &added, &removed)),
            sorted(current.clone())
        );
    }

    #[test]
    fn same_key_with_other_files_is_removed_and_added() {
        let previous = vec![deb("bash", "5.2.15-2+b2")];
        let mut changed = previous[0].clone();
        changed.files.push("/usr/bin/bash".to_owned());
        changed.file_count = 2;
        let current = vec![changed.clone()];
        let (added, removed) = diff(&previous, &current);
        assert_eq!(added, vec![changed]);
        assert_eq!(removed, vec![package_key(&previous[0])]);
        assert_eq!(apply(&previous, &added, &removed), current);
    }

    #[test]
    fn nothing_changed_is_an_empty_delta_whatever_the_order() {
        let a = vec![deb("a", "1"), deb("b", "2"), deb("a", "1")];
        let b = vec![deb("b", "2"), deb("a", "1"), deb("a", "1")];
        assert_eq!(diff(&a, &b), (vec![], vec![]));
        assert_eq!(diff(&[], &[]), (vec![], vec![]));
    }

    #[test]
    fn from_nothing_and_to_nothing() {
        let packages = vec![deb("a", "1"), deb("b", "2")];
        let (added, removed) = diff(&[], &packages);
        assert_eq!((added, removed.len()), (packages.clone(), 0));
        let (added, removed) = diff(&packages, &[]);
        assert!(added.is_empty());
        assert_eq!(removed.len(), 2);
    }

    #[test]
    fn duplicate_keys_are_a_group() {
        // One record of a duplicated key goes: the whole key is replaced.
        let previous = vec![deb("a", "1"), deb("a", "1")];
        let current = vec![deb("a", "1")];
        let (added, removed) = diff(&previous, &current);
        assert_eq!(removed, vec![package_key(&previous[0])]);
        assert_eq!(added, current);
        assert_eq!(apply(&previous, &added, &removed), current);
    }
}
