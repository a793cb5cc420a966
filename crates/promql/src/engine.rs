//! The evaluator. Every expression is evaluated for all steps of a query at once:
//! instant vectors are rows of one optional value per step, range vectors keep each
//! series' samples once and are windowed per step by binary search.

use crate::functions;
use crate::{Annotation, ErrorKind, QueryError, QueryResult, Value};
use postwatch_model::metrics::{
    is_stale_marker, LabelMatcher, Labels, MatchOp, Sample, Series, SeriesSource, METRIC_NAME_LABEL,
};
use promql_parser::label::MatchOp as ParserMatchOp;
use promql_parser::parser::{
    self as ast, AtModifier, Expr, LabelModifier, Offset, VectorMatchCardinality,
};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Limits and defaults of query evaluation.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample (Prometheus: 5m).
    pub lookback_delta_ms: i64,
    /// Most samples (loaded plus produced) one query may hold; beyond it the query fails.
    pub max_samples: usize,
    /// Wall-clock limit of one query.
    pub timeout: Option<Duration>,
    /// Step of subqueries written without one (`x[1h:]`): Prometheus' global
    /// evaluation interval, 1m by default.
    pub default_subquery_step_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            default_subquery_step_ms: 60_000,
        }
    }
}

/// Evaluates PromQL queries against a [`SeriesSource`].
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub options: EngineOptions,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// Evaluates `query` at one instant.
    pub fn instant_query(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        time_ms: i64,
    ) -> Result<Value, QueryError> {
        self.instant_query_annotated(source, query, time_ms)
            .map(|r| r.value)
    }

    /// Evaluates `query` at `start_ms`, `start_ms + step_ms`, … up to `end_ms`.
    pub fn range_query(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value, QueryError> {
        self.range_query_annotated(source, query, start_ms, end_ms, step_ms)
            .map(|r| r.value)
    }

    /// [`Engine::instant_query`] with the annotations (warnings, infos).
    pub fn instant_query_annotated(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let expr = parse(query)?;
        self.run(source, query, &expr, (time_ms, time_ms, 1), true)
    }

    /// [`Engine::range_query`] with the annotations (warnings, infos).
    pub fn range_query_annotated(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::bad_data(
                "zero or negative query resolution step widths are not accepted",
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::bad_data(
                "end timestamp must not be before start time",
            ));
        }
        if (end_ms - start_ms) / step_ms > 11_000 {
            return Err(QueryError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let expr = parse(query)?;
        match expr_type(&expr) {
            ExprType::Scalar | ExprType::Vector => {}
            other => {
                return Err(QueryError::bad_data(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                other.name()
            )))
            }
        }
        self.run(source, query, &expr, (start_ms, end_ms, step_ms), false)
    }

    fn run(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        expr: &Expr,
        (start, end, step): (i64, i64, i64),
        instant: bool,
    ) -> Result<QueryResult, QueryError> {
        let steps = Steps {
            start,
            step,
            count: ((end - start) / step + 1) as usize,
        };
        let mut ctx = Ctx {
            positions: crate::positions::Positions::new(query, expr),
            source,
            options: &self.options,
            query_start: start,
            query_end: end,
            annotations: Vec::new(),
            samples: 0,
            deadline: self.options.timeout.map(|t| Instant::now() + t),
        };
        let value = ctx.eval(expr, &steps)?;
        let value = finish(value, &steps, instant)?;
        let mut annotations = ctx.annotations;
        annotations.dedup();
        Ok(QueryResult { value, annotations })
    }
}

