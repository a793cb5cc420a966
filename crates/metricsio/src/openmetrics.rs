//! OpenMetrics 1.0 text: `# HELP`/`# TYPE`/`# UNIT` metadata, typed families (counter,
//! gauge, histogram, gaugehistogram, summary, info, stateset, unknown), timestamps in
//! seconds, exemplars, and the mandatory `# EOF`.
//!
//! Validation follows the specification as the reference Python parser
//! (`prometheus_client.openmetrics.parser`) enforces it: no blank lines, nothing after
//! `# EOF`, metadata before samples, one HELP/TYPE/UNIT per family, a unit that ends the
//! family name, no interleaved groups, timestamps that do not go backwards within a
//! group, histograms with ordered buckets ending at `+Inf` whose count matches, counters
//! that are neither negative nor NaN, and exemplars only on buckets and `_total`.

use crate::error::{ExpositionFormat, ParseError, ParseLimits};
use postwatch_model::metrics::{
    ExposedSample, Labels, MetricFamily, MetricType, METRIC_NAME_LABEL,
};
use std::collections::HashSet;

/// An exemplar attached to a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct OmExemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Seconds since the epoch.
    pub timestamp: Option<f64>,
}

/// One OpenMetrics sample as written: labels in file order (`le`/`quantile` included).
#[derive(Debug, Clone, PartialEq)]
pub struct OmSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Seconds since the epoch.
    pub timestamp: Option<f64>,
    pub exemplar: Option<OmExemplar>,
}

/// One OpenMetrics family with everything the format carries.
#[derive(Debug, Clone, PartialEq)]
pub struct OmFamily {
    pub name: String,
    pub metric_type: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<OmSample>,
}

impl OmFamily {
    /// The shared metric-family form (timestamps in milliseconds, exemplars dropped).
    pub fn into_metric_family(self) -> MetricFamily {
        let samples = self
            .samples
            .into_iter()
            .map(|sample| {
                let mut pairs = sample.labels;
                pairs.push((METRIC_NAME_LABEL.to_string(), sample.name));
                ExposedSample {
                    labels: Labels::from_pairs(pairs),
                    value: sample.value,
                    timestamp_ms: sample.timestamp.map(seconds_to_ms),
                }
            })
            .collect();
        MetricFamily {
            name: self.name,
            metric_type: self.metric_type,
            help: self.help,
            unit: self.unit,
            samples,
        }
    }
}

fn seconds_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Parses an OpenMetrics exposition into metric families in file order.
pub fn parse_openmetrics(
    input: &[u8],
    limits: &ParseLimits,
) -> Result<Vec<MetricFamily>, ParseError> {
    Ok(parse_openmetrics_detailed(input, limits)?
        .into_iter()
        .map(OmFamily::into_metric_family)
        .collect())
}

fn om_error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        format: ExpositionFormat::OpenMetrics,
        line,
        message: message.into(),
    }
}

fn is_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' || first == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Byte offset of the first of `chars` at or after `start` that is outside double quotes
/// (a quote preceded by an odd number of backslashes does not count).
fn next_unquoted(text: &str, chars: &[u8], start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut in_quotes = false;
    let mut backslashes = 0usize;
    for (index, &byte) in bytes.iter().enumerate().skip(start) {
        if byte == b'"' && backslashes & 1 == 0 {
            in_quotes = !in_quotes;
        }
        if !in_quotes && chars.contains(&byte) {
            return Some(index);
        }
        backslashes = if byte == b'\\' { backslashes + 1 } else { 0 };
    }
    None
}

/// Replaces `\\`, `\n` and `\"`; other backslashes stay as written.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') => out.push('"'),
                _ => {
                    out.push('\\');
                    continue;
                }
            }
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

/// A possibly quoted name: returns the unescaped text and whether it was quoted.
fn unquote(text: &str) -> Result<(String, bool), String> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return Err(format!("missing closing quote in {text:?}"));
        };
        return Ok((unescape(inner), true));
    }
    Ok((unescape(text), false))
}

