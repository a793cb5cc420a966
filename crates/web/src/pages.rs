//! One function per page: store results in, escaped HTML out. No I/O.

use crate::charts::{self, Bar, Line, Series};
use crate::html::{
    self, esc, num, package_href, pager, risk, sev_badge, url, vuln_href, when, Nav, PER_PAGE,
};
use crate::{AssetQuery, AssetsQuery, DAY_CHOICES};
use postwatch_fleetstore::{
    AssetColumn, AssetSummary, DailyPoint, FleetRisk, FleetSummary, PackageMatch, PackageOnAsset,
    PackageStats, Page, SeverityCounts, StoredFinding, StoredInventory, VulnGroup, VulnMatch,
};
use postwatch_model::{FixState, InUse, Severity};
use std::collections::BTreeMap;
use std::fmt::Write;

fn sev_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Unknown => "Unknown",
    }
}

/// The login form; `next` is where to go afterwards (already checked to be local).
pub fn login(next: &str, error: Option<&str>) -> String {
    let mut b = String::new();
    b.push_str(
        "<section class=\"login card\"><h1>Sign in</h1>\
<p class=\"muted\">Use a user API token. <code>postwatch token --data DIR</code> makes one; \
<code>postwatch up</code> prints one.</p>",
    );
    if let Some(e) = error {
        let _ = write!(b, "<p class=\"error\" role=\"alert\">{}</p>", esc(e));
    }
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
<label for=\"token\">API token</label>\
<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus spellcheck=\"false\" placeholder=\"pwu_…\">\
<button type=\"submit\" class=\"primary\">Sign in</button></form></section>",
        esc(next)
    );
    html::page("Sign in", Nav::None, None, "", &b)
}

/// What the overview shows.
pub struct OverviewData {
    pub summary: FleetSummary,
    pub risk: FleetRisk,
    /// Hosts per band of [`THREAT_BANDS`].
    pub threat_bands: Vec<u64>,
    pub kev: u64,
    pub fixable: u64,
    pub history: Vec<DailyPoint>,
    pub days: u32,
}

fn stat(label: &str, value: &str, class: &str, href: Option<&str>) -> String {
    let inner = format!(
        "<span class=\"stat-label\">{}</span><span class=\"stat-value\">{value}</span>",
        esc(label)
    );
    match href {
        Some(h) => format!("<a class=\"stat {class}\" href=\"{}\">{inner}</a>", esc(h)),
        None => format!("<div class=\"stat {class}\">{inner}</div>"),
    }
}

/// The trend chart of a history: open findings per day stacked by severity, with the
/// in-use ones as a line.
pub fn trend_chart(label: &str, history: &[DailyPoint]) -> String {
    let days: Vec<String> = history.iter().map(|p| p.day.clone()).collect();
    let mut per: BTreeMap<Severity, Vec<u64>> = BTreeMap::new();
    let mut in_use = vec![0u64; history.len()];
    for (i, p) in history.iter().enumerate() {
        for c in &p.counts {
            let v = per
                .entry(c.severity)
                .or_insert_with(|| vec![0; history.len()]);
            if let Some(slot) = v.get_mut(i) {
                *slot += c.count;
            }
            if c.in_use == InUse::Yes {
                if let Some(slot) = in_use.get_mut(i) {
                    *slot += c.count;
                }
            }
        }
    }
    let classes = [
        (Severity::Unknown, "fill-unknown"),
        (Severity::Low, "fill-low"),
        (Severity::Medium, "fill-medium"),
        (Severity::High, "fill-high"),
        (Severity::Critical, "fill-critical"),
    ];
    let layers: Vec<Series<'_>> = classes
        .iter()
        .map(|(s, class)| Series {
            name: sev_name(*s),
            class,
            values: per.remove(s).unwrap_or_else(|| vec![0; history.len()]),
        })
        .collect();
    let line = Series {
        name: "In use",
        class: "line-inuse",
        values: in_use,
    };
    charts::stacked_columns(label, &days, &layers, Some(&line))
}

/// The risk trend of a history: the summed risk score per day, and the part of it in
/// packages seen in use.
pub fn risk_chart(label: &str, total_name: &str, history: &[DailyPoint]) -> String {
    let days: Vec<String> = history.iter().map(|p| p.day.clone()).collect();
    let lines = [
        Line {
            name: total_name,
            class: "line-risk",
            values: history.iter().map(|p| p.risk).collect(),
        },
        Line {
            name: "In use",
            class: "line-risk-inuse",
            values: history.iter().map(|p| p.risk_in_use).collect(),
        },
    ];
    charts::lines(label, &days, &lines)
}

/// The newest point's risk, for the figure above a risk chart.
fn latest_risk(history: &[DailyPoint]) -> String {
    match history.last() {
        Some(p) => format!(
            "<p class=\"muted small\" id=\"risk-latest\">{}: risk <strong data-risk=\"{:.1}\">{}</strong>, in use <strong data-risk-in-use=\"{:.1}\">{}</strong></p>",
            esc(&p.day),
            p.risk,
            risk(p.risk),
            p.risk_in_use,
            risk(p.risk_in_use)
        ),
        None => String::new(),
    }
}

fn days_form(action: &str, days: u32, hidden: &[(&str, &str)]) -> String {
    let mut s = format!(
        "<form class=\"inline\" method=\"get\" action=\"{}\" data-autosubmit>",
        esc(action)
    );
    for (k, v) in hidden {
        let _ = write!(
            s,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(k),
            esc(v)
        );
    }
    s.push_str("<label for=\"days\">Period</label><select id=\"days\" name=\"days\">");
    for d in DAY_CHOICES {
        let _ = write!(
            s,
            "<option value=\"{d}\"{}>Last {d} days</option>",
            if d == days { " selected" } else { "" }
        );
    }
    s.push_str("</select><button type=\"submit\">Show</button></form>");
    s
}

/// Lower ends of the bands of the hosts-by-open-findings histogram.
pub const THREAT_BANDS: [u64; 6] = [0, 1, 10, 50, 100, 500];

const BUCKETS: [&str; 6] = ["0", "1–9", "10–49", "50–99", "100–499", "500+"];

