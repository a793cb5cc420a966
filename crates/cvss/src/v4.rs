//! CVSS v4.0: metrics and the macrovector scoring algorithm (specification section 8).
//!
//! The arithmetic is done in `f64` in the same order as FIRST's reference calculator
//! (and the Python `cvss` package, which follows it step by step), so intermediate values
//! are bit-identical and the final rounding lands on the same side of every tie.

use crate::v4_data::{
    EQ1_DEPTH, EQ1_MAX, EQ2_DEPTH, EQ2_MAX, EQ3_EQ6_DEPTH, EQ3_EQ6_MAX, EQ4_DEPTH, EQ4_MAX,
    MACROVECTOR_SCORES,
};
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

/// In the specification's vector order (section 7): base, threat, environmental,
/// supplemental.
pub(crate) static METRICS: [Metric; 32] = [
    base("AV", &["N", "A", "L", "P"]),
    base("AC", &["L", "H"]),
    base("AT", &["N", "P"]),
    base("PR", &["N", "L", "H"]),
    base("UI", &["N", "P", "A"]),
    base("VC", &["H", "L", "N"]),
    base("VI", &["H", "L", "N"]),
    base("VA", &["H", "L", "N"]),
    base("SC", &["H", "L", "N"]),
    base("SI", &["H", "L", "N"]),
    base("SA", &["H", "L", "N"]),
    // Threat.
    opt("E", &["X", "A", "P", "U"]),
    // Environmental.
    opt("CR", &["X", "H", "M", "L"]),
    opt("IR", &["X", "H", "M", "L"]),
    opt("AR", &["X", "H", "M", "L"]),
    opt("MAV", &["X", "N", "A", "L", "P"]),
    opt("MAC", &["X", "L", "H"]),
    opt("MAT", &["X", "N", "P"]),
    opt("MPR", &["X", "N", "L", "H"]),
    opt("MUI", &["X", "N", "P", "A"]),
    opt("MVC", &["X", "H", "L", "N"]),
    opt("MVI", &["X", "H", "L", "N"]),
    opt("MVA", &["X", "H", "L", "N"]),
    opt("MSC", &["X", "H", "L", "N"]),
    opt("MSI", &["X", "S", "H", "L", "N"]),
    opt("MSA", &["X", "S", "H", "L", "N"]),
    // Supplemental: kept, never scored.
    opt("S", &["X", "N", "P"]),
    opt("AU", &["X", "N", "Y"]),
    opt("R", &["X", "A", "U", "I"]),
    opt("V", &["X", "D", "C"]),
    opt("RE", &["X", "L", "M", "H"]),
    opt("U", &["X", "Clear", "Green", "Amber", "Red"]),
];

/// The environmental metrics (for the CVSS-BE / -BTE nomenclature).
pub(crate) const ENVIRONMENTAL: [&str; 14] = [
    "CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA",
];

/// The effective value of each scored metric: the modified metric when set, else the base
/// metric; threat and requirement metrics at their "Not Defined" defaults (E:A, xR:H).
struct Effective {
    av: &'static str,
    ac: &'static str,
    at: &'static str,
    pr: &'static str,
    ui: &'static str,
    vc: &'static str,
    vi: &'static str,
    va: &'static str,
    sc: &'static str,
    si: &'static str,
    sa: &'static str,
    e: &'static str,
    cr: &'static str,
    ir: &'static str,
    ar: &'static str,
}

impl Effective {
    /// `threat_env`: false to score only the base metrics (CVSS-B).
    fn new(v: Values<'_>, threat_env: bool) -> Effective {
        let b = |name: &str| v.get(name).unwrap_or("X");
        let m = |name: &str, modified: &str| {
            if threat_env {
                v.defined(modified).unwrap_or_else(|| b(name))
            } else {
                b(name)
            }
        };
        let or = |name: &str, default: &'static str| {
            if threat_env {
                v.defined(name).unwrap_or(default)
            } else {
                default
            }
        };
        Effective {
            av: m("AV", "MAV"),
            ac: m("AC", "MAC"),
            at: m("AT", "MAT"),
            pr: m("PR", "MPR"),
            ui: m("UI", "MUI"),
            vc: m("VC", "MVC"),
            vi: m("VI", "MVI"),
            va: m("VA", "MVA"),
            sc: m("SC", "MSC"),
            si: m("SI", "MSI"),
            sa: m("SA", "MSA"),
            e: or("E", "A"),
            cr: or("CR", "H"),
            ir: or("IR", "H"),
            ar: or("AR", "H"),
        }
    }

    /// The macrovector: levels of EQ1 … EQ6 (specification table 24).
    fn macrovector(&self) -> [u8; 6] {
        let eq1 = if self.av == "N" && self.pr == "N" && self.ui == "N" {
            0
        } else if (self.av == "N" || self.pr == "N" || self.ui == "N") && self.av != "P" {
            1
        } else {
            2
        };
        let eq2 = if self.ac == "L" && self.at == "N" {
            0
        } else {
            1
        };
        let eq3 = if self.vc == "H" && self.vi == "H" {
            0
        } else if self.vc == "H" || self.vi == "H" || self.va == "H" {
            1
        } else {
            2
        };
        let eq4 = if self.si == "S" || self.sa == "S" {
            0
        } else if self.sc == "H" || self.si == "H" || self.sa == "H" {
            1
        } else {
            2
        };
        let eq5 = match self.e {
            "A" => 0,
            "P" => 1,
            _ => 2, // U
        };
        let eq6 = if (self.cr == "H" && self.vc == "H")
            || (self.ir == "H" && self.vi == "H")
            || (self.ar == "H" && self.va == "H")
        {
            0
        } else {
            1
        };
        [eq1, eq2, eq3, eq4, eq5, eq6]
    }
}

