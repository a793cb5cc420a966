//! Finds language packages in a file tree: decides by path, name, mode and size which
//! files a detector needs (nothing else is opened), runs the parsers of [`crate::lang`]
//! on them, and turns what they name into [`Package`]s.
//!
//! Text files (metadata, lockfiles) are read whole; executables and Java archives go
//! through [`probe`], which image readers run while streaming a layer, so only the
//! packages extracted from a binary are kept, never the binary.

use crate::identity::{language_ecosystem, language_purl};
use crate::lang::{self, LangPackage, Parsed};
use postwatch_model::Package;
use postwatch_target::{FileTree, Probe, TreeError};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Which parser reads a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detector {
    /// `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, a single-file `*.egg-info`.
    PythonMetadata,
    PoetryLock,
    PipfileLock,
    UvLock,
    Requirements,
    /// `node_modules/<name>/package.json` or `node_modules/@scope/<name>/package.json`.
    NodeModule,
    NpmLock,
    YarnLock,
    PnpmLock,
    CargoLock,
    GoMod,
    Gemspec,
    GemfileLock,
    ComposerLock,
    ComposerInstalled,
    DepsJson,
    NugetLock,
}

impl Detector {
    /// Installed packages (as opposed to lockfile pins, which only say what a project
    /// asks for).
    fn installed(self) -> bool {
        matches!(
            self,
            Detector::PythonMetadata
                | Detector::NodeModule
                | Detector::Gemspec
                | Detector::ComposerInstalled
                | Detector::DepsJson
        )
    }

    fn parse(self, path: &str, bytes: &[u8]) -> Parsed {
        match self {
            Detector::PythonMetadata => lang::python::parse_metadata(path, bytes),
            Detector::PoetryLock => lang::python::parse_poetry_lock(path, bytes),
            Detector::PipfileLock => lang::python::parse_pipfile_lock(path, bytes),
            Detector::UvLock => lang::python::parse_uv_lock(path, bytes),
            Detector::Requirements => lang::python::parse_requirements(path, bytes),
            Detector::NodeModule => lang::node::parse_package_json(path, bytes),
            Detector::NpmLock => lang::node::parse_package_lock(path, bytes),
            Detector::YarnLock => lang::node::parse_yarn_lock(path, bytes),
            Detector::PnpmLock => lang::node::parse_pnpm_lock(path, bytes),
            Detector::CargoLock => lang::rust::parse_cargo_lock(path, bytes),
            Detector::GoMod => lang::golang::parse_go_mod(path, bytes),
            Detector::Gemspec => lang::ruby::parse_gemspec(path, bytes),
            Detector::GemfileLock => lang::ruby::parse_gemfile_lock(path, bytes),
            Detector::ComposerLock => lang::php::parse_composer_lock(path, bytes),
            Detector::ComposerInstalled => lang::php::parse_installed_json(path, bytes),
            Detector::DepsJson => lang::dotnet::parse_deps_json(path, bytes),
            Detector::NugetLock => lang::dotnet::parse_packages_lock(path, bytes),
        }
    }
}

/// Splits a relative path into (parent directory, file name).
fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", path),
    }
}

fn last_component(dir: &str) -> &str {
    split(dir).1
}