/// The label matchers of a vector selector, the metric name as a `__name__` matcher.
pub(crate) fn selector_matchers(vs: &ast::VectorSelector) -> Result<Vec<LabelMatcher>, QueryError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(QueryError::bad_data(
            "`or` inside label matchers is not supported",
        ));
    }
    let mut out = Vec::new();
    if let Some(name) = &vs.name {
        out.push(LabelMatcher::equal(METRIC_NAME_LABEL, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let (op, regex) = match &m.op {
            ParserMatchOp::Equal => (MatchOp::Equal, None),
            ParserMatchOp::NotEqual => (MatchOp::NotEqual, None),
            ParserMatchOp::Re(r) => (MatchOp::RegexMatch, Some(r)),
            ParserMatchOp::NotRe(r) => (MatchOp::RegexNoMatch, Some(r)),
        };
        let matcher = LabelMatcher::new(m.name.clone(), op, m.value.clone()).or_else(|err| {
            // The parser escapes Go-only syntax (a literal `{`); reuse its pattern.
            let pattern = regex
                .map(|r| r.as_str())
                .and_then(|p| p.strip_prefix("^(?:"))
                .and_then(|p| p.strip_suffix(")$"))
                .ok_or_else(|| {
                    QueryError::bad_data(format!("invalid regex {:?}: {err}", m.value))
                })?;
            LabelMatcher::new(m.name.clone(), op, pattern)
                .map_err(|e| QueryError::bad_data(format!("invalid regex {:?}: {e}", m.value)))
        })?;
        out.push(matcher);
    }
    Ok(out)
}

/// Parses a query into the parser's AST, mapping errors to `bad_data`.
pub(crate) fn parse(query: &str) -> Result<Expr, QueryError> {
    ast::parse(&mark_invalid_bytes(query))
        .map_err(|e| QueryError::bad_data(format!("parse error: {e}")))
}

/// Go strings may hold raw bytes (`"\xff"`), which are never valid UTF-8 label names;
/// Rust strings cannot, so such escapes in quoted strings become U+FFFD, which label
/// name checks reject.
fn mark_invalid_bytes(query: &str) -> std::borrow::Cow<'_, str> {
    if !query.contains("\\x") {
        return std::borrow::Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    let mut quote: Option<char> = None;
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None => {
                if c == '"' || c == '\'' || c == '`' {
                    quote = Some(c);
                }
                out.push(c);
            }
            Some('`') => {
                if c == '`' {
                    quote = None;
                }
                out.push(c);
            }
            Some(q) => {
                if c == '\\' {
                    let next = chars.next();
                    if next == Some('x') {
                        let hex: String = chars.clone().take(2).collect();
                        if let Ok(byte) = u8::from_str_radix(&hex, 16) {
                            if byte >= 0x80 {
                                chars.next();
                                chars.next();
                                out.push_str("\\uFFFD");
                                continue;
                            }
                        }
                    }
                    out.push(c);
                    if let Some(n) = next {
                        out.push(n);
                    }
                    continue;
                }
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ExprType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ExprType {
    fn name(self) -> &'static str {
        match self {
            ExprType::Scalar => "scalar",
            ExprType::Vector => "instant vector",
            ExprType::Matrix => "range vector",
            ExprType::String => "string",
        }
    }
}

fn expr_type(expr: &Expr) -> ExprType {
    match expr {
        Expr::Aggregate(_) | Expr::VectorSelector(_) => ExprType::Vector,
        Expr::Unary(u) => expr_type(&u.expr),
        Expr::Binary(b) => {
            if expr_type(&b.lhs) == ExprType::Scalar && expr_type(&b.rhs) == ExprType::Scalar {
                ExprType::Scalar
            } else {
                ExprType::Vector
            }
        }
        Expr::Paren(p) => expr_type(&p.expr),
        Expr::Subquery(_) | Expr::MatrixSelector(_) => ExprType::Matrix,
        Expr::NumberLiteral(_) => ExprType::Scalar,
        Expr::StringLiteral(_) => ExprType::String,
        Expr::Call(c) => match c.func.return_type {
            ast::value::ValueType::Scalar => ExprType::Scalar,
            ast::value::ValueType::Matrix => ExprType::Matrix,
            ast::value::ValueType::String => ExprType::String,
            ast::value::ValueType::Vector => ExprType::Vector,
        },
        Expr::Extension(_) => ExprType::Vector,
    }
}

/// The evaluation times of one (sub)query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub start: i64,
    pub step: i64,
    pub count: usize,
}

impl Steps {
    pub fn time(&self, index: usize) -> i64 {
        self.start + self.step * index as i64
    }
}

/// An instant-vector series over all steps. `drop_name` implements Prometheus' delayed
/// metric-name removal: the name stays for label functions and grouping and goes at
/// the end.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub labels: Labels,
    pub drop_name: bool,
    pub values: Vec<Option<f64>>,
}

/// A range-vector series: samples without staleness markers.
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    pub drop_name: bool,
    pub samples: Vec<Sample>,
}

/// A selected series as a range selector sees it: without staleness markers; `None`
/// when nothing else is left.
fn range_series(s: Series) -> Option<RangeSeries> {
    let samples: Vec<Sample> = s
        .samples
        .into_iter()
        .filter(|x| !is_stale_marker(x.value))
        .collect();
    (!samples.is_empty()).then_some(RangeSeries {
        labels: s.labels,
        drop_name: false,
        samples,
    })
}

/// A range vector over all steps: step `i` sees the samples in
/// `(times[i] - range_ms, times[i]]`.
#[derive(Debug, Clone)]
pub(crate) struct MatrixArg {
    pub series: Vec<RangeSeries>,
    pub range_ms: i64,
    pub times: Vec<i64>,
}

