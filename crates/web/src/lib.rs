//! The web dashboard `postwatch server` serves next to its API: server-rendered HTML
//! pages (overview, assets, one asset, package, vulnerability, search), SVG charts
//! drawn by our own code, and the login that guards them.
//!
//! Owns: the routes outside `/api` and `/healthz`, the session cookie (it holds the user
//! API token, HttpOnly, SameSite=Strict), HTML escaping, the embedded CSS and JavaScript
//! (`static/`, via `include_str!`, so the dashboard works offline with no build step).
//! Must not: write to the store (it only reads; the one store call that is not a query
//! is `authenticate`), match advisories, or fetch anything from the network.
//!
//! Layout: [`html`] (escaping, page frame), [`charts`] (SVG), `pages` (one function per
//! page from store results to HTML, no I/O), and here the handlers, which run every
//! store query in `spawn_blocking`.

pub mod charts;
pub mod html;
mod pages;

use axum::extract::{Form, FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use html::PER_PAGE;
use postwatch_fleetstore::{
    AssetColumn, AssetFilter, AssetId, FindingFilter, FleetStore, Principal, StoreError,
};
use postwatch_model::fleet::AssetKind;
use postwatch_model::{InUse, Severity};
use serde::Deserialize;
use std::sync::Arc;

/// Name of the session cookie.
pub const COOKIE: &str = "postwatch_session";

const STYLE: &str = include_str!("static/style.css");
const SCRIPT: &str = include_str!("static/app.js");
const ICON: &str = include_str!("static/icon.svg");

/// How the dashboard is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Mark the session cookie `Secure`: the server speaks TLS, so the browser must
    /// never send the token over plain HTTP.
    pub secure_cookie: bool,
}

/// The handlers' shared state: the store, and whether cookies are `Secure`.
#[derive(Clone)]
struct Ctx {
    store: Arc<dyn FleetStore>,
    cookies: CookieSecurity,
}

#[derive(Clone, Copy)]
struct CookieSecurity(bool);

impl FromRef<Ctx> for Arc<dyn FleetStore> {
    fn from_ref(ctx: &Ctx) -> Self {
        ctx.store.clone()
    }
}

impl FromRef<Ctx> for CookieSecurity {
    fn from_ref(ctx: &Ctx) -> Self {
        ctx.cookies
    }
}

/// The `Set-Cookie` value of the session: HttpOnly, SameSite=Strict, and Secure when
/// served over TLS.
fn session_cookie(token: &str, max_age: u32, secure: CookieSecurity) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure.0 { "; Secure" } else { "" }
    )
}

/// A 1-based page number from a query value; anything else is page 1.
fn page_number(v: Option<&str>) -> u64 {
    v.and_then(|p| p.trim().parse::<u64>().ok())
        .filter(|&p| p >= 1)
        .unwrap_or(1)
        .min(u64::MAX / PER_PAGE)
}

fn offset_of(page: u64) -> u64 {
    (page - 1) * PER_PAGE
}

/// The dashboard's routes, ready to merge into the server's router.
pub fn router(store: Arc<dyn FleetStore>, options: Options) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/assets", get(assets))
        .route("/assets/{id}", get(asset))
        .route("/packages/{name}", get(package))
        .route("/vulns/{id}", get(vuln))
        .route("/search", get(search))
        .route("/static/style.css", get(style))
        .route("/static/app.js", get(script))
        .route("/static/icon.svg", get(icon))
        .route("/favicon.ico", get(icon))
        .with_state(Ctx {
            store,
            cookies: CookieSecurity(options.secure_cookie),
        })
}

type St = State<Arc<dyn FleetStore>>;

/// Adds the headers every dashboard page carries.
fn html_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

fn static_response(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn style() -> Response {
    static_response("text/css; charset=utf-8", STYLE)
}

async fn icon() -> Response {
    static_response("image/svg+xml", ICON)
}

async fn script() -> Response {
    static_response("text/javascript; charset=utf-8", SCRIPT)
}

/// Why a page could not be shown.
enum WebError {
    /// Not signed in: go to the login form, then back to `next`.
    Login(String),
    NotFound(String),
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl WebError {
    fn into_response(self, user: Option<&str>) -> Response {
        match self {
            WebError::Login(next) => {
                let to = format!("/login?next={}", html::url(&next));
                let mut r = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            WebError::NotFound(what) => html_response(
                StatusCode::NOT_FOUND,
                html::page(
                    "Not found",
                    html::Nav::None,
                    user,
                    "",
                    &format!(
                        "<h1>Not found</h1><p>{}</p><p><a href=\"/\">Back to the overview</a></p>",
                        html::esc(&what)
                    ),
                ),
            ),
            WebError::Internal(msg) => html_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                html::page(
                    "Error",
                    html::Nav::None,
                    user,
                    "",
                    &format!(
                        "<h1>Something went wrong</h1><p class=\"error\">{}</p>",
                        html::esc(&msg)
                    ),
                ),
            ),
        }
    }
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
}

/// The token in the session cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == COOKIE && !v.is_empty() {
                    return Some(v.to_owned());
                }
            }
        }
    }
    None
}