pub fn overview(user: &str, d: &OverviewData) -> String {
    let s = &d.summary;
    let (risk_total, risk_max) = (d.risk.total, d.risk.max);
    let mut b = String::new();
    b.push_str("<div class=\"page-head\"><h1>Fleet overview</h1></div>");
    b.push_str("<section class=\"stats\" aria-label=\"Fleet figures\">");
    b.push_str(&stat("Fleet risk (sum)", &risk(risk_total), "", None));
    b.push_str(&stat("Highest risk", &risk(risk_max), "", None));
    b.push_str(&stat(
        "Risk in use",
        &risk(d.risk.in_use_total),
        "accent",
        None,
    ));
    b.push_str(&stat(
        "Open findings",
        &num(s.findings.total.total),
        "",
        None,
    ));
    b.push_str(&stat("In use", &num(s.findings.total.yes), "accent", None));
    b.push_str(&stat("Known exploited (KEV)", &num(d.kev), "danger", None));
    b.push_str(&stat("Fixable", &num(d.fixable), "ok", None));
    b.push_str(&stat(
        "Assets",
        &format!(
            "{} <small>{} hosts · {} images · {} containers</small>",
            num(s.assets_by_kind.total),
            s.assets_by_kind.host,
            s.assets_by_kind.image,
            s.assets_by_kind.container
        ),
        "",
        Some("/assets"),
    ));
    b.push_str("</section>");

    // Severity × in-use.
    b.push_str("<div class=\"grid2\"><section class=\"card\"><h2>Open findings by severity</h2>\
<table class=\"data\" id=\"severity-table\"><thead><tr><th scope=\"col\">Severity</th><th scope=\"col\" class=\"n\">Total</th>\
<th scope=\"col\" class=\"n\">In use</th><th scope=\"col\" class=\"n\">Not in use</th><th scope=\"col\" class=\"n\">Unknown</th></tr></thead><tbody>");
    for (sev, row) in [
        (Severity::Critical, &s.findings.critical),
        (Severity::High, &s.findings.high),
        (Severity::Medium, &s.findings.medium),
        (Severity::Low, &s.findings.low),
        (Severity::Unknown, &s.findings.unknown),
    ] {
        let _ = write!(
            b,
            "<tr data-severity=\"{}\"><th scope=\"row\">{}</th><td class=\"n\" data-col=\"total\">{}</td><td class=\"n\" data-col=\"yes\">{}</td><td class=\"n\" data-col=\"no\">{}</td><td class=\"n\" data-col=\"unknown\">{}</td></tr>",
            sev.as_str(),
            sev_badge(sev),
            row.total,
            row.yes,
            row.no,
            row.unknown
        );
    }
    let t = &s.findings.total;
    let _ = write!(
        b,
        "</tbody><tfoot><tr><th scope=\"row\">All</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></tfoot></table></section>",
        t.total, t.yes, t.no, t.unknown
    );

    // Histogram of hosts by threat count.
    let bars: Vec<Bar> = BUCKETS
        .iter()
        .zip(d.threat_bands.iter().copied())
        .map(|(l, v)| Bar {
            label: (*l).to_owned(),
            value: v,
            href: None,
        })
        .collect();
    let _ = write!(
        b,
        "<section class=\"card\"><h2>Hosts by open findings</h2>{}<p class=\"muted small\">Number of hosts per band of open findings.</p></section></div>",
        charts::vbars("Histogram of hosts by number of open findings", &bars)
    );

    // Trend.
    let _ = write!(
        b,
        "<section class=\"card\"><div class=\"card-head\"><h2>Open findings over time</h2>{}</div>{}</section>",
        days_form("/", d.days, &[]),
        trend_chart(
            &format!("Open findings per day over the last {} days, stacked by severity, with those in use as a line", d.days),
            &d.history
        )
    );
    let _ = write!(
        b,
        "<section class=\"card\" id=\"risk-trend\"><div class=\"card-head\"><h2>Fleet risk over time</h2>{}</div>{}</section>",
        latest_risk(&d.history),
        risk_chart(
            &format!("Fleet risk score per day over the last {} days, with the part in packages in use", d.days),
            "Fleet risk",
            &d.history
        )
    );

    let label_bars = |v: &[postwatch_fleetstore::LabelCount], link: bool| -> Vec<Bar> {
        v.iter()
            .take(12)
            .map(|l| Bar {
                label: l.label.clone(),
                value: l.count,
                href: link.then(|| format!("/assets?kind=host&os={}", url(&l.label))),
            })
            .collect()
    };
    let _ = write!(
        b,
        "<div class=\"grid2\"><section class=\"card\"><h2>Hosts by OS</h2>{}</section>\
<section class=\"card\"><h2>Hosts by hardware class</h2>{}</section></div>",
        charts::hbars(
            "Hosts by operating system",
            &label_bars(&s.hosts_by_os, true)
        ),
        charts::hbars(
            "Hosts by hardware class",
            &label_bars(&s.hosts_by_hardware, false)
        )
    );
    // Top packages and images.
    b.push_str("<section class=\"card\"><h2>Top vulnerable packages</h2>");
    if s.top_packages.is_empty() {
        b.push_str("<p class=\"empty\">No vulnerable packages.</p>");
    } else {
        b.push_str("<table class=\"data\" id=\"top-packages\"><thead><tr><th scope=\"col\">Package</th><th scope=\"col\">Ecosystem</th>\
<th scope=\"col\">Worst</th><th scope=\"col\" class=\"n\">Findings</th><th scope=\"col\" class=\"n\">Assets</th><th scope=\"col\" class=\"n\">Risk</th></tr></thead><tbody>");
        for p in &s.top_packages {
            let _ = write!(
                b,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&package_href(&p.name, Some(&p.ecosystem))),
                esc(&p.name),
                esc(&p.ecosystem),
                sev_badge(p.worst_severity),
                p.open_findings,
                p.assets,
                risk(p.risk_total)
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section><div class=\"grid2\">");
    let bars: Vec<Bar> = s
        .hosts_by_threats
        .iter()
        .take(10)
        .map(|a| Bar {
            label: a.name.clone(),
            value: a.open_findings.total,
            href: Some(format!("/assets/{}", a.id)),
        })
        .collect();
    let _ = write!(
        b,
        "<section class=\"card\"><h2>Hosts with the most open findings</h2>{}</section>",
        charts::hbars("Hosts with the most open findings", &bars)
    );
    b.push_str("<section class=\"card\"><h2>Most severe images</h2>");
    if s.most_severe_images.is_empty() {
        b.push_str("<p class=\"empty\">No images reported yet.</p>");
    } else {
        b.push_str("<table class=\"data\" id=\"top-images\"><thead><tr><th scope=\"col\">Image</th><th scope=\"col\">Findings</th><th scope=\"col\" class=\"n\">Max risk</th></tr></thead><tbody>");
        for a in &s.most_severe_images {
            let _ = write!(
                b,
                "<tr><td><a href=\"/assets/{}\">{}</a></td><td>{}</td><td class=\"n\">{}</td></tr>",
                a.id,
                esc(&a.name),
                counts_inline(&a.open_findings),
                risk(a.risk_max)
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section></div>");
    html::page("Overview", Nav::Overview, Some(user), "", &b)
}

/// Severity counts as small coloured chips (zeros left out).
fn counts_inline(c: &SeverityCounts) -> String {
    let mut s = String::from("<span class=\"chips\">");
    for (sev, n) in [
        (Severity::Critical, c.critical),
        (Severity::High, c.high),
        (Severity::Medium, c.medium),
        (Severity::Low, c.low),
        (Severity::Unknown, c.unknown),
    ] {
        if n > 0 {
            let _ = write!(
                s,
                "<span class=\"chip sev-{}\" title=\"{}\">{n}</span>",
                html::sev_class(sev),
                sev_name(sev)
            );
        }
    }
    if c.total == 0 {
        s.push_str("<span class=\"muted\">none</span>");
    }
    s.push_str("</span>");
    s
}

/// Headings of the assets table's columns.
fn column_heading(c: AssetColumn) -> &'static str {
    match c {
        AssetColumn::Name => "Name",
        AssetColumn::Kind => "Kind",
        AssetColumn::Os => "OS",
        AssetColumn::Findings => "Open findings",
        AssetColumn::Critical => "Critical",
        AssetColumn::InUse => "In use",
        AssetColumn::Risk => "Risk",
        AssetColumn::LastSeen => "Last seen",
    }
}

/// A link to the assets table with the filters of `q`, sorted and on a page.
fn assets_href(q: &AssetsQuery, sort: AssetColumn, desc: bool, page: u64) -> String {
    let mut parts = Vec::new();
    for (k, v) in [("kind", &q.kind), ("q", &q.q), ("os", &q.os)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", url(v)));
        }
    }
    parts.push(format!("sort={}", sort.as_str()));
    parts.push(format!("dir={}", if desc { "desc" } else { "asc" }));
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    format!("/assets?{}", parts.join("&"))
}

pub fn assets(
    user: &str,
    q: &AssetsQuery,
    list: &Page<AssetSummary>,
    sort: AssetColumn,
    desc: bool,
    page: u64,
) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<div class=\"page-head\"><h1>Assets</h1><p class=\"muted\">{} match</p></div>",
        num(list.total)
    );
    let kind = q.kind.as_deref().unwrap_or("");
    let _ = write!(
        b,
        "<form class=\"filters card\" method=\"get\" action=\"/assets\">\
<div><label for=\"f-q\">Name contains</label><input id=\"f-q\" name=\"q\" type=\"search\" value=\"{}\"></div>\
<div><label for=\"f-kind\">Kind</label><select id=\"f-kind\" name=\"kind\">",
        esc(q.q.as_deref().unwrap_or(""))
    );
    for (v, l) in [
        ("", "Any"),
        ("host", "Hosts"),
        ("image", "Images"),
        ("container", "Containers"),
    ] {
        let _ = write!(
            b,
            "<option value=\"{v}\"{}>{l}</option>",
            if v == kind { " selected" } else { "" }
        );
    }
    let _ = write!(
        b,
        "</select></div><div><label for=\"f-os\">OS</label><input id=\"f-os\" name=\"os\" value=\"{}\" placeholder=\"exact label\"></div>\
<input type=\"hidden\" name=\"sort\" value=\"{}\"><input type=\"hidden\" name=\"dir\" value=\"{}\">\
<div class=\"actions\"><button type=\"submit\" class=\"primary\">Apply</button><a href=\"/assets\">Reset</a></div></form>",
        esc(q.os.as_deref().unwrap_or("")),
        sort.as_str(),
        if desc { "desc" } else { "asc" }
    );
    if list.total == 0 {
        b.push_str("<p class=\"empty\">No asset matches.</p>");
        return html::page("Assets", Nav::Assets, Some(user), "", &b);
    }
    let pages = pager("Pages of assets", page, list.total, |n| {
        assets_href(q, sort, desc, n)
    });
    b.push_str(
        "<div class=\"table-wrap card\"><table class=\"data\" id=\"assets-table\"><thead><tr>",
    );
    for col in AssetColumn::ALL {
        let current = col == sort;
        let next_desc = if current {
            !desc
        } else {
            col.descending_by_default()
        };
        let (aria, arrow) = match (current, desc) {
            (true, true) => (" aria-sort=\"descending\"", " ▼"),
            (true, false) => (" aria-sort=\"ascending\"", " ▲"),
            _ => ("", ""),
        };
        let num_class = if col.descending_by_default() && col != AssetColumn::LastSeen {
            " class=\"n\""
        } else {
            ""
        };
        let _ = write!(
            b,
            "<th scope=\"col\"{aria}{num_class}><a class=\"sort\" href=\"{}\">{}{arrow}</a></th>",
            esc(&assets_href(q, col, next_desc, 1)),
            column_heading(col)
        );
    }
    b.push_str("</tr></thead><tbody>");
    for a in &list.items {
        let _ = write!(
            b,
            "<tr data-asset-id=\"{}\"><td><a href=\"/assets/{}\">{}</a>{}</td><td><span class=\"kind\">{}</span></td><td>{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            a.id,
            a.id,
            esc(shown_name(a)),
            a.host
                .as_deref()
                .map(|h| format!(" <span class=\"muted small\">on {}</span>", esc(h)))
                .unwrap_or_default(),
            a.kind.as_str(),
            esc(a.os_label.as_deref().unwrap_or("—")),
            counts_inline(&a.open_findings),
            a.open_findings.critical,
            a.open_in_use,
            risk(a.risk_max),
            when(&a.last_seen)
        );
    }
    b.push_str("</tbody></table></div>");
    b.push_str(&pages);
    html::page("Assets", Nav::Assets, Some(user), "", &b)
}