impl MatrixArg {
    /// Calls `f(step, window)` for every step in order.
    pub fn for_each_window<'s>(
        &self,
        series: &'s RangeSeries,
        mut f: impl FnMut(usize, &'s [Sample]),
    ) {
        let samples = &series.samples[..];
        self.for_each_window_bounds(series, |i, window| f(i, &samples[window]));
    }

    /// Calls `f(step, from..to)` with the indices of every step's window, in step order.
    /// Evaluation times never decrease (steps grow, `@` and offsets are constant), so
    /// the bounds only move forward: two cursors instead of two binary searches per step.
    pub fn for_each_window_bounds(
        &self,
        series: &RangeSeries,
        mut f: impl FnMut(usize, std::ops::Range<usize>),
    ) {
        let samples = &series.samples[..];
        let (mut from, mut to) = (0, 0);
        let mut last = i64::MIN;
        for (i, &end) in self.times.iter().enumerate() {
            if end < last {
                // Not monotonic (cannot happen today): restart the cursors.
                (from, to) = (0, 0);
            }
            last = end;
            let start = end - self.range_ms;
            while to < samples.len() && samples[to].timestamp_ms <= end {
                to += 1;
            }
            while from < to && samples[from].timestamp_ms <= start {
                from += 1;
            }
            f(i, from..to);
        }
    }

    /// The samples of `series` that step `index` sees.
    pub fn window<'a>(&self, series: &'a RangeSeries, index: usize) -> &'a [Sample] {
        let end = self.times[index];
        let start = end - self.range_ms;
        let samples = &series.samples;
        let from = samples.partition_point(|s| s.timestamp_ms <= start);
        let to = samples.partition_point(|s| s.timestamp_ms <= end);
        &samples[from..to.max(from)]
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Str(String),
    Vector(Vec<Row>),
    Matrix(MatrixArg),
}

pub(crate) struct Ctx<'a> {
    pub positions: crate::positions::Positions,
    source: &'a dyn SeriesSource,
    options: &'a EngineOptions,
    query_start: i64,
    query_end: i64,
    pub annotations: Vec<Annotation>,
    samples: usize,
    deadline: Option<Instant>,
}

fn duration_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

impl<'a> Ctx<'a> {
    fn check_deadline(&self) -> Result<(), QueryError> {
        if let Some(deadline) = self.deadline {
            if Instant::now() > deadline {
                return Err(QueryError {
                    kind: ErrorKind::Timeout,
                    message: "query timed out in expression evaluation".into(),
                });
            }
        }
        Ok(())
    }