/// The score in tenths; `threat_env` false for the CVSS-B score.
pub(crate) fn score(v: Values<'_>, threat_env: bool) -> u8 {
    let x = Effective::new(v, threat_env);
    if [x.vc, x.vi, x.va, x.sc, x.si, x.sa]
        .iter()
        .all(|&m| m == "N")
    {
        return 0;
    }
    let mv = x.macrovector();
    let value = lookup(mv);
    let [eq1, eq2, eq3, eq4, eq5, eq6] = mv;

    // Scores of the next lower macrovector along each dimension (NaN if none).
    let lower = |dim: usize| {
        let mut next = mv;
        next[dim] += 1;
        lookup(next)
    };
    let lower_eq3eq6 = match (eq3, eq6) {
        (1, 1) | (0, 1) => lower(2),
        (1, 0) => lower(5),
        (0, 0) => {
            let (left, right) = (lower(5), lower(2));
            // max() as Python evaluates it: the first unless the second is greater.
            if right > left {
                right
            } else {
                left
            }
        }
        _ => lookup([eq1, eq2, eq3 + 1, eq4, eq5, eq6 + 1]),
    };

    // Severity distances from the first highest-severity vector of this macrovector
    // that the vector does not exceed (the last candidate if it exceeds them all).
    let mut dist = Distances::default();
    'search: for m1 in level(&EQ1_MAX, eq1) {
        for m2 in level(&EQ2_MAX, eq2) {
            for m36 in eq3_eq6_max(eq3, eq6) {
                for m4 in level(&EQ4_MAX, eq4) {
                    dist = Distances::between(&x, m1, m2, m36, m4);
                    if dist.all_non_negative() {
                        break 'search;
                    }
                }
            }
        }
    }

    let step = 0.1;
    let available = [
        value - lower(0),
        value - lower(1),
        value - lower_eq3eq6,
        value - lower(3),
        value - lower(4),
    ];
    let current = [
        dist.av + dist.pr + dist.ui,
        dist.ac + dist.at,
        dist.vc + dist.vi + dist.va + dist.cr + dist.ir + dist.ar,
        dist.sc + dist.si + dist.sa,
    ];
    let depth = [
        depth_of(&EQ1_DEPTH, eq1),
        depth_of(&EQ2_DEPTH, eq2),
        EQ3_EQ6_DEPTH
            .get(usize::from(eq3))
            .and_then(|r| r.get(usize::from(eq6)))
            .map_or(f64::NAN, |&d| f64::from(d)),
        depth_of(&EQ4_DEPTH, eq4),
    ];
    let mut n_existing_lower = 0u32;
    let mut normalized = [0.0f64; 5];
    for i in 0..5 {
        // NaN (no lower macrovector) fails the comparison.
        if available[i] >= 0.0 {
            n_existing_lower += 1;
            // EQ5 has no severity distance within a level: its proportion is 0.
            let percent = if i < 4 {
                current[i] / (depth[i] * step)
            } else {
                0.0
            };
            normalized[i] = available[i] * percent;
        }
    }
    let mean_distance = if n_existing_lower == 0 {
        0.0
    } else {
        (normalized[0] + normalized[1] + normalized[2] + normalized[3] + normalized[4])
            / f64::from(n_existing_lower)
    };
    let value = (value - mean_distance).clamp(0.0, 10.0);
    round_half_up_tenths(value + 1e-6)
}

fn lookup(mv: [u8; 6]) -> f64 {
    let mut key = [0u8; 6];
    for (k, l) in key.iter_mut().zip(mv) {
        *k = b'0' + l;
    }
    MACROVECTOR_SCORES
        .binary_search_by(|(k, _)| k.as_bytes().cmp(&key[..]))
        .map_or(f64::NAN, |i| MACROVECTOR_SCORES[i].1)
}

fn level<'a, T>(table: &'a [&'a [T]], l: u8) -> &'a [T] {
    table.get(usize::from(l)).copied().unwrap_or(&[])
}

fn eq3_eq6_max(eq3: u8, eq6: u8) -> &'static [[&'static str; 6]] {
    EQ3_EQ6_MAX
        .get(usize::from(eq3))
        .and_then(|r| r.get(usize::from(eq6)))
        .copied()
        .unwrap_or(&[])
}

fn depth_of(table: &[u8], l: u8) -> f64 {
    table
        .get(usize::from(l))
        .map_or(f64::NAN, |&d| f64::from(d))
}

