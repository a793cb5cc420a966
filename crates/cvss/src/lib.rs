//! CVSS vectors — versions 2.0, 3.0, 3.1 and 4.0: parsing, scores and qualitative
//! ratings.
//!
//! Owns: turning a vector string into a [`Cvss`] (strict validation: known metrics and
//! values, every mandatory base metric, no duplicates), the base / temporal /
//! environmental scores of v2 and v3, the v4.0 macrovector score (CVSS-B, -BT, -BE or
//! -BTE depending on the metrics present), the qualitative [`Rating`] and the canonical
//! vector string. Pure: no I/O, no global state, no panics on any input.
//!
//! Must not: fetch or parse advisories, pick which of several scores (NVD, vendor, GHSA)
//! applies, or decide a vendor's own severity — callers hand this crate one vector and
//! decide what the number means for them.
//!
//! # Behaviour, and what it was checked against
//!
//! The oracle is the Python `cvss` package 3.6 (RedHatProductSecurity/cvss), whose test
//! vectors and labels live in `testdata/vectors/cvss`. Where specification text, that
//! package and other parsers disagree this crate follows the package, except where noted:
//!
//! * **Metric order.** The v3.1 and v4.0 specifications say metrics appear in a fixed
//!   order, but the Python package accepts any order, and so does this crate;
//!   [`Cvss::vector`] always writes the specification's order. claircore rejects
//!   out-of-order vectors (row `CVSS:4.0/…/SI:N/E:A/SA:N` of its `v4_error.list` is
//!   "invalid" for claircore and valid for the package and for us).
//! * **Prefix.** v3 and v4 need `CVSS:3.0/`, `CVSS:3.1/` or `CVSS:4.0/`. v2 is the bare
//!   `AV:N/AC:L/Au:N/C:P/I:P/A:P` form; a `(…)` wrapper (as in old NVD feeds) and a
//!   `CVSS:2.0/` prefix are also accepted — both of which the Python package and
//!   claircore reject.
//! * **No trimming.** Whitespace, a trailing `/` or an empty metric make a vector
//!   invalid, as in the Python package.
//! * **v3 rounding.** Scores use the specification's Roundup. For 3.1 that is Appendix A
//!   of the 3.1 specification (round to 5 decimals, then up to 1). For 3.0 it is the
//!   plain "smallest one-decimal number not below the input", which the Python package
//!   computes on exact decimals; done on binary floats a plain `ceil(x * 10) / 10` turns
//!   4.000000000000001 into 4.1, so 3.0 uses the same float-noise-tolerant rounding. Both
//!   agree with the package's exact decimals on every v3 vector: all base × temporal
//!   combinations and all effective environmental combinations (3.4 million per minor
//!   version) were compared with it during development.
//!   3.0 and 3.1 also differ in the modified-impact formula of the environmental score.
//! * **v2** is computed on exact decimals (the formulas only multiply and add decimals
//!   of at most three places), rounding half up like the NVD and the package. Its
//!   temporal (environmental) score is `None` unless a temporal (environmental) metric
//!   other than `ND` is present, as in the package; v3 always has all three scores (equal
//!   to the base score when the groups are absent). [`Cvss::rating`] of a v2 vector uses
//!   the NVD v2 bands: Low below 4.0, Medium below 7.0, High from 7.0.
//! * **v4** follows the specification's macrovector lookup and interpolation with the
//!   same floating-point steps, in the same order, as FIRST's calculator and the package,
//!   then their final rounding (add 10⁻⁶, round half up on the binary value).
//!   Supplemental metrics (S, AU, R, V, RE, U) are validated and kept, and do not change
//!   the score. [`Cvss::base_score`] of a v4 vector is its CVSS-B score (threat and
//!   environmental metrics ignored); [`Cvss::score`] uses every metric present.
//!
//! # Why not the `cvss` crate
//!
//! RustSec's `cvss` crate (checked at 3.0.0, the current release) computes every score
//! in the oracle files correctly, but it is not enough on its own:
//!
//! * its v3 parser accepts vectors with mandatory base metrics missing —
//!   `CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N` (an oracle row that must be invalid) and
//!   even `CVSS:3.1/AV:N` parse, scoring 0.0;
//! * its v2 temporal and environmental scores are always numbers, where the Python
//!   package (the oracle) reports none for vectors without those metric groups;
//! * it declares `rust-version = 1.85`, above the workspace's 1.80.
//!
//! Wrapping it would have meant re-validating every vector in front of it, so the
//! scoring is written out here: a few hundred lines of the specifications' formulas plus
//! FIRST's v4.0 data tables (`v4_data.rs`).

mod error;
mod parse;
mod v2;
mod v3;
mod v4;
mod v4_data;

