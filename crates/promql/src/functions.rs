//! PromQL functions and aggregation operators.

use crate::engine::{group_labels, Ctx, MatrixArg, Row, Steps, Val};
use crate::QueryError;
use postwatch_model::metrics::{Labels, Sample, METRIC_NAME_LABEL};
use promql_parser::parser::{self as ast, Expr, LabelModifier};
use std::collections::HashMap;

/// Kahan-compensated summation step, as Prometheus sums.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn unwrap_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        other => other,
    }
}

fn arg(call: &ast::Call, i: usize) -> Result<&Expr, QueryError> {
    call.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
        QueryError::bad_data(format!("{}: missing argument {}", call.func.name, i + 1))
    })
}

fn string_arg(
    ctx: &mut Ctx,
    call: &ast::Call,
    i: usize,
    steps: &Steps,
) -> Result<String, QueryError> {
    match ctx.eval(arg(call, i)?, steps)? {
        Val::Str(s) => Ok(s),
        _ => Err(QueryError::bad_data(format!(
            "{}: argument {} must be a string",
            call.func.name,
            i + 1
        ))),
    }
}

fn map_rows(mut rows: Vec<Row>, f: impl Fn(f64) -> f64) -> Vec<Row> {
    for row in rows.iter_mut() {
        for v in row.values.iter_mut().flatten() {
            *v = f(*v);
        }
        row.drop_name = true;
    }
    rows
}

/// Evaluates a function over a range vector: `f` sees each series' window per step.
fn over_matrix(
    m: &MatrixArg,
    keep_name: bool,
    mut f: impl FnMut(&[Sample], usize) -> Option<f64>,
) -> Vec<Row> {
    let mut rows = Vec::with_capacity(m.series.len());
    for s in &m.series {
        let mut any = false;
        let mut values: Vec<Option<f64>> = vec![None; m.times.len()];
        m.for_each_window(s, |i, w| {
            if !w.is_empty() {
                values[i] = f(w, i);
                any |= values[i].is_some();
            }
        });
        if any {
            rows.push(Row {
                labels: s.labels.clone(),
                drop_name: !keep_name || s.drop_name,
                values,
            });
        }
    }
    rows
}

/// `min_over_time`/`max_over_time` in one pass per series: a queue of the window's
/// candidates, each strictly `better` than every later one (a monotonic deque), so a
/// step costs amortised O(1) instead of its window's length — a 1 h window at 15 s
/// is 240 samples per step. Same answer as Prometheus' fold: NaN samples count only
/// when the whole window is NaN, and among equal values the earliest wins.
fn extreme_over_matrix(m: &MatrixArg, better: fn(f64, f64) -> bool) -> Vec<Row> {
    let mut rows = Vec::with_capacity(m.series.len());
    let mut candidates: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    for s in &m.series {
        let samples = &s.samples;
        let mut values: Vec<Option<f64>> = vec![None; m.times.len()];
        let mut any = false;
        let mut pushed = 0;
        let mut previous_from = 0;
        candidates.clear();
        m.for_each_window_bounds(s, |i, window| {
            if window.start < previous_from || window.end < pushed {
                // The cursors restarted: rebuild the queue.
                candidates.clear();
                pushed = window.start;
            }
            previous_from = window.start;
            pushed = pushed.max(window.start);
            while pushed < window.end {
                let value = samples[pushed].value;
                if !value.is_nan() {
                    while candidates
                        .back()
                        .is_some_and(|&c| better(value, samples[c].value))
                    {
                        candidates.pop_back();
                    }
                    candidates.push_back(pushed);
                }
                pushed += 1;
            }
            while candidates.front().is_some_and(|&c| c < window.start) {
                candidates.pop_front();
            }
            if !window.is_empty() {
                values[i] = Some(candidates.front().map_or(f64::NAN, |&c| samples[c].value));
                any = true;
            }
        });
        if any {
            rows.push(Row {
                labels: s.labels.clone(),
                drop_name: true,
                values,
            });
        }
    }
    rows
}

