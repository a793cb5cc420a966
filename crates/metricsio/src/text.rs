//! The Prometheus text exposition format 0.0.4, parsed the way the reference parser
//! (Go `expfmt.TextParser`) does: the same accepted inputs, the same grouping of summary
//! and histogram lines into one metric per label set, the same errors.
//!
//! Notable rules kept on purpose: every line must end with a newline (a cut-off body is an
//! error), a sample may carry an integer millisecond timestamp and nothing after it, a
//! `TYPE` line must come before the family's first sample, and `__name__` may not appear
//! as a label.

use crate::error::{parse_go_float, ExpositionFormat, ParseError, ParseLimits};
use crate::gofloat::format_go_g;
use postwatch_model::metrics::{
    ExposedSample, Labels, MetricFamily, MetricType, METRIC_NAME_LABEL,
};
use std::collections::{BTreeMap, HashMap};

/// Parses a Prometheus text 0.0.4 exposition into metric families sorted by name.
pub fn parse_text(input: &[u8], limits: &ParseLimits) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = TextParser {
        input,
        limits,
        pos: 0,
        line: 0,
        line_start: 0,
        current: 0,
        families: BTreeMap::new(),
        sample_count: 0,
    };
    parser.run()?;
    Ok(parser.finish())
}

/// What one metric (one label set) holds, by family type.
#[derive(Debug)]
enum MetricValue {
    Simple(f64),
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

#[derive(Debug)]
struct Metric {
    labels: Vec<(String, String)>,
    value: MetricValue,
    timestamp_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct Family {
    metric_type: Option<TextType>,
    help: Option<String>,
    metrics: Vec<Metric>,
    /// Summary/histogram metric index by label signature (labels without quantile/le).
    grouped: HashMap<Vec<(String, String)>, usize>,
}

/// The types the text format's `TYPE` line can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextType {
    Counter,
    Gauge,
    Summary,
    Untyped,
    Histogram,
    /// Accepted in a TYPE line (the protobuf enum knows it) but samples of it are refused.
    GaugeHistogram,
}

/// Why a step stopped: the input ended, or it is malformed.
enum Stop {
    Eof,
    Error(ParseError),
}

type Step<T> = Result<T, Stop>;

/// Which child of a summary or histogram family the current sample line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Plain,
    Sum,
    Count,
}

struct TextParser<'a> {
    input: &'a [u8],
    limits: &'a ParseLimits,
    pos: usize,
    line: usize,
    line_start: usize,
    current: u8,
    families: BTreeMap<String, Family>,
    sample_count: usize,
}

fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn is_label_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

fn is_label_name_continuation(byte: u8) -> bool {
    is_label_name_start(byte) || byte.is_ascii_digit()
}

fn is_metric_name_start(byte: u8) -> bool {
    is_label_name_start(byte) || byte == b':'
}

fn is_metric_name_continuation(byte: u8) -> bool {
    is_label_name_continuation(byte) || byte == b':'
}

/// Go's `%q` of one byte, for messages such as `found 'b'`.
fn quote_byte(byte: u8) -> String {
    match byte {
        b'\n' => "'\\n'".to_string(),
        b'\t' => "'\\t'".to_string(),
        b'\'' => "'\\''".to_string(),
        b'\\' => "'\\\\'".to_string(),
        0x20..=0x7e => format!("'{}'", char::from(byte)),
        _ => format!("'\\x{byte:02x}'"),
    }
}

/// Go's `%q` of a string.
fn quote_str(text: &str) -> String {
    format!("{text:?}")
}

impl<'a> TextParser<'a> {
    fn error<T>(&self, message: impl Into<String>) -> Step<T> {
        Err(Stop::Error(ParseError {
            format: ExpositionFormat::PrometheusText,
            line: self.line,
            message: message.into(),
        }))
    }

