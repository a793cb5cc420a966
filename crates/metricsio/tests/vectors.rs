//! Oracle runner (harness = false) for the exposition parsers.
//!
//! Reads `$POSTWATCH_VECTORS_DIR/expfmt` when set, else the repository's
//! `testdata/vectors/expfmt`. Every `NAME.txt` is parsed and compared with
//! `NAME.expected.json` as `testdata/vectors/README.md` ("expfmt") describes:
//!
//! * inputs whose original name ends in `.om.txt` are OpenMetrics and were labelled by
//!   the Python `prometheus_client` parser: families in file order, lower-case `type`,
//!   `help`, `unit`, samples with `name`, `labels`, `value`, timestamp and `exemplar`;
//! * every other input is the Prometheus text format labelled by Go `expfmt`: families
//!   sorted by name, upper-case `type`, values as Go `%g` text, `timestamp_ms`;
//! * `{"error": …}` means the input must be rejected (any message).
//!
//! Label sets are compared as maps with empty values dropped (an empty value is an
//! absent label in Prometheus, and the model's label sets cannot hold one). Where the
//! README leaves the JSON spelling open (OpenMetrics values and timestamps), numbers and
//! their string forms are both understood and compared as numbers.
//!
//! Prints `expfmt: N passed, N failed` with up to ten failures and exits non-zero if any
//! file failed or no file was found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use postwatch_metricsio::gofloat::format_go_g;
use postwatch_metricsio::openmetrics::{parse_openmetrics_detailed, OmFamily};
use postwatch_metricsio::{parse_text, ParseLimits};
use postwatch_model::metrics::{MetricFamily, MetricType, METRIC_NAME_LABEL};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("POSTWATCH_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir).join("expfmt"),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/vectors")
            .join("expfmt"),
    }
}

fn main() -> ExitCode {
    let dir = vectors_dir();
    let mut inputs: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                name.ends_with(".txt") && !name.ends_with(".expected.json")
            })
            .collect(),
        Err(error) => {
            println!("expfmt: cannot read {}: {error}", dir.display());
            println!("expfmt: 0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    inputs.sort();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut failures = Vec::new();
    for input in &inputs {
        match check_file(input) {
            Ok(()) => passed += 1,
            Err(why) => {
                failed += 1;
                failures.push(format!(
                    "    {}: {why}",
                    input.file_name().unwrap_or_default().to_string_lossy()
                ));
            }
        }
    }
    for failure in failures.iter().take(10) {
        println!("{failure}");
    }
    println!("expfmt: {passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn check_file(input: &Path) -> Result<(), String> {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".txt").unwrap_or(&name);
    let expected_path = input.with_file_name(format!("{stem}.expected.json"));
    let expected_text = std::fs::read_to_string(&expected_path)
        .map_err(|e| format!("cannot read {}: {e}", expected_path.display()))?;
    let expected = parse_lenient_json(&expected_text)
        .map_err(|e| format!("cannot parse {}: {e}", expected_path.display()))?;
    let body = std::fs::read(input).map_err(|e| format!("cannot read input: {e}"))?;
    let limits = ParseLimits::default();
    let expects_error = expected.get("error").is_some();
    if stem.ends_with(".om.txt") {
        match parse_openmetrics_detailed(&body, &limits) {
            Err(error) if expects_error => {
                let _ = error;
                Ok(())
            }
            Err(error) => Err(format!("rejected, oracle accepts: {error}")),
            Ok(_) if expects_error => {
                Err(format!("accepted, oracle rejects: {}", expected["error"]))
            }
            Ok(families) => compare_openmetrics(&families, &expected),
        }
    } else {
        match parse_text(&body, &limits) {
            Err(_) if expects_error => Ok(()),
            Err(error) => Err(format!("rejected, oracle accepts: {error}")),
            Ok(_) if expects_error => {
                Err(format!("accepted, oracle rejects: {}", expected["error"]))
            }
            Ok(families) => compare_text(&families, &expected),
        }
    }
}

/// JSON as Python's `json.dumps` may write it: bare `NaN`, `Infinity`, `-Infinity`
/// outside strings become strings first.
fn parse_lenient_json(text: &str) -> Result<Value, String> {
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let mut replaced = false;
        for (token, spelled) in [("-Infinity", "-Inf"), ("Infinity", "+Inf"), ("NaN", "NaN")] {
            if let Some(after) = rest.strip_prefix(token) {
                out.push('"');
                out.push_str(spelled);
                out.push('"');
                rest = after;
                replaced = true;
                break;
            }
        }
        if replaced {
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out).map_err(|e| e.to_string())
}

fn text_type_name(metric_type: MetricType) -> &'static str {
    match metric_type {
        MetricType::Counter => "COUNTER",
        MetricType::Gauge => "GAUGE",
        MetricType::Summary => "SUMMARY",
        MetricType::Histogram => "HISTOGRAM",
        MetricType::GaugeHistogram => "GAUGE_HISTOGRAM",
        _ => "UNTYPED",
    }
}

/// Expected labels as a map without empty values.
fn expected_labels(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("label {name} is not a string"))?;
                if !value.is_empty() {
                    labels.insert(name.clone(), value.to_string());
                }
            }
        }
        Some(other) => return Err(format!("labels are not an object: {other}")),
    }
    Ok(labels)
}