    fn count_samples(&mut self, n: usize) -> Result<(), QueryError> {
        self.samples += n;
        if self.samples > self.options.max_samples {
            return Err(QueryError::execution(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }

    /// Records an annotation once (Prometheus keeps them as a set).
    fn annotate(&mut self, annotation: Annotation) {
        if !self.annotations.contains(&annotation) {
            self.annotations.push(annotation);
        }
    }

    pub fn info(&mut self, message: String) {
        self.annotate(Annotation::Info(message));
    }

    pub fn warn(&mut self, message: String) {
        self.annotate(Annotation::Warning(message));
    }

    /// The time an `@` modifier names.
    pub(crate) fn at_time(&self, at: &AtModifier) -> i64 {
        match at {
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
            AtModifier::At(t) => system_time_ms(t),
        }
    }

    /// Effective evaluation times: `@` fixes the time, `offset` shifts it back.
    fn times(&self, at: &Option<AtModifier>, offset: &Option<Offset>, steps: &Steps) -> Vec<i64> {
        let offset = offset_ms(offset);
        let fixed = at.as_ref().map(|at| self.at_time(at));
        (0..steps.count)
            .map(|i| fixed.unwrap_or_else(|| steps.time(i)) - offset)
            .collect()
    }

    pub(crate) fn eval(&mut self, expr: &Expr, steps: &Steps) -> Result<Val, QueryError> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; steps.count])),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, steps),
            Expr::Unary(u) => match self.eval(&u.expr, steps)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(rows) => Ok(Val::Vector(
                    rows.into_iter()
                        .map(|mut r| {
                            for v in r.values.iter_mut().flatten() {
                                *v = -*v;
                            }
                            r.drop_name = true;
                            r
                        })
                        .collect(),
                )),
                _ => Err(QueryError::bad_data(
                    "unary expression only allowed on expressions of type scalar or instant vector",
                )),
            },
            Expr::VectorSelector(vs) => {
                let times = self.times(&vs.at, &vs.offset, steps);
                Ok(Val::Vector(self.select_instant(vs, &times, false)?))
            }
            Expr::MatrixSelector(ms) => {
                let times = self.times(&ms.vs.at, &ms.vs.offset, steps);
                let range_ms = duration_ms(&ms.range);
                let series = self.select_range(&ms.vs, &times, range_ms)?;
                Ok(Val::Matrix(MatrixArg {
                    series,
                    range_ms,
                    times,
                }))
            }
            Expr::Subquery(sq) => self.eval_subquery(sq, steps).map(Val::Matrix),
            Expr::Binary(b) => self.eval_binary(b, steps),
            Expr::Aggregate(a) => self.eval_aggregate(a, steps),
            Expr::Call(c) => functions::eval_call(self, c, steps),
            Expr::Extension(_) => Err(QueryError::bad_data("unsupported expression extension")),
        }
    }

    pub(crate) fn eval_vector(
        &mut self,
        expr: &Expr,
        steps: &Steps,
    ) -> Result<Vec<Row>, QueryError> {
        match self.eval(expr, steps)? {
            Val::Vector(rows) => Ok(rows),
            _ => Err(QueryError::bad_data("expected an instant vector")),
        }
    }

    pub(crate) fn eval_scalar(
        &mut self,
        expr: &Expr,
        steps: &Steps,
    ) -> Result<Vec<f64>, QueryError> {
        match self.eval(expr, steps)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(QueryError::bad_data("expected a scalar")),
        }
    }

    /// Calls `each` with the range vector `expr` evaluates, in batches of series when
    /// it is a range selector: a function over the range (`rate`, `*_over_time`) reduces
    /// a batch to rows before the next is read, so a query over a day of thousands of
    /// series holds the rows, not every sample. Otherwise one call with everything.
    pub(crate) fn each_matrix_batch(
        &mut self,
        expr: &Expr,
        steps: &Steps,
        each: &mut dyn FnMut(&mut Self, &MatrixArg),
    ) -> Result<(), QueryError> {
        /// Series per batch: enough to amortise the call, few enough to stay small.
        const BATCH: usize = 64;
        let Expr::MatrixSelector(ms) = expr else {
            let m = self.eval_matrix(expr, steps)?;
            each(self, &m);
            return Ok(());
        };
        let times = self.times(&ms.vs.at, &ms.vs.offset, steps);
        let range_ms = duration_ms(&ms.range);
        let (Some(&min), Some(&max)) = (times.iter().min(), times.iter().max()) else {
            return Ok(());
        };
        let matchers = self.matchers(&ms.vs)?;
        let mut batch = MatrixArg {
            series: Vec::with_capacity(BATCH),
            range_ms,
            times,
        };
        let mut failure = None;
        let source = self.source;
        source
            .select_each(&matchers, min - range_ms + 1, max, &mut |s| {
                let Some(series) = range_series(s) else {
                    return ControlFlow::Continue(());
                };
                let mut widest = 0;
                batch.for_each_window(&series, |_, w| widest = widest.max(w.len()));
                // Like Prometheus, count what one step holds: the largest window.
                if let Err(e) = self.count_samples(widest) {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
                batch.series.push(series);
                if batch.series.len() == BATCH {
                    if let Err(e) = self.check_deadline() {
                        failure = Some(e);
                        return ControlFlow::Break(());
                    }
                    each(self, &batch);
                    batch.series.clear();
                }
                ControlFlow::Continue(())
            })
            .map_err(|e| QueryError::execution(format!("reading series: {e}")))?;
        if let Some(e) = failure {
            return Err(e);
        }
        if !batch.series.is_empty() {
            each(self, &batch);
        }
        self.check_deadline()
    }

    pub(crate) fn eval_matrix(
        &mut self,
        expr: &Expr,
        steps: &Steps,
    ) -> Result<MatrixArg, QueryError> {
        match self.eval(expr, steps)? {
            Val::Matrix(m) => Ok(m),
            _ => Err(QueryError::bad_data("expected a range vector")),
        }
    }

    fn matchers(&self, vs: &ast::VectorSelector) -> Result<Vec<LabelMatcher>, QueryError> {
        selector_matchers(vs)
    }

    fn select(
        &mut self,
        vs: &ast::VectorSelector,
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, QueryError> {
        let matchers = self.matchers(vs)?;
        let series = self
            .source
            .select(&matchers, start, end)
            .map_err(|e| QueryError::execution(format!("reading series: {e}")))?;
        self.check_deadline()?;
        Ok(series)
    }

    /// An instant selector at every time in `times`; with `timestamps`, values are
    /// the chosen samples' timestamps in seconds (for `timestamp()`).
    pub(crate) fn select_instant(
        &mut self,
        vs: &ast::VectorSelector,
        times: &[i64],
        timestamps: bool,
    ) -> Result<Vec<Row>, QueryError> {
        let (Some(&min), Some(&max)) = (times.iter().min(), times.iter().max()) else {
            return Ok(Vec::new());
        };
        let lookback = self.options.lookback_delta_ms;
        let series = self.select(vs, min - lookback + 1, max)?;
        let mut rows = Vec::with_capacity(series.len());
        for s in series {
            let mut values = Vec::with_capacity(times.len());
            let mut any = false;
            // Times never decrease, so the cursor only moves forward.
            let mut idx = 0;
            let mut last = i64::MIN;
            for &t in times {
                if t < last {
                    idx = 0;
                }
                last = t;
                while idx < s.samples.len() && s.samples[idx].timestamp_ms <= t {
                    idx += 1;
                }
                let value = idx
                    .checked_sub(1)
                    .and_then(|i| s.samples.get(i))
                    .filter(|x| x.timestamp_ms > t - lookback && !is_stale_marker(x.value))
                    .map(|x| {
                        if timestamps {
                            x.timestamp_ms as f64 / 1000.0
                        } else {
                            x.value
                        }
                    });
                any |= value.is_some();
                values.push(value);
            }
            if any {
                rows.push(Row {
                    labels: s.labels,
                    drop_name: false,
                    values,
                });
            }
        }
        self.count_samples(rows.len() * times.len())?;
        Ok(rows)
    }

    fn select_range(
        &mut self,
        vs: &ast::VectorSelector,
        times: &[i64],
        range_ms: i64,
    ) -> Result<Vec<RangeSeries>, QueryError> {
        let (Some(&min), Some(&max)) = (times.iter().min(), times.iter().max()) else {
            return Ok(Vec::new());
        };
        let series = self.select(vs, min - range_ms + 1, max)?;
        let series: Vec<RangeSeries> = series.into_iter().filter_map(range_series).collect();
        // Like Prometheus, count what one step holds: the largest window per series.
        let arg = MatrixArg {
            series,
            range_ms,
            times: times.to_vec(),
        };
        let mut held = 0;
        for s in &arg.series {
            let mut widest = 0;
            arg.for_each_window(s, |_, w| widest = widest.max(w.len()));
            held += widest;
        }
        self.count_samples(held)?;
        Ok(arg.series)
    }

    fn eval_subquery(
        &mut self,
        sq: &ast::SubqueryExpr,
        steps: &Steps,
    ) -> Result<MatrixArg, QueryError> {
        let times = self.times(&sq.at, &sq.offset, steps);
        let range_ms = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .unwrap_or(self.options.default_subquery_step_ms);
        if step <= 0 {
            return Err(QueryError::bad_data("subquery step must be positive"));
        }
        let (Some(&min), Some(&max)) = (times.iter().min(), times.iter().max()) else {
            return Ok(MatrixArg {
                series: Vec::new(),
                range_ms,
                times,
            });
        };
        let first = min - range_ms;
        let start =
            first.div_euclid(step) * step + if first.rem_euclid(step) == 0 { 0 } else { step };
        let series = if max < start {
            Vec::new()
        } else {
            let count = ((max - start) / step + 1) as usize;
            // Each inner step holds at least one value per series: refuse what the
            // sample limit would refuse anyway before allocating for it.
            self.count_samples(count)?;
            let inner = Steps { start, step, count };
            let rows = self.eval_vector(&sq.expr, &inner)?;
            rows.into_iter()
                .map(|r| RangeSeries {
                    samples: r
                        .values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| {
                            v.map(|value| Sample {
                                timestamp_ms: inner.time(i),
                                value,
                            })
                        })
                        .collect(),
                    labels: r.labels,
                    drop_name: r.drop_name,
                })
                .filter(|s| !s.samples.is_empty())
                .collect()
        };
        Ok(MatrixArg {
            series,
            range_ms,
            times,
        })
    }

    fn eval_binary(&mut self, b: &ast::BinaryExpr, steps: &Steps) -> Result<Val, QueryError> {
        let op = BinOp::from_token(&b.op.to_string())?;
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, steps)?;
        let rhs = self.eval(&b.rhs, steps)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&a, &b)| {
                        let (v, keep) = op.apply(a, b);
                        if op.is_comparison() {
                            if keep {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect(),
            )),
            (Val::Vector(rows), Val::Scalar(s)) => {
                Ok(Val::Vector(vector_scalar(op, rows, &s, false, return_bool)))
            }
            (Val::Scalar(s), Val::Vector(rows)) => {
                Ok(Val::Vector(vector_scalar(op, rows, &s, true, return_bool)))
            }
            (Val::Vector(l), Val::Vector(r)) => {
                let modifier = b.modifier.as_ref();
                let matching = modifier.and_then(|m| m.matching.as_ref());
                let card = modifier.map(|m| &m.card);
                let out = if op.is_set() {
                    set_op(op, l, r, matching, steps.count)
                } else {
                    vector_vector(op, l, r, matching, card, return_bool, steps.count)?
                };
                self.count_samples(out.len() * steps.count)?;
                Ok(Val::Vector(out))
            }
            _ => Err(QueryError::bad_data(
                "binary expression must contain only scalar and instant vector types",
            )),
        }
    }

    fn eval_aggregate(&mut self, a: &ast::AggregateExpr, steps: &Steps) -> Result<Val, QueryError> {
        let op = a.op.to_string();
        let param = match &a.param {
            Some(p) => Some(self.eval(p, steps)?),
            None => None,
        };
        let rows = self.eval_vector(&a.expr, steps)?;
        let pos = self.positions.suffix(a as *const _ as usize, 0);
        crate::functions::aggregate(self, &op, param, rows, a.modifier.as_ref(), steps, &pos)
            .map(Val::Vector)
    }
}

