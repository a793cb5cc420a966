//! The risk score: one number per finding that orders what to fix first.
//!
//! ```text
//! risk = 10 × impact × exploitation × use × actionability        (0–100, one decimal)
//!
//! impact        CVSS base score (0–10); without one, the severity's typical score:
//!               CRITICAL 9.5, HIGH 7.5, MEDIUM 5.0, LOW 2.5, UNKNOWN 5.0
//! exploitation  1.0 when in CISA KEV (exploited in the wild), else 0.4 + 0.6 × EPSS
//!               (EPSS: probability of exploitation in the next 30 days; 0 when unknown)
//! use           1.0 loaded by a running process, 0.6 unknown, 0.2 not loaded
//! actionability 1.0 fix offered by the target's repositories, 0.9 fixed version
//!               published (availability unknown), 0.8 fixed upstream but not yet in
//!               the target's repositories, 0.7 no fix yet
//! ```
//!
//! Why these weights: exploitation evidence moves a finding more than severity does
//! (a KEV entry is certain, EPSS is a forecast), so a known-exploited MEDIUM outranks an
//! unexploited HIGH. Code that is not loaded cannot be attacked through a running
//! process, but it is not harmless (it may be loaded tomorrow), hence 0.2 rather than
//! 0. Actionability only nudges: a finding you can fix today comes before an equal one
//! you cannot. The same formula is in docs/findings.md.

use postwatch_model::{Finding, FixState, InUse, RiskSummary, Severity};

/// The score of one finding (0–100).
pub fn score(f: &Finding) -> f64 {
    let impact = match &f.cvss {
        Some(c) if c.score > 0.0 => c.score.min(10.0),
        _ => match f.severity {
            Severity::Critical => 9.5,
            Severity::High => 7.5,
            Severity::Medium => 5.0,
            Severity::Low => 2.5,
            Severity::Unknown => 5.0,
        },
    };
    let exploitation = if f.kev.is_some() {
        1.0
    } else {
        let epss = f.epss.map_or(0.0, |e| e.cve_score.clamp(0.0, 1.0));
        0.4 + 0.6 * epss
    };
    let usage = match f.in_use {
        InUse::Yes => 1.0,
        InUse::Unknown => 0.6,
        InUse::No => 0.2,
    };
    let actionability = match (f.fix_state, f.fix_available) {
        (FixState::Fixed, Some(true)) => 1.0,
        (FixState::Fixed, None) => 0.9,
        (FixState::Fixed, Some(false)) => 0.8,
        _ => 0.7,
    };
    (10.0 * impact * exploitation * usage * actionability * 10.0).round() / 10.0
}

/// Rescores findings (after in-use or availability changed) and sorts them: highest
/// risk first, then severity, package and id for a stable order.
pub fn rescore_and_sort(findings: &mut [Finding]) {
    for f in findings.iter_mut() {
        f.risk = score(f);
    }
    findings.sort_by(|a, b| {
        b.risk
            .total_cmp(&a.risk)
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.package.name.cmp(&b.package.name))
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// The target's risk from its findings.
pub fn summarize(findings: &[Finding]) -> RiskSummary {
    let round = |x: f64| (x * 10.0).round() / 10.0;
    RiskSummary {
        max: findings.iter().map(|f| f.risk).fold(0.0, f64::max),
        total: round(findings.iter().map(|f| f.risk).sum()),
        in_use_total: round(
            findings
                .iter()
                .filter(|f| f.in_use == InUse::Yes)
                .map(|f| f.risk)
                .sum(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postwatch_model::{CvssScore, EpssInfo, FindingPackage, KevInfo};

    fn finding(severity: Severity, cvss: Option<f64>) -> Finding {
        Finding {
            id: "CVE-0000-0001".into(),
            aliases: vec![],
            records: vec![],
            package: FindingPackage {
                name: "p".into(),
                version: "1".into(),
                ecosystem: "Debian:12".into(),
                purl: "pkg:deb/debian/p@1".into(),
                matched_name: "p".into(),
                matched_version: "1".into(),
            },
            severity,
            severity_source: "cvss".into(),
            cvss: cvss.map(|score| CvssScore {
                version: "3.1".into(),
                vector: String::new(),
                score,
                rating: String::new(),
            }),
            vendor_severity: None,
            fix_state: FixState::Fixed,
            fixed_versions: vec!["2".into()],
            fix_command: None,
            kev: None,
            epss: None,
            summary: None,
            references: vec![],
            in_use: InUse::Unknown,
            in_use_evidence: vec![],
            fix_available: None,
            available_version: None,
            risk: 0.0,
        }
    }

    #[test]
    fn the_formula_as_documented() {
        // 10 × 9.8 × 0.4 × 0.6 × 0.9
        assert_eq!(score(&finding(Severity::Critical, Some(9.8))), 21.2);
        let mut f = finding(Severity::Critical, Some(9.8));
        f.in_use = InUse::Yes;
        f.fix_available = Some(true);
        f.kev = Some(KevInfo {
            cve: "CVE-0000-0001".into(),
            date_added: String::new(),
            known_ransomware_use: false,
            due_date: String::new(),
        });
        assert_eq!(score(&f), 98.0);
        f.in_use = InUse::No;
        assert_eq!(score(&f), 19.6);
    }

    #[test]
    fn exploited_medium_outranks_unexploited_high_and_loaded_outranks_unloaded() {
        let mut medium = finding(Severity::Medium, Some(5.3));
        medium.kev = Some(KevInfo {
            cve: String::new(),
            date_added: String::new(),
            known_ransomware_use: false,
            due_date: String::new(),
        });
        let high = finding(Severity::High, Some(7.5));
        assert!(score(&medium) > score(&high));

        let mut loaded = finding(Severity::High, Some(7.5));
        loaded.in_use = InUse::Yes;
        let mut idle = finding(Severity::Critical, Some(9.8));
        idle.in_use = InUse::No;
        idle.epss = Some(EpssInfo {
            cve_score: 0.5,
            percentile: 0.9,
        });
        assert!(score(&loaded) > score(&idle));

        let mut all = vec![idle, loaded, medium, high];
        rescore_and_sort(&mut all);
        assert!(all.windows(2).all(|w| w[0].risk >= w[1].risk));
        let summary = summarize(&all);
        assert_eq!(summary.max, all[0].risk);
    }
}
