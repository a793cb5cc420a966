//! Building metric families in node_exporter's shape: one family per name, typed, with
//! help, and samples without timestamps.

use postwatch_model::metrics::{
    ExposedSample, Labels, MetricFamily, MetricType, METRIC_NAME_LABEL,
};

/// A new, empty family.
pub(crate) fn family(name: impl Into<String>, metric_type: MetricType, help: &str) -> MetricFamily {
    MetricFamily {
        name: name.into(),
        metric_type,
        help: Some(help.to_string()),
        unit: None,
        samples: Vec::new(),
    }
}

/// Appends one sample with `labels` (the metric name is added here).
pub(crate) fn push(family: &mut MetricFamily, labels: &[(&str, &str)], value: f64) {
    let labels = Labels::from_pairs(
        std::iter::once((METRIC_NAME_LABEL, family.name.as_str())).chain(labels.iter().copied()),
    );
    family.samples.push(ExposedSample {
        labels,
        value,
        timestamp_ms: None,
    });
}

/// A family holding one unlabelled sample.
pub(crate) fn single(name: &str, metric_type: MetricType, help: &str, value: f64) -> MetricFamily {
    let mut one = family(name, metric_type, help);
    push(&mut one, &[], value);
    one
}