/// The label set an aggregation groups a row by.
pub(crate) fn group_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(names)) => Labels::from_pairs(
            labels
                .iter()
                .filter(|l| names.labels.iter().any(|n| n == &l.name))
                .map(|l| (l.name.as_str(), l.value.as_str())),
        ),
        Some(LabelModifier::Exclude(names)) => Labels::from_pairs(
            labels
                .iter()
                .filter(|l| {
                    l.name != METRIC_NAME_LABEL && !names.labels.iter().any(|n| n == &l.name)
                })
                .map(|l| (l.name.as_str(), l.value.as_str())),
        ),
        None => Labels::default(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    fn from_token(token: &str) -> Result<Self, QueryError> {
        Ok(match token {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "^" => BinOp::Pow,
            "atan2" => BinOp::Atan2,
            "==" => BinOp::Eq,
            "!=" => BinOp::Ne,
            ">" => BinOp::Gt,
            "<" => BinOp::Lt,
            ">=" => BinOp::Ge,
            "<=" => BinOp::Le,
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "unless" => BinOp::Unless,
            other => {
                return Err(QueryError::bad_data(format!(
                    "unknown binary operator {other:?}"
                )))
            }
        })
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// The arithmetic result, or for comparisons the left value and whether it holds.
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            BinOp::Add => (l + r, true),
            BinOp::Sub => (l - r, true),
            BinOp::Mul => (l * r, true),
            BinOp::Div => (l / r, true),
            BinOp::Mod => (l % r, true),
            BinOp::Pow => (l.powf(r), true),
            BinOp::Atan2 => (l.atan2(r), true),
            BinOp::Eq => (l, l == r),
            BinOp::Ne => (l, l != r),
            BinOp::Gt => (l, l > r),
            BinOp::Lt => (l, l < r),
            BinOp::Ge => (l, l >= r),
            BinOp::Le => (l, l <= r),
            BinOp::And | BinOp::Or | BinOp::Unless => (l, true),
        }
    }
}

