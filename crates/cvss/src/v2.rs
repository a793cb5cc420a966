//! CVSS v2.0: metrics and equations (v2 guide, section 3.2), on exact decimals.

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

/// In the guide's vector order (section 2.4): base, temporal, environmental.
pub(crate) static METRICS: [Metric; 14] = [
    base("AV", &["L", "A", "N"]),
    base("AC", &["H", "M", "L"]),
    base("Au", &["M", "S", "N"]),
    base("C", &["N", "P", "C"]),
    base("I", &["N", "P", "C"]),
    base("A", &["N", "P", "C"]),
    opt("E", &["U", "POC", "F", "H", "ND"]),
    opt("RL", &["OF", "TF", "W", "U", "ND"]),
    opt("RC", &["UC", "UR", "C", "ND"]),
    opt("CDP", &["N", "L", "LM", "MH", "H", "ND"]),
    opt("TD", &["N", "L", "M", "H", "ND"]),
    opt("CR", &["L", "M", "H", "ND"]),
    opt("IR", &["L", "M", "H", "ND"]),
    opt("AR", &["L", "M", "H", "ND"]),
];

const TEMPORAL: [&str; 3] = ["E", "RL", "RC"];
const ENVIRONMENTAL: [&str; 5] = ["CDP", "TD", "CR", "IR", "AR"];

/// Scores in tenths.
pub(crate) struct Scores {
    pub(crate) base: u8,
    pub(crate) temporal: Option<u8>,
    pub(crate) environmental: Option<u8>,
}

pub(crate) fn scores(v: Values<'_>) -> Scores {
    let metric = |name: &str| v.get(name).unwrap_or("ND");
    let (c, i, a) = (
        impact_weight(metric("C")),
        impact_weight(metric("I")),
        impact_weight(metric("A")),
    );
    let exploitability = d(20, 0)
        .mul(access_vector(metric("AV")))
        .mul(access_complexity(metric("AC")))
        .mul(authentication(metric("Au")));
    let temporal_factor = exploitability_weight(metric("E"))
        .mul(remediation_level(metric("RL")))
        .mul(report_confidence(metric("RC")));

    // Impact = 10.41 × (1 − (1 − C) × (1 − I) × (1 − A))
    let impact = d(1041, 2).mul(ONE.sub(ONE.sub(c).mul(ONE.sub(i)).mul(ONE.sub(a))));
    let base = base_equation(impact, exploitability).max(0);
    let temporal = v
        .any_defined(&TEMPORAL)
        .then(|| d(base, 1).mul(temporal_factor).round_tenths().max(0));

    let environmental = v.any_defined(&ENVIRONMENTAL).then(|| {
        // AdjustedImpact = min(10, 10.41 × (1 − (1 − C×CR) × (1 − I×IR) × (1 − A×AR)))
        let (cr, ir, ar) = (
            requirement(metric("CR")),
            requirement(metric("IR")),
            requirement(metric("AR")),
        );
        let adjusted_impact = d(1041, 2)
            .mul(
                ONE.sub(
                    ONE.sub(c.mul(cr))
                        .mul(ONE.sub(i.mul(ir)))
                        .mul(ONE.sub(a.mul(ar))),
                ),
            )
            .min(d(10, 0));
        let adjusted_base = base_equation(adjusted_impact, exploitability);
        let adjusted_temporal = d(adjusted_base, 1).mul(temporal_factor).round_tenths();
        // (AdjustedTemporal + (10 − AdjustedTemporal) × CDP) × TD
        let at = d(adjusted_temporal, 1);
        at.add(d(10, 0).sub(at).mul(collateral_damage(metric("CDP"))))
            .mul(target_distribution(metric("TD")))
            .round_tenths()
            .max(0)
    });

    Scores {
        base: tenths_u8(base),
        temporal: temporal.map(tenths_u8),
        environmental: environmental.map(tenths_u8),
    }
}

/// BaseScore = round₁(((0.6 × Impact) + (0.4 × Exploitability) − 1.5) × f(Impact)),
/// f(Impact) = 0 if Impact = 0, else 1.176. In tenths, possibly negative.
fn base_equation(impact: Dec, exploitability: Dec) -> i128 {
    if impact.is_zero() {
        return 0;
    }
    d(6, 1)
        .mul(impact)
        .add(d(4, 1).mul(exploitability))
        .sub(d(15, 1))
        .mul(d(1176, 3))
        .round_tenths()
}