/// The rows of a function over a range vector (`rate`, the `*_over_time` family …).
fn range_function_rows(name: &str, keep_name: bool, m: &MatrixArg) -> Vec<Row> {
    match name {
        "rate" => over_matrix(m, false, |w, i| extrapolated_rate(w, m, i, true, true)),
        "increase" => over_matrix(m, false, |w, i| extrapolated_rate(w, m, i, true, false)),
        "delta" => over_matrix(m, false, |w, i| extrapolated_rate(w, m, i, false, false)),
        "irate" => over_matrix(m, false, |w, _| instant_delta(w, true)),
        "idelta" => over_matrix(m, false, |w, _| instant_delta(w, false)),
        "deriv" => over_matrix(m, false, |w, _| {
            (w.len() >= 2).then(|| linear_regression(w, w[0].timestamp_ms).0)
        }),
        "resets" => over_matrix(m, false, |w, _| {
            Some(w.windows(2).filter(|p| p[1].value < p[0].value).count() as f64)
        }),
        "changes" => over_matrix(m, false, |w, _| {
            Some(
                w.windows(2)
                    .filter(|p| {
                        p[1].value != p[0].value && !(p[1].value.is_nan() && p[0].value.is_nan())
                    })
                    .count() as f64,
            )
        }),
        "avg_over_time" => over_matrix(m, false, |w, _| Some(average(w.iter().map(|s| s.value)))),
        "sum_over_time" => over_matrix(m, false, |w, _| {
            let (s, c) = w
                .iter()
                .fold((0.0, 0.0), |(s, c), x| kahan_inc(x.value, s, c));
            Some(s + c)
        }),
        "min_over_time" => extreme_over_matrix(m, |a, b| a < b),
        "max_over_time" => extreme_over_matrix(m, |a, b| a > b),
        "count_over_time" => over_matrix(m, false, |w, _| Some(w.len() as f64)),
        "present_over_time" => over_matrix(m, false, |_, _| Some(1.0)),
        "last_over_time" => over_matrix(m, keep_name, |w, _| w.last().map(|s| s.value)),
        "first_over_time" => over_matrix(m, keep_name, |w, _| w.first().map(|s| s.value)),
        "stddev_over_time" => over_matrix(m, false, |w, _| {
            Some(variance(w.iter().map(|s| s.value)).sqrt())
        }),
        "stdvar_over_time" => {
            over_matrix(m, false, |w, _| Some(variance(w.iter().map(|s| s.value))))
        }
        _ => over_matrix(m, false, |w, _| {
            let mut v: Vec<f64> = w.iter().map(|s| s.value).collect();
            let median = quantile(0.5, &mut v);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
            Some(quantile(0.5, &mut dev))
        }),
    }
}

const EXPERIMENTAL_FUNCTIONS: &[&str] = &[
    "mad_over_time",
    "sort_by_label",
    "sort_by_label_desc",
    "double_exponential_smoothing",
    "info",
    "first_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "ts_of_last_over_time",
    "ts_of_first_over_time",
];

/// Whether a function is gated as experimental in Prometheus.
pub(crate) fn is_experimental(name: &str) -> bool {
    EXPERIMENTAL_FUNCTIONS.contains(&name)
}

