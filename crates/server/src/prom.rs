//! Prometheus-compatible endpoints: the remote_write receiver and the HTTP query API
//! (`/api/v1/query`, `query_range`, `series`, `labels`, `label/<name>/values`,
//! `metadata`, `status/buildinfo`) with Prometheus' JSON shapes and error format, so
//! Grafana's Prometheus data source and remote_write senders work unchanged.
//!
//! Every route needs a token like the rest of the API: `Authorization: Bearer TOKEN`,
//! or HTTP basic auth with the token as the password (what Grafana's data source form
//! offers). Agents may write; reading needs a user token.

use crate::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use postwatch_fleetstore::Principal;
use postwatch_model::metrics::{LabelMatcher, Labels, Series};
use serde_json::{json, Map, Value as JsonValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

pub fn router(state: AppState, body_limit: usize) -> Router {
    Router::new()
        .route("/api/v1/write", post(remote_write))
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/admin/tsdb/compact", post(compact))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Prometheus' error answer: `{"status":"error","errorType":…,"error":…}`.
pub struct PromError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl PromError {
    fn bad_data(message: impl Into<String>) -> Self {
        PromError {
            status: StatusCode::BAD_REQUEST,
            kind: "bad_data",
            message: message.into(),
        }
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        PromError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: e.to_string(),
        }
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.kind, "error": self.message});
        (self.status, Json(body)).into_response()
    }
}

fn success(data: JsonValue) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// Authenticates `Bearer TOKEN` or basic auth whose password is a token.
async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, PromError> {
    let unauthorized = |message: &str| PromError {
        status: StatusCode::UNAUTHORIZED,
        kind: "unauthorized",
        message: message.to_owned(),
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            unauthorized("missing credentials: send `Authorization: Bearer TOKEN`, or basic auth with the token as password (postwatch up prints a token)")
        })?;
    let token = if let Some(t) = value.strip_prefix("Bearer ") {
        t.trim().to_owned()
    } else if let Some(encoded) = value.strip_prefix("Basic ") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| unauthorized("basic auth header is not valid base64"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| unauthorized("basic auth credentials are not UTF-8"))?;
        match text.split_once(':') {
            Some((_, password)) => password.to_owned(),
            None => return Err(unauthorized("basic auth credentials lack a `:`")),
        }
    } else {
        return Err(unauthorized(
            "unsupported Authorization scheme: use Bearer or Basic",
        ));
    };
    state
        .metrics
        .authenticate(&state.store, &token)
        .await
        .map_err(PromError::internal)?
        .ok_or_else(|| unauthorized("unknown or revoked token"))
}

async fn reader(state: &AppState, headers: &HeaderMap) -> Result<(), PromError> {
    match principal(state, headers).await? {
        Principal::User { .. } => Ok(()),
        _ => Err(PromError {
            status: StatusCode::FORBIDDEN,
            kind: "forbidden",
            message: "querying metrics needs a user API token".into(),
        }),
    }
}

/// Form parameters from the URL query and, for POST, the url-encoded body; repeated keys
/// (`match[]`) are kept.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(raw_query: Option<String>, headers: &HeaderMap, body: &[u8]) -> Params {
        let mut pairs: Vec<(String, String)> = raw_query
            .as_deref()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(pairs)
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A time parameter: RFC 3339 or Unix seconds with a fraction.
fn parse_time(name: &str, text: &str) -> Result<i64, PromError> {
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() {
            return Ok((seconds * 1000.0).round() as i64);
        }
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            PromError::bad_data(format!(
                "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
            ))
        })
}

/// A duration parameter: float seconds or a Prometheus duration (`15s`, `1m30s`).
fn parse_duration(name: &str, text: &str) -> Result<i64, PromError> {
    let invalid = || {
        PromError::bad_data(format!(
            "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid duration"
        ))
    };
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || seconds > i64::MAX as f64 / 1000.0 {
            return Err(invalid());
        }
        return Ok((seconds * 1000.0).round() as i64);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms: i64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(invalid)?;
    }
    Ok(total)
}

