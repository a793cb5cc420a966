//! The metrics vocabulary shared by the collectors, the time-series store and the query
//! engine: label sets, samples, label matchers, metric families as exporters expose them,
//! and the two seams between stages — [`SeriesSource`] (what PromQL reads) and
//! [`SampleSink`] (what scrapes, remote_write and the agent's collectors write).
//!
//! Semantics follow Prometheus so that exporters, remote_write senders and PromQL behave
//! as their users expect: `__name__` is an ordinary label, a missing label equals the
//! empty string in matchers, regex matchers are fully anchored, and staleness is marked
//! by one particular NaN bit pattern that stores must keep bit-exact.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The label that carries a series' metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// The bit pattern Prometheus writes as a staleness marker: a NaN that is not the
/// NaN arithmetic produces, so a store must keep values bit-exact.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `value` is the staleness marker (not any NaN).
pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// Errors crossing the metrics seams; each stage keeps its own richer error type and
/// converts at the boundary.
pub type MetricsError = Box<dyn std::error::Error + Send + Sync>;

/// One label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A label set: sorted by name, names unique, no empty values (an empty value means
/// "label absent", as in Prometheus). The metric name is the `__name__` label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "Vec<Label>", into = "Vec<Label>")]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from labels whose names the caller already knows to be
    /// unique (a decoder that refused repeats): empty values are dropped and the rest
    /// sorted in place, without the pairwise search `from_pairs` needs.
    pub fn from_unique(mut labels: Vec<Label>) -> Self {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        debug_assert!(labels.windows(2).all(|w| w[0].name != w[1].name));
        Labels(labels)
    }

    /// Builds a label set from pairs in any order. Empty values are dropped; for a
    /// repeated name the last pair wins.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut labels: Vec<Label> = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.into(), value.into());
            match labels.iter_mut().find(|l| l.name == name) {
                Some(existing) => existing.value = value,
                None => labels.push(Label { name, value }),
            }
        }
        labels.retain(|l| !l.value.is_empty());
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(labels)
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME_LABEL)
    }

    /// Sets (or with an empty value, removes) one label, keeping the order.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].value = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(
                i,
                Label {
                    name: name.to_string(),
                    value: value.to_string(),
                },
            ),
        }
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) {
        self.set(name, "");
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        let mut copy = self.clone();
        copy.remove(METRIC_NAME_LABEL);
        copy
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }
}

impl From<Vec<Label>> for Labels {
    fn from(labels: Vec<Label>) -> Self {
        Labels::from_pairs(labels.into_iter().map(|l| (l.name, l.value)))
    }
}

impl From<Labels> for Vec<Label> {
    fn from(labels: Labels) -> Self {
        labels.0
    }
}

/// Prometheus' text form: `name{a="1", b="2"}` (values escaped like the exposition
/// format), or `{…}` when there is no metric name.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        let rest: Vec<&Label> = self
            .0
            .iter()
            .filter(|l| l.name != METRIC_NAME_LABEL)
            .collect();
        if rest.is_empty() && self.metric_name().is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, label) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"", label.name)?;
            for c in label.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// One float sample. Timestamps are milliseconds since the Unix epoch, as in