/// The signed-in user's token name, when the token is a live user token.
async fn user_of(
    store: &Arc<dyn FleetStore>,
    token: Option<String>,
) -> Result<Option<String>, WebError> {
    let Some(token) = token else { return Ok(None) };
    let store = store.clone();
    let who = blocking(move || Ok(store.authenticate(&token)?)).await?;
    Ok(match who {
        Some(Principal::User { name }) => Some(name),
        _ => None,
    })
}

/// The signed-in user, or a redirect to the login form that comes back to `uri`.
async fn require(
    store: &Arc<dyn FleetStore>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<String, WebError> {
    let here = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    user_of(store, cookie_token(headers))
        .await?
        .ok_or_else(|| WebError::Login(here.to_owned()))
}

/// Renders a page handler's outcome.
fn finish(user: Option<&str>, out: Result<(StatusCode, String), WebError>) -> Response {
    match out {
        Ok((status, body)) => html_response(status, body),
        Err(e) => e.into_response(user),
    }
}

/// Where to go after login: only a local path (never `//host` or a scheme).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

async fn login_form(State(store): St, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    // Already signed in: straight on.
    if let Ok(Some(_)) = user_of(&store, cookie_token(&headers)).await {
        return redirect(&next, None);
    }
    html_response(StatusCode::OK, pages::login(&next, None))
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
    next: Option<String>,
}

async fn login(
    State(store): St,
    State(secure): State<CookieSecurity>,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let token = f.token.unwrap_or_default().trim().to_owned();
    let valid = !token.is_empty()
        && token.len() <= 512
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    let who = if valid {
        match user_of(&store, Some(token.clone())).await {
            Ok(w) => w,
            Err(e) => return e.into_response(None),
        }
    } else {
        None
    };
    match who {
        Some(_) => redirect(&next, Some(session_cookie(&token, 2_592_000, secure))),
        None => html_response(
            StatusCode::UNAUTHORIZED,
            pages::login(
                &next,
                Some("That token is unknown, revoked, or not a user API token."),
            ),
        ),
    }
}

async fn logout(State(secure): State<CookieSecurity>) -> Response {
    redirect("/", Some(session_cookie("", 0, secure)))
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Deserialize, Default)]
struct OverviewQuery {
    days: Option<String>,
}

/// The history windows the overview offers.
pub const DAY_CHOICES: [u32; 3] = [30, 90, 400];

async fn overview(
    State(store): St,
    headers: HeaderMap,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let user = match user_of(&store, cookie_token(&headers)).await {
        Ok(Some(u)) => u,
        Ok(None) => return html_response(StatusCode::OK, pages::login("/", None)),
        Err(e) => return e.into_response(None),
    };
    let days = q
        .days
        .as_deref()
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| DAY_CHOICES.contains(d))
        .unwrap_or(30);
    let out = blocking(move || {
        let to = time::OffsetDateTime::now_utc().date();
        let from = to - time::Duration::days(i64::from(days) - 1);
        let data = pages::OverviewData {
            summary: store.fleet_summary()?,
            risk: store.fleet_risk()?,
            threat_bands: store.hosts_by_open_findings(&pages::THREAT_BANDS)?,
            kev: store.count_findings(&FindingFilter {
                kev: Some(true),
                ..FindingFilter::default()
            })?,
            fixable: store.count_findings(&FindingFilter {
                fixable: Some(true),
                ..FindingFilter::default()
            })?,
            history: store.history(None, from, to)?,
            days,
        };
        Ok(data)
    })
    .await
    .map(|d| (StatusCode::OK, pages::overview(&user, &d)));
    finish(Some(&user), out)
}

/// Query of `/assets`.
#[derive(Deserialize, Default, Clone)]
pub struct AssetsQuery {
    pub kind: Option<String>,
    pub q: Option<String>,
    pub os: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub page: Option<String>,
}

