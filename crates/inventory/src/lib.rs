//! Finds what is installed in a file tree: the operating system (`os-release` and its
//! relatives), the OS packages from dpkg, apk and rpm databases, and the language
//! packages (Python, Node, Rust, Go, Java, Ruby, PHP, .NET) installed or pinned in
//! lockfiles, with the files each package owns.
//!
//! Owns: the database and lockfile formats and turning their records into
//! [`Package`]s with an OSV ecosystem and a PURL. Must not: open targets (that is `postwatch-target`), match
//! advisories, or print. Parsers work on bytes so they can be tested and fuzzed
//! without a filesystem; only [`collect`] touches a [`FileTree`].

pub mod apk;
pub mod available;
mod control;
pub mod dpkg;
pub mod identity;
pub mod lang;
pub mod lang_files;
pub mod os;
pub mod rpm;

use identity::{ecosystem, purl, PurlParts};
use postwatch_model::{OsInfo, Package, PackageManager};
use postwatch_target::{FileTree, TreeError};
use std::collections::HashSet;

pub use lang_files::probe;

/// The paths whose contents collectors read, for image readers that keep only those.
pub fn wants(path: &str) -> bool {
    os_wants(path) || lang_files::wants(path) || available::wants(path)
}

/// The paths the OS detectors read.
fn os_wants(path: &str) -> bool {
    if os::OS_FILES.contains(&path) || path == dpkg::STATUS || path == apk::INSTALLED {
        return true;
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/") {
        if let Some(name) = rest.strip_prefix("info/") {
            return name.ends_with(".list");
        }
        return rest.starts_with("status.d/");
    }
    rpm::DB_DIRS.iter().any(|dir| {
        path.strip_prefix(dir)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|file| rpm::DB_FILES.iter().any(|(name, _)| *name == file))
    })
}

/// What [`collect`] found.
pub struct Collected {
    pub os: Option<OsInfo>,
    pub packages: Vec<Package>,
    pub warnings: Vec<String>,
}

/// Which kinds of packages to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageTypes {
    pub os: bool,
    pub language: bool,
    /// Also report lockfiles' development-only dependencies.
    pub include_dev: bool,
}

impl Default for PackageTypes {
    fn default() -> Self {
        PackageTypes {
            os: true,
            language: true,
            include_dev: false,
        }
    }
}

/// Reads the OS identity and every OS package database in `tree`.
pub fn collect(tree: &dyn FileTree) -> Result<Collected, TreeError> {
    collect_types(
        tree,
        PackageTypes {
            os: true,
            language: false,
            include_dev: false,
        },
    )
}

/// Reads the OS identity, the OS package databases and/or the language packages.
pub fn collect_types(tree: &dyn FileTree, types: PackageTypes) -> Result<Collected, TreeError> {
    collect_keeping(tree, types, &|_| true)
}