/// Parses the inside of `{…}`.
fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut rest = text.trim();
    if rest.starts_with(',') {
        return Err(format!("leading comma in labels {{{text}}}"));
    }
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
            if rest.is_empty() {
                return Err(format!("trailing comma in labels {{{text}}}"));
            }
            if rest.starts_with(',') {
                return Err(format!("empty label in labels {{{text}}}"));
            }
        }
        let split = next_unquoted(rest, b"=,}", 0);
        let (name_term, value_part) = match split {
            Some(at) if rest.as_bytes().get(at) == Some(&b'=') => (&rest[..at], &rest[at + 1..]),
            _ => ("\"__name__\"", rest),
        };
        let end = next_unquoted(value_part, b",}", 0).unwrap_or(value_part.len());
        let term = value_part[..end].trim();
        rest = value_part[end..].trim();
        if term.is_empty() {
            return Err(format!("empty label value in labels {{{text}}}"));
        }
        let (name, quoted) = unquote(name_term)?;
        if !quoted && !is_legacy_metric_name(&name) {
            return Err(format!("invalid label name {name:?}"));
        }
        let Some(inner) = term.strip_prefix('"') else {
            return Err(format!("label value of {name:?} is not quoted"));
        };
        let close = closing_quote(inner)
            .ok_or_else(|| format!("label value of {name:?} has no closing quote"))?;
        if close + 1 != inner.len() {
            return Err(format!("unexpected text after the value of label {name:?}"));
        }
        let value = unescape(&inner[..inner.len() - 1]);
        if name == METRIC_NAME_LABEL {
            if value.is_empty() {
                return Err("empty metric name".to_string());
            }
        } else if name.starts_with("__") {
            return Err(format!("label name {name:?} is reserved"));
        } else if name.is_empty() {
            return Err("empty label name".to_string());
        }
        if labels.iter().any(|(existing, _)| *existing == name) {
            return Err(format!("duplicate label name {name:?}"));
        }
        labels.push((name, value));
    }
    Ok(labels)
}

/// Offset of the first unescaped `"` in `text`.
fn closing_quote(text: &str) -> Option<usize> {
    let mut backslashes = 0usize;
    for (index, byte) in text.bytes().enumerate() {
        if byte == b'"' && backslashes & 1 == 0 {
            return Some(index);
        }
        backslashes = if byte == b'\\' { backslashes + 1 } else { 0 };
    }
    None
}

/// A number as the format writes it (integer, decimal, exponent, `+Inf`, `NaN`).
fn parse_number(text: &str) -> Result<f64, String> {
    if text.is_empty() || text.trim() != text || text.contains(['_', 'x', 'X', 'p', 'P']) {
        return Err(format!("invalid value {text:?}"));
    }
    text.parse::<f64>()
        .map_err(|_| format!("invalid value {text:?}"))
}

/// A timestamp in seconds: integer, `sec.fraction` (nanosecond resolution) or float.
fn parse_timestamp(text: &str) -> Result<Option<f64>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.trim() != text || text.contains('_') {
        return Err(format!("invalid timestamp {text:?}"));
    }
    let value = parse_number(text).map_err(|_| format!("invalid timestamp {text:?}"))?;
    if value.is_nan() || value.is_infinite() {
        return Err(format!("invalid timestamp {text:?}"));
    }
    Ok(Some(value))
}

/// Value, timestamp and exemplar after the sample's name and labels.
type SampleTail = (f64, Option<f64>, Option<OmExemplar>);

fn parse_tail(text: &str) -> Result<SampleTail, String> {
    let (value_text, rest) = match text.split_once(' ') {
        Some((value, rest)) => (value, Some(rest)),
        None => (text, None),
    };
    let value = parse_number(value_text)?;
    let Some(rest) = rest else {
        return Ok((value, None, None));
    };
    if rest.is_empty() {
        return Err("trailing space after the value".to_string());
    }
    let (timestamp_text, exemplar_text) = if let Some(exemplar) = rest.strip_prefix("# ") {
        ("", Some(exemplar))
    } else {
        match rest.split_once(' ') {
            Some((timestamp, after)) => match after.strip_prefix("# ") {
                Some(exemplar) => (timestamp, Some(exemplar)),
                None => return Err(format!("unexpected text after the timestamp: {after:?}")),
            },
            None => (rest, None),
        }
    };
    if timestamp_text.is_empty() && exemplar_text.is_none() {
        return Err("trailing space after the value".to_string());
    }
    let timestamp = parse_timestamp(timestamp_text)?;
    let exemplar = match exemplar_text {
        None => None,
        Some(exemplar) => Some(parse_exemplar(exemplar)?),
    };
    Ok((value, timestamp, exemplar))
}