async fn assets(
    State(store): St,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<AssetsQuery>,
) -> Response {
    let user = match require(&store, &headers, &uri).await {
        Ok(u) => u,
        Err(e) => return e.into_response(None),
    };
    let kind = match q.kind.as_deref() {
        Some("host") => Some(AssetKind::Host),
        Some("image") => Some(AssetKind::Image),
        Some("container") => Some(AssetKind::Container),
        _ => None,
    };
    let os = q.os.clone().filter(|s| !s.is_empty());
    let name =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
    let column = q
        .sort
        .as_deref()
        .and_then(AssetColumn::parse)
        .unwrap_or(AssetColumn::Risk);
    let descending = match q.dir.as_deref() {
        Some("asc") => false,
        Some("desc") => true,
        _ => column.descending_by_default(),
    };
    let page = page_number(q.page.as_deref());
    let out = blocking(move || {
        let list = store.asset_page(
            &AssetFilter {
                kind,
                os,
                name_contains: name,
                limit: Some(PER_PAGE as u32),
                offset: offset_of(page),
                ..AssetFilter::default()
            },
            column,
            descending,
        )?;
        Ok(list)
    })
    .await
    .map(|list| {
        (
            StatusCode::OK,
            pages::assets(&user, &q, &list, column, descending, page),
        )
    });
    finish(Some(&user), out)
}

/// Query of `/assets/{id}`: filters of the findings table.
#[derive(Deserialize, Default, Clone)]
pub struct AssetQuery {
    pub severity: Option<String>,
    pub in_use: Option<String>,
    pub days: Option<String>,
    /// Page of the findings table.
    pub page: Option<String>,
    /// Page of the packages table.
    pub pkg_page: Option<String>,
}

async fn asset(
    State(store): St,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<AssetQuery>,
) -> Response {
    let user = match require(&store, &headers, &uri).await {
        Ok(u) => u,
        Err(e) => return e.into_response(None),
    };
    let Ok(id) = id.parse::<AssetId>() else {
        return WebError::NotFound(format!("There is no asset {id:?}.")).into_response(Some(&user));
    };
    let severity: Vec<Severity> = q
        .severity
        .iter()
        .flat_map(|s| s.split(','))
        .filter_map(|s| Severity::parse(s.trim()))
        .collect();
    let in_use = match q.in_use.as_deref() {
        Some("yes") => Some(InUse::Yes),
        Some("no") => Some(InUse::No),
        Some("unknown") => Some(InUse::Unknown),
        _ => None,
    };
    let days = q
        .days
        .as_deref()
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| DAY_CHOICES.contains(d))
        .unwrap_or(30);
    let page = page_number(q.page.as_deref());
    let pkg_page = page_number(q.pkg_page.as_deref());
    let out = blocking(move || {
        let Some(summary) = store.asset(id)? else {
            return Err(WebError::NotFound(format!("There is no asset {id}.")));
        };
        let to = time::OffsetDateTime::now_utc().date();
        let from = to - time::Duration::days(i64::from(days) - 1);
        let filter = FindingFilter {
            asset: Some(id),
            severity,
            in_use,
            limit: Some(PER_PAGE as u32),
            offset: offset_of(page),
            ..FindingFilter::default()
        };
        Ok(pages::AssetData {
            findings_total: store.count_findings(&filter)?,
            findings: store.findings(&filter)?,
            page,
            pkg_page,
            inventory: store.inventory(id)?,
            history: store.history(Some(id), from, to)?,
            summary,
            days,
        })
    })
    .await
    .map(|d| (StatusCode::OK, pages::asset(&user, &q, &d)));
    finish(Some(&user), out)
}

#[derive(Deserialize, Default)]
struct PackageQuery {
    ecosystem: Option<String>,
    page: Option<String>,
}

async fn package(
    State(store): St,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Query(q): Query<PackageQuery>,
) -> Response {
    let ecosystem = q.ecosystem.filter(|e| !e.is_empty());
    let user = match require(&store, &headers, &uri).await {
        Ok(u) => u,
        Err(e) => return e.into_response(None),
    };
    let page = page_number(q.page.as_deref());
    let out = blocking(move || {
        let eco = ecosystem.as_deref();
        let stats = store.package_stats(&name, eco)?;
        if stats.ecosystems.is_empty() {
            return Err(WebError::NotFound(format!(
                "No asset in the fleet has a package named {name:?}."
            )));
        }
        let filter = FindingFilter {
            package: Some(name.clone()),
            ecosystem: ecosystem.clone(),
            ..FindingFilter::default()
        };
        Ok(pages::PackageData {
            on: store.package_assets_page(&name, eco, PER_PAGE as u32, offset_of(page))?,
            stats,
            open_findings: store.count_findings(&filter)?,
            vulns: store.vuln_groups(&filter)?,
            name,
            ecosystem,
            page,
        })
    })
    .await
    .map(|d| (StatusCode::OK, pages::package(&user, &d)));
    finish(Some(&user), out)
}