use std::fmt;
use std::str::FromStr;

pub use error::{CvssError, Problem};

/// A CVSS specification version.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CvssVersion {
    V2,
    V3_0,
    V3_1,
    V4_0,
}

impl CvssVersion {
    /// `"2.0"`, `"3.0"`, `"3.1"` or `"4.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CvssVersion::V2 => "2.0",
            CvssVersion::V3_0 => "3.0",
            CvssVersion::V3_1 => "3.1",
            CvssVersion::V4_0 => "4.0",
        }
    }

    pub(crate) fn metrics(self) -> &'static [Metric] {
        match self {
            CvssVersion::V2 => &v2::METRICS,
            CvssVersion::V3_0 | CvssVersion::V3_1 => &v3::METRICS,
            CvssVersion::V4_0 => &v4::METRICS,
        }
    }
}

impl fmt::Display for CvssVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Qualitative severity rating of a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rating {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Rating {
    /// The v3 / v4 scale: None 0.0, Low 0.1–3.9, Medium 4.0–6.9, High 7.0–8.9,
    /// Critical 9.0–10.0. The score is taken to one decimal; NaN counts as 0.0.
    pub fn from_score(score: f64) -> Rating {
        match tenths(score) {
            t if t <= 0 => Rating::None,
            t if t < 40 => Rating::Low,
            t if t < 70 => Rating::Medium,
            t if t < 90 => Rating::High,
            _ => Rating::Critical,
        }
    }

    /// The NVD's CVSS v2 scale: Low 0.0–3.9, Medium 4.0–6.9, High 7.0–10.0.
    pub fn from_v2_score(score: f64) -> Rating {
        match tenths(score) {
            t if t < 40 => Rating::Low,
            t if t < 70 => Rating::Medium,
            _ => Rating::High,
        }
    }

    /// `"None"`, `"Low"`, `"Medium"`, `"High"` or `"Critical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::None => "None",
            Rating::Low => "Low",
            Rating::Medium => "Medium",
            Rating::High => "High",
            Rating::Critical => "Critical",
        }
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A score in tenths, saturating; NaN → 0.
fn tenths(score: f64) -> i64 {
    if score.is_nan() {
        0
    } else {
        // `as` saturates for out-of-range floats.
        (score * 10.0).round() as i64
    }
}

/// One metric of a version: its abbreviation and the values it may take.
pub(crate) struct Metric {
    pub(crate) name: &'static str,
    pub(crate) values: &'static [&'static str],
    /// A base metric every vector must carry.
    pub(crate) mandatory: bool,
}

impl Metric {
    /// `X` (v3, v4) or `ND` (v2): the metric was left "Not Defined".
    fn is_not_defined(value: &str) -> bool {
        value == "X" || value == "ND"
    }
}

/// The metric values of one parsed vector, indexed like its version's metric table.
#[derive(Clone, Copy)]
pub(crate) struct Values<'a> {
    defs: &'static [Metric],
    idx: &'a [Option<u8>],
}

impl Values<'_> {
    /// The value of metric `name` as written, or `None` when absent.
    pub(crate) fn get(&self, name: &str) -> Option<&'static str> {
        let i = self.defs.iter().position(|m| m.name == name)?;
        let def = &self.defs[i];
        let v = (*self.idx.get(i)?)?;
        def.values.get(usize::from(v)).copied()
    }

    /// The value of metric `name`, treating absence and `X` / `ND` alike as `None`.
    pub(crate) fn defined(&self, name: &str) -> Option<&'static str> {
        self.get(name).filter(|v| !Metric::is_not_defined(v))
    }

    /// Whether any of `names` has a defined (not `X` / `ND`) value.
    pub(crate) fn any_defined(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.defined(n).is_some())
    }
}

/// A parsed CVSS vector with its scores.
///
/// Scores are computed once, at parse time; they are stored in tenths, so the `f64`
/// accessors return exactly the one-decimal value (`7.5`, not `7.499999…`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cvss {
    version: CvssVersion,
    /// Value index per metric of `version.metrics()`, `None` when absent.
    values: Vec<Option<u8>>,
    base: u8,
    temporal: Option<u8>,
    environmental: Option<u8>,
    overall: u8,
}

impl Cvss {
    /// Parses a vector: `CVSS:3.0/…`, `CVSS:3.1/…`, `CVSS:4.0/…`, or a v2 vector
    /// (`AV:N/AC:L/Au:N/C:P/I:P/A:P`, optionally wrapped in parentheses or prefixed with
    /// `CVSS:2.0/`). Metrics may come in any order; each at most once.
    pub fn parse(vector: &str) -> Result<Cvss, CvssError> {
        let (version, values) =
            parse::parse(vector).map_err(|problem| CvssError::new(vector, problem))?;
        Ok(Cvss::from_values(version, values))
    }

