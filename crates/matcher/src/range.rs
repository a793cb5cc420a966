//! OSV `affected` evaluation: `ranges` (ECOSYSTEM and SEMVER) with `introduced`,
//! `fixed`, `last_affected` and `limit`, and explicit `versions` lists, following the
//! algorithm in the OSV schema's "Evaluation" section. Every comparison can be
//! recorded for `--explain`.

use postwatch_advisory::osv::{Affected, Event, Range};
use postwatch_version::{compare, Ecosystem};
use std::cmp::Ordering;

/// The outcome of one `affected` entry for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub affected: bool,
    /// `fixed` events above the version in the range(s) that affect it.
    pub fixed: Vec<String>,
    /// Comparisons that could not be made (an invalid version in the record).
    pub errors: Vec<String>,
}

/// Writes explanation lines when asked to.
pub struct Trace<'a>(pub Option<&'a mut Vec<String>>);

impl Trace<'_> {
    pub fn line(&mut self, f: impl FnOnce() -> String) {
        if let Some(lines) = self.0.as_mut() {
            lines.push(f());
        }
    }
}

/// The ordering a range uses: SEMVER ranges are SemVer 2.0 whatever the ecosystem.
fn ordering_for(range: &Range, ecosystem: Ecosystem) -> Option<Ecosystem> {
    match range.kind.as_str() {
        "ECOSYSTEM" => Some(ecosystem),
        "SEMVER" => Some(Ecosystem::Cargo),
        _ => None,
    }
}

/// SEMVER ranges carry no `v`; Go versions in inventories do.
fn for_semver(range: &Range, v: &str) -> String {
    if range.kind == "SEMVER" {
        v.strip_prefix('v').unwrap_or(v).to_owned()
    } else {
        v.to_owned()
    }
}

fn symbol(o: Ordering) -> &'static str {
    match o {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    }
}

/// Evaluates one `affected` entry against `version`.
pub fn evaluate(
    affected: &Affected,
    ecosystem: Ecosystem,
    version: &str,
    trace: &mut Trace<'_>,
) -> Outcome {
    let mut outcome = Outcome {
        affected: false,
        fixed: Vec::new(),
        errors: Vec::new(),
    };
    if affected.versions.iter().any(|v| v == version) {
        trace.line(|| format!("    {version} is listed in `versions`: affected"));
        outcome.affected = true;
    } else if !affected.versions.is_empty() {
        trace.line(|| {
            format!(
                "    {version} is not among the {} listed `versions`",
                affected.versions.len()
            )
        });
    }
    for (index, range) in affected.ranges.iter().enumerate() {
        let Some(ordering) = ordering_for(range, ecosystem) else {
            trace.line(|| {
                format!(
                    "    range {} ({}): not evaluated for packages",
                    index + 1,
                    range.kind
                )
            });
            continue;
        };
        trace.line(|| {
            format!(
                "    range {} ({}), {} ordering:",
                index + 1,
                range.kind,
                ordering.name()
            )
        });
        match evaluate_range(range, ordering, &for_semver(range, version), trace) {
            Ok((hit, fixed)) => {
                if hit {
                    outcome.affected = true;
                    outcome.fixed.extend(fixed);
                } else if outcome.affected && !fixed.is_empty() {
                    // Listed in `versions` and fixed by this range: keep the fix.
                    outcome.fixed.extend(fixed);
                }
            }
            Err(e) => {
                trace.line(|| format!("      cannot compare: {e}"));
                outcome.errors.push(e);
            }
        }
    }
    outcome
        .fixed
        .sort_by(|a, b| compare(ecosystem, a, b).unwrap_or(Ordering::Equal));
    outcome.fixed.dedup();
    outcome
}

fn event_version(e: &Event) -> (&'static str, &str) {
    if let Some(v) = &e.introduced {
        ("introduced", v)
    } else if let Some(v) = &e.fixed {
        ("fixed", v)
    } else if let Some(v) = &e.last_affected {
        ("last_affected", v)
    } else if let Some(v) = &e.limit {
        ("limit", v)
    } else {
        ("unknown", "")
    }
}

/// Returns whether `version` is inside the range, and the `fixed` versions above it.
fn evaluate_range(
    range: &Range,
    ecosystem: Ecosystem,
    version: &str,
    trace: &mut Trace<'_>,
) -> Result<(bool, Vec<String>), String> {
    postwatch_version::validate(ecosystem, version).map_err(|e| e.to_string())?;
    let mut events: Vec<(&'static str, String)> = Vec::with_capacity(range.events.len());
    for e in &range.events {
        let (kind, v) = event_version(e);
        if kind == "unknown" {
            continue;
        }
        let v = for_semver(range, v);
        if !(kind == "introduced" && v == "0") {
            postwatch_version::validate(ecosystem, &v).map_err(|e| e.to_string())?;
        }
        events.push((kind, v));
    }
    // Sorted by version ("0" lowest); at equal versions introduced comes first.
    let rank = |k: &str| if k == "introduced" { 0 } else { 1 };
    events.sort_by(|(ka, a), (kb, b)| {
        let by_version = match (a.as_str(), b.as_str()) {
            ("0", "0") => Ordering::Equal,
            ("0", _) => Ordering::Less,
            (_, "0") => Ordering::Greater,
            _ => compare(ecosystem, a, b).unwrap_or(Ordering::Equal),
        };
        by_version.then(rank(ka).cmp(&rank(kb)))
    });
    let mut vulnerable = false;
    let mut fixed_above = Vec::new();
    for (kind, v) in &events {
        let cmp = if v == "0" {
            Ordering::Greater
        } else {
            compare(ecosystem, version, v).map_err(|e| e.to_string())?
        };
        let before = vulnerable;
        match *kind {
            "introduced" if cmp != Ordering::Less => vulnerable = true,
            "fixed" if cmp != Ordering::Less => vulnerable = false,
            "last_affected" if cmp == Ordering::Greater => vulnerable = false,
            "limit" if cmp != Ordering::Less => vulnerable = false,
            _ => {}
        }
        if *kind == "fixed" && cmp == Ordering::Less {
            fixed_above.push(v.clone());
        }
        trace.line(|| {
            let shown = if v == "0" {
                "0 (the beginning)"
            } else {
                v.as_str()
            };
            format!(
                "      {kind} {shown}: {version} {} {shown} -> {}{}",
                if v == "0" { ">" } else { symbol(cmp) },
                if vulnerable {
                    "affected"
                } else {
                    "not affected"
                },
                if before != vulnerable {
                    " (changed)"
                } else {
                    ""
                }
            )
        });
    }
    // Only the first fix above an affected version is its fix in this range.
    let fixed = if vulnerable {
        fixed_above.into_iter().take(1).collect()
    } else {
        Vec::new()
    };
    Ok((vulnerable, fixed))
}