fn parse_exemplar(text: &str) -> Result<OmExemplar, String> {
    let Some(inner) = text.strip_prefix('{') else {
        return Err(format!("exemplar must start with '{{': {text:?}"));
    };
    let Some(close) = next_unquoted(inner, b"}", 0) else {
        return Err(format!("exemplar labels are not closed: {text:?}"));
    };
    let labels = parse_labels(&inner[..close])?;
    let length: usize = labels
        .iter()
        .map(|(name, value)| name.chars().count() + value.chars().count())
        .sum();
    if length > 128 {
        return Err(format!("exemplar labels are {length} characters, over 128"));
    }
    let Some(rest) = inner[close + 1..].strip_prefix(' ') else {
        return Err(format!("exemplar has no value: {text:?}"));
    };
    let (value_text, timestamp_text) = match rest.split_once(' ') {
        Some((value, timestamp)) => {
            if timestamp.is_empty() {
                return Err("trailing space in exemplar".to_string());
            }
            (value, timestamp)
        }
        None => (rest, ""),
    };
    let value = parse_number(value_text)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    Ok(OmExemplar {
        labels,
        value,
        timestamp,
    })
}

fn parse_sample_line(line: &str) -> Result<OmSample, String> {
    let brace = next_unquoted(line, b"{", 0);
    let has_labels = match brace {
        Some(at) => !line[..at].contains(" # "),
        None => false,
    };
    let (name, labels, tail) = if has_labels {
        let open = brace.unwrap_or(0);
        let Some(close) = next_unquoted(line, b"}", open) else {
            return Err("labels are not closed".to_string());
        };
        let mut labels = parse_labels(&line[open + 1..close])?;
        let mut name = line[..open].to_string();
        if let Some(position) = labels.iter().position(|(n, _)| n == METRIC_NAME_LABEL) {
            if !name.is_empty() {
                return Err("metric name given twice".to_string());
            }
            name = labels.remove(position).1;
        } else if name.is_empty() {
            return Err("sample has no metric name".to_string());
        } else if !is_legacy_metric_name(&name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        let Some(tail) = line[close + 1..].strip_prefix(' ') else {
            return Err("expected one space after the labels".to_string());
        };
        (name, labels, tail)
    } else {
        let Some(space) = line.find(' ') else {
            return Err("sample has no value".to_string());
        };
        let name = &line[..space];
        if !is_legacy_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        (name.to_string(), Vec::new(), &line[space + 1..])
    };
    let (value, timestamp, exemplar) = parse_tail(tail)?;
    Ok(OmSample {
        name,
        labels,
        value,
        timestamp,
        exemplar,
    })
}

fn suffixes_of(metric_type: MetricType) -> &'static [&'static str] {
    match metric_type {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Histogram => &["_count", "_sum", "_bucket", "_created"],
        MetricType::GaugeHistogram => &["_gcount", "_gsum", "_bucket"],
        MetricType::Info => &["_info"],
        MetricType::Gauge | MetricType::Stateset | MetricType::Unknown => &[""],
    }
}

fn type_from_word(word: &str) -> Option<MetricType> {
    Some(match word {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::Stateset,
        "unknown" => MetricType::Unknown,
        _ => return None,
    })
}

/// The family being read.
struct Current {
    name: String,
    metric_type: Option<MetricType>,
    help: Option<String>,
    unit: Option<String>,
    samples: Vec<OmSample>,
    allowed_names: Vec<String>,
    group: Option<Vec<(String, String)>>,
    group_timestamp: Option<f64>,
    group_series: HashSet<(String, Vec<(String, String)>)>,
    seen_groups: HashSet<Vec<(String, String)>>,
}

impl Current {
    fn new(name: String, metric_type: Option<MetricType>) -> Self {
        let allowed_names = vec![name.clone()];
        Current {
            name,
            metric_type,
            help: None,
            unit: None,
            samples: Vec::new(),
            allowed_names,
            group: None,
            group_timestamp: None,
            group_series: HashSet::new(),
            seen_groups: HashSet::new(),
        }
    }
}