#[derive(Deserialize, Default)]
struct VulnQuery {
    page: Option<String>,
}

/// What the vulnerability handler found: a page, or the id it is filed under.
enum VulnOutcome {
    Page(pages::VulnData),
    Elsewhere(String),
}

async fn vuln(
    State(store): St,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<VulnQuery>,
) -> Response {
    let user = match require(&store, &headers, &uri).await {
        Ok(u) => u,
        Err(e) => return e.into_response(None),
    };
    let page = page_number(q.page.as_deref());
    let out = blocking(move || {
        let filter = FindingFilter {
            vuln_id: Some(id.clone()),
            limit: Some(PER_PAGE as u32),
            offset: offset_of(page),
            ..FindingFilter::default()
        };
        let total = store.count_findings(&filter)?;
        if total == 0 {
            // An alias (GHSA of a CVE, a DSA…) of one vulnerability: show that one.
            let found = store.search_vulns(&id)?;
            return match found.as_slice() {
                [one] if one.vuln_id != id => Ok(VulnOutcome::Elsewhere(one.vuln_id.clone())),
                _ => Err(WebError::NotFound(format!(
                    "No open finding of {id} in the fleet."
                ))),
            };
        }
        Ok(VulnOutcome::Page(pages::VulnData {
            findings: store.findings(&filter)?,
            assets: store.count_finding_assets(&filter)?,
            aliases: store.vuln_aliases(&id)?,
            id,
            total,
            page,
        }))
    })
    .await;
    match out {
        Ok(VulnOutcome::Elsewhere(primary)) => redirect(&html::vuln_href(&primary), None),
        Ok(VulnOutcome::Page(d)) => html_response(StatusCode::OK, pages::vuln(&user, &d)),
        Err(e) => e.into_response(Some(&user)),
    }
}

/// Results per kind on the search page (each says how many there are in all).
const SEARCH_ROWS: u32 = 50;

#[derive(Deserialize, Default)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(
    State(store): St,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<SearchQuery>,
) -> Response {
    let query = q.q.unwrap_or_default().trim().to_owned();
    let user = match require(&store, &headers, &uri).await {
        Ok(u) => u,
        Err(e) => return e.into_response(None),
    };
    let qq = query.clone();
    let out = blocking(move || {
        if qq.is_empty() || qq.len() > 200 {
            return Ok(pages::SearchData::default());
        }
        let assets = store.asset_page(
            &AssetFilter {
                name_contains: Some(qq.clone()),
                limit: Some(SEARCH_ROWS),
                ..AssetFilter::default()
            },
            AssetColumn::Risk,
            true,
        )?;
        let packages = store.search_packages(&qq, SEARCH_ROWS, 0)?;
        let mut vulns = Vec::new();
        for m in store
            .search_vulns(&qq)?
            .into_iter()
            .take(SEARCH_ROWS as usize)
        {
            let filter = FindingFilter {
                vuln_id: Some(m.vuln_id.clone()),
                limit: Some(1),
                ..FindingFilter::default()
            };
            if let Some(sample) = store.findings(&filter)?.into_iter().next() {
                vulns.push((m, sample));
            }
        }
        Ok(pages::SearchData {
            assets: Some(assets),
            packages: Some(packages),
            vulns,
        })
    })
    .await
    .map(|d| (StatusCode::OK, pages::search(&user, &query, &d)));
    finish(Some(&user), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/assets?kind=host")), "/assets?kind=host");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn session_cookie_is_secure_only_over_tls() {
        let plain = session_cookie("pwu_x", 60, CookieSecurity(false));
        assert_eq!(
            plain,
            "postwatch_session=pwu_x; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        let tls = session_cookie("pwu_x", 60, CookieSecurity(true));
        assert!(tls.ends_with("; Max-Age=60; Secure"), "{tls}");
    }

    #[test]
    fn page_numbers_are_forgiving() {
        assert_eq!(page_number(None), 1);
        assert_eq!(page_number(Some("0")), 1);
        assert_eq!(page_number(Some("-3")), 1);
        assert_eq!(page_number(Some("x")), 1);
        assert_eq!(page_number(Some("4")), 4);
        assert_eq!(offset_of(page_number(Some("4"))), 300);
        // Huge numbers do not overflow the offset.
        let _ = offset_of(page_number(Some("18446744073709551615")));
    }

    #[test]
    fn reads_the_session_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; postwatch_session=pwu_abc; c=d"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("pwu_abc"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("postwatch_session="),
        );
        assert_eq!(cookie_token(&h), None);
    }
}