fn vector_scalar(
    op: BinOp,
    mut rows: Vec<Row>,
    scalar: &[f64],
    swap: bool,
    return_bool: bool,
) -> Vec<Row> {
    for row in rows.iter_mut() {
        for (v, &s) in row.values.iter_mut().zip(scalar) {
            if let Some(x) = *v {
                let (l, r) = if swap { (s, x) } else { (x, s) };
                let (value, keep) = op.apply(l, r);
                *v = if op.is_comparison() {
                    if return_bool {
                        Some(if keep { 1.0 } else { 0.0 })
                    } else if keep {
                        Some(x)
                    } else {
                        None
                    }
                } else {
                    Some(value)
                };
            }
        }
        if !op.is_comparison() || return_bool {
            row.drop_name = true;
        }
    }
    rows.retain(|r| r.values.iter().any(Option::is_some));
    rows
}

/// The matching signature of a label set under `on`/`ignoring`.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(names)) => Labels::from_pairs(
            labels
                .iter()
                .filter(|l| names.labels.iter().any(|n| n == &l.name))
                .map(|l| (l.name.as_str(), l.value.as_str())),
        ),
        Some(LabelModifier::Exclude(names)) => Labels::from_pairs(
            labels
                .iter()
                .filter(|l| {
                    l.name != METRIC_NAME_LABEL && !names.labels.iter().any(|n| n == &l.name)
                })
                .map(|l| (l.name.as_str(), l.value.as_str())),
        ),
        None => labels.without_metric_name(),
    }
}

