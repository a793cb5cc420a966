//! Whether a finding's fixed version can be installed now: offered by the target's own
//! configured repositories (their index caches, read by the inventory).

use postwatch_model::{Finding, FixState, Package, PackageManager};
use postwatch_version::{compare, Ecosystem};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Sets `fix_available` and `available_version` on the fixable findings of OS
/// packages. `offered(manager, binary package name)` lists the versions the
/// repositories offer. Findings stay `None` when `any_index` is false (nothing to
/// tell from) and for language packages (their registry always offers the fix).
pub fn apply_availability(
    findings: &mut [Finding],
    packages: &[Package],
    any_index: bool,
    offered: &dyn Fn(PackageManager, &str) -> Vec<String>,
) {
    if !any_index {
        return;
    }
    let manager_of: HashMap<&str, PackageManager> = packages
        .iter()
        .map(|p| (p.purl.as_str(), p.package_manager))
        .collect();
    for f in findings.iter_mut() {
        let Some(&manager) = manager_of.get(f.package.purl.as_str()) else {
            continue;
        };
        let (Some(fixed), true, Some(eco)) = (
            f.fixed_versions.last(),
            f.fix_state == FixState::Fixed && manager.is_os(),
            Ecosystem::from_osv(&f.package.ecosystem),
        ) else {
            continue;
        };
        let versions = offered(manager, &f.package.name);
        let newest = versions
            .iter()
            .max_by(|a, b| compare(eco, a, b).unwrap_or(Ordering::Equal));
        let fixes = newest.is_some_and(|v| {
            matches!(
                compare(eco, v, fixed),
                Ok(Ordering::Greater | Ordering::Equal)
            )
        });
        f.fix_available = Some(fixes);
        f.available_version = newest.filter(|_| fixes).cloned();
    }
}
