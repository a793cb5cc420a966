//! What the store's queries take and return. Every result serializes to the JSON the
//! server answers with; times are RFC 3339 strings in UTC, days `YYYY-MM-DD`.

use postwatch_model::fleet::{AssetKind, ContainerFacts, HostFacts};
use postwatch_model::{Finding, InUse, InUseSummary, OsInfo, Package, Severity, Target};
use serde::{Deserialize, Serialize};

/// Row id of an asset.
pub type AssetId = i64;

/// Who a secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Principal {
    /// A user API token (`pwu_`), by the name it was created with.
    User { name: String },
    /// An enrolled agent (`pwa_`).
    Agent { agent_id: String, hostname: String },
    /// The fleet's enrolment token (`pwe_`): may only enrol.
    Enrolment,
}

/// One credential, without its secret (for listing and revoking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    /// `user`, `agent` or `enrolment`.
    pub kind: String,
    /// Token name, or the agent's hostname.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent_id: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub revoked_at: Option<String>,
}

/// An asset's current inventory, as its reports built it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInventory {
    pub asset_id: AssetId,
    /// The report the inventory is as of (a delta's `base` must name it).
    pub report_id: Option<String>,
    /// From the last full inventory.
    pub target: Option<Target>,
    pub os: Option<OsInfo>,
    /// Ordered by [`postwatch_model::fleet::package_key`].
    pub packages: Vec<Package>,
    pub in_use: Option<InUseSummary>,
}

/// What [`crate::Store::replace_findings`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingChanges {
    /// Keys never seen on the asset before.
    pub new: u64,
    /// Open keys that are gone now.
    pub resolved: u64,
    /// Resolved keys that are back.
    pub reopened: u64,
    /// Open findings after the call.
    pub open: u64,
}

/// Order of [`crate::Store::assets`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssetSort {
    /// Highest risk first (max, then total), then name.
    #[default]
    Risk,
    Name,
    /// Most recently seen first.
    LastSeen,
}

/// Which assets [`crate::Store::assets`] lists. `Default` lists all, riskiest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssetFilter {
    pub kind: Option<AssetKind>,
    /// Substring of the name (ASCII letters match either case).
    pub name_contains: Option<String>,
    /// Containers (and anything else) on this host.
    pub host: Option<String>,
    /// Exact OS label, as [`FleetSummary::hosts_by_os`] names it.
    pub os: Option<String>,
    pub sort: AssetSort,
    /// Default and maximum 10,000.
    pub limit: Option<u32>,
    pub offset: u64,
}

/// Open findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub unknown: u64,
    pub total: u64,
}

/// One asset and its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetSummary {
    pub id: AssetId,
    pub kind: AssetKind,
    pub name: String,
    pub host: Option<String>,
    pub image_digest: Option<String>,
    /// The agent that sent the latest report, when an agent did.
    pub agent_id: Option<String>,
    pub facts: Option<HostFacts>,
    /// For a container: what its runtime says about it (name, labels).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub container: Option<ContainerFacts>,
    pub os: Option<OsInfo>,
    /// The OS label used for grouping (pretty name, else `id version`).
    pub os_label: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub last_report_id: Option<String>,
    /// The latest report's own `taken_at`, verbatim.
    pub taken_at: Option<String>,
    pub packages: u64,
    pub open_findings: SeverityCounts,
    pub open_kev: u64,
    /// Open findings in packages a process was seen using.
    pub open_in_use: u64,
    pub open_fixable: u64,
    /// Packages in use, when the latest report carried in-use evidence.
    pub in_use_packages: Option<u64>,
    pub risk_max: f64,
    pub risk_total: f64,
    /// When findings were last computed for the asset; `None`: never.
    pub findings_evaluated_at: Option<String>,
}

/// Which findings [`crate::Store::findings`] returns. `Default`: all open findings,
/// riskiest first, the first 1,000.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindingFilter {
    pub asset: Option<AssetId>,
    /// Any of these severities; empty means any.
    pub severity: Vec<Severity>,
    pub in_use: Option<InUse>,
    /// Only findings listed (or not) in CISA KEV.
    pub kev: Option<bool>,
    /// Only findings with (or without) a fixed version (`fix_state: fixed`).
    pub fixable: Option<bool>,
    /// Exact package name.
    pub package: Option<String>,
    /// Exact ecosystem (`Debian:12`, `PyPI`).
    pub ecosystem: Option<String>,
    /// Exact primary vulnerability id (`CVE-2024-1234`).
    pub vuln_id: Option<String>,
    /// Also resolved findings.
    pub include_resolved: bool,
    /// Default 1,000, maximum 10,000.
    pub limit: Option<u32>,
    pub offset: u64,
}