/// The labels that identify a sample's group (one metric of the family).
fn group_of(sample: &OmSample, family: &str, metric_type: MetricType) -> Vec<(String, String)> {
    let drop = match metric_type {
        MetricType::Info => return Vec::new(),
        MetricType::Summary if sample.name == family => Some("quantile"),
        MetricType::Stateset => Some(family),
        MetricType::Histogram | MetricType::GaugeHistogram
            if sample.name.len() == family.len() + 7 && sample.name.ends_with("_bucket") =>
        {
            Some("le")
        }
        _ => None,
    };
    let mut labels: Vec<(String, String)> = sample
        .labels
        .iter()
        .filter(|(name, _)| Some(name.as_str()) != drop)
        .cloned()
        .collect();
    labels.sort();
    labels
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.as_str())
}

fn check_histogram(family: &Current) -> Result<(), String> {
    struct GroupState {
        bucket: Option<f64>,
        count: Option<f64>,
        value: f64,
        negative_buckets: bool,
        has_sum: bool,
        has_gsum: bool,
        negative_gsum: bool,
    }
    let name = &family.name;
    let finish = |state: &GroupState| -> Result<(), String> {
        if state.bucket != Some(f64::INFINITY) {
            return Err(format!("+Inf bucket missing in histogram {name}"));
        }
        if let Some(count) = state.count {
            if count != state.value {
                return Err(format!("count does not match the +Inf bucket in {name}"));
            }
        }
        if (state.has_sum || state.has_gsum) && state.count.is_none() {
            return Err(format!("_count must be present with _sum in {name}"));
        }
        if !(state.has_sum || state.has_gsum) && state.count.is_some() {
            return Err(format!("_sum must be present with _count in {name}"));
        }
        if state.negative_buckets && state.has_sum {
            return Err(format!("histogram {name} has negative buckets and a _sum"));
        }
        if !state.negative_buckets && state.negative_gsum {
            return Err(format!("negative _gsum without negative buckets in {name}"));
        }
        Ok(())
    };
    let metric_type = family.metric_type.unwrap_or(MetricType::Histogram);
    type Group = (Vec<(String, String)>, Option<u64>, GroupState);
    let mut current: Option<Group> = None;
    for sample in &family.samples {
        let suffix = &sample.name[name.len().min(sample.name.len())..];
        if suffix.is_empty() {
            continue;
        }
        let group = group_of(sample, name, metric_type);
        let timestamp = sample.timestamp.map(f64::to_bits);
        let same = matches!(&current, Some((g, t, _)) if *g == group && *t == timestamp);
        if !same {
            if let Some((_, _, state)) = &current {
                finish(state)?;
            }
            current = Some((
                group,
                timestamp,
                GroupState {
                    bucket: None,
                    count: None,
                    value: 0.0,
                    negative_buckets: false,
                    has_sum: false,
                    has_gsum: false,
                    negative_gsum: false,
                },
            ));
        }
        let Some((_, _, state)) = current.as_mut() else {
            continue;
        };
        match suffix {
            "_bucket" => {
                let bound = label(&sample.labels, "le")
                    .and_then(|le| le.parse::<f64>().ok())
                    .unwrap_or(f64::NAN);
                if bound < 0.0 {
                    state.negative_buckets = true;
                }
                if let Some(previous) = state.bucket {
                    if bound <= previous {
                        return Err(format!("buckets out of order in {name}"));
                    }
                }
                if sample.value < state.value {
                    return Err(format!("bucket values out of order in {name}"));
                }
                state.bucket = Some(bound);
                state.value = sample.value;
            }
            "_count" | "_gcount" => state.count = Some(sample.value),
            "_sum" => state.has_sum = true,
            "_gsum" => {
                state.has_gsum = true;
                if sample.value < 0.0 {
                    state.negative_gsum = true;
                }
            }
            _ => {}
        }
    }
    if let Some((_, _, state)) = &current {
        finish(state)?;
    }
    Ok(())
}

struct OmParser<'a> {
    limits: &'a ParseLimits,
    families: Vec<OmFamily>,
    seen_names: HashSet<String>,
    sample_count: usize,
}

