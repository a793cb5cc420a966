//! SVG charts drawn from plain numbers: stacked columns over days with a line, a
//! horizontal bar chart and a vertical bar chart (histogram). Colours come from CSS
//! classes (`fill-critical`, `bar`, …) so both themes restyle them; every label is
//! escaped. Each chart carries a `<title>` per mark for hover text and an `aria-label`.

use crate::html::esc;
use std::fmt::Write;

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (at least 1): the top of an axis.
pub fn nice_max(v: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1u64, 2, 5] {
            let c = step.saturating_mul(m);
            if c >= v || c == u64::MAX {
                return c.max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// One stacked layer of [`stacked_columns`]: its name, CSS class and a value per day.
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<u64>,
}

const W: f64 = 1000.0;
const H: f64 = 260.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Columns per day, `layers` stacked bottom first, and `line` drawn over them.
/// `days` labels the x axis (`YYYY-MM-DD`). Empty `days`: a note instead of a chart.
pub fn stacked_columns(
    label: &str,
    days: &[String],
    layers: &[Series<'_>],
    line: Option<&Series<'_>>,
) -> String {
    if days.is_empty() {
        return "<p class=\"empty\">No history recorded yet for this period.</p>".into();
    }
    let n = days.len();
    let at = |s: &Series<'_>, i: usize| s.values.get(i).copied().unwrap_or(0);
    let mut top = 0u64;
    for i in 0..n {
        let sum: u64 = layers.iter().map(|l| at(l, i)).sum();
        top = top.max(sum);
        if let Some(l) = line {
            top = top.max(at(l, i));
        }
    }
    let ymax = nice_max(top) as f64;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.8).clamp(0.6, 36.0);
    let y = |v: f64| TOP + plot_h - v / ymax * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    axis_y(&mut s, ymax, plot_w, plot_h);
    for (i, day) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut base = 0u64;
        for l in layers {
            let v = at(l, i);
            if v == 0 {
                continue;
            }
            let (y1, y0) = (y((base + v) as f64), y(base as f64));
            let _ = write!(
                s,
                "<rect class=\"{}\" x=\"{x:.2}\" y=\"{y1:.2}\" width=\"{bar_w:.2}\" height=\"{:.2}\"><title>{} {}: {v}</title></rect>",
                esc(l.class),
                (y0 - y1).max(0.0),
                esc(day),
                esc(l.name)
            );
            base += v;
        }
    }
    if let Some(l) = line {
        let mut pts = String::new();
        for i in 0..n {
            let cx = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(pts, "{cx:.2},{:.2} ", y(at(l, i) as f64));
        }
        let _ = write!(
            s,
            "<polyline class=\"{}\" points=\"{}\"><title>{}</title></polyline>",
            esc(l.class),
            pts.trim_end(),
            esc(l.name)
        );
        if n <= 45 {
            for (i, day) in days.iter().enumerate() {
                let cx = LEFT + slot * (i as f64 + 0.5);
                let _ = write!(
                    s,
                    "<circle class=\"{}-dot\" cx=\"{cx:.2}\" cy=\"{:.2}\" r=\"3\"><title>{} {}: {}</title></circle>",
                    esc(l.class),
                    y(at(l, i) as f64),
                    esc(day),
                    esc(l.name),
                    at(l, i)
                );
            }
        }
    }
    x_labels(&mut s, days, slot);
    s.push_str("</svg>");
    s.push_str("<ul class=\"legend\">");
    for l in layers {
        let _ = write!(
            s,
            "<li><span class=\"swatch {}\"></span>{}</li>",
            esc(l.class),
            esc(l.name)
        );
    }
    if let Some(l) = line {
        let _ = write!(
            s,
            "<li><span class=\"swatch-line {}\"></span>{}</li>",
            esc(l.class),
            esc(l.name)
        );
    }
    s.push_str("</ul>");
    s
}

/// One line of [`lines`]: its name, CSS class and a value per day.
pub struct Line<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<f64>,
}

