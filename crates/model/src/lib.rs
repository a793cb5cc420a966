//! The shared vocabulary of postwatch: what a scan target is, which operating system it
//! runs, and which packages it holds.
//!
//! This crate owns plain data and nothing else: no I/O, no parsing of foreign formats,
//! no policy. Every stage (collect → ship → store → analyse → present) speaks these
//! types, and their serde form *is* the documented `postwatch scan --format json`
//! schema (see `docs/scan-json.md`), so a field renamed here is a breaking change.

pub mod fleet;
pub mod metrics;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the JSON document `postwatch scan --format json` writes. Bump the major
/// part when a field changes meaning or disappears; add fields freely.
pub const SCAN_SCHEMA_VERSION: &str = "1.1";

/// What kind of thing was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// A directory that holds a root filesystem.
    Rootfs,
    /// The machine postwatch runs on, read from `/`.
    Host,
    /// A `docker save` tarball.
    DockerArchive,
    /// An OCI image layout directory.
    OciLayout,
    /// A tar of an OCI image layout.
    OciArchive,
}

impl TargetKind {
    pub const ALL: [TargetKind; 5] = [
        TargetKind::Rootfs,
        TargetKind::Host,
        TargetKind::DockerArchive,
        TargetKind::OciLayout,
        TargetKind::OciArchive,
    ];

    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Rootfs => "rootfs",
            TargetKind::Host => "host",
            TargetKind::DockerArchive => "docker-archive",
            TargetKind::OciLayout => "oci-layout",
            TargetKind::OciArchive => "oci-archive",
        }
    }

    pub fn is_image(self) -> bool {
        matches!(
            self,
            TargetKind::DockerArchive | TargetKind::OciLayout | TargetKind::OciArchive
        )
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scanned target as the user named it, plus image metadata when it is an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The path or name the user gave.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: TargetKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageMetadata>,
}

/// Metadata of a container image, from its manifest and config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageMetadata {
    /// `sha256:…` of the image manifest, when the archive carries one (OCI layouts do;
    /// a classic `docker save` tarball does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// `sha256:…` of the image config blob: Docker's image ID.
    pub config_digest: String,
    pub repo_tags: Vec<String>,
    pub os: Option<String>,
    pub architecture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// RFC 3339 creation time from the config.
    pub created: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub layers: Vec<LayerInfo>,
}

/// One filesystem layer, in the order it is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Digest of the layer blob as stored (compressed), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Digest of the uncompressed layer (`rootfs.diff_ids` in the config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// Size of the blob as stored, in bytes.
    pub size: u64,
    /// `none`, `gzip` or `zstd`, from the blob's own magic bytes.
    pub compression: String,
}

/// The operating system of a target, from `os-release` or its older relatives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OsInfo {
    /// `ID` from os-release, lower case (`debian`, `alpine`, `almalinux`, …).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.18.4`, `8.9`), when known.
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_codename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub id_like: Vec<String>,
    /// The OSV ecosystem string for the distribution's own packages (`Debian:12`,
    /// `Alpine:v3.18`, `AlmaLinux:8`), when postwatch knows the distribution.
    pub ecosystem: Option<String>,
    /// The file the identity was read from, relative to the target root.
    pub source_file: String,
}

/// Which package manager's database a package was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    Dpkg,
    Apk,
    Rpm,
    Pip,
    Npm,
    Cargo,
    Go,
    Maven,
    Gem,
    Composer,
    Nuget,
}

impl PackageManager {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Dpkg => "dpkg",
            PackageManager::Apk => "apk",
            PackageManager::Rpm => "rpm",
            PackageManager::Pip => "pip",
            PackageManager::Npm => "npm",
            PackageManager::Cargo => "cargo",
            PackageManager::Go => "go",
            PackageManager::Maven => "maven",
            PackageManager::Gem => "gem",
            PackageManager::Composer => "composer",
            PackageManager::Nuget => "nuget",
        }
    }

    /// OS package managers match advisories on the source package, only against the
    /// distribution's own advisories.
    pub fn is_os(self) -> bool {
        matches!(
            self,
            PackageManager::Dpkg | PackageManager::Apk | PackageManager::Rpm
        )
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    /// The version as the package manager prints it: dpkg `[epoch:]upstream[-revision]`,
    /// apk `1.2.3-r0`, rpm `[epoch:]version-release`.
    pub version: String,
    /// The OSV ecosystem the package belongs to (`Debian:12`), or the bare package
    /// manager name when the distribution is unknown.
    pub ecosystem: String,
    pub purl: String,
    pub package_manager: PackageManager,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Source package (dpkg `Source`, apk origin, rpm source rpm name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// rpm only: the parts of the EVR, kept apart for exact matching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Database file the package was read from, relative to the target root.
    pub found_in: String,
    /// Number of files the package owns.
    pub file_count: usize,
    /// Files the package owns (absolute paths inside the target). Filled always;
    /// written to JSON only with `--with-files`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub files: Vec<String>,
}

/// Everything a scan found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub schema_version: String,
    pub target: Target,
    pub os: Option<OsInfo>,
    pub packages: Vec<Package>,
    /// Problems that did not stop the scan (a broken stanza, a skipped tar entry),
    /// each naming the file it concerns.
    pub warnings: Vec<String>,
    /// The advisory database used, when vulnerabilities were matched.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub database: Option<DatabaseInfo>,
    /// Vulnerabilities found, when an advisory database was used.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub findings: Option<Vec<Finding>>,
    /// One upgrade per vulnerable package that has a fix: the version that fixes all
    /// of its fixable findings, and the command.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fixes: Option<Vec<PackageFix>>,
    /// What running processes were seen to load, when `--in-use` was asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub in_use: Option<InUseSummary>,
    /// The target's risk: the findings' risk scores summed up.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub risk: Option<RiskSummary>,
}