/// The detector for a text file, from its path alone.
fn detector(path: &str) -> Option<Detector> {
    let (dir, name) = split(path);
    let parent = last_component(dir);
    Some(match name {
        "METADATA" if parent.ends_with(".dist-info") => Detector::PythonMetadata,
        "PKG-INFO" if parent.ends_with(".egg-info") => Detector::PythonMetadata,
        _ if name.ends_with(".egg-info") => Detector::PythonMetadata,
        "poetry.lock" => Detector::PoetryLock,
        "Pipfile.lock" => Detector::PipfileLock,
        "uv.lock" => Detector::UvLock,
        _ if name.starts_with("requirements") && name.ends_with(".txt") => Detector::Requirements,
        "package.json" if is_node_module_dir(dir) => Detector::NodeModule,
        "package-lock.json" | "npm-shrinkwrap.json" => Detector::NpmLock,
        "yarn.lock" => Detector::YarnLock,
        "pnpm-lock.yaml" => Detector::PnpmLock,
        "Cargo.lock" => Detector::CargoLock,
        "go.mod" => Detector::GoMod,
        _ if name.ends_with(".gemspec") && parent == "specifications" => Detector::Gemspec,
        "Gemfile.lock" => Detector::GemfileLock,
        "composer.lock" => Detector::ComposerLock,
        "installed.json" if dir == "vendor/composer" || dir.ends_with("/vendor/composer") => {
            Detector::ComposerInstalled
        }
        "packages.lock.json" => Detector::NugetLock,
        _ if name.ends_with(".deps.json") => Detector::DepsJson,
        _ => return None,
    })
}

/// `…/node_modules/<name>` or `…/node_modules/@scope/<name>`.
fn is_node_module_dir(dir: &str) -> bool {
    let (up, name) = split(dir);
    if name.is_empty() || name.starts_with('.') {
        return false;
    }
    let (upper, scope_or_modules) = split(up);
    scope_or_modules == "node_modules"
        || (scope_or_modules.starts_with('@') && last_component(upper) == "node_modules")
}

/// Files read beside a detector's file: a wheel's `RECORD`, an egg's
/// `installed-files.txt`.
fn is_companion(path: &str) -> bool {
    let (dir, name) = split(path);
    let parent = last_component(dir);
    (name == "RECORD" && parent.ends_with(".dist-info"))
        || (name == "installed-files.txt" && parent.ends_with(".egg-info"))
}

/// The paths whose contents the language detectors read.
pub fn wants(path: &str) -> bool {
    detector(path).is_some() || is_companion(path)
}

const JAVA_EXTENSIONS: [&str; 7] = [".jar", ".war", ".ear", ".par", ".sar", ".jpi", ".hpi"];

fn is_java_archive(path: &str) -> bool {
    let name = split(path).1;
    JAVA_EXTENSIONS.iter().any(|ext| {
        name.len() > ext.len()
            && name.is_char_boundary(name.len() - ext.len())
            && name[name.len() - ext.len()..].eq_ignore_ascii_case(ext)
    })
}

/// Smallest executable worth opening: anything shorter is a script or a stub.
const MIN_BINARY_BYTES: u64 = 1024;

/// Whether a file goes through [`probe`]: Java archives, and executables big enough
/// to be a Go or Rust binary.
pub fn probe_applies(path: &str, mode: u32, size: u64) -> bool {
    is_java_archive(path) || (mode & 0o111 != 0 && size >= MIN_BINARY_BYTES && !wants(path))
}

/// Extracts the packages of a Java archive or of an executable's Go build
/// information or `cargo auditable` section, as JSON of [`Parsed`]; `None` when the
/// file names none and has nothing to warn about.
pub fn probe_run(path: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let absolute = format!("/{}", path.trim_start_matches('/'));
    let parsed = if is_java_archive(path) {
        lang::java::parse_archive(&absolute, bytes)
    } else if lang::golang::is_candidate(bytes) {
        let go = lang::golang::parse_go_binary(&absolute, bytes);
        if go.packages.is_empty() {
            let mut rust = lang::rust::parse_auditable_binary(&absolute, bytes);
            rust.warnings.extend(go.warnings);
            rust
        } else {
            go
        }
    } else {
        return None;
    };
    if parsed.packages.is_empty() && parsed.warnings.is_empty() {
        return None;
    }
    serde_json::to_vec(&parsed).ok()
}

/// The probe image readers run while reading layers (see [`postwatch_target::Probe`]).
pub fn probe() -> Probe<'static> {
    Probe {
        applies: &probe_applies,
        run: &probe_run,
    }
}