/// Prometheus and remote_write.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A series: its labels and samples in increasing time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (anchored)
    RegexMatch,
    /// `!~` (anchored)
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// A label matcher such as `job=~"node|api"`. Regexes are compiled once, fully
/// anchored (`^(?:…)$`) and with `.` matching newlines, as in Prometheus.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl LabelMatcher {
    /// A matcher; fails only on an invalid regex.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .dot_matches_new_line(true)
                    .build()?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(LabelMatcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        LabelMatcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (empty when the label is absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            // Built only by `new`, which always compiles the regex for regex ops.
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }

    /// Whether a whole label set satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }

    /// True when the matcher accepts the empty string, i.e. also selects series that
    /// lack the label (Prometheus forbids a selector made only of such matchers).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// What PromQL reads. Implemented by the time-series store and by in-memory test data.
pub trait SeriesSource: Send + Sync {
    /// Every series whose labels satisfy all `matchers`, with its samples in
    /// `start_ms..=end_ms` (both inclusive) in time order. Series with no sample in the
    /// window may be left out.
    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, MetricsError>;

    /// What `select` gives, handed to `each` one series at a time in label order, so a
    /// caller that reduces every series on its own (a rate over a range) never holds
    /// all of them. `each` answers `Break` to stop early. The default collects `select`.
    fn select_each(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
        each: &mut dyn FnMut(Series) -> std::ops::ControlFlow<()>,
    ) -> Result<(), MetricsError> {
        for series in self.select(matchers, start_ms, end_ms)? {
            if each(series).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Label names of the series that match (all series when `matchers` is empty) and
    /// have samples in the window; sorted, unique.
    fn label_names(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, MetricsError>;

    /// Values of label `name` over the matching series in the window; sorted, unique.
    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, MetricsError>;
}

/// Why the store refused one sample or series. Carried back to the sender (remote_write
/// answers 400 with the reasons) and counted, never silently dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub labels: Labels,
    pub reason: String,
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    /// Samples stored (durably, when the sink has a write-ahead log).
    pub accepted: usize,
    /// Samples refused, one entry per series and reason.
    pub rejected: Vec<Rejection>,
}

/// What scrapes, remote_write and the agent's collectors write into.
pub trait SampleSink: Send + Sync {
    /// Appends a batch. Returns only after accepted samples are durable; rejected ones
    /// are reported with a reason and leave the store unchanged.
    fn append(&self, batch: &[Series]) -> Result<AppendOutcome, MetricsError>;
}

/// A metric family's type, as exporters declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    Stateset,
    Unknown,
}

impl MetricType {
    /// The name Prometheus' metadata API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// One sample as an exporter exposes it: the full label set (with `__name__`, which for
/// histograms and summaries is the `_bucket`/`_sum`/`_count` child name), the value and
/// the optional explicit timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExposedSample {
    pub labels: Labels,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// A metric family as exposed by an exporter or produced by a collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFamily {
    pub name: String,
    pub metric_type: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<ExposedSample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_unique_and_drop_empty_values() {
        let labels = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(labels.get("b"), Some("3"));
        assert_eq!(labels.get("c"), None);
    }

    #[test]
    fn set_and_remove_keep_order() {
        let mut labels = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        labels.set("instance", "a:9100");
        labels.set("job", "");
        assert_eq!(labels.to_string(), "up{instance=\"a:9100\"}");
        labels.remove("instance");
        assert_eq!(labels.to_string(), "up");
    }

    #[test]
    fn display_escapes_values() {
        let labels = Labels::from_pairs([("x", "a\"b\\c\nd")]);
        assert_eq!(labels.to_string(), "{x=\"a\\\"b\\\\c\\nd\"}");
    }

    #[test]
    fn regex_matchers_are_anchored_and_missing_label_is_empty() {
        let m = LabelMatcher::new("job", MatchOp::RegexMatch, "no.e").unwrap();
        assert!(m.matches("node"));
        assert!(!m.matches("nodes"));
        let labels = Labels::from_pairs([("job", "x")]);
        let absent = LabelMatcher::new("env", MatchOp::Equal, "").unwrap();
        assert!(absent.matches_labels(&labels));
        assert!(absent.matches_empty());
        let negated = LabelMatcher::new("job", MatchOp::RegexNoMatch, "x|y").unwrap();
        assert!(!negated.matches_labels(&labels));
        assert!(LabelMatcher::new("job", MatchOp::RegexMatch, "(").is_err());
    }

    #[test]
    fn stale_marker_is_one_nan_only() {
        assert!(is_stale_marker(stale_nan()));
        assert!(!is_stale_marker(f64::NAN));
        assert!(stale_nan().is_nan());
    }

    #[test]
    fn labels_serialize_as_a_list() {
        let labels = Labels::from_pairs([("b", "2"), ("a", "1")]);
        let json = serde_json::to_string(&labels).unwrap();
        assert_eq!(
            json,
            r#"[{"name":"a","value":"1"},{"name":"b","value":"2"}]"#
        );
        let back: Labels =
            serde_json::from_str(r#"[{"name":"b","value":"2"},{"name":"a","value":"1"}]"#).unwrap();
        assert_eq!(back, labels);
    }
}