/// Lines over days on one scale (risk sums). Each point has a dot with a `<title>`
/// (`DAY NAME: VALUE`) when there are at most 45 days. Empty `days`: a note instead.
pub fn lines(label: &str, days: &[String], lines: &[Line<'_>]) -> String {
    if days.is_empty() {
        return "<p class=\"empty\">No history recorded yet for this period.</p>".into();
    }
    let n = days.len();
    let at = |l: &Line<'_>, i: usize| {
        let v = l.values.get(i).copied().unwrap_or(0.0);
        if v.is_finite() {
            v.max(0.0)
        } else {
            0.0
        }
    };
    let top = lines
        .iter()
        .flat_map(|l| (0..n).map(move |i| at(l, i)))
        .fold(0.0, f64::max);
    let ymax = nice_max(top.ceil() as u64) as f64;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let y = |v: f64| TOP + plot_h - v / ymax * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    axis_y(&mut s, ymax, plot_w, plot_h);
    for l in lines {
        let mut pts = String::new();
        for i in 0..n {
            let cx = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(pts, "{cx:.2},{:.2} ", y(at(l, i)));
        }
        let _ = write!(
            s,
            "<polyline class=\"{}\" points=\"{}\"><title>{}</title></polyline>",
            esc(l.class),
            pts.trim_end(),
            esc(l.name)
        );
        if n <= 45 {
            for (i, day) in days.iter().enumerate() {
                let cx = LEFT + slot * (i as f64 + 0.5);
                let _ = write!(
                    s,
                    "<circle class=\"{}-dot\" cx=\"{cx:.2}\" cy=\"{:.2}\" r=\"3\"><title>{} {}: {:.1}</title></circle>",
                    esc(l.class),
                    y(at(l, i)),
                    esc(day),
                    esc(l.name),
                    at(l, i)
                );
            }
        }
    }
    x_labels(&mut s, days, slot);
    s.push_str("</svg><ul class=\"legend\">");
    for l in lines {
        let _ = write!(
            s,
            "<li><span class=\"swatch-line {}\"></span>{}</li>",
            esc(l.class),
            esc(l.name)
        );
    }
    s.push_str("</ul>");
    s
}

/// The x axis labels: first, last and a few between.
fn x_labels(s: &mut String, days: &[String], slot: f64) {
    let n = days.len();
    let ticks = n.clamp(1, 6);
    let mut shown = Vec::new();
    for k in 0..ticks {
        let i = if ticks == 1 {
            0
        } else {
            k * (n - 1) / (ticks - 1)
        };
        if shown.contains(&i) {
            continue;
        }
        shown.push(i);
        let cx = LEFT + slot * (i as f64 + 0.5);
        let anchor = if n > 1 && i == 0 {
            "start"
        } else if n > 1 && i == n - 1 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            s,
            "<text class=\"tick\" x=\"{cx:.2}\" y=\"{:.2}\" text-anchor=\"{anchor}\">{}</text>",
            H - 8.0,
            esc(days.get(i).map(String::as_str).unwrap_or(""))
        );
    }
}

/// How many grid steps divide `ymax` (a [`nice_max`]) into whole numbers.
pub fn grid_steps(ymax: u64) -> u64 {
    match ymax {
        0..=2 => ymax.max(1),
        m if m % 5 == 0 => 5,
        _ => 4,
    }
}

fn axis_y(s: &mut String, ymax: f64, plot_w: f64, plot_h: f64) {
    let steps = grid_steps(ymax as u64);
    for k in 0..=steps {
        let v = ymax * k as f64 / steps as f64;
        let yy = TOP + plot_h - plot_h * k as f64 / steps as f64;
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.2}\" y1=\"{yy:.2}\" y2=\"{yy:.2}\"/>\
<text class=\"tick\" x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\">{}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            fmt_tick(v)
        );
    }
}

fn fmt_tick(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// One bar: label, value, and where it links to (already a safe URL, escaped here).
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub href: Option<String>,
}