/// Directories never walked: kernel and runtime pseudo-filesystems, VCS metadata, and
/// container engines' storage (other images, scanned on their own).
fn skip_dir(path: &str) -> bool {
    matches!(
        path,
        "proc" | "sys" | "dev" | "run" | "var/lib/docker" | "var/lib/containerd"
    ) || path == ".git"
        || path.ends_with("/.git")
}

/// One package as found, before OS ownership and duplicates are settled.
struct Found {
    package: LangPackage,
    /// How many files the package owns; `package.files` keeps only those that
    /// [`LangOptions::keep_file`] wants.
    file_count: usize,
    found_in: String,
    installed: bool,
}

/// Options for [`collect`].
pub struct LangOptions<'a> {
    /// Report development-only dependencies of lockfiles too.
    pub include_dev: bool,
    /// Which owned files to keep in each package's `files` (all are counted).
    pub keep_file: &'a dyn Fn(&str) -> bool,
}

/// Language packages as found in a tree, before [`LangFound::settle`] drops those an
/// OS package owns.
pub struct LangFound {
    found: Vec<Found>,
    include_dev: bool,
}

impl LangFound {
    /// The files packages were found in (metadata, lockfiles, binaries, archives).
    pub fn found_in(&self) -> HashSet<&str> {
        self.found.iter().map(|f| f.found_in.as_str()).collect()
    }

    /// The packages to report: not those found in a file of `os_owned` (an OS package
    /// installed them), and see [`settle`].
    pub fn settle(self, os_owned: &HashSet<&str>) -> Vec<Package> {
        settle(self.found, self.include_dev, os_owned)
    }
}

/// Finds every language package in `tree`.
pub fn find(
    tree: &dyn FileTree,
    options: &LangOptions<'_>,
    warnings: &mut Vec<String>,
) -> Result<LangFound, TreeError> {
    let mut text_files: Vec<(String, Detector)> = Vec::new();
    let mut probed: Vec<String> = Vec::new();
    // Files under node_modules, to give each installed node package its files.
    let mut node_files: Vec<String> = Vec::new();
    tree.walk(&skip_dir, &mut |path, size, mode| {
        if let Some(d) = detector(path) {
            text_files.push((path.to_owned(), d));
        } else if probe_applies(path, mode, size) {
            probed.push(path.to_owned());
        }
        if path.contains("node_modules/") {
            node_files.push(path.to_owned());
        }
    })?;
    text_files.sort_by(|a, b| a.0.cmp(&b.0));
    probed.sort();
    node_files.sort();

    let mut found = Vec::new();
    for (path, detector) in &text_files {
        let Some(bytes) = read_or_warn(tree, path, warnings)? else {
            continue;
        };
        let absolute = format!("/{path}");
        let mut parsed = detector.parse(&absolute, &bytes);
        warnings.append(&mut parsed.warnings);
        let files = match detector {
            Detector::PythonMetadata => python_files(tree, path, warnings)?,
            Detector::NodeModule => files_under(&node_files, split(path).0),
            _ => Vec::new(),
        };
        let kept: Vec<&String> = files.iter().filter(|f| (options.keep_file)(f)).collect();
        for mut package in parsed.packages {
            let file_count = if package.files.is_empty() {
                package.files = kept.iter().map(|f| (*f).clone()).collect();
                files.len()
            } else {
                let count = package.files.len();
                package.files.retain(|f| (options.keep_file)(f));
                count
            };
            found.push(Found {
                package,
                file_count,
                found_in: absolute.clone(),
                installed: detector.installed(),
            });
        }
    }
    for path in &probed {
        if is_java_archive(path) {
            // On disk, a jar is read from its central directory, never whole.
            if let Ok(Some(file)) = tree.open_file(path) {
                let parsed = lang::java::parse_archive_file(&format!("/{path}"), file);
                add_installed(&mut found, warnings, parsed, path, options);
                continue;
            }
        } else {
            match from_sections(tree, path) {
                Sections::NotGoOrRust => continue,
                Sections::Read(parsed) => {
                    add_installed(&mut found, warnings, parsed, path, options);
                    continue;
                }
                Sections::NeedWholeFile => {}
            }
        }
        let Some(result) = tree.probe(path, &probe_run)? else {
            continue;
        };
        let parsed: Parsed = match serde_json::from_slice(&result) {
            Ok(p) => p,
            Err(e) => {
                warnings.push(format!("/{path}: probe result unreadable: {e}"));
                continue;
            }
        };
        add_installed(&mut found, warnings, parsed, path, options);
    }
    Ok(LangFound {
        found,
        include_dev: options.include_dev,
    })
}

