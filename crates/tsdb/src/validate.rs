//! Checks on label sets before they enter the store, with Prometheus' naming rules.

use postwatch_model::metrics::Labels;

/// Limits on one series' label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelLimits {
    /// Most labels a series may carry, `__name__` included.
    pub max_labels: usize,
    /// Longest label name, in bytes.
    pub max_name_len: usize,
    /// Longest label value, in bytes.
    pub max_value_len: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            max_labels: 64,
            max_name_len: 256,
            max_value_len: 2048,
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus' metric name rule.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.bytes();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, Prometheus' label name rule.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.bytes();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Checks raw label pairs as a decoder received them, before they become [`Labels`]
/// (which keeps only the last of repeated names): catches duplicate names, then applies
/// [`check_labels`].
pub fn check_label_pairs(pairs: &[(String, String)], limits: &LabelLimits) -> Result<(), String> {
    let mut names: Vec<&str> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, _)| name.as_str())
        .collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(format!("duplicate label name {:?}", pair[0]));
    }
    check_labels(
        &Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        limits,
    )
}

/// Why a label set cannot be stored, or `Ok`.
pub fn check_labels(labels: &Labels, limits: &LabelLimits) -> Result<(), String> {
    if labels.is_empty() {
        return Err("empty label set".to_string());
    }
    let Some(name) = labels.metric_name() else {
        return Err("no metric name (__name__ label)".to_string());
    };
    if !is_valid_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    if labels.len() > limits.max_labels {
        return Err(format!(
            "{} labels, more than the limit of {}",
            labels.len(),
            limits.max_labels
        ));
    }
    let mut previous: Option<&str> = None;
    for label in labels.iter() {
        if previous == Some(label.name.as_str()) {
            return Err(format!("duplicate label name {:?}", label.name));
        }
        previous = Some(label.name.as_str());
        if label.name.len() > limits.max_name_len {
            return Err(format!(
                "label name of {} bytes, more than the limit of {} ({}…)",
                label.name.len(),
                limits.max_name_len,
                truncate(&label.name, 32)
            ));
        }
        if !is_valid_label_name(&label.name) {
            return Err(format!("invalid label name {:?}", label.name));
        }
        if label.value.len() > limits.max_value_len {
            return Err(format!(
                "value of label {:?} has {} bytes, more than the limit of {}",
                label.name,
                label.value.len(),
                limits.max_value_len
            ));
        }
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_rules() {
        for good in ["up", "node_cpu_seconds_total", "job:rate5m", "_x", "A1"] {
            assert!(is_valid_metric_name(good), "{good}");
        }
        for bad in ["", "1up", "a-b", "a.b", "NaN name", "é"] {
            assert!(!is_valid_metric_name(bad), "{bad}");
        }
        assert!(is_valid_label_name("__name__"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name("9"));
    }
}