/// [`collect_types`], keeping in each package's `files` only the owned files that
/// `keep_file` wants (`file_count` still counts them all). An agent that only needs
/// owners of the files its processes use keeps a few thousand paths instead of a
/// host's hundreds of thousands.
pub fn collect_keeping(
    tree: &dyn FileTree,
    types: PackageTypes,
    keep_file: &dyn Fn(&str) -> bool,
) -> Result<Collected, TreeError> {
    let mut warnings = Vec::new();
    let mut read_text = |path: &str| -> Option<String> {
        match tree.read(path) {
            Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(None) => None,
            Err(e) => {
                warnings.push(format!("{path}: {e}"));
                None
            }
        }
    };
    let os = os::detect(&mut read_text);
    // Language packages are found first: an OS package that installed one (Debian's
    // python3-requests, a jar in /usr/share/java) must keep that file to claim it.
    let language = match types.language {
        true => Some(lang_files::find(
            tree,
            &lang_files::LangOptions {
                include_dev: types.include_dev,
                keep_file,
            },
            &mut warnings,
        )?),
        false => None,
    };
    let mut packages = Vec::new();
    {
        let found_in = language
            .as_ref()
            .map(lang_files::LangFound::found_in)
            .unwrap_or_default();
        let keep_os_file = |path: &str| keep_file(path) || found_in.contains(path);
        // OS databases are read even when only language packages are wanted: what
        // they own is not reported twice.
        collect_dpkg(
            tree,
            os.as_ref(),
            &mut packages,
            &keep_os_file,
            &mut warnings,
        )?;
        collect_apk(
            tree,
            os.as_ref(),
            &mut packages,
            &keep_os_file,
            &mut warnings,
        )?;
        collect_rpm(
            tree,
            os.as_ref(),
            &mut packages,
            &keep_os_file,
            &mut warnings,
        )?;
    }
    if let Some(language) = language {
        let os_owned: HashSet<&str> = packages
            .iter()
            .flat_map(|p| p.files.iter().map(String::as_str))
            .collect();
        let language = language.settle(&os_owned);
        // The claimed language files have done their job.
        for p in &mut packages {
            p.files.retain(|f| keep_file(f));
        }
        packages.extend(language);
    }
    if !types.os {
        packages.retain(|p| !p.package_manager.is_os());
    }
    packages.sort_by(|a, b| {
        (a.package_manager, &a.name, &a.arch, &a.version, &a.found_in).cmp(&(
            b.package_manager,
            &b.name,
            &b.arch,
            &b.version,
            &b.found_in,
        ))
    });
    Ok(Collected {
        os,
        packages,
        warnings,
    })
}