    fn read_byte(&mut self) -> Step<u8> {
        let Some(&byte) = self.input.get(self.pos) else {
            return Err(Stop::Eof);
        };
        self.pos += 1;
        if byte == b'\n' {
            self.line_start = self.pos;
        } else if self.pos - self.line_start > self.limits.max_line_bytes {
            return self.error(format!(
                "line longer than the limit of {} bytes",
                self.limits.max_line_bytes
            ));
        }
        self.current = byte;
        Ok(byte)
    }

    fn skip_blank_tab(&mut self) -> Step<()> {
        loop {
            if !is_blank(self.read_byte()?) {
                return Ok(());
            }
        }
    }

    fn skip_blank_tab_if_current_blank(&mut self) -> Step<()> {
        if is_blank(self.current) {
            self.skip_blank_tab()?;
        }
        Ok(())
    }

    /// Token from the current byte up to (not including) a blank, tab or newline.
    fn read_token_until_whitespace(&mut self) -> Step<Vec<u8>> {
        let mut token = Vec::new();
        while !is_blank(self.current) && self.current != b'\n' {
            token.push(self.current);
            self.read_byte()?;
        }
        Ok(token)
    }

    /// Token from the current byte up to the newline; with `escapes` (HELP text), `\\` and
    /// `\n` are unescaped and any other escape is an error, as in the reference parser.
    fn read_token_until_newline(&mut self, escapes: bool) -> Step<Vec<u8>> {
        let mut token = Vec::new();
        let mut escaped = false;
        loop {
            if escapes && escaped {
                match self.current {
                    b'\\' => token.push(b'\\'),
                    b'n' => token.push(b'\n'),
                    other => {
                        return self
                            .error(format!("invalid escape sequence '\\{}'", char::from(other)))
                    }
                }
                escaped = false;
            } else {
                match self.current {
                    b'\n' => return Ok(token),
                    b'\\' if escapes => escaped = true,
                    other => token.push(other),
                }
            }
            self.read_byte()?;
        }
    }

    fn read_metric_name(&mut self) -> Step<String> {
        let mut token = String::new();
        if !is_metric_name_start(self.current) {
            return Ok(token);
        }
        loop {
            token.push(char::from(self.current));
            if !is_metric_name_continuation(self.read_byte()?) {
                return Ok(token);
            }
        }
    }

    fn read_label_name(&mut self) -> Step<String> {
        let mut token = String::new();
        if !is_label_name_start(self.current) {
            return Ok(token);
        }
        loop {
            token.push(char::from(self.current));
            if !is_label_name_continuation(self.read_byte()?) {
                return Ok(token);
            }
        }
    }

    /// A quoted label value; the opening quote is the current byte.
    fn read_label_value(&mut self) -> Step<String> {
        let mut token = Vec::new();
        let mut escaped = false;
        loop {
            let byte = self.read_byte()?;
            if escaped {
                match byte {
                    b'"' | b'\\' => token.push(byte),
                    b'n' => token.push(b'\n'),
                    other => {
                        return self
                            .error(format!("invalid escape sequence '\\{}'", char::from(other)))
                    }
                }
                escaped = false;
                continue;
            }
            match byte {
                b'"' => break,
                b'\n' => {
                    let so_far = String::from_utf8_lossy(&token);
                    return self.error(format!(
                        "label value {} contains unescaped new-line",
                        quote_str(&so_far)
                    ));
                }
                b'\\' => escaped = true,
                other => token.push(other),
            }
        }
        match String::from_utf8(token) {
            Ok(value) => Ok(value),
            Err(bad) => {
                let lossy = String::from_utf8_lossy(bad.as_bytes()).into_owned();
                self.error(format!("invalid label value {}", quote_str(&lossy)))
            }
        }
    }

    fn run(&mut self) -> Result<(), ParseError> {
        loop {
            match self.line_step() {
                Ok(true) => continue,
                Ok(false) => return Ok(()),
                Err(Stop::Error(error)) => return Err(error),
                Err(Stop::Eof) => {
                    return Err(ParseError {
                        format: ExpositionFormat::PrometheusText,
                        line: self.line,
                        message: "unexpected end of input stream".to_string(),
                    })
                }
            }
        }
    }