/// Sections that only Go (`.go.buildinfo`, `.gopclntab`, `.note.go.buildid`, Mach-O
/// `__go_buildinfo`) or `cargo auditable` (`.dep-v0`) binaries have.
const TELLING_SECTIONS: [&str; 6] = [
    ".go.buildinfo",
    "__go_buildinfo",
    ".gopclntab",
    "__gopclntab",
    ".note.go.buildid",
    ".dep-v0",
];

/// What the section table of an executable on disk told.
enum Sections {
    /// An ELF or Mach-O file without any of [`TELLING_SECTIONS`]: no build information.
    NotGoOrRust,
    /// The build information, read from its section alone.
    Read(Parsed),
    /// Read the whole file: PE, stripped section tables, old Go formats, images.
    NeedWholeFile,
}

/// For a file on disk, reads only its headers, its section table and the section
/// that holds the build information (a few positioned reads): a 700 MB Go binary costs
/// kilobytes, and a C binary is never read whole.
fn from_sections(tree: &dyn FileTree, path: &str) -> Sections {
    use object::{Object, ObjectSection};
    let Ok(Some(file)) = tree.open_file(path) else {
        return Sections::NeedWholeFile;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return Sections::NeedWholeFile;
    };
    let cache = object::ReadCache::new(BlockReader {
        file,
        len,
        pos: 0,
        block_start: 0,
        block: Vec::new(),
    });
    let Ok(parsed) = object::File::parse(&cache) else {
        return Sections::NeedWholeFile;
    };
    if !matches!(
        parsed.format(),
        object::BinaryFormat::Elf | object::BinaryFormat::MachO
    ) {
        return Sections::NeedWholeFile;
    }
    let absolute = format!("/{path}");
    let mut any = false;
    let mut telling = false;
    for section in parsed.sections() {
        any = true;
        let Ok(name) = section.name() else { continue };
        if !TELLING_SECTIONS.contains(&name) {
            continue;
        }
        telling = true;
        // Only the build information is read: `.gopclntab` alone can be 100 MB.
        let reader: fn(&str, &[u8]) -> Option<Parsed> = match name {
            ".go.buildinfo" | "__go_buildinfo" => lang::golang::parse_go_section,
            ".dep-v0" => |path, data| Some(lang::rust::parse_dep_v0(path, data)),
            _ => continue,
        };
        return match section.data().ok().and_then(|data| reader(&absolute, data)) {
            Some(found) => Sections::Read(found),
            None => Sections::NeedWholeFile,
        };
    }
    if any && !telling {
        Sections::NotGoOrRust
    } else {
        Sections::NeedWholeFile
    }
}

/// Positioned reads in 16 KiB blocks for [`object::ReadCache`]: headers sit close
/// together, so a few reads per file answer all of the parser's small ones (a plain
/// `File` costs a seek and a read for each).
struct BlockReader {
    file: std::fs::File,
    len: u64,
    pos: u64,
    block_start: u64,
    block: Vec<u8>,
}

impl BlockReader {
    const BLOCK: usize = 16 << 10;
}

impl object::read::ReadCacheOps for BlockReader {
    fn len(&mut self) -> Result<u64, ()> {
        Ok(self.len)
    }