/// Horizontal bars, one row per item, largest value sets the scale.
pub fn hbars(label: &str, bars: &[Bar]) -> String {
    if bars.is_empty() {
        return "<p class=\"empty\">Nothing to show yet.</p>".into();
    }
    let row = 26.0;
    let label_w = 240.0;
    let w = 600.0;
    let h = row * bars.len() as f64 + 4.0;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let track = w - label_w - 60.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart hbars\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 2.0 + row * i as f64;
        let bw = (b.value as f64 / max * track).max(if b.value > 0 { 2.0 } else { 0.0 });
        let text = truncate(&b.label, 30);
        let mark = format!(
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
<rect class=\"bar\" x=\"{label_w}\" y=\"{:.1}\" width=\"{bw:.2}\" height=\"{:.1}\" rx=\"3\"/>\
<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text><title>{}: {}</title>",
            label_w - 8.0,
            y + 17.0,
            esc(&text),
            y + 4.0,
            row - 8.0,
            label_w + bw + 6.0,
            y + 17.0,
            b.value,
            esc(&b.label),
            b.value
        );
        match &b.href {
            Some(href) => {
                let _ = write!(s, "<a href=\"{}\"><g>{mark}</g></a>", esc(href));
            }
            None => {
                let _ = write!(s, "<g>{mark}</g>");
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// Vertical bars with a label under each (a histogram of buckets).
pub fn vbars(label: &str, bars: &[Bar]) -> String {
    if bars.is_empty() {
        return "<p class=\"empty\">Nothing to show yet.</p>".into();
    }
    let (w, h) = (560.0, 220.0);
    let (left, bottom, top) = (40.0, 30.0, 18.0);
    let plot_w = w - left - 8.0;
    let plot_h = h - top - bottom;
    let ymax = nice_max(bars.iter().map(|b| b.value).max().unwrap_or(0)) as f64;
    let slot = plot_w / bars.len() as f64;
    let bw = slot * 0.7;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart vbars\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    let steps = grid_steps(ymax as u64);
    for k in 0..=steps {
        let yy = top + plot_h - plot_h * k as f64 / steps as f64;
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 6.0,
            yy + 4.0,
            fmt_tick(ymax * k as f64 / steps as f64)
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bw) / 2.0;
        let bh = b.value as f64 / ymax * plot_h;
        let y = top + plot_h - bh;
        let cx = x + bw / 2.0;
        let _ = write!(
            s,
            "<g><rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" rx=\"2\"/>\
<text class=\"value\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
<text class=\"tick\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><title>{}: {}</title></g>",
            y - 4.0,
            b.value,
            h - 10.0,
            esc(&b.label),
            esc(&b.label),
            b.value
        );
    }
    s.push_str("</svg>");
    s
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_max_rounds_up_to_1_2_5() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(200), 200);
        assert_eq!(nice_max(201), 500);
        assert_eq!(nice_max(u64::MAX), u64::MAX);
    }

    fn days(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("2026-01-{d:02}")).collect()
    }

    #[test]
    fn stacked_columns_stack_and_scale() {
        let layers = [
            Series {
                name: "Critical",
                class: "fill-critical",
                values: vec![2, 4],
            },
            Series {
                name: "High",
                class: "fill-high",
                values: vec![3, 0],
            },
        ];
        let line = Series {
            name: "In use",
            class: "line-inuse",
            values: vec![1, 1],
        };
        let svg = stacked_columns("trend", &days(2), &layers, Some(&line));
        assert!(svg.starts_with("<svg class=\"chart\""));
        // Top of the axis is nice_max(5) = 5: the 5 high stack reaches the top.
        assert!(svg.contains(">5</text>"));
        // Zero values draw nothing: 3 rects (2+3 on day 1, 4 on day 2).
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("<title>2026-01-01 Critical: 2</title>"));
        assert!(svg.contains("<polyline class=\"line-inuse\""));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("2026-01-02</text>"));
        // Plot is 220 high with its baseline at y = 232: critical 2 of 5 on day 1 is
        // 88 high from 144; high 3 sits on it (132 high from 12).
        assert!(
            svg.contains("y=\"144.00\" width=\"36.00\" height=\"88.00\""),
            "{svg}"
        );
        assert!(svg.contains("y=\"12.00\" width=\"36.00\" height=\"132.00\""));
    }

    #[test]
    fn stacked_columns_single_day_and_empty() {
        let layers = [Series {
            name: "Low",
            class: "fill-low",
            values: vec![7],
        }];
        let svg = stacked_columns("t", &days(1), &layers, None);
        assert_eq!(svg.matches("<rect").count(), 1);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let none = stacked_columns("t", &[], &layers, None);
        assert!(none.contains("No history"));
    }

    #[test]
    fn stacked_columns_many_days_no_dots() {
        let layers = [Series {
            name: "Low",
            class: "fill-low",
            values: vec![1; 400],
        }];
        let line = Series {
            name: "In use",
            class: "line-inuse",
            values: vec![0; 400],
        };
        let svg = stacked_columns("t", &days(400), &layers, Some(&line));
        assert_eq!(svg.matches("<rect").count(), 400);
        assert_eq!(svg.matches("<circle").count(), 0);
    }

    #[test]
    fn charts_escape_labels() {
        let bars = [Bar {
            label: "<script>x</script>".into(),
            value: 3,
            href: Some("/assets/1?a=\"b\"".into()),
        }];
        for svg in [hbars("<l>", &bars), vbars("<l>", &bars)] {
            assert!(!svg.contains("<script>"), "{svg}");
            assert!(!svg.contains("<l>"));
            assert!(svg.contains("&lt;script&gt;"));
        }
        assert!(hbars("l", &bars).contains("href=\"/assets/1?a=&quot;b&quot;\""));
        let layers = [Series {
            name: "<b>",
            class: "c",
            values: vec![1],
        }];
        let svg = stacked_columns("<x>", &["<d>".into()], &layers, None);
        assert!(!svg.contains("<b>") && !svg.contains("<d>") && !svg.contains("<x>"));
    }

    #[test]
    fn bars_scale_to_the_largest() {
        let bars = [
            Bar {
                label: "a".into(),
                value: 10,
                href: None,
            },
            Bar {
                label: "b".into(),
                value: 5,
                href: None,
            },
            Bar {
                label: "c".into(),
                value: 0,
                href: None,
            },
        ];
        let svg = hbars("x", &bars);
        // track = 600 - 240 - 60 = 300: a full, b half, c nothing.
        assert!(svg.contains("width=\"300.00\""));
        assert!(svg.contains("width=\"150.00\""));
        assert!(svg.contains("width=\"0.00\""));
        let v = vbars("x", &bars);
        assert_eq!(v.matches("class=\"bar\"").count(), 3);
        assert!(hbars("x", &[]).contains("Nothing to show"));
    }

    #[test]
    fn grid_steps_are_whole() {
        for top in [1u64, 2, 5, 10, 20, 50, 100, 200, 500, 1000] {
            let steps = grid_steps(top);
            assert_eq!(top % steps, 0, "{top} / {steps}");
            assert!((1..=5).contains(&steps));
        }
    }

    #[test]
    fn lines_scale_and_label_points() {
        let risk = Line {
            name: "Fleet risk",
            class: "line-risk",
            values: vec![120.0, 180.5],
        };
        let in_use = Line {
            name: "In use",
            class: "line-risk-inuse",
            values: vec![0.0, 40.0],
        };
        let svg = lines("risk", &days(2), &[risk, in_use]);
        // nice_max(181) = 200: 180.5 sits at 12 + 220 - 180.5/200*220 = 33.45.
        assert!(svg.contains(">200</text>"), "{svg}");
        assert!(svg.contains("cy=\"33.45\""), "{svg}");
        assert!(svg.contains("<title>2026-01-02 Fleet risk: 180.5</title>"));
        assert!(svg.contains("<title>2026-01-01 In use: 0.0</title>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(lines("x", &[], &[]).contains("No history"));
        let bad = Line {
            name: "<n>",
            class: "c",
            values: vec![f64::NAN],
        };
        let svg = lines("<x>", &days(1), &[bad]);
        assert!(!svg.contains("NaN") && !svg.contains("<n>") && !svg.contains("<x>"));
    }

    #[test]
    fn long_labels_are_truncated() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
