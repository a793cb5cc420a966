//! PromQL for postwatch: parses queries with the `promql-parser` crate and evaluates
//! instant and range queries over any [`SeriesSource`] with Prometheus' semantics
//! (lookback and staleness, extrapolated rates, vector matching, delayed metric-name
//! removal), plus a runner for Prometheus' `promqltest` script format.
//!
//! Range queries are evaluated for all steps at once: every selector reads its series
//! from the source a single time and each step finds its window by binary search, so
//! cost grows with samples, not with samples × steps.

mod engine;
mod functions;
mod memory;
mod positions;
pub mod promqltest;

pub use engine::{Engine, EngineOptions};
pub use memory::MemorySource;
pub use postwatch_model::metrics::{Labels, Sample, Series, SeriesSource};

use std::fmt;

/// A query result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// One number (an instant query's value; range queries return a matrix instead).
    Scalar(f64),
    /// A string literal.
    String(String),
    /// One sample per series at the evaluation time.
    Vector(Vec<(Labels, f64)>),
    /// Samples over time per series (a range query, or an instant range selector).
    Matrix(Vec<Series>),
}

/// What kind of failure a query ended in; maps onto Prometheus' API `errorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Parse or validation error (`bad_data`).
    BadData,
    /// Evaluation failed (`execution`).
    Execution,
    /// The timeout expired (`timeout`).
    Timeout,
    /// The query was cancelled (`canceled`).
    Canceled,
}

impl ErrorKind {
    /// Prometheus' HTTP API `errorType` string.
    pub fn api_error_type(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
        }
    }
}

/// A failed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub kind: ErrorKind,
    pub message: String,
}

impl QueryError {
    pub(crate) fn bad_data(message: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::BadData,
            message: message.into(),
        }
    }

    pub(crate) fn execution(message: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorKind::Execution,
            message: message.into(),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.api_error_type(), self.message)
    }
}

impl std::error::Error for QueryError {}

/// An annotation a query produced (Prometheus' warnings and infos).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Annotation {
    Warning(String),
    Info(String),
}

/// A result with the annotations collected while evaluating it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub annotations: Vec<Annotation>,
}

/// Parses a series selector such as `up{job="node"}` (the `match[]` parameter of the
/// series, labels and label-values APIs) into its matchers. Like Prometheus, a selector
/// whose matchers all match the empty string is refused: it would select every series.
pub fn parse_series_selector(
    text: &str,
) -> Result<Vec<postwatch_model::metrics::LabelMatcher>, QueryError> {
    match engine::parse(text)? {
        promql_parser::parser::Expr::VectorSelector(vs) => {
            let matchers = engine::selector_matchers(&vs)?;
            if matchers.iter().all(|m| m.matches_empty()) {
                return Err(QueryError::bad_data(
                    "match[] must contain at least one non-empty matcher",
                ));
            }
            Ok(matchers)
        }
        _ => Err(QueryError::bad_data(format!(
            "{text:?} is not a series selector (write it like `up{{job=\"node\"}}`)"
        ))),
    }
}

/// Formats a float the way Prometheus prints sample values (`+Inf`, `-Inf`, `NaN`).
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{value}")
    }
}
