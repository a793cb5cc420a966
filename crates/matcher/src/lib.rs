//! Decides which advisories affect which packages, and turns the hits into findings.
//!
//! Owns: OSV range evaluation with each ecosystem's exact ordering, the OS-package
//! rules (source package first, binary name too, only the distribution's own
//! ecosystem — so a backported fix is never reported as missing), alias merging,
//! severity precedence, fix versions and commands, `--explain`. Must not: read
//! targets, open files (advisories come through the [`Advisories`] trait), or print.

pub mod availability;
mod fix;
pub mod in_use;
mod range;
pub mod risk;
mod severity;

pub use range::{evaluate, Outcome, Trace};
pub use severity::{best_cvss, decide, vendor_to_severity};

use postwatch_advisory::osv::{Affected, Record};
use postwatch_advisory::store::{normalize_name, EpssEntry, KevEntry, Store};
use postwatch_advisory::AdvisoryError;
use postwatch_model::{EpssInfo, Finding, FindingPackage, FixState, InUse, KevInfo, Package};
use postwatch_version::{compare, Ecosystem};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where advisories come from: the on-disk [`Store`], or memory in tests.
pub trait Advisories {
    fn lookup(&self, ecosystem: &str, name: &str) -> Result<Vec<Record>, AdvisoryError>;
    fn kev(&self, cve: &str) -> Result<Option<KevEntry>, AdvisoryError>;
    fn epss(&self, cve: &str) -> Result<Option<EpssEntry>, AdvisoryError>;
}

impl Advisories for Store {
    fn lookup(&self, ecosystem: &str, name: &str) -> Result<Vec<Record>, AdvisoryError> {
        Store::lookup(self, ecosystem, name)
    }
    fn kev(&self, cve: &str) -> Result<Option<KevEntry>, AdvisoryError> {
        Store::kev(self, cve)
    }
    fn epss(&self, cve: &str) -> Result<Option<EpssEntry>, AdvisoryError> {
        Store::epss(self, cve)
    }
}

/// Advisories held in memory (tests, one-off record files).
#[derive(Default)]
pub struct MemoryAdvisories {
    pub records: Vec<Record>,
    pub kev: HashMap<String, KevEntry>,
    pub epss: HashMap<String, EpssEntry>,
}

impl Advisories for MemoryAdvisories {
    fn lookup(&self, ecosystem: &str, name: &str) -> Result<Vec<Record>, AdvisoryError> {
        let wanted = normalize_name(ecosystem, name);
        Ok(self
            .records
            .iter()
            .filter(|r| r.withdrawn.is_none())
            .filter(|r| {
                r.affected.iter().any(|a| {
                    a.package.ecosystem == ecosystem
                        && normalize_name(ecosystem, &a.package.name) == wanted
                })
            })
            .cloned()
            .collect())
    }
    fn kev(&self, cve: &str) -> Result<Option<KevEntry>, AdvisoryError> {
        Ok(self.kev.get(cve).cloned())
    }
    fn epss(&self, cve: &str) -> Result<Option<EpssEntry>, AdvisoryError> {
        Ok(self.epss.get(cve).copied())
    }
}

/// Findings for a set of packages, and what could not be evaluated.
#[derive(Debug, Default)]
pub struct MatchReport {
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
}

/// The (name, version) pairs a package is looked up by: for OS packages the source
/// package first, then the binary name when it differs.
fn lookup_keys(p: &Package) -> Vec<(String, String)> {
    let mut keys = Vec::with_capacity(2);
    if p.package_manager.is_os() {
        if let (Some(n), Some(v)) = (&p.source_name, &p.source_version) {
            keys.push((n.clone(), v.clone()));
        }
    }
    if !keys.iter().any(|(n, _)| *n == p.name) {
        keys.push((p.name.clone(), p.version.clone()));
    }
    keys
}

/// The `affected` entries of a record that are about this ecosystem and name.
fn entries_for<'r>(record: &'r Record, ecosystem: &str, name: &str) -> Vec<&'r Affected> {
    let wanted = normalize_name(ecosystem, name);
    record
        .affected
        .iter()
        .filter(|a| {
            a.package.ecosystem == ecosystem && normalize_name(ecosystem, &a.package.name) == wanted
        })
        .collect()
}

/// Markers distributions use for "will not be fixed", found in `database_specific`
/// or `ecosystem_specific` string values.
const WONT_FIX_MARKERS: &[&str] = &[
    "will_not_fix",
    "wont-fix",
    "wont_fix",
    "won't fix",
    "ignored",
    "end-of-life",
    "end_of_life",
];

fn says_wont_fix(record: &Record, affected: &Affected) -> bool {
    [
        &record.database_specific,
        &affected.database_specific,
        &affected.ecosystem_specific,
    ]
    .into_iter()
    .flatten()
    .filter_map(|v| v.as_object())
    .flat_map(|o| o.values())
    .filter_map(|v| v.as_str())
    .any(|s| WONT_FIX_MARKERS.contains(&s.to_ascii_lowercase().as_str()))
}