/// `package` with only the owned files `keep_file` wants (`file_count` counts all).
fn keeping(keep_file: &dyn Fn(&str) -> bool, mut package: Package) -> Package {
    package.file_count = package.files.len();
    package.files.retain(|f| keep_file(f));
    package
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn collect_dpkg(
    tree: &dyn FileTree,
    os: Option<&OsInfo>,
    out: &mut Vec<Package>,
    keep_file: &dyn Fn(&str) -> bool,
    warnings: &mut Vec<String>,
) -> Result<(), TreeError> {
    // (package, file it came from, owned files when the source carries them)
    let mut found: Vec<(dpkg::DpkgPackage, String, Option<Vec<String>>)> = Vec::new();
    if let Some(bytes) = tree.read(dpkg::STATUS)? {
        for pkg in dpkg::parse_status(&text(bytes), dpkg::STATUS, warnings) {
            found.push((pkg, format!("/{}", dpkg::STATUS), None));
        }
    }
    for name in tree.list_dir(dpkg::STATUS_D)? {
        if name.ends_with(".md5sums") || name.starts_with('.') {
            continue;
        }
        let path = format!("{}/{name}", dpkg::STATUS_D);
        let Some(bytes) = tree.read(&path)? else {
            continue;
        };
        let md5sums = tree
            .read(&format!("{path}.md5sums"))?
            .map(|b| dpkg::parse_md5sums(&text(b)));
        for pkg in dpkg::parse_status(&text(bytes), &path, warnings) {
            found.push((pkg, format!("/{path}"), md5sums.clone()));
        }
    }
    for (pkg, found_in, files) in found {
        let files = match files {
            Some(files) => files,
            None => {
                let mut files = Vec::new();
                for list in dpkg::list_file_names(&pkg) {
                    if let Some(bytes) = tree.read(&format!("{}/{list}", dpkg::INFO))? {
                        files = dpkg::parse_list(&text(bytes));
                        break;
                    }
                }
                files
            }
        };
        let purl = purl(
            os,
            &PurlParts {
                manager: PackageManager::Dpkg,
                name: &pkg.name,
                version: &pkg.version,
                arch: pkg.arch.as_deref(),
                epoch: None,
            },
        );
        out.push(keeping(
            keep_file,
            Package {
                ecosystem: ecosystem(os, PackageManager::Dpkg),
                purl,
                package_manager: PackageManager::Dpkg,
                arch: pkg.arch,
                source_name: Some(pkg.source_name),
                source_version: Some(pkg.source_version),
                epoch: None,
                license: pkg.license,
                found_in,
                file_count: files.len(),
                files,
                name: pkg.name,
                version: pkg.version,
            },
        ));
    }
    Ok(())
}

fn collect_apk(
    tree: &dyn FileTree,
    os: Option<&OsInfo>,
    out: &mut Vec<Package>,
    keep_file: &dyn Fn(&str) -> bool,
    warnings: &mut Vec<String>,
) -> Result<(), TreeError> {
    let Some(bytes) = tree.read(apk::INSTALLED)? else {
        return Ok(());
    };
    for pkg in apk::parse_installed(&text(bytes), apk::INSTALLED, warnings) {
        let purl = purl(
            os,
            &PurlParts {
                manager: PackageManager::Apk,
                name: &pkg.name,
                version: &pkg.version,
                arch: pkg.arch.as_deref(),
                epoch: None,
            },
        );
        out.push(keeping(
            keep_file,
            Package {
                ecosystem: ecosystem(os, PackageManager::Apk),
                purl,
                package_manager: PackageManager::Apk,
                arch: pkg.arch,
                source_name: Some(pkg.origin.unwrap_or_else(|| pkg.name.clone())),
                source_version: Some(pkg.version.clone()),
                epoch: None,
                license: pkg.license,
                found_in: format!("/{}", apk::INSTALLED),
                file_count: pkg.files.len(),
                files: pkg.files,
                name: pkg.name,
                version: pkg.version,
            },
        ));
    }
    Ok(())
}

/// rpm's pseudo-packages for imported signing keys: not software.
const RPM_PSEUDO_PACKAGES: &[&str] = &["gpg-pubkey"];

fn collect_rpm(
    tree: &dyn FileTree,
    os: Option<&OsInfo>,
    out: &mut Vec<Package>,
    keep_file: &dyn Fn(&str) -> bool,
    warnings: &mut Vec<String>,
) -> Result<(), TreeError> {
    // The first database found wins: `var/lib/rpm` is often a symlink to the
    // sysimage directory, and an upgraded system may keep a stale older format.
    let mut seen = std::collections::HashSet::new();
    for dir in rpm::DB_DIRS {
        for (file, format) in rpm::DB_FILES {
            let path = format!("{dir}/{file}");
            let Some(canonical) = tree.canonical(&path)? else {
                continue;
            };
            if !seen.insert(canonical) {
                continue;
            }
            let Some(bytes) = tree.read(&path)? else {
                continue;
            };
            let headers = match rpm::read_packages(*format, &bytes, &path, warnings) {
                Ok(h) => h,
                Err(e) => {
                    warnings.push(format!("{e}; rpm packages not read"));
                    continue;
                }
            };
            for h in headers {
                if RPM_PSEUDO_PACKAGES.contains(&h.name.as_str()) {
                    continue;
                }
                out.push(keeping(keep_file, rpm_package(os, h, &path)));
            }
            return Ok(());
        }
    }
    Ok(())
}

fn rpm_package(os: Option<&OsInfo>, h: rpm::RpmHeader, path: &str) -> Package {
    let version_release = format!("{}-{}", h.version, h.release);
    let version = match h.epoch {
        Some(e) if e > 0 => format!("{e}:{version_release}"),
        _ => version_release.clone(),
    };
    let (source_name, source_version) =
        match h.source_rpm.as_deref().and_then(rpm::split_source_rpm) {
            Some((name, v, r)) => {
                let sv = match h.epoch {
                    Some(e) if e > 0 => format!("{e}:{v}-{r}"),
                    _ => format!("{v}-{r}"),
                };
                (Some(name.to_owned()), Some(sv))
            }
            None => (Some(h.name.clone()), Some(version.clone())),
        };
    let purl = purl(
        os,
        &PurlParts {
            manager: PackageManager::Rpm,
            name: &h.name,
            version: &version_release,
            arch: h.arch.as_deref(),
            epoch: h.epoch,
        },
    );
    Package {
        ecosystem: ecosystem(os, PackageManager::Rpm),
        purl,
        package_manager: PackageManager::Rpm,
        arch: h.arch,
        source_name,
        source_version,
        epoch: h.epoch,
        license: h.license,
        found_in: format!("/{path}"),
        file_count: h.files.len(),
        files: h.files,
        name: h.name,
        version,
    }
}