    fn seek(&mut self, pos: u64) -> Result<u64, ()> {
        self.pos = pos;
        Ok(pos)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        use std::os::unix::fs::FileExt;
        let block_end = self.block_start + self.block.len() as u64;
        if self.pos < self.block_start || self.pos >= block_end {
            let want = buf.len().max(Self::BLOCK);
            self.block.resize(want, 0);
            let got = self
                .file
                .read_at(&mut self.block, self.pos)
                .map_err(|_| ())?;
            self.block.truncate(got);
            self.block_start = self.pos;
        }
        let at = (self.pos - self.block_start) as usize;
        let available = &self.block[at.min(self.block.len())..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n as u64;
        Ok(n)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read(&mut buf[done..])? {
                0 => return Err(()),
                n => done += n,
            }
        }
        Ok(())
    }
}

/// Keeps what a binary or archive named: installed packages, found in it.
fn add_installed(
    found: &mut Vec<Found>,
    warnings: &mut Vec<String>,
    parsed: Parsed,
    path: &str,
    options: &LangOptions<'_>,
) {
    warnings.extend(parsed.warnings);
    found.extend(parsed.packages.into_iter().map(|mut package| {
        let file_count = package.files.len();
        package.files.retain(|f| (options.keep_file)(f));
        Found {
            package,
            file_count,
            found_in: format!("/{path}"),
            installed: true,
        }
    }));
}

