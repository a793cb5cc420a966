//! The HTTP API: routes, authentication and JSON in and out. Every route but
//! `/healthz` needs a bearer token: agents report, users read and report (CI),
//! the enrolment token only enrols.

use crate::AppState;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use postwatch_fleetstore::{AssetFilter, AssetId, FindingFilter, Principal};
use postwatch_model::fleet::{AssetKind, EnrolRequest, Report, ReportAck, FLEET_PROTOCOL_VERSION};
use postwatch_model::{InUse, Severity};
use serde::Deserialize;

/// The OpenAPI 3.1 description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The API and the dashboard. `tls`: the server speaks TLS, so the dashboard's session
/// cookie is marked `Secure`.
pub fn router(state: AppState, body_limit: usize, tls: bool) -> Router {
    let web = postwatch_web::router(
        state.store.clone(),
        postwatch_web::Options { secure_cookie: tls },
    );
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/openapi.json", get(openapi))
        .route("/api/v1/status", get(status))
        .route("/api/v1/enrol", post(enrol))
        .route("/api/v1/reports", post(report))
        .route("/api/v1/assets", get(assets))
        .route("/api/v1/assets/{id}", get(asset))
        .route("/api/v1/assets/{id}/packages", get(asset_packages))
        .route("/api/v1/findings", get(findings))
        .route("/api/v1/fleet/summary", get(fleet_summary))
        .route("/api/v1/history", get(history))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state.clone())
        .merge(crate::prom::router(state, body_limit))
        .merge(web)
}

/// An error answer: a status and a message saying what to do.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

/// Who is calling, from `Authorization: Bearer …`.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "missing `Authorization: Bearer TOKEN` (postwatch up prints a token; `postwatch server token` makes one)".into(),
            )
        })?;
    let store = state.store.clone();
    blocking(move || store.authenticate(&token).map_err(internal))
        .await?
        .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "unknown or revoked token".into()))
}

async fn user(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match caller(state, headers).await? {
        Principal::User { .. } => Ok(()),
        _ => Err(ApiError(
            StatusCode::FORBIDDEN,
            "this token may only report or enrol; reading the fleet needs a user API token".into(),
        )),
    }
}

async fn openapi(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    caller(&state, &headers).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response())
}

async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    user(&state, &headers).await?;
    let s = state.clone();
    let (advisory, assets) = blocking(move || {
        let assets = s.store.asset_ids().map_err(internal)?.len();
        Ok((s.matcher.status(), assets))
    })
    .await?;
    Ok(Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": FLEET_PROTOCOL_VERSION,
        "advisory_database": advisory,
        "assets": assets,
    })))
}

fn check_protocol(protocol: &str) -> Result<(), ApiError> {
    let major = protocol.split('.').next().unwrap_or("");
    if major != FLEET_PROTOCOL_VERSION {
        return Err(bad_request(format!(
            "protocol {protocol:?} is not supported (this server speaks {FLEET_PROTOCOL_VERSION}); upgrade the agent or the server so they match"
        )));
    }
    Ok(())
}

async fn enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<EnrolRequest>,
) -> Result<Json<postwatch_model::fleet::EnrolResponse>, ApiError> {
    check_protocol(&request.protocol)?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "missing the enrolment token".into(),
            )
        })?;
    if request.hostname.trim().is_empty() || request.hostname.len() > 255 {
        return Err(bad_request("hostname must be 1 to 255 characters"));
    }
    let store = state.store.clone();
    blocking(move || {
        store
            .enrol_agent(&token, &request.hostname)
            .map_err(internal)?
            .map(Json)
            .ok_or_else(|| {
                ApiError(
                    StatusCode::UNAUTHORIZED,
                    "not a valid enrolment token".into(),
                )
            })
    })
    .await
}

async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(report): Json<Report>,
) -> Result<Json<ReportAck>, ApiError> {
    let agent_id = match caller(&state, &headers).await? {
        Principal::Agent { agent_id, .. } => Some(agent_id),
        Principal::User { .. } => None,
        Principal::Enrolment => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "the enrolment token may only enrol; report with the agent's credential".into(),
            ))
        }
    };
    check_protocol(&report.protocol)?;
    if report.report_id.is_empty() || report.asset.name.is_empty() {
        return Err(bad_request("report_id and asset.name must not be empty"));
    }
    let s = state.clone();
    blocking(move || {
        let (ack, asset) = s
            .store
            .store_report(&report, agent_id.as_deref())
            .map_err(internal)?;
        // Stored durably: matching failures are logged, not refused, so the agent does
        // not resend what is already safe.
        if let (true, Some(asset)) = (ack.stored, asset) {
            if let Err(e) = s.matcher.match_asset(s.store.as_ref(), asset) {
                eprintln!("postwatch server: matching asset {asset}: {e}");
            }
        }
        Ok(Json(ack))
    })
    .await
}

#[derive(Deserialize)]
struct AssetQuery {
    kind: Option<AssetKind>,
    name: Option<String>,
    host: Option<String>,
    os: Option<String>,
    sort: Option<postwatch_fleetstore::AssetSort>,
    limit: Option<u32>,
    offset: Option<u64>,
}

