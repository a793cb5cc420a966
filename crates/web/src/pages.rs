//! One function per page: store results in, escaped HTML out. No I/O.

use crate::charts::{self, Bar, Series};
use crate::html::{self, esc, num, package_href, risk, sev_badge, url, vuln_href, when, Nav};
use crate::{AssetQuery, AssetsQuery, DAY_CHOICES};
use postwatch_fleetstore::{
    AssetSummary, DailyPoint, FleetSummary, PackageOnAsset, SeverityCounts, StoredFinding,
    StoredInventory,
};
use postwatch_model::{FixState, InUse, Severity};
use std::collections::{BTreeMap, BTreeSet};
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
    pub assets: Vec<AssetSummary>,
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

fn threat_bucket(n: u64) -> usize {
    match n {
        0 => 0,
        1..=9 => 1,
        10..=49 => 2,
        50..=99 => 3,
        100..=499 => 4,
        _ => 5,
    }
}

const BUCKETS: [&str; 6] = ["0", "1–9", "10–49", "50–99", "100–499", "500+"];

pub fn overview(user: &str, d: &OverviewData) -> String {
    let s = &d.summary;
    let risk_total: f64 = d.assets.iter().map(|a| a.risk_total).sum();
    let risk_max = d.assets.iter().map(|a| a.risk_max).fold(0.0, f64::max);
    let mut b = String::new();
    b.push_str("<div class=\"page-head\"><h1>Fleet overview</h1></div>");
    b.push_str("<section class=\"stats\" aria-label=\"Fleet figures\">");
    b.push_str(&stat("Fleet risk (sum)", &risk(risk_total), "", None));
    b.push_str(&stat("Highest risk", &risk(risk_max), "", None));
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
    let mut buckets = [0u64; 6];
    for a in d.assets.iter().filter(|a| a.kind.as_str() == "host") {
        if let Some(slot) = buckets.get_mut(threat_bucket(a.open_findings.total)) {
            *slot += 1;
        }
    }
    let bars: Vec<Bar> = BUCKETS
        .iter()
        .zip(buckets)
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

/// Sortable columns of the assets table: key, heading, default descending.
const ASSET_COLUMNS: [(&str, &str, bool); 8] = [
    ("name", "Name", false),
    ("kind", "Kind", false),
    ("os", "OS", false),
    ("findings", "Open findings", true),
    ("critical", "Critical", true),
    ("in-use", "In use", true),
    ("risk", "Risk", true),
    ("last-seen", "Last seen", true),
];

fn assets_href(q: &AssetsQuery, sort: &str, desc: bool) -> String {
    let mut parts = Vec::new();
    for (k, v) in [("kind", &q.kind), ("q", &q.q), ("os", &q.os)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", url(v)));
        }
    }
    parts.push(format!("sort={}", url(sort)));
    parts.push(format!("dir={}", if desc { "desc" } else { "asc" }));
    format!("/assets?{}", parts.join("&"))
}