    /// Parses one line. `Ok(false)` at the clean end of the input.
    fn line_step(&mut self) -> Step<bool> {
        self.line += 1;
        match self.skip_blank_tab() {
            Ok(()) => {}
            Err(Stop::Eof) => return Ok(false),
            Err(other) => return Err(other),
        }
        match self.current {
            b'#' => self.comment()?,
            b'\n' => {}
            _ => self.sample()?,
        }
        Ok(true)
    }

    fn comment(&mut self) -> Step<()> {
        self.skip_blank_tab()?;
        if self.current == b'\n' {
            return Ok(());
        }
        let keyword = self.read_token_until_whitespace()?;
        if self.current == b'\n' {
            return Ok(());
        }
        if keyword != b"HELP" && keyword != b"TYPE" {
            while self.current != b'\n' {
                self.read_byte()?;
            }
            return Ok(());
        }
        self.skip_blank_tab()?;
        let name = self.read_metric_name()?;
        if self.current == b'\n' {
            return Ok(());
        }
        if !is_blank(self.current) {
            return self.error("invalid metric name in comment");
        }
        let (family_name, _) = self.family_for(&name);
        self.skip_blank_tab()?;
        if self.current == b'\n' {
            return Ok(());
        }
        if keyword == b"HELP" {
            if self.family(&family_name).help.is_some() {
                return self.error(format!(
                    "second HELP line for metric name {}",
                    quote_str(&family_name)
                ));
            }
            let help = self.read_token_until_newline(true)?;
            let help = String::from_utf8_lossy(&help).into_owned();
            self.family(&family_name).help = Some(help);
        } else {
            if self.family(&family_name).metric_type.is_some() {
                return self.error(format!(
                    "second TYPE line for metric name {}, or TYPE reported after samples",
                    quote_str(&family_name)
                ));
            }
            let word = self.read_token_until_newline(false)?;
            let word = String::from_utf8_lossy(&word).into_owned();
            let metric_type = match word.to_ascii_uppercase().as_str() {
                "COUNTER" => TextType::Counter,
                "GAUGE" => TextType::Gauge,
                "SUMMARY" => TextType::Summary,
                "UNTYPED" => TextType::Untyped,
                "HISTOGRAM" => TextType::Histogram,
                "GAUGE_HISTOGRAM" => TextType::GaugeHistogram,
                _ => return self.error(format!("unknown metric type {}", quote_str(&word))),
            };
            self.family(&family_name).metric_type = Some(metric_type);
        }
        Ok(())
    }

    fn family(&mut self, name: &str) -> &mut Family {
        self.families.entry(name.to_string()).or_default()
    }

    /// The family a line's metric name belongs to (a summary's or histogram's `_sum`,
    /// `_count`, `_bucket` children join their parent) and which child it is.
    fn family_for(&mut self, name: &str) -> (String, Child) {
        if self.families.contains_key(name) {
            return (name.to_string(), Child::Plain);
        }
        let child_of = |suffix: &str| -> Option<&str> {
            name.strip_suffix(suffix)
                .filter(|parent| !parent.is_empty())
        };
        let sum_or_count = child_of("_count")
            .map(|parent| (parent, Child::Count))
            .or_else(|| child_of("_sum").map(|parent| (parent, Child::Sum)));
        if let Some((parent, child)) = sum_or_count {
            if let Some(family) = self.families.get(parent) {
                if matches!(
                    family.metric_type,
                    Some(TextType::Summary) | Some(TextType::Histogram)
                ) {
                    return (parent.to_string(), child);
                }
            }
        }
        if let Some(parent) = child_of("_bucket") {
            if let Some(family) = self.families.get(parent) {
                if family.metric_type == Some(TextType::Histogram) {
                    return (parent.to_string(), Child::Plain);
                }
            }
        }
        self.families.entry(name.to_string()).or_default();
        (name.to_string(), Child::Plain)
    }

