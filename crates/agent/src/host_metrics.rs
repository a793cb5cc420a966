//! Host metrics for the server: node_exporter-named families from
//! `postwatch-hostmetrics`, labelled as a Prometheus scrape of the host would be
//! (`job="node"`, `instance=HOSTNAME`) so node_exporter dashboards and rules work on them,
//! stamped with the collection time and encoded as one remote_write request.

use postwatch_model::metrics::{Labels, MetricFamily, Sample, Series};

/// The `job` label the agent's host metrics carry, as a node_exporter scrape job would.
pub const JOB: &str = "node";

/// Turns one collection into remote_write series. An exporter's own `job`/`instance`
/// labels are kept (as with `honor_labels`).
pub fn to_series(families: &[MetricFamily], instance: &str, now_ms: i64) -> Vec<Series> {
    let mut out = Vec::with_capacity(families.iter().map(|f| f.samples.len()).sum());
    for family in families {
        for sample in &family.samples {
            let mut labels: Labels = sample.labels.clone();
            if labels.get("job").is_none() {
                labels.set("job", JOB);
            }
            if labels.get("instance").is_none() {
                labels.set("instance", instance);
            }
            out.push(Series {
                labels,
                samples: vec![Sample {
                    timestamp_ms: sample.timestamp_ms.unwrap_or(now_ms),
                    value: sample.value,
                }],
            });
        }
    }
    out
}

/// The snappy-compressed protobuf body of a remote_write request.
pub fn encode(series: &[Series]) -> Vec<u8> {
    postwatch_metricsio::remote_write::encode_write_request(series, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use postwatch_model::metrics::{ExposedSample, MetricType};

    #[test]
    fn series_get_job_and_instance_and_the_collection_time() {
        let families = vec![MetricFamily {
            name: "node_load1".into(),
            metric_type: MetricType::Gauge,
            help: None,
            unit: None,
            samples: vec![ExposedSample {
                labels: Labels::from_pairs([("__name__", "node_load1")]),
                value: 0.5,
                timestamp_ms: None,
            }],
        }];
        let series = to_series(&families, "web-1", 1_000);
        assert_eq!(series.len(), 1);
        assert_eq!(
            series[0].labels.to_string(),
            "node_load1{instance=\"web-1\", job=\"node\"}"
        );
        assert_eq!(
            series[0].samples,
            vec![Sample {
                timestamp_ms: 1_000,
                value: 0.5
            }]
        );
        let decoded = postwatch_metricsio::remote_write::decode_write_request(
            &encode(&series),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(decoded.series, series);
    }
}