/// Whether a package's code is loaded by a running process.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum InUse {
    /// A process maps, executes or has opened one of the package's files.
    Yes,
    /// Processes were examined and none uses the package.
    No,
    /// No evidence could exist: an image that is not running, or `--in-use` not asked for.
    #[default]
    Unknown,
}

impl InUse {
    pub fn as_str(self) -> &'static str {
        match self {
            InUse::Yes => "yes",
            InUse::No => "no",
            InUse::Unknown => "unknown",
        }
    }
}

/// One process seen using one of a package's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseEvidence {
    pub pid: u32,
    pub command: String,
    /// `docker:3f4e1c9d2b7a`, or absent for host processes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub container: Option<String>,
    /// The file, inside the target.
    pub file: String,
    /// `exec`, `mapped` or `opened`.
    pub access: String,
    /// RFC 3339 times the use was first and last seen.
    pub first_seen: String,
    pub last_seen: String,
}

/// What `--in-use` examined and what it changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InUseSummary {
    /// `proc-snapshot`, and `fanotify` when files opened over a period were recorded.
    pub sources: Vec<String>,
    /// Processes whose files were matched against this target.
    pub processes: usize,
    pub packages_in_use: usize,
    pub findings: usize,
    pub findings_in_use: usize,
    /// Findings not in loaded packages, as a share of all findings (0–100).
    pub reduction_percent: f64,
    /// Limits of the evidence (unreadable processes, dropped events, other roots).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
    /// The packages loaded, each with a few of the processes that show it.
    pub packages: Vec<PackageInUse>,
}

/// One package that running processes have loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageInUse {
    pub name: String,
    pub version: String,
    pub purl: String,
    pub evidence: Vec<UseEvidence>,
}

/// A target's risk, from its findings' scores (docs/findings.md has the formula).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskSummary {
    /// The highest finding score (0–100).
    pub max: f64,
    /// The sum of all finding scores: grows with the number of serious findings.
    pub total: f64,
    /// The sum over findings in loaded packages only.
    pub in_use_total: f64,
}

/// The upgrade that fixes everything fixable in one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageFix {
    pub name: String,
    pub version: String,
    pub ecosystem: String,
    pub fixed_version: String,
    pub command: String,
    /// Ids of the findings it fixes.
    pub fixes: Vec<String>,
}

/// How a finding can be fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixState {
    /// A fixed version exists.
    Fixed,
    /// The advisory names no fixed version yet.
    Unfixed,
    /// The distribution decided not to fix it (won't fix, ignored, end of life).
    WontFix,
}

/// Qualitative severity, the scale every source is mapped onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_uppercase().as_str() {
            "UNKNOWN" => Severity::Unknown,
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => return None,
        })
    }
}

/// The CVSS vector a finding's score comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    pub version: String,
    pub vector: String,
    pub score: f64,
    pub rating: String,
}

/// CISA Known Exploited Vulnerabilities facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KevInfo {
    pub cve: String,
    pub date_added: String,
    pub known_ransomware_use: bool,
    pub due_date: String,
}

/// FIRST EPSS probability of exploitation in the next 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpssInfo {
    pub cve_score: f64,
    pub percentile: f64,
}

/// The package a finding is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingPackage {
    pub name: String,
    pub version: String,
    pub ecosystem: String,
    pub purl: String,
    /// The name the advisory lists (the source package for OS packages, when it
    /// matched on that) and the version compared against it.
    pub matched_name: String,
    pub matched_version: String,
}

/// One vulnerability in one package, with every advisory id that describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The primary id: the first CVE among the merged ids, else the first record id.
    pub id: String,
    /// All other ids of the same vulnerability (record ids and their aliases).
    pub aliases: Vec<String>,
    /// Ids of the advisory records that matched.
    pub records: Vec<String>,
    pub package: FindingPackage,
    pub severity: Severity,
    /// Where `severity` came from: `cvss`, `vendor`, or `none`.
    pub severity_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss: Option<CvssScore>,
    /// The distribution's or database's own rating, verbatim (`Important`, `medium`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_severity: Option<String>,
    pub fix_state: FixState,
    /// Versions that fix it, lowest first.
    pub fixed_versions: Vec<String>,
    /// The command that applies the fix with the target's package manager.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kev: Option<KevInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epss: Option<EpssInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub references: Vec<String>,
    /// Whether the package is loaded by a running process (`--in-use`).
    #[serde(default)]
    pub in_use: InUse,
    /// The processes and files that show it (a few, not all).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub in_use_evidence: Vec<UseEvidence>,
    /// Whether the target's own configured repositories offer a fixed version, when
    /// their index caches were found (`None`: no index to tell).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fix_available: Option<bool>,
    /// The highest version those repositories offer, when it fixes this finding.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub available_version: Option<String>,
    /// Priority score 0–100 combining severity, exploitation (KEV, EPSS), in-use and
    /// fix availability; findings sort on it.
    #[serde(default)]
    pub risk: f64,
}

/// The advisory database a scan used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    pub path: String,
    pub updated_at: Option<String>,
    pub age_hours: Option<f64>,
    /// Older than the staleness limit (`--db-max-age`).
    pub stale: bool,
    pub records: u64,
}
