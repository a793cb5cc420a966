//! Content negotiation between a scraper and an exporter.

use crate::error::{ExpositionFormat, ParseError, ParseLimits};
use postwatch_model::metrics::MetricFamily;

/// The `Accept` header a scrape sends: OpenMetrics preferred, the Prometheus text format
/// as the fallback every exporter speaks, anything else last.
pub const SCRAPE_ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0;q=0.9,application/openmetrics-text;version=0.0.1;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The format of a response body from its `Content-Type`. OpenMetrics only when the
/// exporter says so; anything else (missing, `text/plain`, unknown) is the text format, as
/// Prometheus does.
pub fn format_for_content_type(content_type: Option<&str>) -> ExpositionFormat {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/openmetrics-text") => ExpositionFormat::OpenMetrics,
        _ => ExpositionFormat::PrometheusText,
    }
}

/// Parses a body in the format its `Content-Type` names.
pub fn parse_exposition(
    body: &[u8],
    content_type: Option<&str>,
    limits: &ParseLimits,
) -> Result<Vec<MetricFamily>, ParseError> {
    match format_for_content_type(content_type) {
        ExpositionFormat::OpenMetrics => crate::openmetrics::parse_openmetrics(body, limits),
        ExpositionFormat::PrometheusText => crate::text::parse_text(body, limits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_parser_from_the_content_type() {
        assert_eq!(
            format_for_content_type(Some(
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )),
            ExpositionFormat::OpenMetrics
        );
        assert_eq!(
            format_for_content_type(Some("text/plain; version=0.0.4")),
            ExpositionFormat::PrometheusText
        );
        assert_eq!(
            format_for_content_type(None),
            ExpositionFormat::PrometheusText
        );
        let body = b"# TYPE a counter\na_total 1\n# EOF\n";
        let families = parse_exposition(
            body,
            Some("application/openmetrics-text; version=1.0.0"),
            &ParseLimits::default(),
        )
        .unwrap();
        assert_eq!(families[0].name, "a");
    }
}