/// A finding on an asset, with its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFinding {
    pub asset_id: AssetId,
    pub asset_name: String,
    pub asset_kind: AssetKind,
    pub finding: Finding,
    pub first_seen: String,
    /// The last replace_findings that still listed it.
    pub last_seen: String,
    pub resolved_at: Option<String>,
}

/// Counts split by in-use state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InUseCounts {
    pub yes: u64,
    pub no: u64,
    pub unknown: u64,
    pub total: u64,
}

impl InUseCounts {
    pub(crate) fn add(&mut self, in_use: InUse, n: u64) {
        match in_use {
            InUse::Yes => self.yes += n,
            InUse::No => self.no += n,
            InUse::Unknown => self.unknown += n,
        }
        self.total += n;
    }
}

/// Open findings by severity × in-use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityMatrix {
    pub critical: InUseCounts,
    pub high: InUseCounts,
    pub medium: InUseCounts,
    pub low: InUseCounts,
    pub unknown: InUseCounts,
    pub total: InUseCounts,
}

impl SeverityMatrix {
    pub(crate) fn add(&mut self, severity: Severity, in_use: InUse, n: u64) {
        let row = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Unknown => &mut self.unknown,
        };
        row.add(in_use, n);
        self.total.add(in_use, n);
    }
}

/// Assets by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    pub host: u64,
    pub image: u64,
    pub container: u64,
    pub total: u64,
}

/// A group and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCount {
    pub label: String,
    pub count: u64,
}

/// A package with open findings across the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnerablePackage {
    pub name: String,
    pub ecosystem: String,
    /// Assets with at least one open finding in it.
    pub assets: u64,
    pub open_findings: u64,
    pub worst_severity: Severity,
    /// Sum of the open findings' risk scores: what the list is sorted on.
    pub risk_total: f64,
}

/// An asset and its open-finding figures, for the summary's top lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetRisk {
    pub id: AssetId,
    pub kind: AssetKind,
    pub name: String,
    pub host: Option<String>,
    pub image_digest: Option<String>,
    pub open_findings: SeverityCounts,
    pub open_kev: u64,
    pub open_in_use: u64,
    pub risk_max: f64,
    pub risk_total: f64,
}

/// The fleet at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSummary {
    /// Open findings by severity × in-use, over all assets.
    pub findings: SeverityMatrix,
    pub assets_by_kind: KindCounts,
    /// Hosts by OS label, largest group first.
    pub hosts_by_os: Vec<LabelCount>,
    /// Hosts by hardware class (`2 cores / 4-8 GiB`), largest group first.
    pub hosts_by_hardware: Vec<LabelCount>,
    /// Top 20 packages by summed risk of their open findings.
    pub top_packages: Vec<VulnerablePackage>,
    /// Top 20 images by max risk, then critical count.
    pub most_severe_images: Vec<AssetRisk>,
    /// Top 20 hosts by number of open findings, then max risk.
    pub hosts_by_threats: Vec<AssetRisk>,
}

/// Open findings of one severity × in-use × fixable cell on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyCount {
    pub severity: Severity,
    pub in_use: InUse,
    pub fixable: bool,
    pub count: u64,
}

/// One day of history: each asset's latest snapshot on or before the day (carried
/// forward until its findings are computed again or it is deleted), summed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPoint {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Assets counted that day (with a snapshot that day or carried).
    pub assets: u64,
    /// Non-zero cells only.
    pub counts: Vec<DailyCount>,
    /// Sum of `counts`.
    pub open: u64,
    /// Findings first seen that day (events, never carried).
    pub new: u64,
    pub resolved: u64,
    pub reopened: u64,
    /// Sum of the open findings' risk scores (`RiskSummary::total` per asset, summed).
    #[serde(default)]
    pub risk: f64,
    /// The same over findings in use (`RiskSummary::in_use_total`).
    #[serde(default)]
    pub risk_in_use: f64,
}

/// One asset's copy of a package, from [`crate::Store::package_assets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageOnAsset {
    pub asset_id: AssetId,
    pub asset_kind: AssetKind,
    pub asset_name: String,
    pub version: String,
    pub ecosystem: String,
    pub purl: String,
    pub found_in: String,
}