fn labels_json(labels: &Labels) -> JsonValue {
    let map: Map<String, JsonValue> = labels
        .iter()
        .map(|l| (l.name.clone(), JsonValue::String(l.value.clone())))
        .collect();
    JsonValue::Object(map)
}

/// Writes `ms` as seconds: digits, then up to three fraction digits without trailing
/// zeros (exact, no float rounding; what Prometheus writes).
fn write_timestamp(out: &mut Vec<u8>, ms: i64) {
    use std::io::Write;
    if ms < 0 {
        out.push(b'-');
    }
    let ms = ms.unsigned_abs();
    let _ = write!(out, "{}", ms / 1000);
    let mut fraction = ms % 1000;
    if fraction != 0 {
        let mut digits = 3;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{fraction:0digits$}");
    }
}

/// Writes `[seconds,"value"]`.
fn write_point(out: &mut Vec<u8>, ms: i64, value: f64) {
    use std::io::Write;
    out.push(b'[');
    write_timestamp(out, ms);
    out.extend_from_slice(b",\"");
    // Values are numbers or NaN/±Inf: nothing to escape.
    let _ = if value.is_nan() {
        out.write_all(b"NaN")
    } else if value == f64::INFINITY {
        out.write_all(b"+Inf")
    } else if value == f64::NEG_INFINITY {
        out.write_all(b"-Inf")
    } else {
        write!(out, "{value}")
    };
    out.extend_from_slice(b"\"]");
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn write_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, &label.name);
        out.push(b':');
        write_json_string(out, &label.value);
    }
    out.push(b'}');
}