/// What the asset page shows.
pub struct AssetData {
    pub summary: AssetSummary,
    /// One page of the findings the filter matches, and how many match.
    pub findings: Vec<StoredFinding>,
    pub findings_total: u64,
    pub page: u64,
    /// Page of the packages table.
    pub pkg_page: u64,
    pub inventory: Option<StoredInventory>,
    pub history: Vec<DailyPoint>,
    pub days: u32,
}

fn fact(b: &mut String, k: &str, v: &str) {
    let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
}

/// How lists and headings name an asset: a container by its runtime name (a
/// Kubernetes `namespace/pod/container`) when it has one, not its 64-digit id.
fn shown_name(a: &AssetSummary) -> &str {
    a.container
        .as_ref()
        .and_then(|c| c.name.as_deref())
        .unwrap_or(&a.name)
}

pub fn asset(user: &str, q: &AssetQuery, d: &AssetData) -> String {
    let a = &d.summary;
    let mut b = String::new();
    let _ = write!(
        b,
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><a href=\"/assets\">Assets</a> / <span>{}</span></nav>\
<div class=\"page-head\"><h1>{} <span class=\"kind\">{}</span></h1></div>",
        esc(shown_name(a)),
        esc(shown_name(a)),
        a.kind.as_str()
    );
    b.push_str("<section class=\"stats\" aria-label=\"Asset figures\">");
    b.push_str(&stat(
        "Open findings",
        &num(a.open_findings.total),
        "",
        None,
    ));
    b.push_str(&stat(
        "Critical",
        &num(a.open_findings.critical),
        "danger",
        None,
    ));
    b.push_str(&stat("High", &num(a.open_findings.high), "warn", None));
    b.push_str(&stat("In use", &num(a.open_in_use), "accent", None));
    b.push_str(&stat("KEV", &num(a.open_kev), "danger", None));
    b.push_str(&stat("Fixable", &num(a.open_fixable), "ok", None));
    b.push_str(&stat("Max risk", &risk(a.risk_max), "", None));
    b.push_str("</section>");

    b.push_str("<div class=\"grid2\"><section class=\"card\"><h2>Facts</h2><dl class=\"facts\">");
    fact(&mut b, "Kind", a.kind.as_str());
    if let Some(h) = &a.host {
        fact(&mut b, "Host", h);
    }
    if let Some(c) = &a.container {
        fact(&mut b, "Container ID", &a.name);
        fact(&mut b, "Runtime", &c.runtime);
        if let Some(image) = &c.image {
            fact(&mut b, "Started from", image);
        }
        for (k, v) in &c.labels {
            fact(&mut b, &format!("Label {k}"), v);
        }
    }
    fact(&mut b, "OS", a.os_label.as_deref().unwrap_or("unknown"));
    if let Some(e) = a.os.as_ref().and_then(|o| o.ecosystem.as_deref()) {
        fact(&mut b, "Ecosystem", e);
    }
    if let Some(f) = &a.facts {
        if let Some(k) = &f.kernel {
            fact(&mut b, "Kernel", k);
        }
        if let Some(c) = &f.cpu_model {
            fact(&mut b, "CPU", c);
        }
        fact(
            &mut b,
            "Cores / memory",
            &format!(
                "{} cores / {:.1} GiB",
                f.cpu_cores,
                f.memory_bytes as f64 / (1u64 << 30) as f64
            ),
        );
        if let Some(c) = &f.cloud {
            fact(&mut b, "Cloud", &c.provider);
        }
        for (k, v) in &f.tags {
            fact(&mut b, &format!("Tag {k}"), v);
        }
        fact(&mut b, "Agent", &f.agent_version);
    }
    if let Some(dg) = &a.image_digest {
        fact(&mut b, "Image digest", dg);
    }
    fact(&mut b, "Packages", &a.packages.to_string());
    if let Some(p) = a.in_use_packages {
        fact(&mut b, "Packages in use", &p.to_string());
    }
    b.push_str("<dt>First seen</dt><dd>");
    b.push_str(&when(&a.first_seen));
    b.push_str("</dd><dt>Last seen</dt><dd>");
    b.push_str(&when(&a.last_seen));
    b.push_str("</dd>");
    if let Some(t) = &a.findings_evaluated_at {
        b.push_str("<dt>Findings computed</dt><dd>");
        b.push_str(&when(t));
        b.push_str("</dd>");
    }
    b.push_str("</dl></section>");
    let here = format!("/assets/{}", a.id);
    let _ = write!(
        b,
        "<section class=\"card\"><div class=\"card-head\"><h2>Open findings over time</h2>{}</div>{}</section></div>",
        days_form(&here, d.days, &[]),
        trend_chart(
            &format!("Open findings of {} per day, stacked by severity", a.name),
            &d.history
        )
    );
    let _ = write!(
        b,
        "<section class=\"card\" id=\"risk-trend\"><div class=\"card-head\"><h2>Risk over time</h2>{}</div>{}</section>",
        latest_risk(&d.history),
        risk_chart(
            &format!("Risk score of {} per day, with the part in packages in use", a.name),
            "Risk",
            &d.history
        )
    );

    // Findings with filters.
    let sev_q = q.severity.as_deref().unwrap_or("");
    let in_use_q = q.in_use.as_deref().unwrap_or("");
    let _ = write!(
        b,
        "<section class=\"card\"><div class=\"card-head\"><h2 id=\"findings\">Findings <span class=\"muted\">({})</span></h2>\
<form class=\"inline\" method=\"get\" action=\"{here}#findings\"><label for=\"f-sev\">Severity</label><select id=\"f-sev\" name=\"severity\">",
        num(d.findings_total)
    );
    for (v, l) in [
        ("", "Any"),
        ("CRITICAL", "Critical"),
        ("CRITICAL,HIGH", "High and above"),
        ("HIGH", "High"),
        ("MEDIUM", "Medium"),
        ("LOW", "Low"),
        ("UNKNOWN", "Unknown"),
    ] {
        let _ = write!(
            b,
            "<option value=\"{v}\"{}>{l}</option>",
            if v.eq_ignore_ascii_case(sev_q) {
                " selected"
            } else {
                ""
            }
        );
    }
    b.push_str(
        "</select><label for=\"f-inuse\">In use</label><select id=\"f-inuse\" name=\"in_use\">",
    );
    for (v, l) in [
        ("", "Any"),
        ("yes", "Yes"),
        ("no", "No"),
        ("unknown", "Unknown"),
    ] {
        let _ = write!(
            b,
            "<option value=\"{v}\"{}>{l}</option>",
            if v == in_use_q { " selected" } else { "" }
        );
    }
    b.push_str("</select><button type=\"submit\">Filter</button></form></div>");
    // Page links keep the filters and the other table's page.
    let asset_href = |page: u64, pkg_page: u64, anchor: &str| {
        let mut parts = Vec::new();
        for (k, v) in [
            ("severity", sev_q),
            ("in_use", in_use_q),
            ("days", q.days.as_deref().unwrap_or("")),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", url(v)));
            }
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if pkg_page > 1 {
            parts.push(format!("pkg_page={pkg_page}"));
        }
        format!("{here}?{}#{anchor}", parts.join("&"))
    };
    if d.findings.is_empty() {
        b.push_str("<p class=\"empty\">No open findings match.</p>");
    } else {
        b.push_str("<div class=\"table-wrap\"><table class=\"data\" id=\"findings-table\"><thead><tr>\
<th scope=\"col\" class=\"n\">Risk</th><th scope=\"col\">Severity</th><th scope=\"col\">Vulnerability</th><th scope=\"col\">Package</th>\
<th scope=\"col\">Installed</th><th scope=\"col\">Fixed in</th><th scope=\"col\">Fix</th><th scope=\"col\">In use</th></tr></thead><tbody>");
        for sf in &d.findings {
            finding_row(&mut b, sf);
        }
        b.push_str("</tbody></table></div>");
        b.push_str(&pager("Pages of findings", d.page, d.findings_total, |n| {
            asset_href(n, d.pkg_page, "findings")
        }));
    }
    b.push_str("</section>");

    // Packages.
    if let Some(inv) = &d.inventory {
        let total = inv.packages.len() as u64;
        let last = total.div_ceil(PER_PAGE).max(1);
        let pkg_page = d.pkg_page.min(last);
        // Open when the link asked for a page of it.
        let open = if d.pkg_page > 1 { " open" } else { "" };
        let _ = write!(
            b,
            "<section class=\"card\"><details id=\"packages\"{open}><summary><h2>Packages <span class=\"muted\">({})</span></h2></summary>\
<div class=\"table-wrap\"><table class=\"data\" id=\"packages-table\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Version</th>\
<th scope=\"col\">Ecosystem</th><th scope=\"col\">Found in</th><th scope=\"col\">In use</th></tr></thead><tbody>",
            num(total)
        );
        let in_use: BTreeMap<&str, usize> = inv
            .in_use
            .iter()
            .flat_map(|u| u.packages.iter())
            .map(|p| (p.purl.as_str(), p.evidence.len()))
            .collect();
        let skip = usize::try_from((pkg_page - 1) * PER_PAGE).unwrap_or(usize::MAX);
        for p in inv.packages.iter().skip(skip).take(PER_PAGE as usize) {
            let _ = write!(
                b,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"muted\">{}</td><td>{}</td></tr>",
                esc(&package_href(&p.name, Some(&p.ecosystem))),
                esc(&p.name),
                esc(&p.version),
                esc(&p.ecosystem),
                esc(&p.found_in),
                match in_use.get(p.purl.as_str()) {
                    Some(n) => format!(
                        "<span class=\"tag accent\" title=\"{n} piece(s) of evidence\">yes</span>"
                    ),
                    None => String::new(),
                }
            );
        }
        b.push_str("</tbody></table></div>");
        b.push_str(&pager("Pages of packages", pkg_page, total, |n| {
            asset_href(d.page, n, "packages")
        }));
        b.push_str("</details></section>");
    }
    html::page(&a.name, Nav::Assets, Some(user), "", &b)
}