pub fn assets(user: &str, q: &AssetsQuery, mut list: Vec<AssetSummary>) -> String {
    let needle = q.q.as_deref().unwrap_or("").trim().to_lowercase();
    if !needle.is_empty() {
        list.retain(|a| a.name.to_lowercase().contains(&needle));
    }
    let sort = q
        .sort
        .as_deref()
        .filter(|s| ASSET_COLUMNS.iter().any(|c| c.0 == *s))
        .unwrap_or("risk");
    let default_desc = ASSET_COLUMNS
        .iter()
        .find(|c| c.0 == sort)
        .map(|c| c.2)
        .unwrap_or(true);
    let desc = match q.dir.as_deref() {
        Some("asc") => false,
        Some("desc") => true,
        _ => default_desc,
    };
    list.sort_by(|a, b| {
        let o = match sort {
            "name" => a.name.cmp(&b.name),
            "kind" => a.kind.as_str().cmp(b.kind.as_str()),
            "os" => a.os_label.cmp(&b.os_label),
            "findings" => a.open_findings.total.cmp(&b.open_findings.total),
            "critical" => a.open_findings.critical.cmp(&b.open_findings.critical),
            "in-use" => a.open_in_use.cmp(&b.open_in_use),
            "last-seen" => a.last_seen.cmp(&b.last_seen),
            _ => a
                .risk_max
                .total_cmp(&b.risk_max)
                .then(a.risk_total.total_cmp(&b.risk_total)),
        };
        let o = if desc { o.reverse() } else { o };
        o.then_with(|| a.name.cmp(&b.name))
    });
    let mut b = String::new();
    let _ = write!(
        b,
        "<div class=\"page-head\"><h1>Assets</h1><p class=\"muted\">{} shown</p></div>",
        list.len()
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
        esc(sort),
        if desc { "desc" } else { "asc" }
    );
    if list.is_empty() {
        b.push_str("<p class=\"empty\">No asset matches.</p>");
        return html::page("Assets", Nav::Assets, Some(user), "", &b);
    }
    b.push_str(
        "<div class=\"table-wrap card\"><table class=\"data\" id=\"assets-table\"><thead><tr>",
    );
    for (key, head, def_desc) in ASSET_COLUMNS {
        let current = key == sort;
        let next_desc = if current { !desc } else { def_desc };
        let aria = if current {
            if desc {
                " aria-sort=\"descending\""
            } else {
                " aria-sort=\"ascending\""
            }
        } else {
            ""
        };
        let arrow = if current {
            if desc {
                " ▼"
            } else {
                " ▲"
            }
        } else {
            ""
        };
        let num_class = if def_desc && key != "last-seen" {
            " class=\"n\""
        } else {
            ""
        };
        let _ = write!(
            b,
            "<th scope=\"col\"{aria}{num_class}><a class=\"sort\" href=\"{}\">{head}{arrow}</a></th>",
            esc(&assets_href(q, key, next_desc))
        );
    }
    b.push_str("</tr></thead><tbody>");
    for a in &list {
        let _ = write!(
            b,
            "<tr data-asset-id=\"{}\"><td><a href=\"/assets/{}\">{}</a>{}</td><td><span class=\"kind\">{}</span></td><td>{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            a.id,
            a.id,
            esc(&a.name),
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
    html::page("Assets", Nav::Assets, Some(user), "", &b)
}

/// What the asset page shows.
pub struct AssetData {
    pub summary: AssetSummary,
    pub findings: Vec<StoredFinding>,
    pub inventory: Option<StoredInventory>,
    pub history: Vec<DailyPoint>,
    pub days: u32,
}

fn fact(b: &mut String, k: &str, v: &str) {
    let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
}

pub fn asset(user: &str, q: &AssetQuery, d: &AssetData) -> String {
    let a = &d.summary;
    let mut b = String::new();
    let _ = write!(
        b,
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><a href=\"/assets\">Assets</a> / <span>{}</span></nav>\
<div class=\"page-head\"><h1>{} <span class=\"kind\">{}</span></h1></div>",
        esc(&a.name),
        esc(&a.name),
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

    // Findings with filters.
    let sev_q = q.severity.as_deref().unwrap_or("");
    let in_use_q = q.in_use.as_deref().unwrap_or("");
    let _ = write!(
        b,
        "<section class=\"card\"><div class=\"card-head\"><h2 id=\"findings\">Findings <span class=\"muted\">({})</span></h2>\
<form class=\"inline\" method=\"get\" action=\"{here}#findings\"><label for=\"f-sev\">Severity</label><select id=\"f-sev\" name=\"severity\">",
        d.findings.len()
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
    }
    b.push_str("</section>");

    // Packages.
    if let Some(inv) = &d.inventory {
        let _ = write!(
            b,
            "<section class=\"card\"><details><summary><h2>Packages <span class=\"muted\">({})</span></h2></summary>\
<div class=\"table-wrap\"><table class=\"data\" id=\"packages-table\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Version</th>\
<th scope=\"col\">Ecosystem</th><th scope=\"col\">Found in</th></tr></thead><tbody>",
            inv.packages.len()
        );
        for p in &inv.packages {
            let _ = write!(
                b,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"muted\">{}</td></tr>",
                esc(&package_href(&p.name, Some(&p.ecosystem))),
                esc(&p.name),
                esc(&p.version),
                esc(&p.ecosystem),
                esc(&p.found_in)
            );
        }
        b.push_str("</tbody></table></div></details></section>");
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

pub fn package(
    user: &str,
    name: &str,
    ecosystem: Option<&str>,
    on: &[PackageOnAsset],
    all: &[PackageOnAsset],
    findings: &[StoredFinding],
) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><span>Packages</span> / <span>{}</span></nav>\
<div class=\"page-head\"><h1>{}</h1></div>",
        esc(name),
        esc(name)
    );
    let ecosystems: BTreeSet<&str> = all.iter().map(|p| p.ecosystem.as_str()).collect();
    let _ = write!(
        b,
        "<form class=\"inline card\" method=\"get\" action=\"{}\"><label for=\"f-eco\">Ecosystem</label><select id=\"f-eco\" name=\"ecosystem\"><option value=\"\">Any</option>",
        esc(&package_href(name, None))
    );
    for e in &ecosystems {
        let _ = write!(
            b,
            "<option value=\"{}\"{}>{}</option>",
            esc(e),
            if Some(*e) == ecosystem {
                " selected"
            } else {
                ""
            },
            esc(e)
        );
    }
    b.push_str("</select><button type=\"submit\">Show</button></form>");

    let versions: BTreeSet<&str> = on.iter().map(|p| p.version.as_str()).collect();
    let assets: BTreeSet<i64> = on.iter().map(|p| p.asset_id).collect();
    b.push_str("<section class=\"stats\">");
    b.push_str(&stat("Assets", &num(assets.len() as u64), "", None));
    b.push_str(&stat("Versions", &num(versions.len() as u64), "", None));
    b.push_str(&stat(
        "Open findings",
        &num(findings.len() as u64),
        "",
        None,
    ));
    b.push_str("</section>");

    // Vulnerabilities in this package, one row per id.
    let mut by_vuln: BTreeMap<&str, (Severity, f64, BTreeSet<i64>, bool)> = BTreeMap::new();
    for sf in findings {
        let e = by_vuln.entry(sf.finding.id.as_str()).or_insert((
            sf.finding.severity,
            0.0,
            BTreeSet::new(),
            false,
        ));
        e.0 = e.0.max(sf.finding.severity);
        e.1 = e.1.max(sf.finding.risk);
        e.2.insert(sf.asset_id);
        e.3 |= sf.finding.kev.is_some();
    }
    let mut vulns: Vec<_> = by_vuln.into_iter().collect();
    vulns.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1).then(a.0.cmp(b.0)));
    b.push_str("<div class=\"grid2\"><section class=\"card\"><h2>Assets with this package</h2>");
    b.push_str("<div class=\"table-wrap\"><table class=\"data\" id=\"package-assets\"><thead><tr><th scope=\"col\">Asset</th><th scope=\"col\">Kind</th>\
<th scope=\"col\">Version</th><th scope=\"col\">Ecosystem</th></tr></thead><tbody>");
    for p in on {
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
    b.push_str("</tbody></table></div></section><section class=\"card\"><h2>Vulnerabilities</h2>");
    if vulns.is_empty() {
        b.push_str("<p class=\"empty\">No open findings in this package.</p>");
    } else {
        b.push_str("<div class=\"table-wrap\"><table class=\"data\" id=\"package-vulns\"><thead><tr><th scope=\"col\">Vulnerability</th>\
<th scope=\"col\">Severity</th><th scope=\"col\" class=\"n\">Assets</th><th scope=\"col\" class=\"n\">Max risk</th></tr></thead><tbody>");
        for (id, (sev, r, assets, kev)) in &vulns {
            let _ = write!(
                b,
                "<tr><td><a href=\"{}\">{}</a>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&vuln_href(id)),
                esc(id),
                if *kev {
                    " <span class=\"tag danger\">KEV</span>"
                } else {
                    ""
                },
                sev_badge(*sev),
                assets.len(),
                risk(*r)
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

pub fn vuln(user: &str, id: &str, findings: &[StoredFinding]) -> String {
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
    let assets: BTreeSet<i64> = findings.iter().map(|s| s.asset_id).collect();
    b.push_str("<section class=\"stats\">");
    b.push_str(&stat(
        "Affected assets",
        &num(assets.len() as u64),
        "",
        None,
    ));
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
    if !f.aliases.is_empty() {
        fact(&mut b, "Aliases", &f.aliases.join(", "));
    }
    if !f.records.is_empty() {
        fact(&mut b, "Advisories", &f.records.join(", "));
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
    b.push_str("<section class=\"card\"><h2>Affected assets</h2><div class=\"table-wrap\"><table class=\"data\" id=\"vuln-assets\"><thead><tr>\
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
    b.push_str("</tbody></table></div></section>");
    html::page(id, Nav::None, Some(user), "", &b)
}

/// Search results.
#[derive(Default)]
pub struct SearchData {
    pub assets: Vec<AssetSummary>,
    pub packages: Vec<PackageOnAsset>,
    /// The name `packages` matched.
    pub package_name: String,
    pub vulns: Vec<StoredFinding>,
}

pub fn search(user: &str, q: &str, d: &SearchData) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<div class=\"page-head\"><h1>Search</h1><p class=\"muted\">Results for <strong>{}</strong></p></div>",
        esc(q)
    );
    if q.is_empty() {
        b.push_str("<p class=\"empty\">Type an asset name, a package name or a vulnerability id (CVE-…, GHSA-…) in the search box.</p>");
        return html::page("Search", Nav::None, Some(user), q, &b);
    }
    let _ = write!(b, "<section class=\"card\"><h2>Vulnerabilities</h2>");
    if d.vulns.is_empty() {
        b.push_str("<p class=\"empty\">No open finding has this id.</p>");
    } else {
        b.push_str("<ul class=\"results\" id=\"result-vulns\">");
        for sf in &d.vulns {
            let _ = write!(
                b,
                "<li><a href=\"{}\">{}</a> {} <span class=\"muted\">{}</span></li>",
                esc(&vuln_href(&sf.finding.id)),
                esc(&sf.finding.id),
                sev_badge(sf.finding.severity),
                esc(sf.finding.summary.as_deref().unwrap_or(""))
            );
        }
        b.push_str("</ul>");
    }
    b.push_str("</section><section class=\"card\"><h2>Packages</h2>");
    let mut by_eco: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for p in &d.packages {
        by_eco.entry(&p.ecosystem).or_default().insert(p.asset_id);
    }
    if d.packages.is_empty() {
        b.push_str("<p class=\"empty\">No package has exactly this name.</p>");
    } else {
        b.push_str("<ul class=\"results\" id=\"result-packages\">");
        for (eco, assets) in &by_eco {
            let n = assets.len();
            let _ = write!(
                b,
                "<li><a href=\"{}\">{}</a> <span class=\"muted\">{} · on {} asset{}</span></li>",
                esc(&package_href(&d.package_name, Some(eco))),
                esc(&d.package_name),
                esc(eco),
                n,
                if n == 1 { "" } else { "s" }
            );
        }
        b.push_str("</ul>");
    }
    b.push_str("</section><section class=\"card\"><h2>Assets</h2>");
    if d.assets.is_empty() {
        b.push_str("<p class=\"empty\">No asset name contains this.</p>");
    } else {
        b.push_str("<ul class=\"results\" id=\"result-assets\">");
        for a in &d.assets {
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
        };
        let svg = trend_chart("t", &[p]);
        assert!(svg.contains("2026-01-01 High: 5"));
        assert!(svg.contains("2026-01-01 In use: 2"));
    }
}