    fn sample(&mut self) -> Step<()> {
        let name = self.read_metric_name()?;
        if name.is_empty() {
            return self.error("invalid metric name");
        }
        let (family_name, child) = self.family_for(&name);
        let metric_type = {
            let family = self.family(&family_name);
            *family.metric_type.get_or_insert(TextType::Untyped)
        };
        let grouped = matches!(metric_type, TextType::Summary | TextType::Histogram);
        self.skip_blank_tab_if_current_blank()?;

        let mut labels: Vec<(String, String)> = Vec::new();
        let mut quantile = f64::NAN;
        let mut bucket = f64::NAN;
        if self.current == b'{' {
            loop {
                self.skip_blank_tab()?;
                if self.current == b'}' {
                    break;
                }
                let label_name = self.read_label_name()?;
                if label_name.is_empty() {
                    return self.error(format!(
                        "invalid label name for metric {}",
                        quote_str(&family_name)
                    ));
                }
                self.skip_blank_tab_if_current_blank()?;
                if self.current != b'=' {
                    return self.error(format!(
                        "expected '=' after label name, found {}",
                        quote_byte(self.current)
                    ));
                }
                if label_name == METRIC_NAME_LABEL {
                    return self.error(format!(
                        "label name {} is reserved",
                        quote_str(METRIC_NAME_LABEL)
                    ));
                }
                let special = (metric_type == TextType::Summary && label_name == "quantile")
                    || (metric_type == TextType::Histogram && label_name == "le");
                if !special && labels.iter().any(|(existing, _)| *existing == label_name) {
                    return self.error(format!(
                        "duplicate label names for metric {}",
                        quote_str(&family_name)
                    ));
                }
                if labels.len() + 1 > self.limits.max_labels_per_sample {
                    return self.error(format!(
                        "more than {} labels on one sample",
                        self.limits.max_labels_per_sample
                    ));
                }
                self.skip_blank_tab()?;
                if self.current != b'"' {
                    return self.error(format!(
                        "expected '\"' at start of label value, found {}",
                        quote_byte(self.current)
                    ));
                }
                let value = self.read_label_value()?;
                if special {
                    let parsed = parse_go_float(&value);
                    match parsed {
                        Some(parsed) if label_name == "quantile" => quantile = parsed,
                        Some(parsed) => bucket = parsed,
                        None => {
                            return self.error(format!(
                                "expected float as value for '{label_name}' label, got {}",
                                quote_str(&value)
                            ))
                        }
                    }
                } else {
                    labels.push((label_name, value.clone()));
                }
                self.skip_blank_tab()?;
                match self.current {
                    b',' => continue,
                    b'}' => break,
                    _ => {
                        return self.error(format!(
                            "unexpected end of label value {}",
                            quote_str(&value)
                        ))
                    }
                }
            }
            self.skip_blank_tab()?;
        }

        // The value.
        let token = self.read_token_until_whitespace()?;
        let token = String::from_utf8_lossy(&token).into_owned();
        let Some(value) = parse_go_float(&token) else {
            return self.error(format!(
                "expected float as value, got {}",
                quote_str(&token)
            ));
        };
        let mut timestamp_ms = None;
        if self.current != b'\n' {
            self.skip_blank_tab()?;
            let token = self.read_token_until_whitespace()?;
            let token = String::from_utf8_lossy(&token).into_owned();
            let Ok(timestamp) = token.parse::<i64>() else {
                return self.error(format!(
                    "expected integer as timestamp, got {}",
                    quote_str(&token)
                ));
            };
            timestamp_ms = Some(timestamp);
            let rest = self.read_token_until_newline(false)?;
            if !rest.is_empty() {
                return self.error(format!(
                    "spurious string after timestamp: {}",
                    quote_str(&String::from_utf8_lossy(&rest))
                ));
            }
        }

        self.sample_count += 1;
        if self.sample_count > self.limits.max_samples {
            return self.error(format!(
                "more than {} samples in one exposition",
                self.limits.max_samples
            ));
        }
        let line = self.line;
        let family = self.family(&family_name);
        if !grouped {
            let value = match metric_type {
                TextType::GaugeHistogram => {
                    return Err(Stop::Error(ParseError {
                        format: ExpositionFormat::PrometheusText,
                        line,
                        message: format!(
                            "unexpected type for metric name {}",
                            quote_str(&family_name)
                        ),
                    }))
                }
                _ => MetricValue::Simple(value),
            };
            family.metrics.push(Metric {
                labels,
                value,
                timestamp_ms,
            });
            return Ok(());
        }
        let mut signature = labels.clone();
        signature.sort();
        let index = match family.grouped.get(&signature) {
            Some(&index) => index,
            None => {
                let value = if metric_type == TextType::Summary {
                    MetricValue::Summary {
                        quantiles: Vec::new(),
                        sum: 0.0,
                        count: 0,
                    }
                } else {
                    MetricValue::Histogram {
                        buckets: Vec::new(),
                        sum: 0.0,
                        count: 0,
                    }
                };
                family.metrics.push(Metric {
                    labels,
                    value,
                    timestamp_ms: None,
                });
                let index = family.metrics.len() - 1;
                family.grouped.insert(signature, index);
                index
            }
        };
        let Some(metric) = family.metrics.get_mut(index) else {
            return Ok(());
        };
        if timestamp_ms.is_some() {
            metric.timestamp_ms = timestamp_ms;
        }
        // Counts are unsigned integers in the reference data model.
        let as_count = value as u64;
        match &mut metric.value {
            MetricValue::Summary {
                quantiles,
                sum,
                count,
            } => match child {
                Child::Count => *count = as_count,
                Child::Sum => *sum = value,
                Child::Plain if !quantile.is_nan() => quantiles.push((quantile, value)),
                Child::Plain => {}
            },
            MetricValue::Histogram {
                buckets,
                sum,
                count,
            } => match child {
                Child::Count => *count = as_count,
                Child::Sum => *sum = value,
                Child::Plain if !bucket.is_nan() => buckets.push((bucket, as_count)),
                Child::Plain => {}
            },
            MetricValue::Simple(_) => {}
        }
        Ok(())
    }