    fn from_values(version: CvssVersion, values: Vec<Option<u8>>) -> Cvss {
        let view = Values {
            defs: version.metrics(),
            idx: &values,
        };
        let (base, temporal, environmental, overall) = match version {
            CvssVersion::V2 => {
                let s = v2::scores(view);
                (s.base, s.temporal, s.environmental, s.base)
            }
            CvssVersion::V3_0 | CvssVersion::V3_1 => {
                let s = v3::scores(view, version == CvssVersion::V3_1);
                (s.base, Some(s.temporal), Some(s.environmental), s.base)
            }
            CvssVersion::V4_0 => {
                let all = v4::score(view, true);
                let base = v4::score(view, false);
                (base, None, None, all)
            }
        };
        Cvss {
            version,
            values,
            base,
            temporal,
            environmental,
            overall,
        }
    }

    fn view(&self) -> Values<'_> {
        Values {
            defs: self.version.metrics(),
            idx: &self.values,
        }
    }

    pub fn version(&self) -> CvssVersion {
        self.version
    }

    /// The base score. For v4 the CVSS-B score: base metrics only, threat and
    /// environmental metrics ignored.
    pub fn base_score(&self) -> f64 {
        f64::from(self.base) / 10.0
    }

    /// v3: always (the base score when no temporal metric is set). v2: only when a
    /// temporal metric other than `ND` is present. v4: `None` (see [`Cvss::score`]).
    pub fn temporal_score(&self) -> Option<f64> {
        self.temporal.map(|t| f64::from(t) / 10.0)
    }

    /// v3: always (from the base metrics when no environmental metric is set). v2: only
    /// when an environmental metric other than `ND` is present. v4: `None`.
    pub fn environmental_score(&self) -> Option<f64> {
        self.environmental.map(|t| f64::from(t) / 10.0)
    }

    /// The headline score: the base score for v2 and v3; for v4 the score over every
    /// metric present — CVSS-B, -BT, -BE or -BTE (see [`Cvss::nomenclature`]).
    pub fn score(&self) -> f64 {
        f64::from(self.overall) / 10.0
    }

    /// Rating of [`Cvss::score`]; v2 uses the NVD v2 bands (no "None", no "Critical").
    pub fn rating(&self) -> Rating {
        match self.version {
            CvssVersion::V2 => Rating::from_v2_score(self.score()),
            _ => Rating::from_score(self.score()),
        }
    }

    /// v4 only: which metric groups [`Cvss::score`] covers — `"CVSS-B"`, `"CVSS-BT"`
    /// (threat metric E set), `"CVSS-BE"` (an environmental metric set) or `"CVSS-BTE"`.
    pub fn nomenclature(&self) -> Option<&'static str> {
        if self.version != CvssVersion::V4_0 {
            return None;
        }
        let view = self.view();
        let threat = view.any_defined(&["E"]);
        let env = view.any_defined(&v4::ENVIRONMENTAL);
        Some(match (threat, env) {
            (false, false) => "CVSS-B",
            (true, false) => "CVSS-BT",
            (false, true) => "CVSS-BE",
            (true, true) => "CVSS-BTE",
        })
    }

    /// The value of metric `name` (`"AV"`, `"MSI"`, `"AU"`, …) as given in the vector,
    /// `X` / `ND` included; `None` when the vector does not carry it.
    pub fn metric(&self, name: &str) -> Option<&'static str> {
        self.view().get(name)
    }

    /// Every metric the vector carries, as (name, value), in the specification's order.
    pub fn metrics(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.version
            .metrics()
            .iter()
            .zip(&self.values)
            .filter_map(|(def, v)| {
                let v = (*v)?;
                Some((def.name, *def.values.get(usize::from(v))?))
            })
    }

    /// The canonical vector: the version prefix (none for v2, whose canonical form is the
    /// bare NVD one), then the metrics in the specification's order, leaving out those
    /// set to "Not Defined" (`X`, `ND`).
    pub fn vector(&self) -> String {
        let mut out = String::new();
        if self.version != CvssVersion::V2 {
            out.push_str("CVSS:");
            out.push_str(self.version.as_str());
        }
        for (name, value) in self.metrics() {
            if Metric::is_not_defined(value) {
                continue;
            }
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(name);
            out.push(':');
            out.push_str(value);
        }
        out
    }
}

impl FromStr for Cvss {
    type Err = CvssError;

    fn from_str(s: &str) -> Result<Cvss, CvssError> {
        Cvss::parse(s)
    }
}

impl fmt::Display for Cvss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.vector())
    }
}

#[cfg(test)]
mod tests;