fn finding_row(b: &mut String, sf: &StoredFinding) {
    let f = &sf.finding;
    let fixed = if f.fixed_versions.is_empty() {
        match f.fix_state {
            FixState::WontFix => "<span class=\"muted\">won't fix</span>".to_owned(),
            _ => "<span class=\"muted\">no fix yet</span>".to_owned(),
        }
    } else {
        esc(&f.fixed_versions.join(", "))
    };
    let mut fix = String::new();
    match f.fix_available {
        Some(true) => {
            fix.push_str("<span class=\"tag ok\">Fix available in your repositories</span>");
            if let Some(v) = &f.available_version {
                let _ = write!(fix, " <span class=\"muted small\">{}</span>", esc(v));
            }
        }
        Some(false) if f.fix_state == FixState::Fixed => {
            fix.push_str("<span class=\"tag\">Not yet in your repositories</span>")
        }
        _ => {}
    }
    if let Some(c) = &f.fix_command {
        let _ = write!(fix, "<code class=\"cmd\">{}</code>", esc(c));
    }
    let in_use = match f.in_use {
        InUse::Yes => {
            let mut s = String::from("<details class=\"evidence\"><summary><span class=\"tag accent\">yes</span></summary><ul>");
            for e in f.in_use_evidence.iter().take(5) {
                let _ = write!(
                    s,
                    "<li><code>{}</code> (pid {}{}) {} <code>{}</code></li>",
                    esc(&e.command),
                    e.pid,
                    e.container
                        .as_deref()
                        .map(|c| format!(", {}", esc(c)))
                        .unwrap_or_default(),
                    esc(&e.access),
                    esc(&e.file)
                );
            }
            s.push_str("</ul></details>");
            s
        }
        InUse::No => "no".to_owned(),
        InUse::Unknown => "<span class=\"muted\">unknown</span>".to_owned(),
    };
    let kev = if f.kev.is_some() {
        " <span class=\"tag danger\" title=\"CISA Known Exploited Vulnerability\">KEV</span>"
    } else {
        ""
    };
    let _ = write!(
        b,
        "<tr><td class=\"n\">{}</td><td>{}</td><td><a href=\"{}\">{}</a>{kev}</td><td><a href=\"{}\">{}</a> <span class=\"muted small\">{}</span></td>\
<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        risk(f.risk),
        sev_badge(f.severity),
        esc(&vuln_href(&f.id)),
        esc(&f.id),
        esc(&package_href(&f.package.name, Some(&f.package.ecosystem))),
        esc(&f.package.name),
        esc(&f.package.ecosystem),
        esc(&f.package.version),
        fixed,
        fix,
        in_use
    );
}

