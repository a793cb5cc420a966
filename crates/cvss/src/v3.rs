//! CVSS v3.0 and v3.1: metrics and equations (v3.1 specification section 7, v3.0
//! specification section 8).

use crate::{Metric, Values};

const fn base(name: &'static str, values: &'static [&'static str]) -> Metric {
    Metric {
        name,
        values,
        mandatory: true,
    }
}

const fn opt(name: &'static str, values: &'static [&'static str]) -> Metric {
    Metric {
        name,
        values,
        mandatory: false,
    }
}

/// In the specification's vector order (v3.1 table 15): base, temporal, environmental.
pub(crate) static METRICS: [Metric; 22] = [
    base("AV", &["N", "A", "L", "P"]),
    base("AC", &["L", "H"]),
    base("PR", &["N", "L", "H"]),
    base("UI", &["N", "R"]),
    base("S", &["U", "C"]),
    base("C", &["H", "L", "N"]),
    base("I", &["H", "L", "N"]),
    base("A", &["H", "L", "N"]),
    opt("E", &["X", "H", "F", "P", "U"]),
    opt("RL", &["X", "U", "W", "T", "O"]),
    opt("RC", &["X", "C", "R", "U"]),
    opt("CR", &["X", "H", "M", "L"]),
    opt("IR", &["X", "H", "M", "L"]),
    opt("AR", &["X", "H", "M", "L"]),
    opt("MAV", &["X", "N", "A", "L", "P"]),
    opt("MAC", &["X", "L", "H"]),
    opt("MPR", &["X", "N", "L", "H"]),
    opt("MUI", &["X", "N", "R"]),
    opt("MS", &["X", "U", "C"]),
    opt("MC", &["X", "H", "L", "N"]),
    opt("MI", &["X", "H", "L", "N"]),
    opt("MA", &["X", "H", "L", "N"]),
];

/// Scores in tenths.
pub(crate) struct Scores {
    pub(crate) base: u8,
    pub(crate) temporal: u8,
    pub(crate) environmental: u8,
}

pub(crate) fn scores(v: Values<'_>, v31: bool) -> Scores {
    // Base metrics, and their modified counterparts (the base value when X / absent).
    let metric = |name: &str| v.get(name).unwrap_or("X");
    let modified = |name: &str, base: &str| v.defined(name).unwrap_or_else(|| metric(base));

    let scope_changed = metric("S") == "C";
    let impact = sub_impact(
        1.0 - (1.0 - cia(metric("C"))) * (1.0 - cia(metric("I"))) * (1.0 - cia(metric("A"))),
        scope_changed,
        Formula::Base,
    );
    let exploitability = 8.22
        * attack_vector(metric("AV"))
        * attack_complexity(metric("AC"))
        * privileges(metric("PR"), scope_changed)
        * user_interaction(metric("UI"));
    let base = combine(impact, exploitability, scope_changed);

    let temporal_factor = exploit_maturity(metric("E"))
        * remediation_level(metric("RL"))
        * report_confidence(metric("RC"));
    let temporal = roundup(f64::from(base) / 10.0 * temporal_factor);

    let m_scope_changed = modified("MS", "S") == "C";
    let weighted =
        |m: &str, base: &str, req: &str| cia(modified(m, base)) * requirement(metric(req));
    let miss = (1.0
        - (1.0 - weighted("MC", "C", "CR"))
            * (1.0 - weighted("MI", "I", "IR"))
            * (1.0 - weighted("MA", "A", "AR")))
    .min(0.915);
    let formula = if v31 {
        Formula::Modified31
    } else {
        Formula::Base
    };
    let m_impact = sub_impact(miss, m_scope_changed, formula);
    let m_exploitability = 8.22
        * attack_vector(modified("MAV", "AV"))
        * attack_complexity(modified("MAC", "AC"))
        * privileges(modified("MPR", "PR"), m_scope_changed)
        * user_interaction(modified("MUI", "UI"));
    let m_base = combine(m_impact, m_exploitability, m_scope_changed);
    let environmental = if m_impact <= 0.0 {
        0
    } else {
        roundup(f64::from(m_base) / 10.0 * temporal_factor)
    };

    Scores {
        base,
        temporal,
        environmental,
    }
}

enum Formula {
    /// Base impact; also the v3.0 modified impact.
    Base,
    /// v3.1 modified impact, scope changed: `… − 3.25 × (MISS × 0.9731 − 0.02)^13`.
    Modified31,
}

/// The impact sub-score from the impact sub-score base (ISS / MISS).
fn sub_impact(iss: f64, scope_changed: bool, formula: Formula) -> f64 {
    if !scope_changed {
        6.42 * iss
    } else {
        match formula {
            Formula::Base => 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15),
            Formula::Modified31 => 7.52 * (iss - 0.029) - 3.25 * (iss * 0.9731 - 0.02).powi(13),
        }
    }
}

/// Impact and exploitability → the (modified) base score in tenths.
fn combine(impact: f64, exploitability: f64, scope_changed: bool) -> u8 {
    if impact <= 0.0 {
        0
    } else if scope_changed {
        roundup((1.08 * (impact + exploitability)).min(10.0))
    } else {
        roundup((impact + exploitability).min(10.0))
    }
}

/// Roundup, in tenths: the smallest one-decimal number not below `x`.
///
/// CVSS v3.1 specification, Appendix A: work on `x` rounded to five decimals, so that
/// binary floating-point noise (4.000000000000001 for an exact 4.0) does not push a
/// score up a tenth. Also used for v3.0, whose specification defines Roundup on exact
/// numbers: no v3 intermediate score lies within 10⁻⁵ above a tenth, so for every 3.0
/// vector this equals the exact ceiling (compared exhaustively with the Python package).
fn roundup(x: f64) -> u8 {
    // `as` saturates; scores are within 0..=10 by construction.
    let int_input = (x * 100_000.0).round() as i64;
    let t = if int_input % 10_000 == 0 {
        int_input / 10_000
    } else {
        int_input.div_euclid(10_000) + 1
    };
    t.clamp(0, 100) as u8
}

fn attack_vector(v: &str) -> f64 {
    match v {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        _ => 0.2, // P
    }
}

fn attack_complexity(v: &str) -> f64 {
    match v {
        "L" => 0.77,
        _ => 0.44, // H
    }
}

fn privileges(v: &str, scope_changed: bool) -> f64 {
    match (v, scope_changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        (_, false) => 0.27, // H
        (_, true) => 0.5,
    }
}

fn user_interaction(v: &str) -> f64 {
    match v {
        "N" => 0.85,
        _ => 0.62, // R
    }
}

fn cia(v: &str) -> f64 {
    match v {
        "H" => 0.56,
        "L" => 0.22,
        _ => 0.0, // N
    }
}

fn exploit_maturity(v: &str) -> f64 {
    match v {
        "F" => 0.97,
        "P" => 0.94,
        "U" => 0.91,
        _ => 1.0, // H, X
    }
}

fn remediation_level(v: &str) -> f64 {
    match v {
        "W" => 0.97,
        "T" => 0.96,
        "O" => 0.95,
        _ => 1.0, // U, X
    }
}

fn report_confidence(v: &str) -> f64 {
    match v {
        "R" => 0.96,
        "U" => 0.92,
        _ => 1.0, // C, X
    }
}

fn requirement(v: &str) -> f64 {
    match v {
        "H" => 1.5,
        "L" => 0.5,
        _ => 1.0, // M, X
    }
}

#[cfg(test)]
mod tests {
    use super::roundup;

    #[test]
    fn roundup_ignores_float_noise() {
        assert_eq!(roundup(4.0), 40);
        assert_eq!(roundup(4.000000000000001), 40); // a plain ceil would say 4.1
        assert_eq!(roundup(4.02), 41); // the specification's examples
        assert_eq!(roundup(4.00001), 41);
        assert_eq!(roundup(0.0), 0);
        assert_eq!(roundup(10.0), 100);
    }
}