struct Hit {
    record: Record,
    matched_name: String,
    matched_version: String,
    fixed: Vec<String>,
    wont_fix: bool,
}

/// Matches every package against the advisories.
pub fn match_packages(
    packages: &[Package],
    db: &dyn Advisories,
) -> Result<MatchReport, AdvisoryError> {
    let mut report = MatchReport::default();
    let mut unknown_ecosystems = BTreeSet::new();
    for package in packages {
        let Some(ecosystem) = Ecosystem::from_osv(&package.ecosystem) else {
            unknown_ecosystems.insert(package.ecosystem.clone());
            continue;
        };
        let hits = hits_for(
            package,
            ecosystem,
            db,
            &mut report.warnings,
            &mut Trace(None),
        )?;
        report
            .findings
            .extend(findings_for(package, ecosystem, hits, db)?);
    }
    for eco in unknown_ecosystems {
        report.warnings.push(format!(
            "packages in ecosystem {eco:?} were not matched: postwatch has no advisory ordering for it (unknown distribution?)"
        ));
    }
    risk::rescore_and_sort(&mut report.findings);
    Ok(report)
}

fn hits_for(
    package: &Package,
    ecosystem: Ecosystem,
    db: &dyn Advisories,
    warnings: &mut Vec<String>,
    trace: &mut Trace<'_>,
) -> Result<Vec<Hit>, AdvisoryError> {
    let mut hits: Vec<Hit> = Vec::new();
    for (name, version) in lookup_keys(package) {
        for record in db.lookup(&package.ecosystem, &name)? {
            if hits.iter().any(|h| h.record.id == record.id) {
                continue;
            }
            let mut fixed = Vec::new();
            let mut affected = false;
            let mut wont_fix = false;
            for entry in entries_for(&record, &package.ecosystem, &name) {
                trace.line(|| {
                    format!(
                        "  {} affects {} {name} — comparing {version}:",
                        record.id, package.ecosystem
                    )
                });
                let outcome = evaluate(entry, ecosystem, &version, trace);
                for e in &outcome.errors {
                    warnings.push(format!(
                        "{}: {} {}: {e}",
                        record.id, package.ecosystem, name
                    ));
                }
                if outcome.affected {
                    affected = true;
                    fixed.extend(outcome.fixed);
                    wont_fix |= says_wont_fix(&record, entry);
                }
            }
            trace.line(|| {
                format!(
                    "  => {} {} {name} {version}",
                    record.id,
                    if affected {
                        "AFFECTS"
                    } else {
                        "does not affect"
                    }
                )
            });
            if affected {
                hits.push(Hit {
                    record,
                    matched_name: name.clone(),
                    matched_version: version.clone(),
                    fixed,
                    wont_fix,
                });
            }
        }
    }
    Ok(hits)
}

