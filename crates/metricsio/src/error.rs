//! Errors of the exposition parsers and the limits that bound them.

use std::fmt;

/// Which exposition format an error or a parse refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpositionFormat {
    /// Prometheus text format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl ExpositionFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpositionFormat::PrometheusText => "Prometheus text",
            ExpositionFormat::OpenMetrics => "OpenMetrics",
        }
    }
}

/// A parse failure: the 1-based line it was found on and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub format: ExpositionFormat,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} parsing error in line {}: {}",
            self.format.as_str(),
            self.line,
            self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// Bounds on what one exposition may hold, so a hostile exporter cannot exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Longest line in bytes.
    pub max_line_bytes: usize,
    /// Most labels on one sample (including `le`/`quantile`).
    pub max_labels_per_sample: usize,
    /// Most samples in the whole exposition.
    pub max_samples: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_line_bytes: 1 << 20,
            max_labels_per_sample: 256,
            max_samples: 2_000_000,
        }
    }
}

/// Parses a float as Go's `strconv.ParseFloat` does for the exposition formats: decimal and
/// exponent forms, `Inf`/`+Inf`/`-Inf`/`NaN` in any case; no hex, no `_`, no overflow to ±Inf.
pub fn parse_go_float(text: &str) -> Option<f64> {
    if text.is_empty() || text.contains(['p', 'P', '_', 'x', 'X']) {
        return None;
    }
    let unsigned = text.trim_start_matches(['+', '-']);
    if unsigned.len() != text.len() && unsigned.eq_ignore_ascii_case("nan") {
        return None; // Go accepts a sign only before Inf
    }
    let value: f64 = text.parse().ok()?;
    let spelled_infinity =
        unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
    if value.is_infinite() && !spelled_infinity {
        return None; // out of range, which Go reports as an error
    }
    Some(value)
}