fn compare_text(families: &[MetricFamily], expected: &Value) -> Result<(), String> {
    let expected_families = expected["families"]
        .as_array()
        .ok_or("expected JSON has no families array")?;
    let got_names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    let want_names: Vec<&str> = expected_families
        .iter()
        .map(|f| f["name"].as_str().unwrap_or(""))
        .collect();
    if got_names != want_names {
        return Err(format!("families {got_names:?}, expected {want_names:?}"));
    }
    for (family, want) in families.iter().zip(expected_families) {
        let name = &family.name;
        let want_type = want["type"].as_str().unwrap_or("");
        if text_type_name(family.metric_type) != want_type {
            return Err(format!(
                "{name}: type {}, expected {want_type}",
                text_type_name(family.metric_type)
            ));
        }
        let want_help = want["help"].as_str();
        if family.help.as_deref() != want_help {
            return Err(format!(
                "{name}: help {:?}, expected {want_help:?}",
                family.help
            ));
        }
        let want_samples = want["samples"]
            .as_array()
            .ok_or("samples is not an array")?;
        if family.samples.len() != want_samples.len() {
            return Err(format!(
                "{name}: {} samples, expected {}",
                family.samples.len(),
                want_samples.len()
            ));
        }
        for (index, (sample, want)) in family.samples.iter().zip(want_samples).enumerate() {
            let got_name = sample.labels.metric_name().unwrap_or("");
            let got_labels: BTreeMap<String, String> = sample
                .labels
                .iter()
                .filter(|l| l.name != METRIC_NAME_LABEL)
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let got_value = format_go_g(sample.value);
            let want_ts = want["timestamp_ms"].as_i64();
            let got = (
                got_name,
                &got_labels,
                got_value.as_str(),
                sample.timestamp_ms,
            );
            let want_labels = expected_labels(want.get("labels"))?;
            let wanted = (
                want["name"].as_str().unwrap_or(""),
                &want_labels,
                want["value"].as_str().unwrap_or(""),
                want_ts,
            );
            if got != wanted {
                return Err(format!(
                    "{name} sample {index}: got {got:?}, expected {wanted:?}"
                ));
            }
        }
    }
    Ok(())
}

/// A number from JSON written as a number or as text (`"+Inf"`, `"NaN"`, `"1.5"`).
fn json_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => match text.as_str() {
            "+Inf" | "Inf" | "inf" | "Infinity" => Some(f64::INFINITY),
            "-Inf" | "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            "NaN" | "nan" => Some(f64::NAN),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn same_number(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || ((a - b).abs() <= 1e-9 * a.abs().max(b.abs()))
}

/// An expected timestamp in seconds: seconds as number or text, `{sec, nsec}`, or
/// `timestamp_ms`.
fn expected_timestamp(sample: &Value) -> Result<Option<f64>, String> {
    if let Some(ms) = sample.get("timestamp_ms").filter(|v| !v.is_null()) {
        return json_number(ms)
            .map(|ms| Some(ms / 1000.0))
            .ok_or_else(|| format!("bad timestamp_ms {ms}"));
    }
    match sample.get("timestamp") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(parts)) => {
            let sec = parts.get("sec").and_then(json_number).unwrap_or(0.0);
            let nsec = parts.get("nsec").and_then(json_number).unwrap_or(0.0);
            Ok(Some(sec + nsec / 1e9))
        }
        Some(other) => json_number(other)
            .map(Some)
            .ok_or_else(|| format!("bad timestamp {other}")),
    }
}