fn read_or_warn(
    tree: &dyn FileTree,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<u8>>, TreeError> {
    match tree.read(path) {
        Ok(bytes) => Ok(bytes),
        // One unreadable or oversized file must not end the scan.
        Err(e @ (TreeError::Io { .. } | TreeError::TooLarge { .. })) => {
            warnings.push(format!("{e}; skipped"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The files a Python distribution owns: its `RECORD`, or its `installed-files.txt`.
fn python_files(
    tree: &dyn FileTree,
    metadata: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, TreeError> {
    let (dir, _) = split(metadata);
    if dir.ends_with(".dist-info") {
        let record = format!("{dir}/RECORD");
        if let Some(bytes) = read_or_warn(tree, &record, warnings)? {
            return Ok(lang::python::parse_record(&format!("/{record}"), &bytes));
        }
    } else if dir.ends_with(".egg-info") {
        let list = format!("{dir}/installed-files.txt");
        if let Some(bytes) = read_or_warn(tree, &list, warnings)? {
            return Ok(lang::python::parse_installed_files(
                &format!("/{list}"),
                &bytes,
            ));
        }
    }
    Ok(Vec::new())
}

/// Files below a node package's directory, not those of packages nested in it.
fn files_under(sorted: &[String], dir: &str) -> Vec<String> {
    let prefix = format!("{dir}/");
    let start = sorted.partition_point(|p| p.as_str() < prefix.as_str());
    sorted[start..]
        .iter()
        .take_while(|p| p.starts_with(&prefix))
        .filter(|p| !p[prefix.len()..].contains("node_modules/"))
        .map(|p| format!("/{p}"))
        .collect()
}

/// Drops what an OS package owns, development dependencies unless asked for, and
/// lockfile pins of packages found installed; the same pin in several lockfiles is
/// reported once, from the first.
fn settle(found: Vec<Found>, include_dev: bool, os_owned: &HashSet<&str>) -> Vec<Package> {
    type Key = (postwatch_model::PackageManager, String, String);
    let key = |p: &LangPackage| -> Key {
        let name = match p.manager {
            postwatch_model::PackageManager::Pip => p.name.to_ascii_lowercase().replace('_', "-"),
            _ => p.name.clone(),
        };
        (p.manager, name, p.version.clone())
    };
    let kept: Vec<Found> = found
        .into_iter()
        .filter(|f| !os_owned.contains(f.found_in.as_str()))
        .filter(|f| include_dev || !f.package.dev)
        .collect();
    let installed: HashSet<Key> = kept
        .iter()
        .filter(|f| f.installed)
        .map(|f| key(&f.package))
        .collect();
    let mut pinned: HashMap<Key, ()> = HashMap::new();
    // (key, found_in) dedupes a file that names one package twice.
    let mut seen: BTreeMap<(Key, String), ()> = BTreeMap::new();
    let mut out = Vec::new();
    for f in kept {
        let k = key(&f.package);
        if !f.installed && (installed.contains(&k) || pinned.insert(k.clone(), ()).is_some()) {
            continue;
        }
        if seen.insert((k, f.found_in.clone()), ()).is_some() {
            continue;
        }
        out.push(to_package(f));
    }
    out
}

fn to_package(f: Found) -> Package {
    let p = f.package;
    Package {
        ecosystem: language_ecosystem(p.manager).to_owned(),
        purl: language_purl(p.manager, &p.name, &p.version),
        package_manager: p.manager,
        arch: None,
        source_name: None,
        source_version: None,
        epoch: None,
        license: None,
        found_in: f.found_in,
        file_count: f.file_count,
        files: p.files,
        name: p.name,
        version: p.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detectors_are_chosen_by_path_alone() {
        let cases = [
            (
                "usr/lib/python3/dist-packages/idna-3.3.dist-info/METADATA",
                Some(Detector::PythonMetadata),
            ),
            (
                "usr/lib/python3/dist-packages/requests-2.28.1.egg-info/PKG-INFO",
                Some(Detector::PythonMetadata),
            ),
            (
                "usr/lib/python3/dist-packages/six-1.16.egg-info",
                Some(Detector::PythonMetadata),
            ),
            ("srv/app/requirements-dev.txt", Some(Detector::Requirements)),
            (
                "app/node_modules/lodash/package.json",
                Some(Detector::NodeModule),
            ),
            (
                "app/node_modules/@babel/core/package.json",
                Some(Detector::NodeModule),
            ),
            (
                "app/node_modules/a/node_modules/b/package.json",
                Some(Detector::NodeModule),
            ),
            ("app/package.json", None),
            ("app/node_modules/lodash/fp/package.json", None),
            ("app/node_modules/.package-lock.json", None),
            (
                "var/lib/gems/3.1.0/specifications/rack-2.2.3.gemspec",
                Some(Detector::Gemspec),
            ),
            ("app/rack.gemspec", None),
            (
                "app/vendor/composer/installed.json",
                Some(Detector::ComposerInstalled),
            ),
            ("app/installed.json", None),
            ("app/MyApp.deps.json", Some(Detector::DepsJson)),
            ("usr/bin/python3", None),
        ];
        for (path, expected) in cases {
            assert_eq!(detector(path), expected, "{path}");
        }
        assert!(wants("x/idna-3.3.dist-info/RECORD"));
        assert!(!wants("x/RECORD"));
    }

    #[test]
    fn probes_go_to_archives_and_executables_only() {
        assert!(probe_applies("opt/app/lib/snakeyaml-1.33.JAR", 0o644, 10));
        assert!(probe_applies("usr/local/bin/tool", 0o755, 4096));
        assert!(!probe_applies("usr/local/bin/tiny", 0o755, 100));
        assert!(!probe_applies("usr/share/doc/readme", 0o644, 4096));
        assert_eq!(probe_run("usr/bin/script", b"#!/bin/sh\necho hi\n"), None);
    }

    #[test]
    fn files_under_stop_at_nested_packages() {
        let files: Vec<String> = [
            "a/node_modules/x/index.js",
            "a/node_modules/x/node_modules/y/index.js",
            "a/node_modules/x/package.json",
            "a/node_modules/xy/index.js",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            files_under(&files, "a/node_modules/x"),
            [
                "/a/node_modules/x/index.js",
                "/a/node_modules/x/package.json"
            ]
        );
    }
}