/// What the package page shows.
pub struct PackageData {
    pub name: String,
    pub ecosystem: Option<String>,
    /// One page of the assets with the package.
    pub on: Page<PackageOnAsset>,
    pub page: u64,
    pub stats: PackageStats,
    pub open_findings: u64,
    pub vulns: Vec<VulnGroup>,
}

pub fn package(user: &str, d: &PackageData) -> String {
    let name = d.name.as_str();
    let ecosystem = d.ecosystem.as_deref();
    let mut b = String::new();
    let _ = write!(
        b,
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><span>Packages</span> / <span>{}</span></nav>\
<div class=\"page-head\"><h1>{}</h1></div>",
        esc(name),
        esc(name)
    );
    let _ = write!(
        b,
        "<form class=\"inline card\" method=\"get\" action=\"{}\"><label for=\"f-eco\">Ecosystem</label><select id=\"f-eco\" name=\"ecosystem\"><option value=\"\">Any</option>",
        esc(&package_href(name, None))
    );
    for e in &d.stats.ecosystems {
        let _ = write!(
            b,
            "<option value=\"{}\"{}>{}</option>",
            esc(e),
            if Some(e.as_str()) == ecosystem {
                " selected"
            } else {
                ""
            },
            esc(e)
        );
    }
    b.push_str("</select><button type=\"submit\">Show</button></form>");
    b.push_str("<section class=\"stats\">");
    b.push_str(&stat("Assets", &num(d.stats.assets), "", None));
    b.push_str(&stat("Versions", &num(d.stats.versions), "", None));
    b.push_str(&stat("Open findings", &num(d.open_findings), "", None));
    b.push_str("</section>");

    b.push_str("<div class=\"grid2\"><section class=\"card\"><h2 id=\"assets\">Assets with this package</h2>");
    b.push_str("<div class=\"table-wrap\"><table class=\"data\" id=\"package-assets\"><thead><tr><th scope=\"col\">Asset</th><th scope=\"col\">Kind</th>\
<th scope=\"col\">Version</th><th scope=\"col\">Ecosystem</th></tr></thead><tbody>");
    for p in &d.on.items {
        let _ = write!(
            b,
            "<tr><td><a href=\"/assets/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.asset_id,
            esc(&p.asset_name),
            p.asset_kind.as_str(),
            esc(&p.version),
            esc(&p.ecosystem)
        );
    }
    b.push_str("</tbody></table></div>");
    b.push_str(&pager(
        "Pages of assets with this package",
        d.page,
        d.on.total,
        |n| {
            let mut href = package_href(name, ecosystem);
            href.push(if href.contains('?') { '&' } else { '?' });
            let _ = write!(href, "page={n}#assets");
            href
        },
    ));
    b.push_str("</section><section class=\"card\"><h2>Vulnerabilities</h2>");
    if d.vulns.is_empty() {
        b.push_str("<p class=\"empty\">No open findings in this package.</p>");
    } else {
        b.push_str("<div class=\"table-wrap\"><table class=\"data\" id=\"package-vulns\"><thead><tr><th scope=\"col\">Vulnerability</th>\
<th scope=\"col\">Severity</th><th scope=\"col\" class=\"n\">Assets</th><th scope=\"col\" class=\"n\">Max risk</th></tr></thead><tbody>");
        for v in &d.vulns {
            let _ = write!(
                b,
                "<tr><td><a href=\"{}\">{}</a>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&vuln_href(&v.vuln_id)),
                esc(&v.vuln_id),
                if v.kev {
                    " <span class=\"tag danger\">KEV</span>"
                } else {
                    ""
                },
                sev_badge(v.worst_severity),
                v.assets,
                risk(v.risk_max)
            );
        }
        b.push_str("</tbody></table></div>");
    }
    b.push_str("</section></div>");
    html::page(name, Nav::None, Some(user), "", &b)
}