fn compare_openmetrics(families: &[OmFamily], expected: &Value) -> Result<(), String> {
    let expected_families = expected["families"]
        .as_array()
        .ok_or("expected JSON has no families array")?;
    let got_names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    let want_names: Vec<&str> = expected_families
        .iter()
        .map(|f| f["name"].as_str().unwrap_or(""))
        .collect();
    if got_names != want_names {
        return Err(format!("families {got_names:?}, expected {want_names:?}"));
    }
    for (family, want) in families.iter().zip(expected_families) {
        let name = &family.name;
        let want_type = want["type"].as_str().unwrap_or("");
        if family.metric_type.as_str() != want_type {
            return Err(format!(
                "{name}: type {}, expected {want_type}",
                family.metric_type.as_str()
            ));
        }
        for (field, got) in [("help", &family.help), ("unit", &family.unit)] {
            let want_text = want
                .get(field)
                .or_else(|| {
                    if field == "help" {
                        want.get("documentation")
                    } else {
                        None
                    }
                })
                .and_then(Value::as_str)
                .unwrap_or("");
            if got.as_deref().unwrap_or("") != want_text {
                return Err(format!("{name}: {field} {got:?}, expected {want_text:?}"));
            }
        }
        let want_samples = want["samples"]
            .as_array()
            .ok_or("samples is not an array")?;
        if family.samples.len() != want_samples.len() {
            return Err(format!(
                "{name}: {} samples, expected {}",
                family.samples.len(),
                want_samples.len()
            ));
        }
        for (index, (sample, want)) in family.samples.iter().zip(want_samples).enumerate() {
            let context = format!("{name} sample {index} ({})", sample.name);
            if want["name"].as_str() != Some(sample.name.as_str()) {
                return Err(format!("{context}: name, expected {}", want["name"]));
            }
            let got_labels: BTreeMap<String, String> = sample
                .labels
                .iter()
                .filter(|(_, value)| !value.is_empty())
                .cloned()
                .collect();
            if got_labels != expected_labels(want.get("labels"))? {
                return Err(format!(
                    "{context}: labels {got_labels:?}, expected {}",
                    want["labels"]
                ));
            }
            let want_value = json_number(&want["value"])
                .ok_or_else(|| format!("{context}: expected value {} unreadable", want["value"]))?;
            if !same_number(sample.value, want_value) {
                return Err(format!(
                    "{context}: value {}, expected {want_value}",
                    sample.value
                ));
            }
            let want_ts = expected_timestamp(want)?;
            let ts_ok = match (sample.timestamp, want_ts) {
                (None, None) => true,
                (Some(a), Some(b)) => same_number(a, b),
                _ => false,
            };
            if !ts_ok {
                return Err(format!(
                    "{context}: timestamp {:?}, expected {want_ts:?}",
                    sample.timestamp
                ));
            }
            match (&sample.exemplar, want.get("exemplar")) {
                (None, None | Some(Value::Null)) => {}
                (Some(got), Some(want_exemplar)) if !want_exemplar.is_null() => {
                    let labels: BTreeMap<String, String> = got
                        .labels
                        .iter()
                        .filter(|(_, value)| !value.is_empty())
                        .cloned()
                        .collect();
                    if labels != expected_labels(want_exemplar.get("labels"))? {
                        return Err(format!("{context}: exemplar labels {labels:?}"));
                    }
                    let value = json_number(&want_exemplar["value"]).unwrap_or(f64::NAN);
                    if !same_number(got.value, value) {
                        return Err(format!("{context}: exemplar value {}", got.value));
                    }
                    let want_ts = expected_timestamp(want_exemplar)?;
                    let ok = match (got.timestamp, want_ts) {
                        (None, None) => true,
                        (Some(a), Some(b)) => same_number(a, b),
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("{context}: exemplar timestamp {:?}", got.timestamp));
                    }
                }
                (got, want_exemplar) => {
                    return Err(format!(
                        "{context}: exemplar {got:?}, expected {want_exemplar:?}"
                    ))
                }
            }
        }
    }
    Ok(())
}
