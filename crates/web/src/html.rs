//! HTML building blocks: escaping, URL encoding, the page frame and small formatters.
//! Every string that comes from the store or the request goes through [`esc`] (text and
//! attribute values) or [`url`] (path segments and query values) before it is written.

use postwatch_model::Severity;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value (everything but RFC 3986 unreserved).
pub fn url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A link to a vulnerability page.
pub fn vuln_href(id: &str) -> String {
    format!("/vulns/{}", url(id))
}

/// A link to a package page, narrowed to one ecosystem when given.
pub fn package_href(name: &str, ecosystem: Option<&str>) -> String {
    match ecosystem {
        Some(e) => format!("/packages/{}?ecosystem={}", url(name), url(e)),
        None => format!("/packages/{}", url(name)),
    }
}

/// The CSS class suffix of a severity (`sev-critical`).
pub fn sev_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Unknown => "unknown",
    }
}

/// A severity badge.
pub fn sev_badge(s: Severity) -> String {
    format!(
        "<span class=\"badge sev-{}\">{}</span>",
        sev_class(s),
        s.as_str()
    )
}

/// A risk score with one decimal.
pub fn risk(r: f64) -> String {
    format!("{r:.1}")
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM` (UTC), escaped; other text as is.
pub fn when(t: &str) -> String {
    match (t.get(..10), t.get(11..16)) {
        (Some(d), Some(hm)) => esc(&format!("{d} {hm}")),
        _ => esc(t),
    }
}

/// A number with thin grouping (`12 345`).
pub fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// Rows per page in every paged table.
pub const PER_PAGE: u64 = 100;

/// The pages to link around `page` of `last`: the first, the last and two either side,
/// with `None` for a gap.
fn page_numbers(page: u64, last: u64) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    let mut prev = 0;
    for n in 1..=last {
        if n == 1 || n == last || n.abs_diff(page) <= 2 {
            if n > prev + 1 {
                out.push(None);
            }
            out.push(Some(n));
            prev = n;
        }
    }
    out
}

/// "1–100 of 345" and links to the other pages of a listing of `total` rows,
/// [`PER_PAGE`] a page, `page` (1-based) shown; `href(n)` is page n's URL (escaped
/// here). Only the count when everything fits on one page.
pub fn pager(label: &str, page: u64, total: u64, href: impl Fn(u64) -> String) -> String {
    let last = total.div_ceil(PER_PAGE).max(1);
    let page = page.clamp(1, last);
    let first_row = if total == 0 {
        0
    } else {
        (page - 1) * PER_PAGE + 1
    };
    let last_row = (page * PER_PAGE).min(total);
    let mut s = format!(
        "<nav class=\"pager\" aria-label=\"{}\"><span class=\"count\">{}–{} of {}</span>",
        esc(label),
        num(first_row),
        num(last_row),
        num(total)
    );
    if last > 1 {
        if page > 1 {
            let _ = write!(
                s,
                "<a rel=\"prev\" href=\"{}\">‹ Previous</a>",
                esc(&href(page - 1))
            );
        }
        for n in page_numbers(page, last) {
            match n {
                None => s.push_str("<span class=\"gap\">…</span>"),
                Some(n) if n == page => {
                    let _ = write!(s, "<span aria-current=\"page\">{n}</span>");
                }
                Some(n) => {
                    let _ = write!(
                        s,
                        "<a href=\"{}\" aria-label=\"Page {n}\">{n}</a>",
                        esc(&href(n))
                    );
                }
            }
        }
        if page < last {
            let _ = write!(
                s,
                "<a rel=\"next\" href=\"{}\">Next ›</a>",
                esc(&href(page + 1))
            );
        }
    }
    s.push_str("</nav>");
    s
}

/// Which nav entry is current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Assets,
    None,
}

/// The whole page: head, header with nav, search and theme toggle, and `body`.
/// `user` is the signed-in token's name; `None` renders the bare frame (login).
pub fn page(title: &str, nav: Nav, user: Option<&str>, search: &str, body: &str) -> String {
    let mut h = String::with_capacity(body.len() + 2048);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · postwatch</title>\
<link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\"><link rel=\"stylesheet\" href=\"/static/style.css\">\
<script src=\"/static/app.js\"></script></head><body>\
<a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\"><div class=\"bar\">\
<a class=\"brand\" href=\"/\"><svg viewBox=\"0 0 16 16\" width=\"20\" height=\"20\" aria-hidden=\"true\">\
<path d=\"M8 1 2 3.5v4C2 11 4.6 14 8 15c3.4-1 6-4 6-7.5v-4z\" class=\"brand-shield\"/></svg>postwatch</a>",
        esc(title)
    );
    if let Some(user) = user {
        let cur = |n: Nav| {
            if n == nav {
                " aria-current=\"page\""
            } else {
                ""
            }
        };
        let _ = write!(
            h,
            "<nav aria-label=\"Main\"><a href=\"/\"{}>Overview</a><a href=\"/assets\"{}>Assets</a></nav>\
<form class=\"search\" role=\"search\" action=\"/search\" method=\"get\">\
<label for=\"global-q\" class=\"sr\">Search assets, packages, vulnerabilities</label>\
<input id=\"global-q\" name=\"q\" type=\"search\" value=\"{}\" placeholder=\"Search assets, packages, CVE ids…\">\
<button type=\"submit\">Search</button></form>\
<div class=\"tools\"><button type=\"button\" id=\"theme-toggle\" class=\"ghost\" aria-pressed=\"false\" title=\"Switch light/dark theme\">Theme</button>\
<form action=\"/logout\" method=\"post\"><span class=\"who\" title=\"Signed in with token\">{}</span>\
<button type=\"submit\" class=\"ghost\">Sign out</button></form></div>",
            cur(Nav::Overview),
            cur(Nav::Assets),
            esc(search),
            esc(user)
        );
    } else {
        h.push_str("<div class=\"tools\"><button type=\"button\" id=\"theme-toggle\" class=\"ghost\" aria-pressed=\"false\">Theme</button></div>");
    }
    let _ = write!(
        h,
        "</div></header><main id=\"main\">{body}</main>\
<footer>postwatch {} · fleet dashboard</footer></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("plain-text 1.2.3"), "plain-text 1.2.3");
    }

    #[test]
    fn encodes_urls() {
        assert_eq!(url("a b/c?d=e&f"), "a%20b%2Fc%3Fd%3De%26f");
        assert_eq!(url("Debian:12"), "Debian%3A12");
        assert_eq!(url("libc6-1.2_x~y"), "libc6-1.2_x~y");
        assert_eq!(url("é"), "%C3%A9");
        assert_eq!(
            package_href("a\"b", Some("PyPI")),
            "/packages/a%22b?ecosystem=PyPI"
        );
    }

    #[test]
    fn page_escapes_title_user_and_search() {
        let p = page("<t>", Nav::Assets, Some("<u>"), "\"><x", "BODY");
        assert!(p.contains("&lt;t&gt; · postwatch"));
        assert!(p.contains("&lt;u&gt;"));
        assert!(p.contains("value=\"&quot;&gt;&lt;x\""));
        assert!(!p.contains("<u>") && !p.contains("<x"));
        assert!(p.contains("href=\"/assets\" aria-current=\"page\""));
    }

    #[test]
    fn pager_links_around_the_page() {
        let p = pager("Pages", 5, 1000, |n| format!("/x?a=1&page={n}"));
        assert!(p.contains("401–500 of 1\u{202f}000"), "{p}");
        assert!(p.contains("rel=\"prev\" href=\"/x?a=1&amp;page=4\""));
        assert!(p.contains("rel=\"next\" href=\"/x?a=1&amp;page=6\""));
        assert!(p.contains("<span aria-current=\"page\">5</span>"));
        for n in [1, 3, 4, 6, 7, 10] {
            assert!(
                p.contains(&format!("page={n}\" aria-label=\"Page {n}\"")),
                "{n}: {p}"
            );
        }
        assert!(!p.contains("page=2\"") && !p.contains("page=8\""));
        assert_eq!(p.matches("…").count(), 2);
        let one = pager("Pages", 1, 7, |n| n.to_string());
        assert!(one.contains("1–7 of 7") && !one.contains("<a"));
        let none = pager("Pages", 3, 0, |n| n.to_string());
        assert!(none.contains("0–0 of 0"));
        // A page past the end shows the last.
        assert!(pager("Pages", 99, 150, |n| n.to_string()).contains("101–150 of 150"));
    }

    #[test]
    fn formats() {
        assert_eq!(when("2026-11-27T04:21:13Z"), "2026-11-27 04:21");
        assert_eq!(when("<x>"), "&lt;x&gt;");
        assert_eq!(num(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(num(12), "12");
        assert_eq!(risk(12.345), "12.3");
    }
}