/// Adds the paging headers to a listing: `X-Total-Count` (rows in all pages) and an
/// RFC 8288 `Link` with `next` and `prev` built from the request's own query.
fn paged(mut response: Response, uri: &Uri, total: u64) -> Response {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (kv.to_owned(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default();
    let get = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let offset = get("offset").unwrap_or(0);
    let limit = get("limit");
    let h = response.headers_mut();
    h.insert("x-total-count", HeaderValue::from(total));
    if let Some(limit) = limit.filter(|&l| l > 0) {
        let link = |offset: u64, rel: &str| {
            let mut parts: Vec<String> = query
                .iter()
                .filter(|(k, _)| k != "offset")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            parts.push(format!("offset={offset}"));
            format!("<{}?{}>; rel=\"{rel}\"", uri.path(), parts.join("&"))
        };
        let mut links = Vec::new();
        if offset.saturating_add(limit) < total {
            links.push(link(offset + limit, "next"));
        }
        if offset > 0 {
            links.push(link(offset.saturating_sub(limit), "prev"));
        }
        if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
            if !links.is_empty() {
                h.insert(header::LINK, v);
            }
        }
    }
    response
}

async fn assets(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<AssetQuery>,
) -> Result<Response, ApiError> {
    user(&state, &headers).await?;
    let filter = AssetFilter {
        kind: q.kind,
        name_contains: q.name,
        host: q.host,
        os: q.os,
        sort: q.sort.unwrap_or_default(),
        limit: q.limit,
        offset: q.offset.unwrap_or(0),
    };
    let store = state.store.clone();
    let (list, total) = blocking(move || {
        let list = store.assets(&filter).map_err(internal)?;
        let total = store.count_assets(&filter).map_err(internal)?;
        Ok((list, total))
    })
    .await?;
    Ok(paged(Json(list).into_response(), &uri, total))
}

async fn asset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<AssetId>,
) -> Result<Response, ApiError> {
    user(&state, &headers).await?;
    let store = state.store.clone();
    match blocking(move || store.asset(id).map_err(internal)).await? {
        Some(a) => Ok(Json(a).into_response()),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no asset {id}"))),
    }
}

async fn asset_packages(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<AssetId>,
) -> Result<Response, ApiError> {
    user(&state, &headers).await?;
    let store = state.store.clone();
    match blocking(move || store.inventory(id).map_err(internal)).await? {
        Some(inv) => Ok(Json(inv).into_response()),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no asset {id}"))),
    }
}

#[derive(Deserialize)]
struct FindingQuery {
    asset: Option<AssetId>,
    /// Comma-separated: `HIGH,CRITICAL`.
    severity: Option<String>,
    in_use: Option<InUse>,
    kev: Option<bool>,
    fixable: Option<bool>,
    package: Option<String>,
    ecosystem: Option<String>,
    id: Option<String>,
    include_resolved: Option<bool>,
    limit: Option<u32>,
    offset: Option<u64>,
}

async fn findings(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<FindingQuery>,
) -> Result<Response, ApiError> {
    user(&state, &headers).await?;
    let mut severity = Vec::new();
    for s in q.severity.iter().flat_map(|s| s.split(',')) {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        severity.push(Severity::parse(s).ok_or_else(|| {
            bad_request(format!(
                "severity {s:?} is not one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN"
            ))
        })?);
    }
    let filter = FindingFilter {
        asset: q.asset,
        severity,
        in_use: q.in_use,
        kev: q.kev,
        fixable: q.fixable,
        package: q.package,
        ecosystem: q.ecosystem,
        vuln_id: q.id,
        include_resolved: q.include_resolved.unwrap_or(false),
        limit: q.limit,
        offset: q.offset.unwrap_or(0),
    };
    let store = state.store.clone();
    let (list, total) = blocking(move || {
        let list = store.findings(&filter).map_err(internal)?;
        let total = store.count_findings(&filter).map_err(internal)?;
        Ok((list, total))
    })
    .await?;
    Ok(paged(Json(list).into_response(), &uri, total))
}

async fn fleet_summary(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    user(&state, &headers).await?;
    let store = state.store.clone();
    let summary = blocking(move || store.fleet_summary().map_err(internal)).await?;
    Ok(Json(summary).into_response())
}

#[derive(Deserialize)]
struct HistoryQuery {
    asset: Option<AssetId>,
    /// `YYYY-MM-DD`; default 30 days before `to`.
    from: Option<String>,
    /// `YYYY-MM-DD`; default today (UTC).
    to: Option<String>,
}

fn parse_day(key: &str, value: &str) -> Result<time::Date, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, format)
        .map_err(|_| bad_request(format!("{key}={value:?} is not a date like 2026-11-27")))
}

async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    user(&state, &headers).await?;
    let to = match &q.to {
        Some(v) => parse_day("to", v)?,
        None => time::OffsetDateTime::now_utc().date(),
    };
    let from = match &q.from {
        Some(v) => parse_day("from", v)?,
        None => to - time::Duration::days(30),
    };
    if from > to {
        return Err(bad_request("from must not be after to"));
    }
    let store = state.store.clone();
    let points = blocking(move || store.history(q.asset, from, to).map_err(internal)).await?;
    Ok(Json(points).into_response())
}