pub(crate) fn eval_call(ctx: &mut Ctx, call: &ast::Call, steps: &Steps) -> Result<Val, QueryError> {
    let name = call.func.name;
    let node = call as *const _ as usize;
    let pos = |ctx: &Ctx, i: usize| ctx.positions.suffix(node, i);
    let n = steps.count;
    let simple: Option<fn(f64) -> f64> = match name {
        "abs" => Some(f64::abs),
        "ceil" => Some(f64::ceil),
        "floor" => Some(f64::floor),
        "exp" => Some(f64::exp),
        "sqrt" => Some(f64::sqrt),
        "ln" => Some(f64::ln),
        "log2" => Some(f64::log2),
        "log10" => Some(f64::log10),
        "sin" => Some(f64::sin),
        "cos" => Some(f64::cos),
        "tan" => Some(f64::tan),
        "asin" => Some(f64::asin),
        "acos" => Some(f64::acos),
        "atan" => Some(f64::atan),
        "sinh" => Some(f64::sinh),
        "cosh" => Some(f64::cosh),
        "tanh" => Some(f64::tanh),
        "asinh" => Some(f64::asinh),
        "acosh" => Some(f64::acosh),
        "atanh" => Some(f64::atanh),
        "deg" => Some(|x: f64| x * 180.0 / std::f64::consts::PI),
        "rad" => Some(|x: f64| x * std::f64::consts::PI / 180.0),
        "sgn" => Some(|x: f64| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }),
        _ => None,
    };
    if let Some(f) = simple {
        let rows = ctx.eval_vector(arg(call, 0)?, steps)?;
        return Ok(Val::Vector(map_rows(rows, f)));
    }
    match name {
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
        "time" => Ok(Val::Scalar(
            (0..n).map(|i| steps.time(i) as f64 / 1000.0).collect(),
        )),
        "vector" => {
            let s = ctx.eval_scalar(arg(call, 0)?, steps)?;
            Ok(Val::Vector(vec![Row {
                labels: Labels::default(),
                drop_name: false,
                values: s.into_iter().map(Some).collect(),
            }]))
        }
        "scalar" => {
            let rows = ctx.eval_vector(arg(call, 0)?, steps)?;
            let values = (0..n)
                .map(|i| {
                    let mut present = rows.iter().filter_map(|r| r.values[i]);
                    match (present.next(), present.next()) {
                        (Some(v), None) => v,
                        _ => f64::NAN,
                    }
                })
                .collect();
            Ok(Val::Scalar(values))
        }
        "round" => {
            let rows = ctx.eval_vector(arg(call, 0)?, steps)?;
            let to = match call.args.args.get(1) {
                Some(e) => ctx.eval_scalar(e, steps)?,
                None => vec![1.0; n],
            };
            let mut rows = rows;
            for row in rows.iter_mut() {
                for (v, &t) in row.values.iter_mut().zip(&to) {
                    if let Some(x) = v {
                        // Prometheus rounds half up, via the inverse to avoid float error.
                        let inv = 1.0 / t;
                        *x = (*x * inv + 0.5).floor() / inv;
                    }
                }
                row.drop_name = true;
            }
            Ok(Val::Vector(rows))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let rows = ctx.eval_vector(arg(call, 0)?, steps)?;
            let a = ctx.eval_scalar(arg(call, 1)?, steps)?;
            let b = if name == "clamp" {
                ctx.eval_scalar(arg(call, 2)?, steps)?
            } else {
                vec![0.0; n]
            };
            let mut out = Vec::with_capacity(rows.len());
            for mut row in rows {
                let mut any = false;
                for (i, v) in row.values.iter_mut().enumerate() {
                    if let Some(x) = *v {
                        let r = match name {
                            "clamp_min" => Some(go_max(a[i], x)),
                            "clamp_max" => Some(go_min(a[i], x)),
                            _ if b[i] < a[i] => None,
                            _ => Some(go_max(a[i], go_min(b[i], x))),
                        };
                        *v = r;
                        any |= r.is_some();
                    }
                }
                row.drop_name = true;
                if any {
                    out.push(row);
                }
            }
            Ok(Val::Vector(out))
        }
        "timestamp" => {
            let inner = unwrap_parens(arg(call, 0)?);
            let rows = if let Expr::VectorSelector(vs) = inner {
                let times = times_for(ctx, vs, steps);
                ctx.select_instant(vs, &times, true)?
            } else {
                let rows = ctx.eval_vector(inner, steps)?;
                rows.into_iter()
                    .map(|mut r| {
                        for (i, v) in r.values.iter_mut().enumerate() {
                            if v.is_some() {
                                *v = Some(steps.time(i) as f64 / 1000.0);
                            }
                        }
                        r
                    })
                    .collect()
            };
            Ok(Val::Vector(
                rows.into_iter()
                    .map(|mut r| {
                        r.drop_name = true;
                        r
                    })
                    .collect(),
            ))
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let rows = match call.args.args.first() {
                Some(e) => ctx.eval_vector(e, steps)?,
                None => vec![Row {
                    labels: Labels::default(),
                    drop_name: false,
                    values: (0..n)
                        .map(|i| Some(steps.time(i) as f64 / 1000.0))
                        .collect(),
                }],
            };
            Ok(Val::Vector(map_rows(rows, |t| date_part(name, t))))
        }
        "label_replace" => {
            let rows = ctx.eval_vector(arg(call, 0)?, steps)?;
            let dst = string_arg(ctx, call, 1, steps)?;
            let replacement = string_arg(ctx, call, 2, steps)?;
            let src = string_arg(ctx, call, 3, steps)?;
            let pattern = string_arg(ctx, call, 4, steps)?;
            let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
                QueryError::bad_data(format!(
                    "invalid regular expression in label_replace(): {e}"
                ))
            })?;
            if !valid_label_name(&dst) {
                return Err(QueryError::execution(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let mut out = Vec::with_capacity(rows.len());
            for mut row in rows {
                let value = row.labels.get(&src).unwrap_or("").to_string();
                if let Some(caps) = re.captures(&value) {
                    let mut expanded = String::new();
                    // Go and the regex crate read `$1`, `${1}` and `$name` alike.
                    caps.expand(&replacement, &mut expanded);
                    row.labels.set(&dst, &expanded);
                    if dst == METRIC_NAME_LABEL {
                        row.drop_name = false;
                    }
                }
                out.push(row);
            }
            Ok(Val::Vector(out))
        }
        "label_join" => {
            let rows = ctx.eval_vector(arg(call, 0)?, steps)?;
            let dst = string_arg(ctx, call, 1, steps)?;
            let sep = string_arg(ctx, call, 2, steps)?;
            let mut srcs = Vec::new();
            for i in 3..call.args.args.len() {
                srcs.push(string_arg(ctx, call, i, steps)?);
            }
            if !valid_label_name(&dst) {
                return Err(QueryError::execution(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let mut out = Vec::with_capacity(rows.len());
            for mut row in rows {
                let joined = srcs
                    .iter()
                    .map(|s| row.labels.get(s).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(&sep);
                row.labels.set(&dst, &joined);
                if dst == METRIC_NAME_LABEL {
                    row.drop_name = false;
                }
                out.push(row);
            }
            Ok(Val::Vector(out))
        }
        "sort" | "sort_desc" => {
            let mut rows = ctx.eval_vector(arg(call, 0)?, steps)?;
            if n == 1 {
                let desc = name == "sort_desc";
                rows.sort_by(|a, b| {
                    let (x, y) = (
                        a.values[0].unwrap_or(f64::NAN),
                        b.values[0].unwrap_or(f64::NAN),
                    );
                    match (x.is_nan(), y.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if desc => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                        _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    }
                });
            }
            Ok(Val::Vector(rows))
        }
        "absent" => {
            let inner = arg(call, 0)?;
            let rows = ctx.eval_vector(inner, steps)?;
            let values: Vec<Option<f64>> = (0..n)
                .map(|i| (!rows.iter().any(|r| r.values[i].is_some())).then_some(1.0))
                .collect();
            Ok(Val::Vector(absent_row(inner, values)))
        }
        "absent_over_time" => {
            let inner = arg(call, 0)?;
            let m = ctx.eval_matrix(inner, steps)?;
            let values: Vec<Option<f64>> = (0..n)
                .map(|i| (!m.series.iter().any(|s| !m.window(s, i).is_empty())).then_some(1.0))
                .collect();
            Ok(Val::Vector(absent_row(inner, values)))
        }
        "histogram_quantile" => {
            let q = ctx.eval_scalar(arg(call, 0)?, steps)?;
            let rows = ctx.eval_vector(arg(call, 1)?, steps)?;
            let (qpos, vpos) = (pos(ctx, 0), pos(ctx, 1));
            histogram_quantile(ctx, &q, rows, n, &qpos, &vpos).map(Val::Vector)
        }
        "histogram_fraction" => {
            let lower = ctx.eval_scalar(arg(call, 0)?, steps)?;
            let upper = ctx.eval_scalar(arg(call, 1)?, steps)?;
            let rows = ctx.eval_vector(arg(call, 2)?, steps)?;
            let vpos = pos(ctx, 2);
            Ok(Val::Vector(classic_histograms(
                ctx,
                &rows,
                n,
                &vpos,
                |i, buckets| bucket_fraction(lower[i], upper[i], buckets),
            )))
        }
        "rate" | "increase" | "delta" | "irate" | "idelta" | "deriv" | "resets" | "changes"
        | "avg_over_time" | "min_over_time" | "max_over_time" | "sum_over_time"
        | "count_over_time" | "last_over_time" | "present_over_time" | "stddev_over_time"
        | "stdvar_over_time" | "first_over_time" | "mad_over_time" => {
            let keep_name = matches!(name, "last_over_time" | "first_over_time");
            let counter = matches!(name, "rate" | "increase");
            let p = pos(ctx, 0);
            let mut rows = Vec::new();
            ctx.each_matrix_batch(arg(call, 0)?, steps, &mut |ctx, m| {
                if counter {
                    warn_not_counter(ctx, m, &p);
                }
                rows.extend(range_function_rows(name, keep_name, m));
            })?;
            Ok(Val::Vector(rows))
        }
        "quantile_over_time" => {
            let q = ctx.eval_scalar(arg(call, 0)?, steps)?;
            let m = ctx.eval_matrix(arg(call, 1)?, steps)?;
            if let Some(&bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                let p = pos(ctx, 0);
                ctx.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}{p}",
                    crate::format_value(bad)
                ));
            }
            let mut buf = Vec::new();
            Ok(Val::Vector(over_matrix(&m, false, |w, i| {
                buf.clear();
                buf.extend(w.iter().map(|s| s.value));
                Some(quantile(q[i], &mut buf))
            })))
        }
        "predict_linear" => {
            let m = ctx.eval_matrix(arg(call, 0)?, steps)?;
            let d = ctx.eval_scalar(arg(call, 1)?, steps)?;
            Ok(Val::Vector(over_matrix(&m, false, |w, i| {
                (w.len() >= 2).then(|| {
                    let (slope, intercept) = linear_regression(w, steps.time(i));
                    slope * d[i] + intercept
                })
            })))
        }
        "double_exponential_smoothing" => {
            let m = ctx.eval_matrix(arg(call, 0)?, steps)?;
            let sf = ctx.eval_scalar(arg(call, 1)?, steps)?;
            let tf = ctx.eval_scalar(arg(call, 2)?, steps)?;
            if sf.iter().any(|v| *v <= 0.0 || *v >= 1.0) {
                return Err(QueryError::execution(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                    sf[0]
                )));
            }
            if tf.iter().any(|v| *v <= 0.0 || *v >= 1.0) {
                return Err(QueryError::execution(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                    tf[0]
                )));
            }
            Ok(Val::Vector(over_matrix(&m, false, |w, i| {
                double_exponential_smoothing(w, sf[i], tf[i])
            })))
        }
        other => Err(QueryError::bad_data(format!(
            "function {other:?} is not supported"
        ))),
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Effective times of a selector, as the engine computes them.
fn times_for(ctx: &Ctx, vs: &ast::VectorSelector, steps: &Steps) -> Vec<i64> {
    let offset = match &vs.offset {
        None => 0,
        Some(ast::Offset::Pos(d)) => d.as_millis() as i64,
        Some(ast::Offset::Neg(d)) => -(d.as_millis() as i64),
    };
    (0..steps.count)
        .map(|i| {
            let t = match &vs.at {
                None => steps.time(i),
                Some(at) => ctx.at_time(at),
            };
            t - offset
        })
        .collect()
}

fn valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('\u{FFFD}')
}