fn set_op(
    op: BinOp,
    lhs: Vec<Row>,
    rhs: Vec<Row>,
    matching: Option<&LabelModifier>,
    n: usize,
) -> Vec<Row> {
    // Per signature: at which steps the other side has a series.
    let mut present: HashMap<Labels, Vec<bool>> = HashMap::new();
    let side = if op == BinOp::Or { &lhs } else { &rhs };
    for row in side {
        let entry = present
            .entry(signature(&row.labels, matching))
            .or_insert_with(|| vec![false; n]);
        for (p, v) in entry.iter_mut().zip(&row.values) {
            *p |= v.is_some();
        }
    }
    match op {
        BinOp::And | BinOp::Unless => {
            let want = op == BinOp::And;
            let mut out = lhs;
            for row in out.iter_mut() {
                let p = present.get(&signature(&row.labels, matching));
                for (i, v) in row.values.iter_mut().enumerate() {
                    let has = p.is_some_and(|p| p[i]);
                    if has != want {
                        *v = None;
                    }
                }
            }
            out.retain(|r| r.values.iter().any(Option::is_some));
            out
        }
        _ => {
            let mut out = lhs;
            for mut row in rhs {
                let p = present.get(&signature(&row.labels, matching));
                for (i, v) in row.values.iter_mut().enumerate() {
                    if p.is_some_and(|p| p[i]) {
                        *v = None;
                    }
                }
                if row.values.iter().any(Option::is_some) {
                    out.push(row);
                }
            }
            out
        }
    }
}

