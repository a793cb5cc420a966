//! Parse errors.

use std::fmt;

/// Longest stretch of the input quoted in an error message, in characters.
const QUOTE_MAX: usize = 120;

/// A vector that could not be parsed. Displays as `<vector>: <problem>`, e.g.
/// `CVSS:3.1/AV:X/…: metric AV has unknown value X`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{vector}: {problem}")]
pub struct CvssError {
    /// The input, shortened to [`QUOTE_MAX`] characters.
    vector: String,
    problem: Problem,
}

impl CvssError {
    pub(crate) fn new(vector: &str, problem: Problem) -> CvssError {
        CvssError {
            vector: clip(vector),
            problem,
        }
    }

    /// The offending vector (shortened with `…` when very long).
    pub fn vector(&self) -> &str {
        &self.vector
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

/// What is wrong with a vector. Strings taken from the input are shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The input is the empty string.
    Empty,
    /// A `CVSS:` prefix with a version other than 2.0, 3.0, 3.1 or 4.0.
    UnsupportedVersion(String),
    /// A version prefix and nothing after it.
    NoMetrics,
    /// No prefix, and what follows is a v3 or v4 vector, not a v2 one.
    MissingPrefix,
    /// An empty metric: `//`, or a trailing `/`. The position counts from 1.
    EmptyMetric { position: usize },
    /// A metric that is not `NAME:VALUE`.
    MalformedMetric(String),
    /// A metric name the version does not define.
    UnknownMetric(String),
    /// A value the metric does not allow.
    UnknownValue { metric: &'static str, value: String },
    /// The same metric twice.
    DuplicateMetric(&'static str),
    /// Mandatory base metrics that are absent.
    MissingMetrics(Vec<&'static str>),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("empty vector"),
            Problem::UnsupportedVersion(v) => write!(
                f,
                "unsupported CVSS version {v:?} (expected 2.0, 3.0, 3.1 or 4.0)"
            ),
            Problem::NoMetrics => f.write_str("no metrics after the version prefix"),
            Problem::MissingPrefix => f.write_str(
                "a CVSS v3 or v4 vector needs its \"CVSS:3.x/\" or \"CVSS:4.0/\" prefix",
            ),
            Problem::EmptyMetric { position } => {
                write!(f, "metric {position} is empty (doubled or trailing \"/\")")
            }
            Problem::MalformedMetric(m) => write!(f, "metric {m:?} is not NAME:VALUE"),
            Problem::UnknownMetric(m) => write!(f, "unknown metric {m}"),
            Problem::UnknownValue { metric, value } => {
                write!(f, "metric {metric} has unknown value {value}")
            }
            Problem::DuplicateMetric(m) => write!(f, "metric {m} appears more than once"),
            Problem::MissingMetrics(list) => {
                let s = if list.len() == 1 { "" } else { "s" };
                write!(f, "missing mandatory metric{s} {}", list.join(", "))
            }
        }
    }
}

/// `s`, cut to [`QUOTE_MAX`] characters with a trailing `…` when longer.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        None => s.to_owned(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}
