//! Engine behaviour on hand-computed cases: extrapolated rates, staleness, offset and
//! `@`, subqueries, vector matching, classic histograms, errors and limits.

use postwatch_model::metrics::stale_nan;
use postwatch_promql::{Engine, EngineOptions, ErrorKind, Labels, MemorySource, Sample, Value};

fn series(source: &mut MemorySource, labels: &[(&str, &str)], points: &[(i64, f64)]) {
    source.add(
        Labels::from_pairs(labels.iter().copied()),
        points.iter().map(|&(t, v)| Sample {
            timestamp_ms: t,
            value: v,
        }),
    );
}

fn scalar_of(value: Value) -> Vec<(String, f64)> {
    match value {
        Value::Vector(v) => {
            let mut out: Vec<(String, f64)> =
                v.into_iter().map(|(l, v)| (l.to_string(), v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        Value::Scalar(v) => vec![(String::new(), v)],
        other => panic!("unexpected {other:?}"),
    }
}

fn counter() -> MemorySource {
    let mut s = MemorySource::new();
    // +10 every 15 s from 0 to 10 min.
    let pts: Vec<(i64, f64)> = (0..=40).map(|k| (k * 15_000, k as f64 * 10.0)).collect();
    series(&mut s, &[("__name__", "req_total"), ("job", "a")], &pts);
    s
}

#[test]
fn rate_extrapolates_to_the_window_start() {
    let s = counter();
    let e = Engine::default();
    // Window (4m, 5m]: samples at 4:15..5:00, 30 increase over 45 s, extrapolated 15 s
    // back to the window start: 40 per 60 s.
    let got = scalar_of(e.instant_query(&s, "rate(req_total[1m])", 300_000).unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "{job=\"a\"}");
    assert!((got[0].1 - 40.0 / 60.0).abs() < 1e-12, "{got:?}");
    let inc = scalar_of(
        e.instant_query(&s, "increase(req_total[1m])", 300_000)
            .unwrap(),
    );
    assert!((inc[0].1 - 40.0).abs() < 1e-12, "{inc:?}");
}

#[test]
fn counter_resets_add_the_previous_value() {
    let mut s = MemorySource::new();
    series(
        &mut s,
        &[("__name__", "c_total")],
        &[
            (0, 5.0),
            (15_000, 10.0),
            (30_000, 2.0),
            (45_000, 4.0),
            (60_000, 6.0),
        ],
    );
    let e = Engine::default();
    // Raw increase 1 + reset 10 = 11 over 60 s sampled, window (0, 60s] starts at 15s:
    // samples 10, 2, 4, 6 → 6-10+10 = 6 over 45 s; first sample 15 s after the start,
    // extrapolated by avg interval (15 s) — but zero point is 45*(10/6) away, farther.
    let got = scalar_of(
        e.instant_query(&s, "increase(c_total[1m])", 60_000)
            .unwrap(),
    );
    assert!((got[0].1 - 6.0 * 60.0 / 45.0).abs() < 1e-12, "{got:?}");
    let resets = scalar_of(e.instant_query(&s, "resets(c_total[2m])", 60_000).unwrap());
    assert_eq!(resets[0].1, 1.0);
}

#[test]
fn staleness_marker_ends_a_series_before_lookback() {
    let mut s = MemorySource::new();
    series(
        &mut s,
        &[("__name__", "up")],
        &[(0, 1.0), (60_000, stale_nan())],
    );
    let e = Engine::default();
    assert_eq!(
        scalar_of(e.instant_query(&s, "up", 30_000).unwrap()).len(),
        1
    );
    assert!(scalar_of(e.instant_query(&s, "up", 90_000).unwrap()).is_empty());
    // Without the marker the value would last the 5 m lookback.
    let mut t = MemorySource::new();
    series(&mut t, &[("__name__", "up")], &[(0, 1.0)]);
    assert_eq!(
        scalar_of(e.instant_query(&t, "up", 299_999).unwrap()).len(),
        1
    );
    assert!(scalar_of(e.instant_query(&t, "up", 300_000).unwrap()).is_empty());
}

#[test]
fn offset_and_at_move_the_evaluation_time() {
    let s = counter();
    let e = Engine::default();
    let off = scalar_of(e.instant_query(&s, "req_total offset 1m", 300_000).unwrap());
    assert_eq!(off[0].1, 160.0);
    let at = scalar_of(e.instant_query(&s, "req_total @ 60", 600_000).unwrap());
    assert_eq!(at[0].1, 40.0);
    match e
        .range_query(&s, "req_total @ start()", 60_000, 120_000, 30_000)
        .unwrap()
    {
        Value::Matrix(m) => {
            let values: Vec<f64> = m[0].samples.iter().map(|s| s.value).collect();
            assert_eq!(values, [40.0, 40.0, 40.0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn subquery_steps_are_aligned_to_absolute_time() {
    let s = counter();
    let e = Engine::default();
    // Inner steps at 4:30, 4:45, 5:00 (window (4:15, 5:00]): 3 points.
    let got = scalar_of(
        e.instant_query(&s, "count_over_time(req_total[45s:15s])", 300_000)
            .unwrap(),
    );
    assert_eq!(got[0].1, 3.0);
    let got = scalar_of(
        e.instant_query(&s, "max_over_time(req_total[2m:1m])", 300_000)
            .unwrap(),
    );
    assert_eq!(got[0].1, 200.0);
}

#[test]
fn vector_matching_and_group_left() {
    let mut s = MemorySource::new();
    series(
        &mut s,
        &[("__name__", "a"), ("job", "x"), ("i", "1")],
        &[(0, 2.0)],
    );
    series(
        &mut s,
        &[("__name__", "a"), ("job", "x"), ("i", "2")],
        &[(0, 3.0)],
    );
    series(
        &mut s,
        &[("__name__", "b"), ("job", "x"), ("team", "t")],
        &[(0, 10.0)],
    );
    let e = Engine::default();
    let got = scalar_of(
        e.instant_query(&s, "a * on(job) group_left(team) b", 0)
            .unwrap(),
    );
    assert_eq!(
        got,
        [
            ("{i=\"1\", job=\"x\", team=\"t\"}".to_string(), 20.0),
            ("{i=\"2\", job=\"x\", team=\"t\"}".to_string(), 30.0)
        ]
    );
    let err = e.instant_query(&s, "a * on(job) b", 0).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert!(
        err.message
            .contains("many-to-one matching must be explicit"),
        "{err}"
    );
    let unless = scalar_of(e.instant_query(&s, "a unless on(i) a{i=\"1\"}", 0).unwrap());
    assert_eq!(unless, [("a{i=\"2\", job=\"x\"}".to_string(), 3.0)]);
}

#[test]
fn histogram_quantile_interpolates_in_the_bucket() {
    let mut s = MemorySource::new();
    for (le, count) in [("0.1", 10.0), ("0.5", 30.0), ("1", 40.0), ("+Inf", 40.0)] {
        series(
            &mut s,
            &[("__name__", "h_bucket"), ("le", le)],
            &[(0, count)],
        );
    }
    let e = Engine::default();
    // Rank 20 lies in (0.1, 0.5] holding 20 observations after the first 10: halfway.
    let got = scalar_of(
        e.instant_query(&s, "histogram_quantile(0.5, h_bucket)", 0)
            .unwrap(),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "{}");
    assert!((got[0].1 - 0.3).abs() < 1e-12, "{got:?}");
    // Above the last finite bucket: its upper bound.
    let got = scalar_of(
        e.instant_query(&s, "histogram_quantile(1, h_bucket)", 0)
            .unwrap(),
    );
    assert_eq!(got[0].1, 1.0);
}

#[test]
fn errors_have_api_kinds_and_limits_hold() {
    let s = counter();
    let e = Engine::default();
    let err = e.instant_query(&s, "sum(", 0).unwrap_err();
    assert_eq!(err.kind.api_error_type(), "bad_data");
    let err = e
        .range_query(&s, "req_total", 0, 86_400_000, 1)
        .unwrap_err();
    assert!(err.message.contains("11,000 points"), "{err}");
    let err = e
        .instant_query(&s, "max_over_time(req_total[1y:1ms])", 0)
        .unwrap_err();
    assert!(err.message.contains("too many samples"), "{err}");
    let err = e
        .range_query(&s, "req_total[5m]", 0, 60_000, 15_000)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadData);
    let limited = Engine::new(EngineOptions {
        max_samples: 10,
        ..EngineOptions::default()
    });
    let err = limited
        .range_query(&s, "req_total", 0, 600_000, 15_000)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Execution);
    assert!(err.message.contains("too many samples"), "{err}");
}

#[test]
fn topk_orders_instant_results_and_drops_names_where_prometheus_does() {
    let mut s = MemorySource::new();
    for (i, v) in [("1", 5.0), ("2", 9.0), ("3", 7.0)] {
        series(&mut s, &[("__name__", "m"), ("i", i)], &[(0, v)]);
    }
    let e = Engine::default();
    match e.instant_query(&s, "topk(2, m)", 0).unwrap() {
        Value::Vector(v) => {
            let got: Vec<(String, f64)> = v.into_iter().map(|(l, v)| (l.to_string(), v)).collect();
            assert_eq!(
                got,
                [
                    ("m{i=\"2\"}".to_string(), 9.0),
                    ("m{i=\"3\"}".to_string(), 7.0)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    let err = e.instant_query(&s, "abs({__name__=\"m\"}) or abs(m)", 0);
    assert!(err.is_ok());
    let got = scalar_of(e.instant_query(&s, "last_over_time(m[1m])", 0).unwrap());
    assert_eq!(got[0].0, "m{i=\"1\"}");
}

#[test]
fn range_functions_over_many_series_are_read_in_batches_with_nothing_lost() {
    // 200 counters (several batches of the streamed range selector), series i rising
    // by i every 15 s for 30 minutes; `c` does not end in _total, so `rate` adds an
    // info, which must appear once, not once per batch.
    let mut s = MemorySource::new();
    for i in 0..200i64 {
        let id = format!("{i:03}");
        let pts: Vec<(i64, f64)> = (0..=120).map(|k| (k * 15_000, (k * i) as f64)).collect();
        series(&mut s, &[("__name__", "c"), ("id", &id)], &pts);
    }
    let e = Engine::default();
    let result = e
        .range_query_annotated(&s, "rate(c[1m])", 300_000, 1_800_000, 60_000)
        .expect("rate over 200 series");
    let Value::Matrix(rows) = result.value else {
        panic!("a range query gives a matrix");
    };
    assert_eq!(rows.len(), 200);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.labels.to_string(), format!("{{id=\"{i:03}\"}}"));
        assert_eq!(row.samples.len(), 26, "{}", row.labels);
        for sample in &row.samples {
            assert!((sample.value - i as f64 / 15.0).abs() < 1e-9, "{sample:?}");
        }
    }
    let infos = result
        .annotations
        .iter()
        .filter(|a| format!("{a:?}").contains("might not be a counter"))
        .count();
    assert_eq!(infos, 1, "{:?}", result.annotations);
    // Aggregated, as the dashboards use it.
    let total = scalar_of(
        e.instant_query(&s, "sum(rate(c[1m]))", 1_800_000)
            .expect("sum of rates"),
    );
    let want: f64 = (0..200).map(|i| i as f64 / 15.0).sum();
    assert!((total[0].1 - want).abs() < 1e-6, "{total:?}");
    // The sample limit still holds when series arrive batch by batch: each series'
    // widest window, (29m, 30m], holds 4 samples: 200 series need 800.
    for (limit, ok) in [(799, false), (800, true)] {
        let limited = Engine::new(EngineOptions {
            max_samples: limit,
            ..EngineOptions::default()
        });
        let answer = limited.instant_query(&s, "max_over_time(c[1m])", 1_800_000);
        assert_eq!(answer.is_ok(), ok, "limit {limit}: {answer:?}");
    }
}