    fn finish(self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        for (name, family) in self.families {
            if family.metrics.is_empty() {
                continue;
            }
            let metric_type = match family.metric_type {
                Some(TextType::Counter) => MetricType::Counter,
                Some(TextType::Gauge) => MetricType::Gauge,
                Some(TextType::Summary) => MetricType::Summary,
                Some(TextType::Histogram) => MetricType::Histogram,
                Some(TextType::GaugeHistogram) => MetricType::GaugeHistogram,
                Some(TextType::Untyped) | None => MetricType::Unknown,
            };
            let mut samples = Vec::new();
            for metric in family.metrics {
                let sample = |suffix: &str, extra: Option<(&str, f64)>, value: f64| {
                    let sample_name = format!("{name}{suffix}");
                    let mut pairs: Vec<(String, String)> = metric.labels.clone();
                    pairs.push((METRIC_NAME_LABEL.to_string(), sample_name));
                    if let Some((label, bound)) = extra {
                        pairs.push((label.to_string(), format_go_g(bound)));
                    }
                    ExposedSample {
                        labels: Labels::from_pairs(pairs),
                        value,
                        timestamp_ms: metric.timestamp_ms,
                    }
                };
                match &metric.value {
                    MetricValue::Simple(value) => samples.push(sample("", None, *value)),
                    MetricValue::Summary {
                        quantiles,
                        sum,
                        count,
                    } => {
                        for (quantile, value) in quantiles {
                            samples.push(sample("", Some(("quantile", *quantile)), *value));
                        }
                        samples.push(sample("_sum", None, *sum));
                        samples.push(sample("_count", None, *count as f64));
                    }
                    MetricValue::Histogram {
                        buckets,
                        sum,
                        count,
                    } => {
                        for (bound, cumulative) in buckets {
                            samples.push(sample(
                                "_bucket",
                                Some(("le", *bound)),
                                *cumulative as f64,
                            ));
                        }
                        samples.push(sample("_sum", None, *sum));
                        samples.push(sample("_count", None, *count as f64));
                    }
                }
            }
            out.push(MetricFamily {
                name,
                metric_type,
                help: family.help,
                unit: None,
                samples,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<MetricFamily>, ParseError> {
        parse_text(text.as_bytes(), &ParseLimits::default())
    }

    #[test]
    fn groups_summary_lines_per_label_set() {
        let families = parse(
            "# TYPE rpc summary\nrpc{a=\"x\",quantile=\"0.5\"} 1\nrpc_sum{a=\"x\"} 3\nrpc_count{a=\"x\"} 2\nrpc{a=\"x\",quantile=\"0.90\"} 4\n",
        )
        .unwrap();
        let texts: Vec<String> = families[0]
            .samples
            .iter()
            .map(|s| format!("{} {}", s.labels, s.value))
            .collect();
        assert_eq!(
            texts,
            [
                "rpc{a=\"x\", quantile=\"0.5\"} 1",
                "rpc{a=\"x\", quantile=\"0.9\"} 4",
                "rpc_sum{a=\"x\"} 3",
                "rpc_count{a=\"x\"} 2"
            ]
        );
    }

    #[test]
    fn summary_lines_merge_across_other_families_and_the_latest_timestamp_wins() {
        let families = parse(
            "# TYPE s summary\ns{a=\"1\",quantile=\"0.5\"} 110\ndecoy -1 -2\ns{a=\"1\",quantile=\"0.9\"} 140 1\ns_count{a=\"1\"} 42\ns_sum{a=\"1\"} 4711 2\n",
        )
        .unwrap();
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["decoy", "s"]);
        assert_eq!(families[0].samples[0].timestamp_ms, Some(-2));
        let summary: Vec<(String, f64, Option<i64>)> = families[1]
            .samples
            .iter()
            .map(|s| (s.labels.to_string(), s.value, s.timestamp_ms))
            .collect();
        assert_eq!(
            summary,
            [
                ("s{a=\"1\", quantile=\"0.5\"}".to_string(), 110.0, Some(2)),
                ("s{a=\"1\", quantile=\"0.9\"}".to_string(), 140.0, Some(2)),
                ("s_sum{a=\"1\"}".to_string(), 4711.0, Some(2)),
                ("s_count{a=\"1\"}".to_string(), 42.0, Some(2)),
            ]
        );
    }

    #[test]
    fn help_escapes_are_only_backslash_and_newline() {
        let families = parse("# HELP m a\\\\b\\nc\nm 1\n").unwrap();
        assert_eq!(families[0].help.as_deref(), Some("a\\b\nc"));
        assert!(parse("# HELP m say \\\"hi\\\"\nm 1\n").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let error = parse("ok 1\nbad{x=\"1\" 2\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(
            error.message.contains("unexpected end of label value"),
            "{error}"
        );
        assert!(parse("cut 1").is_err());
        assert!(parse("trailing 1 \n").is_err());
    }

    #[test]
    fn limits_are_enforced() {
        let limits = ParseLimits {
            max_line_bytes: 10,
            ..ParseLimits::default()
        };
        let error = parse_text(b"a_very_long_metric_name 1\n", &limits).unwrap_err();
        assert!(error.message.contains("longer than"), "{error}");
        let limits = ParseLimits {
            max_samples: 2,
            ..ParseLimits::default()
        };
        assert!(parse_text(b"a 1\nb 2\nc 3\n", &limits).is_err());
        let limits = ParseLimits {
            max_labels_per_sample: 1,
            ..ParseLimits::default()
        };
        assert!(parse_text(b"a{x=\"1\",y=\"2\"} 1\n", &limits).is_err());
    }
}