impl OmParser<'_> {
    fn finish_family(&mut self, family: Current) -> Result<(), String> {
        let metric_type = family.metric_type.unwrap_or(MetricType::Unknown);
        let mut suffixes: Vec<&str> = suffixes_of(metric_type).to_vec();
        suffixes.push("");
        suffixes.sort();
        suffixes.dedup();
        for suffix in suffixes {
            let full = format!("{}{suffix}", family.name);
            if !self.seen_names.insert(full.clone()) {
                return Err(format!("clashing name {full}"));
            }
        }
        if let Some(unit) = family.unit.as_deref().filter(|unit| !unit.is_empty()) {
            if !family.name.ends_with(&format!("_{unit}")) {
                return Err(format!(
                    "unit {unit:?} does not match metric name {}",
                    family.name
                ));
            }
            if matches!(metric_type, MetricType::Info | MetricType::Stateset) {
                return Err(format!(
                    "units are not allowed for {} metrics: {}",
                    metric_type.as_str(),
                    family.name
                ));
            }
        }
        if matches!(
            metric_type,
            MetricType::Histogram | MetricType::GaugeHistogram
        ) {
            check_histogram(&family)?;
        }
        if family.name.is_empty() {
            return Err("empty metric name".to_string());
        }
        self.families.push(OmFamily {
            name: family.name,
            metric_type,
            help: family.help,
            unit: family.unit,
            samples: family.samples,
        });
        Ok(())
    }

    fn metadata(&mut self, line: &str, current: &mut Option<Current>) -> Result<(), String> {
        // `# KEYWORD name text…`, separators of one or more spaces, the text keeps its own.
        let mut parts: Vec<&str> = Vec::with_capacity(4);
        let mut rest = line;
        while parts.len() < 3 {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            let end = next_unquoted(rest, b" ", 0).unwrap_or(rest.len());
            parts.push(&rest[..end]);
            rest = &rest[end..];
        }
        let text = match rest.strip_prefix(' ') {
            Some(text) => text.trim_start_matches(' '),
            None => return Err(format!("invalid line {line:?}")),
        };
        let [hash, keyword, raw_name] = parts[..] else {
            return Err(format!("invalid line {line:?}"));
        };
        if hash != "#" {
            return Err(format!("invalid line {line:?}"));
        }
        let (name, quoted) = unquote(raw_name)?;
        if !quoted && !is_legacy_metric_name(&name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        let same = current.as_ref().is_some_and(|family| family.name == name);
        if same
            && current
                .as_ref()
                .is_some_and(|family| !family.samples.is_empty())
        {
            return Err(format!("metadata after samples: {line:?}"));
        }
        if !same {
            if let Some(previous) = current.take() {
                self.finish_family(previous)?;
            }
            *current = Some(Current::new(name.clone(), None));
        }
        let Some(family) = current.as_mut() else {
            return Err(format!("invalid line {line:?}"));
        };
        match keyword {
            "HELP" => {
                if family.help.is_some() {
                    return Err(format!("more than one HELP for {name}"));
                }
                family.help = Some(unescape(text));
            }
            "TYPE" => {
                if family.metric_type.is_some() {
                    return Err(format!("more than one TYPE for {name}"));
                }
                let Some(metric_type) = type_from_word(text) else {
                    return Err(format!("invalid TYPE {text:?} for {name}"));
                };
                family.metric_type = Some(metric_type);
                family.allowed_names = suffixes_of(metric_type)
                    .iter()
                    .map(|suffix| format!("{name}{suffix}"))
                    .collect();
            }
            "UNIT" => {
                if family.unit.is_some() {
                    return Err(format!("more than one UNIT for {name}"));
                }
                family.unit = Some(text.to_string());
            }
            _ => return Err(format!("invalid line {line:?}")),
        }
        Ok(())
    }

    fn sample(&mut self, line: &str, current: &mut Option<Current>) -> Result<(), String> {
        let sample = parse_sample_line(line)?;
        let integer = {
            let tail_value = sample.value;
            tail_value.fract() == 0.0 && tail_value.is_finite()
        };
        if sample.labels.len() + 1 > self.limits.max_labels_per_sample {
            return Err(format!(
                "more than {} labels on one sample",
                self.limits.max_labels_per_sample
            ));
        }
        let known = current
            .as_ref()
            .is_some_and(|family| family.allowed_names.contains(&sample.name));
        if !known {
            if let Some(previous) = current.take() {
                self.finish_family(previous)?;
            }
            // A name outside the legacy character set needs a quoted metadata line first.
            if !is_legacy_metric_name(&sample.name) {
                return Err(format!(
                    "metric name {:?} needs quoting in a TYPE/HELP line first",
                    sample.name
                ));
            }
            *current = Some(Current::new(sample.name.clone(), Some(MetricType::Unknown)));
        }
        let Some(family) = current.as_mut() else {
            return Err("no family for sample".to_string());
        };
        let name = family.name.clone();
        let metric_type = family.metric_type.unwrap_or(MetricType::Unknown);
        let suffix = sample.name.get(name.len()..).unwrap_or("").to_string();

        if metric_type == MetricType::Stateset && label(&sample.labels, &name).is_none() {
            return Err(format!("stateset sample lacks the label {name:?}"));
        }
        if suffix == "_bucket" {
            match label(&sample.labels, "le") {
                None | Some("NaN") => return Err("invalid le label".to_string()),
                Some(le) => {
                    let parsed = le
                        .parse::<f64>()
                        .map_err(|_| format!("invalid le label {le:?}"))?;
                    if parsed == f64::INFINITY && le != "+Inf" {
                        return Err(format!("le label {le:?} must be written +Inf"));
                    }
                }
            }
            if !integer {
                return Err("bucket value must be an integer".to_string());
            }
        }
        if (suffix == "_count" || suffix == "_gcount") && !integer {
            return Err("count value must be an integer".to_string());
        }
        if metric_type == MetricType::Summary && sample.name == name {
            let quantile = label(&sample.labels, "quantile").unwrap_or("-1");
            let parsed = quantile.parse::<f64>().unwrap_or(f64::NAN);
            if !(0.0..=1.0).contains(&parsed) {
                return Err(format!("invalid quantile label {quantile:?}"));
            }
        }

        let group = group_of(&sample, &name, metric_type);
        if family.group.as_ref().is_some_and(|g| *g != group) && family.seen_groups.contains(&group)
        {
            return Err(
                "invalid metric grouping: samples of one metric are not together".to_string(),
            );
        }
        if family.group.as_ref() == Some(&group) {
            if sample.timestamp.is_none() != family.group_timestamp.is_none() {
                return Err("mix of timestamp presence within a group".to_string());
            }
            if let (Some(previous), Some(now)) = (family.group_timestamp, sample.timestamp) {
                if previous > now && metric_type != MetricType::Info {
                    return Err("timestamps went backwards within a group".to_string());
                }
            }
        } else {
            family.group_series.clear();
        }
        let mut sorted_labels = sample.labels.clone();
        sorted_labels.sort();
        let series_id = (sample.name.clone(), sorted_labels);
        let duplicate =
            sample.timestamp == family.group_timestamp && family.group_series.contains(&series_id);
        family.group_series.insert(series_id);
        family.group = Some(group.clone());
        family.group_timestamp = sample.timestamp;
        family.seen_groups.insert(group);

        let value = sample.value;
        if metric_type == MetricType::Stateset && value != 0.0 && value != 1.0 {
            return Err("stateset samples can only be 0 or 1".to_string());
        }
        if metric_type == MetricType::Info && value != 1.0 {
            return Err("info samples can only be 1".to_string());
        }
        if metric_type == MetricType::Summary && sample.name == name && value < 0.0 {
            return Err("quantile values cannot be negative".to_string());
        }
        let counter_like = ["_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"];
        if counter_like.contains(&suffix.as_str()) && value.is_nan() {
            return Err(format!("counter-like sample {} cannot be NaN", sample.name));
        }
        if counter_like[..5].contains(&suffix.as_str()) && value < 0.0 {
            return Err(format!(
                "counter-like sample {} cannot be negative",
                sample.name
            ));
        }
        if sample.exemplar.is_some() {
            let allowed = (matches!(
                metric_type,
                MetricType::Histogram | MetricType::GaugeHistogram
            ) && sample.name.ends_with("_bucket"))
                || (metric_type == MetricType::Counter && sample.name.ends_with("_total"));
            if !allowed {
                return Err(
                    "only histogram buckets and counter totals can have exemplars".to_string(),
                );
            }
        }
        if !duplicate {
            self.sample_count += 1;
            if self.sample_count > self.limits.max_samples {
                return Err(format!(
                    "more than {} samples in one exposition",
                    self.limits.max_samples
                ));
            }
            family.samples.push(sample);
        }
        Ok(())
    }
}