fn vector_vector(
    op: BinOp,
    lhs: Vec<Row>,
    rhs: Vec<Row>,
    matching: Option<&LabelModifier>,
    card: Option<&VectorMatchCardinality>,
    return_bool: bool,
    n: usize,
) -> Result<Vec<Row>, QueryError> {
    let (one_to_many, include) = match card {
        Some(VectorMatchCardinality::ManyToOne(l)) => (false, Some(l)),
        Some(VectorMatchCardinality::OneToMany(l)) => (true, Some(l)),
        _ => (false, None),
    };
    let grouped = include.is_some();
    // "many" side and "one" side; for one-to-one the left is "many".
    let (many, one) = if one_to_many {
        (&rhs, &lhs)
    } else {
        (&lhs, &rhs)
    };
    let mut one_by_sig: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (i, row) in one.iter().enumerate() {
        one_by_sig
            .entry(signature(&row.labels, matching))
            .or_default()
            .push(i);
    }
    // A "one" side signature may hold only one series per step.
    for (sig, idxs) in &one_by_sig {
        if idxs.len() > 1 {
            for step in 0..n {
                let count = idxs
                    .iter()
                    .filter(|&&i| one[i].values[step].is_some())
                    .count();
                if count > 1 {
                    let side = if one_to_many { "left" } else { "right" };
                    return Err(QueryError::execution(format!(
                        "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}];many-to-many matching not allowed: matching labels must be unique on one side",
                        idxs.iter().map(|&i| one[i].labels.to_string()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
    }
    let changes_schema = !op.is_comparison() || return_bool;
    let mut out: Vec<Row> = Vec::new();
    let mut out_index: HashMap<Labels, usize> = HashMap::new();
    // For one-to-one: which many-side row already matched a signature at a step.
    let mut matched_sig: HashMap<Labels, Vec<bool>> = HashMap::new();
    for many_row in many {
        let sig = signature(&many_row.labels, matching);
        let Some(idxs) = one_by_sig.get(&sig) else {
            continue;
        };
        // Steps at which another many-side series already matched this signature.
        let mut seen = (!grouped).then(|| {
            matched_sig
                .entry(sig.clone())
                .or_insert_with(|| vec![false; n])
        });
        for &oi in idxs {
            let one_row = &one[oi];
            let mut labels = many_row.labels.clone();
            if !grouped {
                match matching {
                    Some(LabelModifier::Include(names)) => {
                        labels = Labels::from_pairs(
                            labels
                                .iter()
                                .filter(|l| names.labels.iter().any(|n| n == &l.name))
                                .map(|l| (l.name.as_str(), l.value.as_str())),
                        );
                    }
                    Some(LabelModifier::Exclude(names)) => {
                        for name in &names.labels {
                            labels.remove(name);
                        }
                    }
                    None => {}
                }
            }
            if let Some(include) = include {
                for name in &include.labels {
                    labels.set(name, one_row.labels.get(name).unwrap_or(""));
                }
            }
            let mut values = vec![None; n];
            let mut any = false;
            for step in 0..n {
                let (Some(m), Some(o)) = (many_row.values[step], one_row.values[step]) else {
                    continue;
                };
                if let Some(seen) = seen.as_mut() {
                    if seen[step] {
                        return Err(QueryError::execution(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                        ));
                    }
                    seen[step] = true;
                }
                let (l, r) = if one_to_many { (o, m) } else { (m, o) };
                let (value, keep) = op.apply(l, r);
                let value = if op.is_comparison() {
                    if return_bool {
                        if keep {
                            1.0
                        } else {
                            0.0
                        }
                    } else if keep {
                        value
                    } else {
                        continue;
                    }
                } else {
                    value
                };
                values[step] = Some(value);
                any = true;
            }
            if !any {
                continue;
            }
            let drop_name = changes_schema || many_row.drop_name;
            if changes_schema && grouped {
                // The name goes with the schema change; keep it out of the identity.
            }
            let key = if drop_name {
                labels.without_metric_name()
            } else {
                labels.clone()
            };
            match out_index.get(&key) {
                Some(&idx) => {
                    let existing = &mut out[idx];
                    for (e, v) in existing.values.iter_mut().zip(values) {
                        if let Some(v) = v {
                            if e.is_some() {
                                return Err(QueryError::execution(
                                    "multiple matches for labels: grouping labels must ensure unique matches",
                                ));
                            }
                            *e = Some(v);
                        }
                    }
                }
                None => {
                    out_index.insert(key, out.len());
                    out.push(Row {
                        labels,
                        drop_name,
                        values,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Converts the evaluation result to the API value: drops metric names marked for
/// removal and rejects label sets that then collide.
fn finish(value: Val, steps: &Steps, instant: bool) -> Result<Value, QueryError> {
    match value {
        Val::Scalar(v) => {
            if instant {
                Ok(Value::Scalar(v.first().copied().unwrap_or(f64::NAN)))
            } else {
                Ok(Value::Matrix(vec![Series {
                    labels: Labels::default(),
                    samples: v
                        .iter()
                        .enumerate()
                        .map(|(i, &value)| Sample {
                            timestamp_ms: steps.time(i),
                            value,
                        })
                        .collect(),
                }]))
            }
        }
        Val::Str(s) => Ok(Value::String(s)),
        Val::Vector(rows) => {
            let rows = merge_dropped_names(rows)?;
            if instant {
                Ok(Value::Vector(
                    rows.into_iter()
                        .filter_map(|r| r.values.first().copied().flatten().map(|v| (r.labels, v)))
                        .collect(),
                ))
            } else {
                let mut series: Vec<Series> = rows
                    .into_iter()
                    .map(|r| Series {
                        labels: r.labels,
                        samples: r
                            .values
                            .iter()
                            .enumerate()
                            .filter_map(|(i, v)| {
                                v.map(|value| Sample {
                                    timestamp_ms: steps.time(i),
                                    value,
                                })
                            })
                            .collect(),
                    })
                    .filter(|s| !s.samples.is_empty())
                    .collect();
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
                Ok(Value::Matrix(series))
            }
        }
        Val::Matrix(m) => {
            let mut out = Vec::new();
            for s in &m.series {
                let samples = m.window(s, 0).to_vec();
                if samples.is_empty() {
                    continue;
                }
                let labels = if s.drop_name {
                    s.labels.without_metric_name()
                } else {
                    s.labels.clone()
                };
                out.push(Series { labels, samples });
            }
            let mut seen = std::collections::HashSet::new();
            for s in &out {
                if !seen.insert(s.labels.clone()) {
                    return Err(QueryError::execution(
                        "vector cannot contain metrics with the same labelset",
                    ));
                }
            }
            Ok(Value::Matrix(out))
        }
    }
}

/// Removes metric names marked for removal; rows whose label sets then coincide are
/// merged when they never hold a value at the same step, else the query fails.
pub(crate) fn merge_dropped_names(rows: Vec<Row>) -> Result<Vec<Row>, QueryError> {
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(rows.len());
    for mut row in rows {
        if row.drop_name {
            row.labels.remove(METRIC_NAME_LABEL);
            row.drop_name = false;
        }
        match index.get(&row.labels) {
            Some(&i) => {
                let existing = &mut out[i];
                for (e, v) in existing.values.iter_mut().zip(row.values) {
                    if v.is_some() {
                        if e.is_some() {
                            return Err(QueryError::execution(
                                "vector cannot contain metrics with the same labelset",
                            ));
                        }
                        *e = v;
                    }
                }
            }
            None => {
                index.insert(row.labels.clone(), out.len());
                out.push(row);
            }
        }
    }
    Ok(out)
}
