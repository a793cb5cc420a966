//! Vector strings → version + metric values.

use crate::error::{clip, Problem};
use crate::{CvssVersion, Metric};

/// Splits off the version prefix and parses the metrics against that version's table.
pub(crate) fn parse(vector: &str) -> Result<(CvssVersion, Vec<Option<u8>>), Problem> {
    if vector.is_empty() {
        return Err(Problem::Empty);
    }
    if let Some(rest) = vector.strip_prefix("CVSS:") {
        let (version, body) = match rest.split_once('/') {
            Some((v, body)) => (v, Some(body)),
            None => (rest, None),
        };
        let version = match version {
            "2.0" => CvssVersion::V2,
            "3.0" => CvssVersion::V3_0,
            "3.1" => CvssVersion::V3_1,
            "4.0" => CvssVersion::V4_0,
            other => return Err(Problem::UnsupportedVersion(clip(other))),
        };
        let body = body.ok_or(Problem::NoMetrics)?;
        return Ok((version, metrics(body, version.metrics())?));
    }
    // v2: bare, or wrapped in parentheses as in old NVD data.
    let body = vector
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(vector);
    match metrics(body, CvssVersion::V2.metrics()) {
        Ok(values) => Ok((CvssVersion::V2, values)),
        Err(Problem::UnknownMetric(_))
            if metrics(body, CvssVersion::V3_1.metrics()).is_ok()
                || metrics(body, CvssVersion::V4_0.metrics()).is_ok() =>
        {
            Err(Problem::MissingPrefix)
        }
        Err(problem) => Err(problem),
    }
}

/// Parses `NAME:VALUE/NAME:VALUE/…` against `defs`, in any order, each metric at most
/// once, every mandatory metric present. Returns the value index per metric of `defs`.
pub(crate) fn metrics(body: &str, defs: &'static [Metric]) -> Result<Vec<Option<u8>>, Problem> {
    let mut values: Vec<Option<u8>> = vec![None; defs.len()];
    for (i, field) in body.split('/').enumerate() {
        if field.is_empty() {
            return Err(Problem::EmptyMetric { position: i + 1 });
        }
        let (name, value) = match field.split_once(':') {
            Some((name, value)) if !value.contains(':') => (name, value),
            _ => return Err(Problem::MalformedMetric(clip(field))),
        };
        let Some(m) = defs.iter().position(|d| d.name == name) else {
            return Err(Problem::UnknownMetric(clip(name)));
        };
        let def = &defs[m];
        let Some(v) = def.values.iter().position(|&allowed| allowed == value) else {
            return Err(Problem::UnknownValue {
                metric: def.name,
                value: clip(value),
            });
        };
        let slot = &mut values[m];
        if slot.is_some() {
            return Err(Problem::DuplicateMetric(def.name));
        }
        // Metric tables have at most a handful of values per metric.
        *slot = Some(u8::try_from(v).unwrap_or(u8::MAX));
    }
    let missing: Vec<&'static str> = defs
        .iter()
        .zip(&values)
        .filter(|(d, v)| d.mandatory && v.is_none())
        .map(|(d, _)| d.name)
        .collect();
    if !missing.is_empty() {
        return Err(Problem::MissingMetrics(missing));
    }
    Ok(values)
}