/// Per-metric severity distance of the vector from a highest-severity vector.
#[derive(Default)]
struct Distances {
    av: f64,
    pr: f64,
    ui: f64,
    ac: f64,
    at: f64,
    vc: f64,
    vi: f64,
    va: f64,
    sc: f64,
    si: f64,
    sa: f64,
    cr: f64,
    ir: f64,
    ar: f64,
}

impl Distances {
    fn between(
        x: &Effective,
        [av, pr, ui]: &[&str; 3],
        [ac, at]: &[&str; 2],
        [vc, vi, va, cr, ir, ar]: &[&str; 6],
        [sc, si, sa]: &[&str; 3],
    ) -> Distances {
        Distances {
            av: level_av(x.av) - level_av(av),
            pr: level_pr(x.pr) - level_pr(pr),
            ui: level_ui(x.ui) - level_ui(ui),
            ac: level_ac(x.ac) - level_ac(ac),
            at: level_at(x.at) - level_at(at),
            vc: level_cia(x.vc) - level_cia(vc),
            vi: level_cia(x.vi) - level_cia(vi),
            va: level_cia(x.va) - level_cia(va),
            sc: level_sub(x.sc) - level_sub(sc),
            si: level_sub(x.si) - level_sub(si),
            sa: level_sub(x.sa) - level_sub(sa),
            cr: level_req(x.cr) - level_req(cr),
            ir: level_req(x.ir) - level_req(ir),
            ar: level_req(x.ar) - level_req(ar),
        }
    }

    fn all_non_negative(&self) -> bool {
        [
            self.av, self.pr, self.ui, self.ac, self.at, self.vc, self.vi, self.va, self.sc,
            self.si, self.sa, self.cr, self.ir, self.ar,
        ]
        .iter()
        .all(|&d| d >= 0.0)
    }
}

// Severity levels within an EQ (specification section 8.3), 0.0 = most severe.

fn level_av(v: &str) -> f64 {
    match v {
        "N" => 0.0,
        "A" => 0.1,
        "L" => 0.2,
        _ => 0.3, // P
    }
}

fn level_pr(v: &str) -> f64 {
    match v {
        "N" => 0.0,
        "L" => 0.1,
        _ => 0.2, // H
    }
}

fn level_ui(v: &str) -> f64 {
    match v {
        "N" => 0.0,
        "P" => 0.1,
        _ => 0.2, // A
    }
}

fn level_ac(v: &str) -> f64 {
    match v {
        "L" => 0.0,
        _ => 0.1, // H
    }
}

fn level_at(v: &str) -> f64 {
    match v {
        "N" => 0.0,
        _ => 0.1, // P
    }
}

fn level_cia(v: &str) -> f64 {
    match v {
        "H" => 0.0,
        "L" => 0.1,
        _ => 0.2, // N
    }
}

/// Subsequent-system impacts; SC has no S (Safety) value.
fn level_sub(v: &str) -> f64 {
    match v {
        "S" => 0.0,
        "H" => 0.1,
        "L" => 0.2,
        _ => 0.3, // N
    }
}

fn level_req(v: &str) -> f64 {
    match v {
        "H" => 0.0,
        "M" => 0.1,
        _ => 0.2, // L
    }
}

/// `x` (≥ 0) rounded to one decimal, half up, in tenths — exactly, on the binary value
/// of `x` (as Python's `Decimal(x).quantize(Decimal("0.1"), ROUND_HALF_UP)`).
fn round_half_up_tenths(x: f64) -> u8 {
    if x.is_nan() || x < 0.04 {
        return 0;
    }
    if x >= 10.0 {
        return 100;
    }
    // x = mantissa × 2^exp with 0.04 ≤ x < 10, so -57 ≤ exp ≤ -49 (normal numbers).
    let bits = x.to_bits();
    let mantissa = u128::from((bits & ((1u64 << 52) - 1)) | (1u64 << 52));
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let shift = (-exp) as u32;
    // floor(10x + 1/2) = floor((20 × mantissa + 2^shift) / 2^(shift + 1))
    let t = (20 * mantissa + (1u128 << shift)) >> (shift + 1);
    t.min(100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_up_on_the_binary_value() {
        assert_eq!(round_half_up_tenths(0.05), 1); // 0.05 is 0.05000000000000000277…
        assert_eq!(round_half_up_tenths(1.45), 14); // 1.45 is 1.4499999999999999555…
        assert_eq!(round_half_up_tenths(1.45 + 1e-6), 15);
        assert_eq!(round_half_up_tenths(9.95), 99); // 9.9499999999999992894…
        assert_eq!(round_half_up_tenths(10.000001), 100);
    }

    #[test]
    fn every_macrovector_key_is_well_formed() {
        for w in MACROVECTOR_SCORES.windows(2) {
            assert!(w[0].0 < w[1].0, "unsorted at {}", w[1].0);
        }
        for (k, v) in MACROVECTOR_SCORES {
            assert_eq!(k.len(), 6);
            assert!((0.0..=10.0).contains(&v));
        }
    }
}
