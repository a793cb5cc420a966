//! One severity per finding, from CVSS vectors and vendor ratings.
//!
//! Precedence (documented in docs/findings.md):
//! 1. OS distributions (Debian, Ubuntu, Alpine, the rpm family): the distribution's own
//!    rating when it gives one — it rates the flaw as built and configured in its
//!    packages, which a CVSS base score of the upstream flaw does not;
//! 2. otherwise the CVSS vector of the newest version present (4.0 > 3.1 > 3.0 > 2.0),
//!    the highest-scoring one if several advisories carry that version;
//! 3. otherwise the vendor rating (GitHub's `database_specific.severity`, …);
//! 4. otherwise `UNKNOWN`.

use postwatch_advisory::osv::Record;
use postwatch_cvss::{Cvss, CvssVersion};
use postwatch_model::{CvssScore, Severity};

fn version_rank(v: CvssVersion) -> u8 {
    match v {
        CvssVersion::V2 => 0,
        CvssVersion::V3_0 => 1,
        CvssVersion::V3_1 => 2,
        CvssVersion::V4_0 => 3,
    }
}

fn version_name(v: CvssVersion) -> &'static str {
    match v {
        CvssVersion::V2 => "2.0",
        CvssVersion::V3_0 => "3.0",
        CvssVersion::V3_1 => "3.1",
        CvssVersion::V4_0 => "4.0",
    }
}

/// Maps vendor words onto the common scale.
pub fn vendor_to_severity(word: &str) -> Option<Severity> {
    Some(match word.to_ascii_lowercase().as_str() {
        "negligible" | "unimportant" | "low" => Severity::Low,
        "moderate" | "medium" => Severity::Medium,
        "important" | "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => return None,
    })
}

fn rating_to_severity(score: f64) -> Severity {
    // CVSS qualitative bands (v3/v4); v2 "High" starts at 7.0 as well.
    if score >= 9.0 {
        Severity::Critical
    } else if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else if score > 0.0 {
        Severity::Low
    } else {
        Severity::Unknown
    }
}

/// The best CVSS vector among the records.
pub fn best_cvss(records: &[&Record]) -> Option<CvssScore> {
    let mut best: Option<(u8, f64, Cvss)> = None;
    for record in records {
        let vectors = record
            .severity
            .iter()
            .chain(record.affected.iter().flat_map(|a| &a.severity))
            .filter(|s| s.kind.starts_with("CVSS_"))
            .map(|s| s.score.as_str());
        for vector in vectors {
            let Ok(cvss) = Cvss::parse(vector) else {
                continue;
            };
            let key = (version_rank(cvss.version()), cvss.score());
            if best.as_ref().is_none_or(|(r, s, _)| key > (*r, *s)) {
                best = Some((key.0, key.1, cvss));
            }
        }
    }
    best.map(|(_, score, cvss)| CvssScore {
        version: version_name(cvss.version()).to_owned(),
        vector: cvss.vector(),
        score,
        rating: cvss.rating().to_string(),
    })
}

/// Applies the precedence above.
pub fn decide(
    is_os: bool,
    cvss: Option<&CvssScore>,
    vendor: Option<&str>,
) -> (Severity, &'static str) {
    let vendor_sev = vendor.and_then(vendor_to_severity);
    if is_os {
        if let Some(s) = vendor_sev {
            return (s, "vendor");
        }
    }
    if let Some(c) = cvss {
        let s = Severity::parse(&c.rating)
            .filter(|s| *s != Severity::Unknown)
            .unwrap_or_else(|| rating_to_severity(c.score));
        return (s, "cvss");
    }
    match vendor_sev {
        Some(s) => (s, "vendor"),
        None => (Severity::Unknown, "none"),
    }
}