/// Names of CVSS metrics and their values, for the vector breakdown.
pub fn cvss_metric(key: &str, value: &str) -> (String, String) {
    let name = match key {
        "AV" => "Attack vector",
        "AC" => "Attack complexity",
        "AT" => "Attack requirements",
        "PR" => "Privileges required",
        "UI" => "User interaction",
        "S" => "Scope",
        "Au" => "Authentication",
        "C" | "VC" => "Confidentiality",
        "I" | "VI" => "Integrity",
        "A" | "VA" => "Availability",
        "SC" => "Subsequent confidentiality",
        "SI" => "Subsequent integrity",
        "SA" => "Subsequent availability",
        "E" => "Exploit maturity",
        "RL" => "Remediation level",
        "RC" => "Report confidence",
        other => other,
    };
    let v = match (key, value) {
        ("AV", "N") => "Network",
        ("AV", "A") => "Adjacent",
        ("AV", "L") => "Local",
        ("AV", "P") => "Physical",
        ("S", "U") => "Unchanged",
        ("S", "C") => "Changed",
        ("UI", "R") => "Required",
        ("UI", "P") => "Passive",
        ("UI", "A") => "Active",
        ("AT", "P") => "Present",
        ("Au", "M") => "Multiple",
        ("Au", "S") => "Single",
        ("C" | "I" | "A", "P") => "Partial",
        ("C" | "I" | "A", "C") => "Complete",
        (_, "N") => "None",
        (_, "L") => "Low",
        (_, "H") => "High",
        (_, "M") => "Medium",
        (_, "X") => "Not defined",
        (_, other) => other,
    };
    (name.to_owned(), v.to_owned())
}

