//! An in-memory [`SeriesSource`]: the promqltest runner's storage, and handy for tests
//! and benchmarks.

use postwatch_model::metrics::{LabelMatcher, Labels, MetricsError, Sample, Series, SeriesSource};
use std::collections::BTreeMap;

/// Series kept in memory, keyed by label set; samples sorted by time.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    series: BTreeMap<Labels, Vec<Sample>>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to a series (creating it); keeps time order, a later sample at the
    /// same timestamp replaces the earlier one.
    pub fn add(&mut self, labels: Labels, samples: impl IntoIterator<Item = Sample>) {
        let stored = self.series.entry(labels).or_default();
        let mut sorted = true;
        for sample in samples {
            if let Some(last) = stored.last_mut() {
                if last.timestamp_ms == sample.timestamp_ms {
                    *last = sample;
                    continue;
                }
                if last.timestamp_ms > sample.timestamp_ms {
                    sorted = false;
                }
            }
            stored.push(sample);
        }
        if !sorted {
            stored.sort_by_key(|s| s.timestamp_ms);
            stored.dedup_by_key(|s| s.timestamp_ms);
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    fn matching<'a>(
        &'a self,
        matchers: &'a [LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> impl Iterator<Item = (&'a Labels, &'a [Sample])> + 'a {
        self.series.iter().filter_map(move |(labels, samples)| {
            if !matchers.iter().all(|m| m.matches_labels(labels)) {
                return None;
            }
            let from = samples.partition_point(|s| s.timestamp_ms < start_ms);
            let to = samples.partition_point(|s| s.timestamp_ms <= end_ms);
            (from < to).then(|| (labels, &samples[from..to]))
        })
    }
}

impl SeriesSource for MemorySource {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, MetricsError> {
        Ok(self
            .matching(matchers, start_ms, end_ms)
            .map(|(labels, samples)| Series {
                labels: labels.clone(),
                samples: samples.to_vec(),
            })
            .collect())
    }

    fn label_names(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, MetricsError> {
        let mut names: Vec<String> = self
            .matching(matchers, start_ms, end_ms)
            .flat_map(|(labels, _)| labels.iter().map(|l| l.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, MetricsError> {
        let mut values: Vec<String> = self
            .matching(matchers, start_ms, end_ms)
            .filter_map(|(labels, _)| labels.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}