fn absent_row(expr: &Expr, values: Vec<Option<f64>>) -> Vec<Row> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let vs = match unwrap_parens(expr) {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    if let Some(vs) = vs {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for m in &vs.matchers.matchers {
            *seen.entry(m.name.as_str()).or_default() += 1;
        }
        for m in &vs.matchers.matchers {
            if m.op == promql_parser::label::MatchOp::Equal
                && m.name != METRIC_NAME_LABEL
                && seen.get(m.name.as_str()) == Some(&1)
            {
                pairs.push((m.name.clone(), m.value.clone()));
            }
        }
    }
    if values.iter().all(Option::is_none) {
        return Vec::new();
    }
    vec![Row {
        labels: Labels::from_pairs(pairs),
        drop_name: false,
        values,
    }]
}

fn warn_not_counter(ctx: &mut Ctx, m: &MatrixArg, pos: &str) {
    let mut names: Vec<String> = Vec::new();
    for s in &m.series {
        if let Some(name) = s.labels.metric_name() {
            if !s.drop_name
                && !["_total", "_sum", "_count", "_bucket"]
                    .iter()
                    .any(|suf| name.ends_with(suf))
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_string());
            }
        }
    }
    for name in names {
        ctx.info(format!(
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}{pos}"
        ));
    }
}