/// What the vulnerability page shows.
pub struct VulnData {
    pub id: String,
    /// One page of the open findings of the id, and how many there are.
    pub findings: Vec<StoredFinding>,
    pub total: u64,
    pub page: u64,
    /// Distinct assets with an open finding of it.
    pub assets: u64,
    /// Its other ids, from the alias index.
    pub aliases: Vec<String>,
}

pub fn vuln(user: &str, d: &VulnData) -> String {
    let (id, findings) = (d.id.as_str(), d.findings.as_slice());
    let mut b = String::new();
    let Some(first) = findings.first() else {
        return html::page(
            id,
            Nav::None,
            Some(user),
            "",
            "<p class=\"empty\">No findings.</p>",
        );
    };
    let f = &first.finding;
    let severity = findings
        .iter()
        .map(|s| s.finding.severity)
        .max()
        .unwrap_or(Severity::Unknown);
    let _ = write!(
        b,
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><span>Vulnerabilities</span> / <span>{}</span></nav>\
<div class=\"page-head\"><h1>{} {}{}</h1></div>",
        esc(id),
        esc(id),
        sev_badge(severity),
        if f.kev.is_some() {
            " <span class=\"tag danger\">Known exploited</span>"
        } else {
            ""
        }
    );
    if let Some(s) = &f.summary {
        let _ = write!(b, "<p class=\"lead\">{}</p>", esc(s));
    }
    b.push_str("<section class=\"stats\">");
    b.push_str(&stat("Affected assets", &num(d.assets), "", None));
    if let Some(c) = &f.cvss {
        b.push_str(&stat(
            &format!("CVSS {}", c.version),
            &format!("{:.1} <small>{}</small>", c.score, esc(&c.rating)),
            "",
            None,
        ));
    }
    if let Some(e) = &f.epss {
        b.push_str(&stat(
            "EPSS",
            &format!(
                "{:.1}% <small>percentile {:.0}</small>",
                e.cve_score * 100.0,
                e.percentile * 100.0
            ),
            "",
            None,
        ));
    }
    b.push_str("</section><div class=\"grid2\"><section class=\"card\"><h2>Details</h2><dl class=\"facts\">");
    fact(&mut b, "Severity source", &f.severity_source);
    if let Some(v) = &f.vendor_severity {
        fact(&mut b, "Vendor rating", v);
    }
    if !d.aliases.is_empty() {
        fact(&mut b, "Also known as", &d.aliases.join(", "));
    }
    if let Some(k) = &f.kev {
        fact(
            &mut b,
            "CISA KEV",
            &format!(
                "added {}, due {}{}",
                k.date_added,
                k.due_date,
                if k.known_ransomware_use {
                    ", known ransomware use"
                } else {
                    ""
                }
            ),
        );
    }
    b.push_str("</dl>");
    if let Some(c) = &f.cvss {
        let _ = write!(
            b,
            "<h3>CVSS vector</h3><p><code class=\"cmd\">{}</code></p><table class=\"data\" id=\"cvss-metrics\"><thead><tr><th scope=\"col\">Metric</th><th scope=\"col\">Value</th></tr></thead><tbody>",
            esc(&c.vector)
        );
        for part in c.vector.split('/') {
            if let Some((k, v)) = part.split_once(':') {
                if k == "CVSS" {
                    continue;
                }
                let (name, value) = cvss_metric(k, v);
                let _ = write!(
                    b,
                    "<tr><th scope=\"row\">{} <span class=\"muted small\">{}</span></th><td>{}</td></tr>",
                    esc(&name),
                    esc(k),
                    esc(&value)
                );
            }
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section><section class=\"card\"><h2>References</h2>");
    if f.references.is_empty() {
        b.push_str("<p class=\"empty\">None listed.</p>");
    } else {
        b.push_str("<ul class=\"refs\">");
        for r in &f.references {
            if r.starts_with("https://") || r.starts_with("http://") {
                let _ = write!(
                    b,
                    "<li><a href=\"{}\" rel=\"noopener noreferrer\">{}</a></li>",
                    esc(r),
                    esc(r)
                );
            } else {
                let _ = write!(b, "<li>{}</li>", esc(r));
            }
        }
        b.push_str("</ul>");
    }
    b.push_str("</section></div>");
    b.push_str("<section class=\"card\"><h2 id=\"affected\">Affected assets</h2><div class=\"table-wrap\"><table class=\"data\" id=\"vuln-assets\"><thead><tr>\
<th scope=\"col\">Asset</th><th scope=\"col\">Package</th><th scope=\"col\">Installed</th><th scope=\"col\">Fixed in</th><th scope=\"col\">In use</th><th scope=\"col\" class=\"n\">Risk</th></tr></thead><tbody>");
    for sf in findings {
        let g = &sf.finding;
        let _ = write!(
            b,
            "<tr><td><a href=\"/assets/{}\">{}</a> <span class=\"kind\">{}</span></td><td><a href=\"{}\">{}</a> <span class=\"muted small\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            sf.asset_id,
            esc(&sf.asset_name),
            sf.asset_kind.as_str(),
            esc(&package_href(&g.package.name, Some(&g.package.ecosystem))),
            esc(&g.package.name),
            esc(&g.package.ecosystem),
            esc(&g.package.version),
            if g.fixed_versions.is_empty() {
                "<span class=\"muted\">no fix yet</span>".to_owned()
            } else {
                esc(&g.fixed_versions.join(", "))
            },
            g.in_use.as_str(),
            risk(g.risk)
        );
    }
    b.push_str("</tbody></table></div>");
    b.push_str(&pager("Pages of affected assets", d.page, d.total, |n| {
        format!("{}?page={n}#affected", vuln_href(id))
    }));
    b.push_str("</section>");
    html::page(id, Nav::None, Some(user), "", &b)
}

/// Search results; `None` when nothing was searched.
#[derive(Default)]
pub struct SearchData {
    pub assets: Option<Page<AssetSummary>>,
    pub packages: Option<Page<PackageMatch>>,
    /// Each vulnerability found, with one of its findings (severity, summary).
    pub vulns: Vec<(VulnMatch, StoredFinding)>,
}

/// "showing the first N of M" when a result list is cut to its first page.
fn more_note(shown: usize, total: u64, href: Option<&str>) -> String {
    if (shown as u64) >= total {
        return String::new();
    }
    let all = match href {
        Some(h) => format!(" <a href=\"{}\">See all</a>", esc(h)),
        None => String::new(),
    };
    format!(
        "<p class=\"muted small\">The first {shown} of {}.{all}</p>",
        num(total)
    )
}

pub fn search(user: &str, q: &str, d: &SearchData) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<div class=\"page-head\"><h1>Search</h1><p class=\"muted\">Results for <strong>{}</strong></p></div>",
        esc(q)
    );
    if q.is_empty() {
        b.push_str("<p class=\"empty\">Type an asset name, part of a package name or a vulnerability id (CVE-…, GHSA-…, DSA-…) in the search box.</p>");
        return html::page("Search", Nav::None, Some(user), q, &b);
    }
    b.push_str("<section class=\"card\"><h2>Vulnerabilities</h2>");
    if d.vulns.is_empty() {
        b.push_str("<p class=\"empty\">No open finding has this id or alias.</p>");
    } else {
        b.push_str("<ul class=\"results\" id=\"result-vulns\">");
        for (m, sf) in &d.vulns {
            let via = if m.matched.eq_ignore_ascii_case(&m.vuln_id) {
                String::new()
            } else {
                format!(" <span class=\"tag\">alias {}</span>", esc(&m.matched))
            };
            let _ = write!(
                b,
                "<li><a href=\"{}\">{}</a>{via} {} <span class=\"muted\">{}</span></li>",
                esc(&vuln_href(&m.vuln_id)),
                esc(&m.vuln_id),
                sev_badge(sf.finding.severity),
                esc(sf.finding.summary.as_deref().unwrap_or(""))
            );
        }
        b.push_str("</ul>");
    }
    b.push_str("</section><section class=\"card\"><h2>Packages</h2>");
    match &d.packages {
        Some(p) if !p.items.is_empty() => {
            b.push_str("<ul class=\"results\" id=\"result-packages\">");
            for m in &p.items {
                let _ = write!(
                    b,
                    "<li><a href=\"{}\">{}</a> <span class=\"muted\">{} · on {} asset{}</span></li>",
                    esc(&package_href(&m.name, Some(&m.ecosystem))),
                    esc(&m.name),
                    esc(&m.ecosystem),
                    num(m.assets),
                    if m.assets == 1 { "" } else { "s" }
                );
            }
            b.push_str("</ul>");
            b.push_str(&more_note(p.items.len(), p.total, None));
        }
        _ => b.push_str("<p class=\"empty\">No package name contains this.</p>"),
    }
    b.push_str("</section><section class=\"card\"><h2>Assets</h2>");
    match &d.assets {
        Some(a) if !a.items.is_empty() => {
            b.push_str("<ul class=\"results\" id=\"result-assets\">");
            for a in &a.items {
                let _ = write!(
                    b,
                    "<li><a href=\"/assets/{}\">{}</a> <span class=\"kind\">{}</span> {}</li>",
                    a.id,
                    esc(&a.name),
                    a.kind.as_str(),
                    counts_inline(&a.open_findings)
                );
            }
            b.push_str("</ul>");
            let all = format!("/assets?q={}", url(q));
            b.push_str(&more_note(a.items.len(), a.total, Some(&all)));
        }
        _ => b.push_str("<p class=\"empty\">No asset name contains this.</p>"),
    }
    b.push_str("</section>");
    html::page("Search", Nav::None, Some(user), q, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_metrics_are_named() {
        assert_eq!(
            cvss_metric("AV", "N"),
            ("Attack vector".into(), "Network".into())
        );
        assert_eq!(
            cvss_metric("C", "P"),
            ("Confidentiality".into(), "Partial".into())
        );
        assert_eq!(
            cvss_metric("VC", "H"),
            ("Confidentiality".into(), "High".into())
        );
        assert_eq!(cvss_metric("ZZ", "Q"), ("ZZ".into(), "Q".into()));
    }

    #[test]
    fn login_escapes_next() {
        let p = login("/x\"><script>", Some("<bad>"));
        assert!(!p.contains("<script>") && !p.contains("<bad>"));
        assert!(p.contains("for=\"token\""));
    }

    #[test]
    fn trend_chart_sums_in_use() {
        use postwatch_fleetstore::DailyCount;
        let p = DailyPoint {
            day: "2026-01-01".into(),
            assets: 1,
            counts: vec![
                DailyCount {
                    severity: Severity::High,
                    in_use: InUse::Yes,
                    fixable: true,
                    count: 2,
                },
                DailyCount {
                    severity: Severity::High,
                    in_use: InUse::No,
                    fixable: false,
                    count: 3,
                },
            ],
            open: 5,
            new: 0,
            resolved: 0,
            reopened: 0,
            risk: 12.5,
            risk_in_use: 4.0,
        };
        let svg = trend_chart("t", std::slice::from_ref(&p));
        assert!(svg.contains("2026-01-01 High: 5"));
        assert!(svg.contains("2026-01-01 In use: 2"));
        let risk = risk_chart("r", "Fleet risk", std::slice::from_ref(&p));
        assert!(risk.contains("2026-01-01 Fleet risk: 12.5"));
        assert!(risk.contains("2026-01-01 In use: 4.0"));
        assert!(latest_risk(&[p]).contains("data-risk=\"12.5\""));
    }
}