/// Groups hits whose ids or aliases overlap: one finding per vulnerability.
fn group_by_alias(hits: &[Hit]) -> Vec<Vec<usize>> {
    let mut owner: HashMap<&str, usize> = HashMap::new();
    let mut parent: Vec<usize> = (0..hits.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, hit) in hits.iter().enumerate() {
        for id in std::iter::once(&hit.record.id)
            .chain(&hit.record.aliases)
            .chain(&hit.record.upstream)
        {
            match owner.get(id.as_str()) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a] = b;
                }
                None => {
                    owner.insert(id, i);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..hits.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups.into_values().collect()
}

fn findings_for(
    package: &Package,
    ecosystem: Ecosystem,
    hits: Vec<Hit>,
    db: &dyn Advisories,
) -> Result<Vec<Finding>, AdvisoryError> {
    let mut out = Vec::new();
    for group in group_by_alias(&hits) {
        let members: Vec<&Hit> = group.iter().map(|&i| &hits[i]).collect();
        let records: Vec<&Record> = members.iter().map(|h| &h.record).collect();
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for r in &records {
            ids.insert(r.id.clone());
            ids.extend(r.aliases.iter().cloned());
            ids.extend(r.upstream.iter().cloned());
        }
        let record_ids: Vec<String> = records
            .iter()
            .map(|r| r.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let primary = ids
            .iter()
            .find(|id| id.starts_with("CVE-"))
            .cloned()
            .unwrap_or_else(|| record_ids[0].clone());
        let aliases: Vec<String> = ids.into_iter().filter(|id| *id != primary).collect();
        let mut fixed: Vec<String> = members
            .iter()
            .flat_map(|h| h.fixed.iter().cloned())
            .collect();
        fixed.sort_by(|a, b| compare(ecosystem, a, b).unwrap_or(Ordering::Equal));
        fixed.dedup();
        let fix_state = if !fixed.is_empty() {
            FixState::Fixed
        } else if members.iter().any(|h| h.wont_fix) {
            FixState::WontFix
        } else {
            FixState::Unfixed
        };
        let first = members[0];
        let cvss = best_cvss(&records);
        let vendor_severity = records.iter().find_map(|r| r.vendor_severity());
        let (severity, source) = decide(
            package.package_manager.is_os(),
            cvss.as_ref(),
            vendor_severity.as_deref(),
        );
        let cves: BTreeSet<String> = records.iter().flat_map(|r| r.cve_ids()).collect();
        let mut kev = None;
        let mut epss: Option<EpssInfo> = None;
        for cve in &cves {
            if kev.is_none() {
                kev = db.kev(cve)?.map(|k| KevInfo {
                    cve: k.cve,
                    date_added: k.date_added,
                    known_ransomware_use: k.known_ransomware_use,
                    due_date: k.due_date,
                });
            }
            if let Some(e) = db.epss(cve)? {
                if epss.is_none_or(|cur| e.score > cur.cve_score) {
                    epss = Some(EpssInfo {
                        cve_score: e.score,
                        percentile: e.percentile,
                    });
                }
            }
        }
        let summary = records.iter().find_map(|r| {
            r.summary.clone().filter(|s| !s.is_empty()).or_else(|| {
                r.details.as_deref().map(|d| {
                    d.lines()
                        .next()
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect()
                })
            })
        });
        let mut references: Vec<String> = Vec::new();
        for r in &records {
            for reference in &r.references {
                if !references.contains(&reference.url) && references.len() < 10 {
                    references.push(reference.url.clone());
                }
            }
        }
        out.push(Finding {
            id: primary,
            aliases,
            records: record_ids,
            package: FindingPackage {
                name: package.name.clone(),
                version: package.version.clone(),
                ecosystem: package.ecosystem.clone(),
                purl: package.purl.clone(),
                matched_name: first.matched_name.clone(),
                matched_version: first.matched_version.clone(),
            },
            severity,
            severity_source: source.to_owned(),
            cvss,
            vendor_severity,
            fix_state,
            fix_command: fixed
                .last()
                .map(|f| fix::command(package.package_manager, &package.name, f)),
            fixed_versions: fixed,
            kev,
            epss,
            summary,
            references,
            in_use: InUse::Unknown,
            in_use_evidence: Vec::new(),
            fix_available: None,
            available_version: None,
            risk: 0.0,
        });
    }
    Ok(out)
}

/// Why each package is or is not affected by `id` (a record id or an alias): every
/// range evaluated and every comparison made.
pub fn explain(
    id: &str,
    packages: &[Package],
    db: &dyn Advisories,
) -> Result<String, AdvisoryError> {
    let mut lines = Vec::new();
    let names = |r: &Record| {
        std::iter::once(&r.id)
            .chain(&r.aliases)
            .chain(&r.upstream)
            .chain(&r.related)
            .any(|a| a == id)
    };
    for package in packages {
        let Some(ecosystem) = Ecosystem::from_osv(&package.ecosystem) else {
            continue;
        };
        let mut steps = Vec::new();
        let mut relevant = false;
        for (name, version) in lookup_keys(package) {
            for record in db
                .lookup(&package.ecosystem, &name)?
                .into_iter()
                .filter(|r| names(r))
            {
                relevant = true;
                steps.push(format!(
                    "  {} ({}) lists {} {name}; comparing {version}:",
                    record.id, record.modified, package.ecosystem
                ));
                for entry in entries_for(&record, &package.ecosystem, &name) {
                    evaluate(entry, ecosystem, &version, &mut Trace(Some(&mut steps)));
                }
            }
        }
        if relevant {
            let mut warnings = Vec::new();
            let hits = hits_for(package, ecosystem, db, &mut warnings, &mut Trace(None))?;
            let verdict = if hits.iter().any(|h| names(&h.record)) {
                "AFFECTED"
            } else {
                "not affected"
            };
            lines.push(format!(
                "{} {} ({}): {verdict}",
                package.name, package.version, package.ecosystem
            ));
            lines.extend(steps);
        }
    }
    if lines.is_empty() {
        lines.push(format!(
            "{id}: no advisory with this id or alias names a package of this target in its ecosystem, so nothing here is affected by it"
        ));
    }
    Ok(lines.join("\n") + "\n")
}

/// One upgrade per package: the highest fixed version among its fixable findings.
pub fn package_fixes(
    packages: &[Package],
    findings: &[Finding],
) -> Vec<postwatch_model::PackageFix> {
    let mut out: Vec<postwatch_model::PackageFix> = Vec::new();
    for package in packages {
        let Some(ecosystem) = Ecosystem::from_osv(&package.ecosystem) else {
            continue;
        };
        let mine: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.package.purl == package.purl && f.fix_state == FixState::Fixed)
            .collect();
        let best = mine
            .iter()
            .filter_map(|f| f.fixed_versions.last())
            .max_by(|a, b| compare(ecosystem, a, b).unwrap_or(Ordering::Equal));
        if let Some(fixed) = best {
            out.push(postwatch_model::PackageFix {
                name: package.name.clone(),
                version: package.version.clone(),
                ecosystem: package.ecosystem.clone(),
                fixed_version: fixed.clone(),
                command: fix::command(package.package_manager, &package.name, fixed),
                fixes: mine.iter().map(|f| f.id.clone()).collect(),
            });
        }
    }
    out
}