fn tenths_u8(t: i128) -> u8 {
    t.clamp(0, 100) as u8
}

/// An exact decimal `n × 10^-scale`.
///
/// The v2 equations multiply at most about ten decimals of up to four places, so the
/// largest scale reached is around 21 and the numerators stay far below `i128::MAX`.
#[derive(Clone, Copy, Debug)]
struct Dec {
    n: i128,
    scale: u32,
}

const ONE: Dec = d(1, 0);

const fn d(n: i128, scale: u32) -> Dec {
    Dec { n, scale }
}

impl Dec {
    fn mul(self, o: Dec) -> Dec {
        d(self.n * o.n, self.scale + o.scale)
    }

    /// Both numerators at the larger of the two scales.
    fn aligned(self, o: Dec) -> (i128, i128, u32) {
        let scale = self.scale.max(o.scale);
        (
            self.n * 10i128.pow(scale - self.scale),
            o.n * 10i128.pow(scale - o.scale),
            scale,
        )
    }

    fn add(self, o: Dec) -> Dec {
        let (a, b, scale) = self.aligned(o);
        d(a + b, scale)
    }

    fn sub(self, o: Dec) -> Dec {
        let (a, b, scale) = self.aligned(o);
        d(a - b, scale)
    }

    fn min(self, o: Dec) -> Dec {
        let (a, b, _) = self.aligned(o);
        if b < a {
            o
        } else {
            self
        }
    }

    fn is_zero(self) -> bool {
        self.n == 0
    }

    /// Rounded to one decimal, half away from zero (the NVD's and Python's ROUND_HALF_UP);
    /// returned in tenths.
    fn round_tenths(self) -> i128 {
        if self.scale == 0 {
            return self.n * 10;
        }
        let unit = 10i128.pow(self.scale - 1); // one tenth at this scale
        let q = self.n.abs() / unit;
        let r = self.n.abs() % unit;
        let t = if 2 * r >= unit { q + 1 } else { q };
        if self.n < 0 {
            -t
        } else {
            t
        }
    }
}

fn access_vector(v: &str) -> Dec {
    match v {
        "L" => d(395, 3),
        "A" => d(646, 3),
        _ => d(1, 0), // N
    }
}

fn access_complexity(v: &str) -> Dec {
    match v {
        "H" => d(35, 2),
        "M" => d(61, 2),
        _ => d(71, 2), // L
    }
}

fn authentication(v: &str) -> Dec {
    match v {
        "M" => d(45, 2),
        "S" => d(56, 2),
        _ => d(704, 3), // N
    }
}

fn impact_weight(v: &str) -> Dec {
    match v {
        "P" => d(275, 3),
        "C" => d(660, 3),
        _ => d(0, 0), // N
    }
}

fn exploitability_weight(v: &str) -> Dec {
    match v {
        "U" => d(85, 2),
        "POC" => d(9, 1),
        "F" => d(95, 2),
        _ => ONE, // H, ND
    }
}

fn remediation_level(v: &str) -> Dec {
    match v {
        "OF" => d(87, 2),
        "TF" => d(90, 2),
        "W" => d(95, 2),
        _ => ONE, // U, ND
    }
}

fn report_confidence(v: &str) -> Dec {
    match v {
        "UC" => d(90, 2),
        "UR" => d(95, 2),
        _ => ONE, // C, ND
    }
}

fn collateral_damage(v: &str) -> Dec {
    match v {
        "L" => d(1, 1),
        "LM" => d(3, 1),
        "MH" => d(4, 1),
        "H" => d(5, 1),
        _ => d(0, 0), // N, ND
    }
}

fn target_distribution(v: &str) -> Dec {
    match v {
        "N" => d(0, 0),
        "L" => d(25, 2),
        "M" => d(75, 2),
        _ => ONE, // H, ND
    }
}

fn requirement(v: &str) -> Dec {
    match v {
        "L" => d(5, 1),
        "H" => d(151, 2),
        _ => ONE, // M, ND
    }
}