fn extrapolated_rate(
    w: &[Sample],
    m: &MatrixArg,
    i: usize,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let range_end = m.times[i];
    let range_start = range_end - m.range_ms;
    let first = w[0];
    let last = w[w.len() - 1];
    let mut result = last.value - first.value;
    if is_counter {
        let mut prev = first.value;
        for s in &w[1..] {
            if s.value < prev {
                result += prev;
            }
            prev = s.value;
        }
    }
    let mut to_start = (first.timestamp_ms - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.timestamp_ms) as f64 / 1000.0;
    let sampled = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let avg = sampled / (w.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter && result > 0.0 && first.value >= 0.0 {
        let to_zero = sampled * (first.value / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= m.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

fn instant_delta(w: &[Sample], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let last = w[w.len() - 1];
    let prev = w[w.len() - 2];
    let mut result = if is_rate && last.value < prev.value {
        last.value
    } else {
        last.value - prev.value
    };
    let interval = last.timestamp_ms - prev.timestamp_ms;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares slope and intercept (at `intercept_time`), Prometheus' algorithm.
pub(crate) fn linear_regression(w: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = w[0].value;
    let mut const_y = true;
    for (i, s) in w.iter().enumerate() {
        if const_y && i > 0 && s.value != init {
            const_y = false;
        }
        n += 1.0;
        let x = (s.timestamp_ms - intercept_time) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.value, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.value, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// Streaming accumulator for the simple aggregations and `*_over_time` functions:
/// Kahan sums, an average that switches to an incremental mean when the sum
/// overflows (as Prometheus does), Welford variance, min and max.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Acc {
    count: f64,
    sum: f64,
    c: f64,
    incremental: bool,
    mean: f64,
    mean_c: f64,
    var_mean: f64,
    var_mean_c: f64,
    aux: f64,
    aux_c: f64,
    min: f64,
    max: f64,
}

impl Acc {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.min = v;
            self.max = v;
        } else {
            if v < self.min || self.min.is_nan() {
                self.min = v;
            }
            if v > self.max || self.max.is_nan() {
                self.max = v;
            }
        }
        // Variance (Welford with compensation).
        let delta = v - (self.var_mean + self.var_mean_c);
        (self.var_mean, self.var_mean_c) =
            kahan_inc(delta / self.count, self.var_mean, self.var_mean_c);
        (self.aux, self.aux_c) = kahan_inc(
            delta * (v - (self.var_mean + self.var_mean_c)),
            self.aux,
            self.aux_c,
        );
        // Sum, and the mean once the sum overflows.
        if !self.incremental {
            let (ns, nc) = kahan_inc(v, self.sum, self.c);
            if !ns.is_infinite() || self.count == 1.0 {
                self.sum = ns;
                self.c = nc;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.mean_c = self.c / (self.count - 1.0);
        }
        if self.mean.is_infinite() {
            if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                return;
            }
            if !v.is_infinite() && !v.is_nan() {
                return;
            }
        }
        let step = v / self.count - (self.mean + self.mean_c) / self.count;
        (self.mean, self.mean_c) = kahan_inc(step, self.mean, self.mean_c);
        // Keep the plain sum meaningful too (unused once incremental).
        self.sum += v;
    }

    pub fn count(&self) -> f64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum + self.c
    }

    pub fn avg(&self) -> f64 {
        if self.incremental {
            self.mean + self.mean_c
        } else {
            (self.sum + self.c) / self.count
        }
    }

    pub fn variance(&self) -> f64 {
        (self.aux + self.aux_c) / self.count
    }

    pub fn min(&self) -> f64 {
        self.min
    }

    pub fn max(&self) -> f64 {
        self.max
    }
}

/// Mean with Kahan summation, switching to an incremental mean when the sum overflows.
pub(crate) fn average(values: impl Iterator<Item = f64>) -> f64 {
    let mut acc = Acc::default();
    values.for_each(|v| acc.add(v));
    acc.avg()
}

pub(crate) fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let mut acc = Acc::default();
    values.for_each(|v| acc.add(v));
    acc.variance()
}

/// The φ-quantile by linear interpolation (Prometheus' `quantile`); sorts `values`.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as Prometheus' comparator puts it.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

fn double_exponential_smoothing(w: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, w[0].value);
    let mut b = w[1].value - w[0].value;
    for (i, s) in w.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        s0 = s1;
        s1 = sf * s.value + (1.0 - sf) * (s0 + b);
    }
    Some(s1)
}