/// The whole success answer of a query, written straight into bytes: a range query
/// over many series is megabytes of points, and building a `serde_json::Value` tree
/// for it first cost more than evaluating the query.
fn query_result_body(value: &postwatch_promql::Value, at_ms: i64) -> Vec<u8> {
    use postwatch_promql::Value;
    let points = match value {
        Value::Matrix(series) => series.iter().map(|s| s.samples.len() + 4).sum(),
        Value::Vector(samples) => samples.len() * 4,
        _ => 1,
    };
    let mut out = Vec::with_capacity(64 + points * 32);
    out.extend_from_slice(br#"{"status":"success","data":{"resultType":"#);
    match value {
        Value::Scalar(value) => {
            out.extend_from_slice(br#""scalar","result":"#);
            write_point(&mut out, at_ms, *value);
        }
        Value::String(value) => {
            out.extend_from_slice(br#""string","result":["#);
            write_timestamp(&mut out, at_ms);
            out.push(b',');
            write_json_string(&mut out, value);
            out.push(b']');
        }
        Value::Vector(samples) => {
            out.extend_from_slice(br#""vector","result":["#);
            for (i, (labels, value)) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(&mut out, labels);
                out.extend_from_slice(br#","value":"#);
                write_point(&mut out, at_ms, *value);
                out.push(b'}');
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            out.extend_from_slice(br#""matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(&mut out, &s.labels);
                out.extend_from_slice(br#","values":["#);
                for (j, p) in s.samples.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_point(&mut out, p.timestamp_ms, p.value);
                }
                out.extend_from_slice(b"]}");
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b"}}");
    out
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn query_error(e: postwatch_promql::QueryError) -> PromError {
    use postwatch_promql::ErrorKind;
    let status = match e.kind {
        ErrorKind::BadData => StatusCode::BAD_REQUEST,
        ErrorKind::Execution => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Timeout | ErrorKind::Canceled => StatusCode::SERVICE_UNAVAILABLE,
    };
    PromError {
        status,
        kind: e.kind.api_error_type(),
        message: e.message,
    }
}

/// Runs query work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PromError> + Send + 'static,
) -> Result<T, PromError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(PromError::internal)?
}

fn query_timeout(params: &Params) -> Result<Option<Duration>, PromError> {
    params
        .get("timeout")
        .map(|t| parse_duration("timeout", t).map(|ms| Duration::from_millis(ms.max(0) as u64)))
        .transpose()
}

async fn query(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    reader(&state, &headers).await?;
    let params = Params::new(raw, &headers, &body);
    let text = params
        .get("query")
        .ok_or_else(|| PromError::bad_data("invalid parameter \"query\": query is empty"))?
        .to_owned();
    let at = match params.get("time") {
        Some(t) => parse_time("time", t)?,
        None => now_ms(),
    };
    let timeout = query_timeout(&params)?;
    let metrics = state.metrics.clone();
    let body = blocking(move || {
        metrics
            .engine(timeout)
            .instant_query(metrics.source(), &text, at)
            .map(|value| query_result_body(&value, at))
            .map_err(query_error)
    })
    .await?;
    Ok(json_response(body))
}

async fn query_range(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    reader(&state, &headers).await?;
    let params = Params::new(raw, &headers, &body);
    let text = params
        .get("query")
        .ok_or_else(|| PromError::bad_data("invalid parameter \"query\": query is empty"))?
        .to_owned();
    let start = parse_time(
        "start",
        params
            .get("start")
            .ok_or_else(|| PromError::bad_data("invalid parameter \"start\": missing"))?,
    )?;
    let end = parse_time(
        "end",
        params
            .get("end")
            .ok_or_else(|| PromError::bad_data("invalid parameter \"end\": missing"))?,
    )?;
    if end < start {
        return Err(PromError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = parse_duration(
        "step",
        params
            .get("step")
            .ok_or_else(|| PromError::bad_data("invalid parameter \"step\": missing"))?,
    )?;
    if step <= 0 {
        return Err(PromError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(PromError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = query_timeout(&params)?;
    let metrics = state.metrics.clone();
    let body = blocking(move || {
        metrics
            .engine(timeout)
            .range_query(metrics.source(), &text, start, end, step)
            .map(|value| query_result_body(&value, end))
            .map_err(query_error)
    })
    .await?;
    Ok(json_response(body))
}

/// `start`/`end` of the metadata endpoints; Prometheus' defaults are "all time".
fn window(params: &Params) -> Result<(i64, i64), PromError> {
    let start = params
        .get("start")
        .map(|t| parse_time("start", t))
        .transpose()?
        .unwrap_or(i64::MIN / 2);
    let end = params
        .get("end")
        .map(|t| parse_time("end", t))
        .transpose()?
        .unwrap_or(i64::MAX / 2);
    Ok((start, end))
}

fn selectors(params: &Params) -> Result<Vec<Vec<LabelMatcher>>, PromError> {
    params
        .all("match[]")
        .map(|text| {
            postwatch_promql::parse_series_selector(text)
                .map_err(|e| PromError::bad_data(format!("invalid parameter \"match[]\": {e}")))
        })
        .collect()
}

async fn series(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    reader(&state, &headers).await?;
    let params = Params::new(raw, &headers, &body);
    let (start, end) = window(&params)?;
    let selectors = selectors(&params)?;
    if selectors.is_empty() {
        return Err(PromError::bad_data("no match[] parameter provided"));
    }
    let metrics = state.metrics.clone();
    let found = blocking(move || {
        let mut all: Vec<Labels> = Vec::new();
        for matchers in &selectors {
            let series: Vec<Series> = metrics
                .source()
                .select(matchers, start, end)
                .map_err(PromError::internal)?;
            all.extend(series.into_iter().map(|s| s.labels));
        }
        all.sort();
        all.dedup();
        Ok(all)
    })
    .await?;
    Ok(success(JsonValue::Array(
        found.iter().map(labels_json).collect(),
    )))
}

async fn labels(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    reader(&state, &headers).await?;
    let params = Params::new(raw, &headers, &body);
    let (start, end) = window(&params)?;
    let selectors = selectors(&params)?;
    let metrics = state.metrics.clone();
    let names = blocking(move || {
        let mut names: Vec<String> = Vec::new();
        if selectors.is_empty() {
            names = metrics
                .source()
                .label_names(&[], start, end)
                .map_err(PromError::internal)?;
        }
        for matchers in &selectors {
            names.extend(
                metrics
                    .source()
                    .label_names(matchers, start, end)
                    .map_err(PromError::internal)?,
            );
        }
        names.sort();
        names.dedup();
        Ok(names)
    })
    .await?;
    Ok(success(json!(names)))
}

async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PromError> {
    reader(&state, &headers).await?;
    let params = Params::new(raw, &headers, &[]);
    let (start, end) = window(&params)?;
    let selectors = selectors(&params)?;
    let metrics = state.metrics.clone();
    let values = blocking(move || {
        let mut values: Vec<String> = Vec::new();
        if selectors.is_empty() {
            values = metrics
                .source()
                .label_values(&name, &[], start, end)
                .map_err(PromError::internal)?;
        }
        for matchers in &selectors {
            values.extend(
                metrics
                    .source()
                    .label_values(&name, matchers, start, end)
                    .map_err(PromError::internal)?,
            );
        }
        values.sort();
        values.dedup();
        Ok(values)
    })
    .await?;
    Ok(success(json!(values)))
}

async fn metadata(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PromError> {
    reader(&state, &headers).await?;
    let params = Params::new(raw, &headers, &[]);
    let wanted = params.get("metric").map(str::to_owned);
    let limit = match params.get("limit") {
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            PromError::bad_data(format!(
                "invalid parameter \"limit\": {l:?} is not a number"
            ))
        })?),
        None => None,
    };
    let metrics = state.metrics.clone();
    let all = blocking(move || Ok(metrics.store.metadata())).await?;
    let mut out = Map::new();
    for (name, meta) in all {
        if wanted.as_deref().is_some_and(|w| w != name) {
            continue;
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        out.insert(
            name,
            json!([{
                "type": meta.metric_type.as_str(),
                "help": meta.help,
                "unit": meta.unit,
            }]),
        );
    }
    Ok(success(JsonValue::Object(out)))
}

async fn buildinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PromError> {
    reader(&state, &headers).await?;
    Ok(success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "postwatch",
        "buildDate": "",
        "goVersion": "",
    })))
}

/// Flushes the head and compacts every block now (benchmarks; normally background work).
async fn compact(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PromError> {
    reader(&state, &headers).await?;
    let metrics = state.metrics.clone();
    blocking(move || {
        metrics.store.flush().map_err(PromError::internal)?;
        metrics.store.compact_all().map_err(PromError::internal)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// remote_write 1.0: a snappy-compressed protobuf `WriteRequest`. Answers 204 when every
/// sample is stored durably; 400 with the reasons when some were refused (the rest is
/// stored; senders do not retry 4xx); 5xx only when retrying can help.
async fn remote_write(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PromError> {
    principal(&state, &headers).await?;
    let metrics = state.metrics.clone();
    let outcome = blocking(move || {
        let request =
            postwatch_metricsio::remote_write::decode_write_request(&body, &metrics.write_limits)
                .map_err(|e| PromError {
                status: StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
                kind: "bad_data",
                message: format!("remote_write body: {e}"),
            })?;
        metrics.record_metadata(&request.metadata);
        let outcome = metrics.append(&request.series).map_err(PromError::internal);
        request.recycle();
        outcome
    })
    .await?;
    if outcome.rejected.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut message = format!(
        "{} samples stored, {} series refused: ",
        outcome.accepted,
        outcome.rejected.len()
    );
    for (i, rejection) in outcome.rejected.iter().take(5).enumerate() {
        if i > 0 {
            message.push_str("; ");
        }
        message.push_str(&format!("{}: {}", rejection.labels, rejection.reason));
    }
    if outcome.rejected.len() > 5 {
        message.push_str(&format!("; and {} more", outcome.rejected.len() - 5));
    }
    Ok((StatusCode::BAD_REQUEST, message).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_parse_like_prometheus() {
        assert_eq!(parse_duration("step", "15s").ok(), Some(15_000));
        assert_eq!(parse_duration("step", "1m30s").ok(), Some(90_000));
        assert_eq!(parse_duration("step", "0.5").ok(), Some(500));
        assert!(parse_duration("step", "15").is_ok());
        assert!(parse_duration("step", "1x").is_err());
        assert!(parse_duration("step", "").is_err());
        assert!(parse_duration("step", "s").is_err());
        assert_eq!(
            parse_time("time", "1435781451.781").ok(),
            Some(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("time", "2015-07-01T20:10:51.781Z").ok(),
            Some(1_435_781_451_781)
        );
        assert!(parse_time("time", "yesterday").is_err());
    }

    fn point(ms: i64, value: f64) -> String {
        let mut out = Vec::new();
        write_point(&mut out, ms, value);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn values_and_timestamps_are_written_like_prometheus() {
        assert_eq!(point(1_435_781_451_000, 1.0), r#"[1435781451,"1"]"#);
        assert_eq!(point(1_435_781_451_781, 0.1), r#"[1435781451.781,"0.1"]"#);
        assert_eq!(
            point(1_435_781_451_050, f64::INFINITY),
            r#"[1435781451.05,"+Inf"]"#
        );
        assert_eq!(
            point(1_435_781_451_007, f64::NEG_INFINITY),
            r#"[1435781451.007,"-Inf"]"#
        );
        assert_eq!(point(-1_500, f64::NAN), r#"[-1.5,"NaN"]"#);
        assert_eq!(point(0, 1e21), r#"[0,"1000000000000000000000"]"#);
        assert_eq!(point(999, -0.5), r#"[0.999,"-0.5"]"#);
    }

    #[test]
    fn query_bodies_are_json_with_escaped_labels() {
        use postwatch_model::metrics::{Label, Sample};
        let labels = Labels::from(vec![
            Label {
                name: "__name__".into(),
                value: "up".into(),
            },
            Label {
                name: "path".into(),
                value: "C:\\x \"q\"\n\u{1}é".into(),
            },
        ]);
        let matrix = postwatch_promql::Value::Matrix(vec![Series {
            labels: labels.clone(),
            samples: vec![
                Sample {
                    timestamp_ms: 1_000,
                    value: 1.5,
                },
                Sample {
                    timestamp_ms: 2_001,
                    value: f64::NAN,
                },
            ],
        }]);
        let body: JsonValue = serde_json::from_slice(&query_result_body(&matrix, 0))
            .expect("the matrix body is JSON");
        assert_eq!(
            body,
            json!({"status": "success", "data": {"resultType": "matrix", "result": [{
                "metric": {"__name__": "up", "path": "C:\\x \"q\"\n\u{1}é"},
                "values": [[1, "1.5"], [2.001, "NaN"]],
            }]}})
        );
        let vector = postwatch_promql::Value::Vector(vec![(labels, 2.0)]);
        let body: JsonValue = serde_json::from_slice(&query_result_body(&vector, 3_000))
            .expect("the vector body is JSON");
        assert_eq!(body["data"]["result"][0]["value"], json!([3, "2"]));
        let scalar = postwatch_promql::Value::Scalar(2.0);
        let body: JsonValue = serde_json::from_slice(&query_result_body(&scalar, 3_000))
            .expect("the scalar body is JSON");
        assert_eq!(
            body["data"],
            json!({"resultType": "scalar", "result": [3, "2"]})
        );
        let string = postwatch_promql::Value::String("a\"b".into());
        let body: JsonValue = serde_json::from_slice(&query_result_body(&string, 3_000))
            .expect("the string body is JSON");
        assert_eq!(body["data"]["result"], json!([3, "a\"b"]));
    }
}