/// Parses an OpenMetrics exposition keeping exemplars and second-resolution timestamps.
pub fn parse_openmetrics_detailed(
    input: &[u8],
    limits: &ParseLimits,
) -> Result<Vec<OmFamily>, ParseError> {
    let text = match std::str::from_utf8(input) {
        Ok(text) => text,
        Err(error) => {
            let line = input
                .get(..error.valid_up_to())
                .map(|valid| valid.iter().filter(|&&b| b == b'\n').count() + 1)
                .unwrap_or(1);
            return Err(om_error(line, "input is not valid UTF-8"));
        }
    };
    let mut parser = OmParser {
        limits,
        families: Vec::new(),
        seen_names: HashSet::new(),
        sample_count: 0,
    };
    let mut current: Option<Current> = None;
    let mut eof = false;
    let mut line_number = 0usize;
    let mut rest = text;
    while !rest.is_empty() {
        line_number += 1;
        let (line, after) = match rest.find('\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, ""),
        };
        rest = after;
        if line.len() > limits.max_line_bytes {
            return Err(om_error(
                line_number,
                format!(
                    "line longer than the limit of {} bytes",
                    limits.max_line_bytes
                ),
            ));
        }
        if eof {
            return Err(om_error(line_number, "line after # EOF"));
        }
        if line.is_empty() {
            return Err(om_error(line_number, "blank line"));
        }
        let outcome = if line == "# EOF" {
            eof = true;
            Ok(())
        } else if line.starts_with('#') {
            parser.metadata(line, &mut current)
        } else {
            parser.sample(line, &mut current)
        };
        outcome.map_err(|message| om_error(line_number, message))?;
    }
    if let Some(family) = current.take() {
        parser
            .finish_family(family)
            .map_err(|message| om_error(line_number, message))?;
    }
    if !eof {
        return Err(om_error(line_number, "missing # EOF at the end"));
    }
    Ok(parser.families)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<OmFamily>, ParseError> {
        parse_openmetrics_detailed(text.as_bytes(), &ParseLimits::default())
    }

    #[test]
    fn parses_counter_with_exemplar_and_unit() {
        let families = parse(
            "# TYPE req_seconds counter\n# UNIT req_seconds seconds\n# HELP req_seconds How \\\"long\\\".\nreq_seconds_total{a=\"1\"} 3 1.5 # {trace=\"x\"} 0.5 1.25\n# EOF\n",
        )
        .unwrap();
        let family = &families[0];
        assert_eq!(family.metric_type, MetricType::Counter);
        assert_eq!(family.unit.as_deref(), Some("seconds"));
        assert_eq!(family.help.as_deref(), Some("How \"long\"."));
        let sample = &family.samples[0];
        assert_eq!(sample.timestamp, Some(1.5));
        let exemplar = sample.exemplar.as_ref().unwrap();
        assert_eq!(exemplar.labels, [("trace".to_string(), "x".to_string())]);
        assert_eq!(exemplar.timestamp, Some(1.25));
    }

    #[test]
    fn rejects_what_the_specification_forbids() {
        for (text, why) in [
            ("a 1\n", "missing EOF"),
            ("a 1\n\n# EOF\n", "blank line"),
            ("a 1\n# EOF\nb 2\n", "after EOF"),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# EOF\n",
                "no +Inf",
            ),
            ("# TYPE c counter\nc_total -1\n# EOF\n", "negative counter"),
            (
                "# TYPE g gauge\ng{a=\"1\"} 1\ng{a=\"2\"} 1\ng{a=\"1\"} 2\n# EOF\n",
                "interleaved",
            ),
            ("# TYPE g gauge\n# TYPE g gauge\n# EOF\n", "two TYPEs"),
            ("# TYPE g untyped\n# EOF\n", "untyped"),
            ("a{b=\"1\",} 1\n# EOF\n", "trailing comma"),
        ] {
            assert!(parse(text).is_err(), "{why}: {text:?} was accepted");
        }
    }

    #[test]
    fn histogram_children_stay_in_one_family() {
        let families = parse(
            "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n# EOF\n",
        )
        .unwrap();
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].samples.len(), 4);
    }
}
