//! `collect_keeping` on real image roots: the same packages as `collect_types`, with
//! only the wanted owned files kept and every file still counted. The agent relies on
//! this to inventory a host without holding every owned path in memory.

use postwatch_inventory::{collect_keeping, collect_types, PackageTypes};
use postwatch_model::{Package, PackageManager};
use postwatch_target::DirTree;
use std::path::PathBuf;

/// The image roots `scripts/build-test-images.sh` writes; `None` (loudly) outside CI
/// when they are missing, a failure under CI.
fn image_roots() -> Option<Vec<PathBuf>> {
    let dir = PathBuf::from(
        std::env::var("POSTWATCH_TEST_IMAGES")
            .unwrap_or_else(|_| "/var/cache/postwatch-test-images".into()),
    );
    let roots: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rootfs") && p.is_dir())
        .collect();
    if roots.len() >= 4 {
        return Some(roots);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "test image roots missing in {}: run scripts/build-test-images.sh",
            dir.display()
        );
    }
    eprintln!("SKIPPED: test image roots missing in {}", dir.display());
    None
}

type Identity = (PackageManager, String, String, String, usize);

fn identities(packages: &[Package]) -> Vec<Identity> {
    packages
        .iter()
        .map(|p| {
            (
                p.package_manager,
                p.name.clone(),
                p.version.clone(),
                p.found_in.clone(),
                p.file_count,
            )
        })
        .collect()
}

/// Shared libraries and Python modules: what processes load.
fn loadable(path: &str) -> bool {
    path.contains(".so") || path.ends_with(".py")
}

#[test]
fn keeping_files_changes_no_package_and_keeps_exactly_the_wanted_files() {
    let Some(roots) = image_roots() else { return };
    let mut os_claimed_language_metadata = 0;
    for root in roots {
        let tree = DirTree::new(&root);
        let full = collect_types(&tree, PackageTypes::default()).expect("full inventory");
        let none = collect_keeping(&tree, PackageTypes::default(), &|_| false).expect("none");
        let some = collect_keeping(&tree, PackageTypes::default(), &loadable).expect("some");
        let name = root.display();
        assert!(full.packages.len() > 50, "{name}: too few packages");
        // Same packages, same counts: in particular an OS package that installed a
        // language package still claims it when its files are not kept.
        assert_eq!(
            identities(&full.packages),
            identities(&none.packages),
            "{name}"
        );
        assert_eq!(
            identities(&full.packages),
            identities(&some.packages),
            "{name}"
        );
        for (f, (n, s)) in full
            .packages
            .iter()
            .zip(none.packages.iter().zip(&some.packages))
        {
            assert_eq!(f.file_count, f.files.len(), "{name}: {}", f.name);
            assert!(n.files.is_empty(), "{name}: {} kept files", n.name);
            let wanted: Vec<&String> = f.files.iter().filter(|p| loadable(p)).collect();
            assert_eq!(
                s.files.iter().collect::<Vec<_>>(),
                wanted,
                "{name}: {}",
                f.name
            );
        }
        let os_files: std::collections::HashSet<&str> = full
            .packages
            .iter()
            .filter(|p| p.package_manager.is_os())
            .flat_map(|p| p.files.iter().map(String::as_str))
            .collect();
        os_claimed_language_metadata += os_files
            .iter()
            .filter(|f| f.ends_with(".dist-info/METADATA") || f.ends_with(".egg-info"))
            .count();
    }
    // The dedup path above was exercised: some image has Debian-installed Python
    // packages (bookworm-pyapp).
    assert!(os_claimed_language_metadata > 0);
}
