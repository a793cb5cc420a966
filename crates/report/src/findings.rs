//! The human view of findings: grouped by package, worst first, then how to fix.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use postwatch_model::{Finding, FixState, Inventory, Severity};
use std::collections::BTreeMap;
use std::fmt::Write;

pub fn render(inv: &Inventory, findings: &[Finding], width: Option<u16>) -> String {
    let mut out = String::new();
    let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
    for f in findings {
        *counts.entry(f.severity).or_default() += 1;
    }
    let summary: Vec<String> = counts
        .iter()
        .rev()
        .map(|(s, n)| format!("{}: {n}", s.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "Vulnerabilities: {} in {} packages{}",
        findings.len(),
        findings
            .iter()
            .map(|f| (&f.package.name, &f.package.version))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        if summary.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.join(", "))
        }
    );
    let kev = findings.iter().filter(|f| f.kev.is_some()).count();
    if kev > 0 {
        let _ = writeln!(out, "Known exploited (CISA KEV): {kev}");
    }
    if let Some(u) = &inv.in_use {
        let _ = writeln!(
            out,
            "In use: {} findings, {} in packages loaded in memory ({}% fewer to act on); {} packages loaded by {} processes",
            u.findings, u.findings_in_use, u.reduction_percent, u.packages_in_use, u.processes
        );
        for note in &u.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    if let Some(r) = inv.risk.as_ref().filter(|_| !findings.is_empty()) {
        let _ = writeln!(
            out,
            "Risk: highest {:.1}, total {:.1} (0–100 per finding; docs/findings.md)",
            r.max, r.total
        );
    }
    if findings.is_empty() {
        let _ = writeln!(
            out,
            "No known vulnerabilities in the {} packages found.",
            inv.packages.len()
        );
        return out;
    }
    // Group by package, the group with the worst finding first.
    let mut groups: BTreeMap<(&str, &str), Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        groups
            .entry((&f.package.name, &f.package.version))
            .or_default()
            .push(f);
    }
    let mut ordered: Vec<_> = groups.into_iter().collect();
    // Riskiest package first (then most severe, then by name).
    ordered.sort_by(|a, b| {
        let risk = |v: &Vec<&Finding>| v.iter().map(|f| f.risk).fold(0.0, f64::max);
        let worst = |v: &Vec<&Finding>| v.iter().map(|f| f.severity).max();
        risk(&b.1)
            .total_cmp(&risk(&a.1))
            .then(worst(&b.1).cmp(&worst(&a.1)))
            .then(a.0.cmp(&b.0))
    });
    let show_use = inv.in_use.is_some();
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(
            [
                "Package",
                "Installed",
                "Vulnerability",
                "Risk",
                "Severity",
                "Fixed in",
                "KEV / EPSS",
            ]
            .into_iter()
            .chain(show_use.then_some("In use")),
        );
    if let Some(w) = width {
        table.set_width(w);
    }
    for ((name, version), mut items) in ordered.iter().cloned() {
        items.sort_by(|a, b| {
            b.risk
                .total_cmp(&a.risk)
                .then(b.severity.cmp(&a.severity))
                .then(a.id.cmp(&b.id))
        });
        for (i, f) in items.iter().enumerate() {
            // The headline severity, then the CVSS score and the vendor's own word
            // beside it, so a reader sees both when they disagree.
            let mut detail = Vec::new();
            if let Some(c) = &f.cvss {
                detail.push(format!("CVSS {:.1}", c.score));
            }
            if let Some(v) = &f.vendor_severity {
                detail.push(format!("vendor: {v}"));
            }
            let severity = if detail.is_empty() {
                f.severity.as_str().to_owned()
            } else {
                format!("{} ({})", f.severity.as_str(), detail.join(", "))
            };
            let fixed = match f.fix_state {
                FixState::Fixed => {
                    let version = f.fixed_versions.last().cloned().unwrap_or_default();
                    match (f.fix_available, &f.available_version) {
                        (Some(true), Some(offered)) if *offered != version => {
                            format!("{version} (repo has {offered})")
                        }
                        (Some(true), _) => format!("{version} (in repo)"),
                        (Some(false), _) => format!("{version} (not in repos yet)"),
                        (None, _) => version,
                    }
                }
                FixState::Unfixed => "no fix yet".into(),
                FixState::WontFix => "won't fix".into(),
            };
            let mut threat = Vec::new();
            if f.kev.is_some() {
                threat.push("KEV".to_owned());
            }
            if let Some(e) = f.epss {
                threat.push(format!("EPSS {:.1}%", e.cve_score * 100.0));
            }
            let id = if f.aliases.is_empty() {
                f.id.clone()
            } else {
                format!("{} ({})", f.id, f.aliases.join(", "))
            };
            let in_use = match f.in_use_evidence.first() {
                Some(e) => format!("yes: {} ({})", e.command, e.pid),
                None => f.in_use.as_str().to_owned(),
            };
            let risk = format!("{:.1}", f.risk);
            let threat = threat.join(", ");
            let row = [
                if i == 0 { name } else { "" },
                if i == 0 { version } else { "" },
                id.as_str(),
                risk.as_str(),
                severity.as_str(),
                fixed.as_str(),
                threat.as_str(),
            ];
            table.add_row(row.into_iter().chain(show_use.then_some(in_use.as_str())));
        }
    }
    let _ = writeln!(out, "{table}");
    if let Some(fixes) = inv.fixes.as_ref().filter(|f| !f.is_empty()) {
        let _ = writeln!(out, "\nTo fix ({} packages):", fixes.len());
        for fix in fixes {
            let _ = writeln!(out, "  {}", fix.command);
        }
    }
    out
}