fn date_part(name: &str, t: f64) -> f64 {
    if t.is_nan() || t.is_infinite() {
        return t;
    }
    let secs = t.floor() as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "hour" => (sod / 3600) as f64,
        "minute" => ((sod % 3600) / 60) as f64,
        "day_of_month" => d as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => (days - days_from_civil(y, 1, 1) + 1) as f64,
        "days_in_month" => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as f64
        }
        "month" => m as f64,
        _ => y as f64,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn histogram_quantile(
    ctx: &mut Ctx,
    q: &[f64],
    rows: Vec<Row>,
    n: usize,
    q_pos: &str,
    vector_pos: &str,
) -> Result<Vec<Row>, QueryError> {
    if let Some(&bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        ctx.warn(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}{q_pos}",
            crate::format_value(bad)
        ));
    }
    let mut fixed_monotonic = false;
    let out = classic_histograms(ctx, &rows, n, vector_pos, |i, buckets| {
        let (v, forced) = bucket_quantile(q[i], buckets);
        fixed_monotonic |= forced;
        v
    });
    if fixed_monotonic {
        ctx.info(
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity"
                .to_string(),
        );
    }
    Ok(out)
}

/// Groups classic bucket series (`le`) into histograms and computes `f` per step
/// over `(upper bound, cumulative count)` pairs.
fn classic_histograms(
    ctx: &mut Ctx,
    rows: &[Row],
    n: usize,
    vector_pos: &str,
    mut f: impl FnMut(usize, &mut Vec<(f64, f64)>) -> f64,
) -> Vec<Row> {
    // Buckets grouped by the label set without `le` and the metric name.
    let mut groups: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (ri, row) in rows.iter().enumerate() {
        let le = row.labels.get("le").unwrap_or("");
        let Some(upper) = parse_le(le) else {
            ctx.warn(format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {:?}{vector_pos}",
                row.labels.metric_name().unwrap_or("")
            ));
            continue;
        };
        // The name stays in the key: two histograms whose labels differ only by
        // name collide when the name is dropped, which the final check reports.
        let mut key = row.labels.clone();
        key.remove("le");
        let gi = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[gi].1.push((upper, ri));
    }
    let mut out = Vec::with_capacity(groups.len());
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for (labels, members) in groups {
        let mut values = vec![None; n];
        for (i, value) in values.iter_mut().enumerate() {
            buckets.clear();
            buckets.extend(
                members
                    .iter()
                    .filter_map(|&(upper, ri)| rows[ri].values[i].map(|c| (upper, c))),
            );
            if buckets.is_empty() {
                continue;
            }
            *value = Some(f(i, &mut buckets));
        }
        if values.iter().any(Option::is_some) {
            out.push(Row {
                labels,
                drop_name: true,
                values,
            });
        }
    }
    out
}

/// Fraction of observations between `lower` and `upper` in classic buckets,
/// interpolating linearly inside buckets (the first bucket starts at 0 when its
/// bound is positive, else at -Inf).
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(bound, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    let total = merged[merged.len() - 1].1;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut from = if merged[0].0 <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, &(to, count)) in merged.iter().enumerate() {
        if i > 0 {
            from = merged[i - 1].0;
        }
        let interpolate = |v: f64| {
            if from == f64::NEG_INFINITY {
                count
            } else {
                rank + (count - rank) * (v - from) / (to - from)
            }
        };
        if !lower_set && from >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && from >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && from < lower && to > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && from < upper && to > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = count;
    }
    if !lower_set || lower_rank > total {
        lower_rank = total;
    }
    if !upper_set || upper_rank > total {
        upper_rank = total;
    }
    (upper_rank - lower_rank) / total
}

fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => t.parse::<f64>().ok(),
    }
}

fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Quantile of classic buckets `(upper bound, cumulative count)`; returns whether the
/// counts had to be forced monotonic.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    // Coalesce buckets with the same bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(upper, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == upper => last.1 += count,
            _ => merged.push((upper, count)),
        }
    }
    *buckets = merged;
    let mut forced = false;
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            b.1 = prev;
            continue;
        }
        if curr < prev {
            b.1 = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let last = buckets.len() - 1;
    let b = buckets[..last].partition_point(|x| x.1 < rank);
    if b == last {
        return (buckets[last - 1].0, forced);
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return (buckets[0].0, forced);
    }
    let mut start = 0.0;
    let end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` (count_values labels).
fn format_label_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Aggregation operators.
pub(crate) fn aggregate(
    ctx: &mut Ctx,
    op: &str,
    param: Option<Val>,
    rows: Vec<Row>,
    modifier: Option<&LabelModifier>,
    steps: &Steps,
    param_pos: &str,
) -> Result<Vec<Row>, QueryError> {
    let n = steps.count;
    let mut group_of = Vec::with_capacity(rows.len());
    let mut groups: Vec<(Labels, bool)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let keeps_name = matches!(modifier, Some(LabelModifier::Include(l)) if l.labels.iter().any(|n| n == METRIC_NAME_LABEL));
    for row in &rows {
        let key = group_labels(&row.labels, modifier);
        let gi = match index.get(&key) {
            Some(&gi) => gi,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, false));
                groups.len() - 1
            }
        };
        if keeps_name && row.drop_name {
            groups[gi].1 = true;
        }
        group_of.push(gi);
    }
    let scalar_param = |p: &Option<Val>| -> Result<Vec<f64>, QueryError> {
        match p {
            Some(Val::Scalar(v)) => Ok(v.clone()),
            _ => Err(QueryError::bad_data(format!(
                "{op}: expected a scalar parameter"
            ))),
        }
    };
    let g = groups.len();
    let make = |values: Vec<Vec<Option<f64>>>, groups: Vec<(Labels, bool)>| -> Vec<Row> {
        groups
            .into_iter()
            .zip(values)
            .filter(|(_, v)| v.iter().any(Option::is_some))
            .map(|((labels, drop_name), values)| Row {
                labels,
                drop_name,
                values,
            })
            .collect()
    };
    match op {
        "sum" | "avg" | "count" | "group" | "min" | "max" | "stddev" | "stdvar" => {
            // Step by step, rows in input order (the order Prometheus adds them in),
            // with one accumulator per group reused across steps.
            let mut values: Vec<Vec<Option<f64>>> = vec![vec![None; n]; g];
            let mut accs: Vec<Acc> = vec![Acc::default(); g];
            #[allow(clippy::needless_range_loop)] // `i` indexes every row's values
            for i in 0..n {
                accs.iter_mut().for_each(|a| *a = Acc::default());
                for (ri, row) in rows.iter().enumerate() {
                    if let Some(v) = row.values[i] {
                        accs[group_of[ri]].add(v);
                    }
                }
                for (gi, acc) in accs.iter().enumerate() {
                    if acc.count() == 0.0 {
                        continue;
                    }
                    values[gi][i] = Some(match op {
                        "sum" => acc.sum(),
                        "avg" => acc.avg(),
                        "count" => acc.count(),
                        "group" => 1.0,
                        "min" => acc.min(),
                        "max" => acc.max(),
                        "stddev" => acc.variance().sqrt(),
                        _ => acc.variance(),
                    });
                }
            }
            Ok(make(values, groups))
        }
        "quantile" => {
            let q = scalar_param(&param)?;
            if let Some(&bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                ctx.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}{param_pos}",
                    crate::format_value(bad)
                ));
            }
            let mut per: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; g];
            for (ri, row) in rows.iter().enumerate() {
                for (i, v) in row.values.iter().enumerate() {
                    if let Some(v) = v {
                        per[group_of[ri]][i].push(*v);
                    }
                }
            }
            let values = per
                .into_iter()
                .map(|sv| {
                    sv.into_iter()
                        .enumerate()
                        .map(|(i, mut vals)| (!vals.is_empty()).then(|| quantile(q[i], &mut vals)))
                        .collect()
                })
                .collect();
            Ok(make(values, groups))
        }
        "topk" | "bottomk" => {
            let k = scalar_param(&param)?;
            if k.iter().any(|k| k.is_nan()) {
                return Err(QueryError::execution("Parameter value is NaN"));
            }
            let top = op == "topk";
            let mut out_vals: Vec<Vec<Option<f64>>> = vec![vec![None; n]; rows.len()];
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); g];
            for (ri, &gi) in group_of.iter().enumerate() {
                members[gi].push(ri);
            }
            // For instant queries the output order is the selection order.
            let mut order: Vec<usize> = Vec::new();
            for (i, &kf) in k.iter().enumerate() {
                if kf < 1.0 {
                    continue;
                }
                let kk = if kf >= rows.len() as f64 {
                    rows.len()
                } else {
                    kf as usize
                };
                for m in &members {
                    let mut present: Vec<(usize, f64)> = m
                        .iter()
                        .filter_map(|&ri| rows[ri].values[i].map(|v| (ri, v)))
                        .collect();
                    present.sort_by(|a, b| {
                        let (x, y) = (a.1, b.1);
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if top => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                            _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                        }
                    });
                    for &(ri, v) in present.iter().take(kk) {
                        out_vals[ri][i] = Some(v);
                        if n == 1 {
                            order.push(ri);
                        }
                    }
                }
            }
            let mut rows_out: Vec<Option<Row>> = rows
                .into_iter()
                .zip(out_vals)
                .map(|(r, values)| {
                    Some(Row {
                        labels: r.labels,
                        drop_name: r.drop_name,
                        values,
                    })
                })
                .collect();
            let mut out = Vec::new();
            if n == 1 {
                for ri in order {
                    if let Some(r) = rows_out[ri].take() {
                        out.push(r);
                    }
                }
            } else {
                out.extend(
                    rows_out
                        .into_iter()
                        .flatten()
                        .filter(|r| r.values.iter().any(Option::is_some)),
                );
            }
            Ok(out)
        }
        "count_values" => {
            let label = match &param {
                Some(Val::Str(s)) => s.clone(),
                _ => {
                    return Err(QueryError::bad_data(
                        "count_values: expected a string parameter",
                    ))
                }
            };
            if !valid_label_name(&label) {
                return Err(QueryError::execution(format!(
                    "invalid label name {label:?}"
                )));
            }
            let mut out: Vec<Row> = Vec::new();
            let mut idx: HashMap<Labels, usize> = HashMap::new();
            for (ri, row) in rows.iter().enumerate() {
                for (i, v) in row.values.iter().enumerate() {
                    let Some(v) = v else { continue };
                    let mut labels = groups[group_of[ri]].0.clone();
                    labels.set(&label, &format_label_value(*v));
                    let oi = *idx.entry(labels.clone()).or_insert_with(|| {
                        out.push(Row {
                            labels,
                            drop_name: false,
                            values: vec![None; n],
                        });
                        out.len() - 1
                    });
                    let slot = &mut out[oi].values[i];
                    *slot = Some(slot.unwrap_or(0.0) + 1.0);
                }
            }
            Ok(out)
        }
        other => Err(QueryError::bad_data(format!(
            "aggregation {other:?} is not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RangeSeries;

    /// Prometheus' fold, the definition the sliding version must match.
    fn fold_extreme(window: &[Sample], better: fn(f64, f64) -> bool) -> f64 {
        window.iter().fold(f64::NAN, |acc, s| {
            if better(s.value, acc) || acc.is_nan() {
                s.value
            } else {
                acc
            }
        })
    }

    #[test]
    fn sliding_min_and_max_equal_the_fold_on_every_window() {
        // Few distinct values so that ties, ±0 and NaN runs are common.
        const VALUES: [f64; 7] = [1.0, 2.0, 3.0, f64::NAN, 0.0, -0.0, -4.0];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for case in 0..400 {
            let mut t = 0;
            let samples: Vec<Sample> = (0..next(60))
                .map(|_| {
                    t += 1 + next(40) as i64;
                    Sample {
                        timestamp_ms: t,
                        value: VALUES[next(VALUES.len() as u64) as usize],
                    }
                })
                .collect();
            let mut end = next(30) as i64;
            let mut times: Vec<i64> = (0..next(80))
                .map(|_| {
                    end += next(25) as i64;
                    end
                })
                .collect();
            if case % 10 == 0 && times.len() > 2 {
                times.swap(0, 1);
                times.reverse();
            }
            let m = MatrixArg {
                series: vec![RangeSeries {
                    labels: Labels::default(),
                    drop_name: false,
                    samples,
                }],
                range_ms: 1 + next(200) as i64,
                times,
            };
            for better in [(|a, b| a < b) as fn(f64, f64) -> bool, |a, b| a > b] {
                let rows = extreme_over_matrix(&m, better);
                let got = rows.first().map(|r| r.values.clone());
                let want: Vec<Option<f64>> = (0..m.times.len())
                    .map(|i| {
                        let w = m.window(&m.series[0], i);
                        (!w.is_empty()).then(|| fold_extreme(w, better))
                    })
                    .collect();
                let want = want.iter().any(Option::is_some).then_some(want);
                let bits = |v: &Option<Vec<Option<f64>>>| {
                    v.as_ref().map(|v| {
                        v.iter()
                            .map(|x| x.map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() }))
                            .collect::<Vec<_>>()
                    })
                };
                assert_eq!(bits(&got), bits(&want), "case {case}: {m:?}");
            }
        }
    }
}
