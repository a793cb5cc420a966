//! Marking findings with what running processes were seen to load.

use postwatch_model::{Finding, InUse, InUseSummary, UseEvidence};
use std::collections::HashMap;

/// Marks each finding `yes` (with the package's evidence) or `no` from what was
/// observed, and returns the observation completed with the findings' counts.
/// Packages are matched by PURL: two copies of one package count as one.
pub fn apply_in_use(findings: &mut [Finding], observed: &InUseSummary) -> InUseSummary {
    let mut by_purl: HashMap<&str, Vec<&UseEvidence>> = HashMap::new();
    for p in &observed.packages {
        by_purl.entry(&p.purl).or_default().extend(&p.evidence);
    }
    for f in findings.iter_mut() {
        match by_purl.get(f.package.purl.as_str()) {
            Some(evidence) => {
                f.in_use = InUse::Yes;
                f.in_use_evidence = evidence
                    .iter()
                    .take(MAX_EVIDENCE)
                    .map(|e| (*e).clone())
                    .collect();
            }
            None => f.in_use = InUse::No,
        }
    }
    let in_use = findings.iter().filter(|f| f.in_use == InUse::Yes).count();
    let reduction = if findings.is_empty() {
        0.0
    } else {
        ((findings.len() - in_use) as f64 * 1000.0 / findings.len() as f64).round() / 10.0
    };
    InUseSummary {
        findings: findings.len(),
        findings_in_use: in_use,
        reduction_percent: reduction,
        ..observed.clone()
    }
}

/// Most evidence entries a finding carries.
pub const MAX_EVIDENCE: usize = 5;
