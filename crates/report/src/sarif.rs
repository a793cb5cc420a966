//! SARIF 2.1.0, the format code-scanning dashboards (GitHub, GitLab, Azure) ingest.
//! One rule per vulnerability id, one result per (vulnerability, package).

use postwatch_model::{Finding, Inventory, Severity};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// GitHub's `security-severity`: a CVSS-like number; the band's floor when there is no vector.
fn security_severity(f: &Finding) -> String {
    let score = f
        .cvss
        .as_ref()
        .map(|c| c.score)
        .unwrap_or(match f.severity {
            Severity::Critical => 9.0,
            Severity::High => 7.0,
            Severity::Medium => 4.0,
            Severity::Low => 0.1,
            Severity::Unknown => 0.0,
        });
    format!("{score:.1}")
}

pub fn render(inv: &Inventory, findings: &[Finding]) -> Value {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::with_capacity(findings.len());
    for f in findings {
        rules.entry(f.id.as_str()).or_insert_with(|| {
            json!({
                "id": f.id,
                "name": "OsPackageVulnerability",
                "shortDescription": {"text": format!("{} in {}", f.id, f.package.name)},
                "fullDescription": {"text": f.summary.clone().unwrap_or_else(|| f.id.clone())},
                "helpUri": format!("https://osv.dev/vulnerability/{}", f.records.first().unwrap_or(&f.id)),
                "help": {"text": format!("Aliases: {}. Advisories: {}.", f.aliases.join(", "), f.records.join(", "))},
                "defaultConfiguration": {"level": level(f.severity)},
                "properties": {
                    "security-severity": security_severity(f),
                    "tags": ["vulnerability", "security", f.severity.as_str()],
                },
            })
        });
        let found_in = inv
            .packages
            .iter()
            .find(|p| p.purl == f.package.purl)
            .map(|p| p.found_in.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| inv.target.name.clone());
        let fix = match (&f.fix_command, f.fixed_versions.last()) {
            (Some(cmd), Some(v)) => format!(" Fixed in {v}: {cmd}"),
            _ => " No fix is available yet.".to_owned(),
        };
        results.push(json!({
            "ruleId": f.id,
            "level": level(f.severity),
            "message": {"text": format!(
                "{} {} is affected by {} ({}).{fix}",
                f.package.name, f.package.version, f.id, f.severity.as_str()
            )},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": found_in}},
                "logicalLocations": [{"name": f.package.purl, "kind": "package"}],
            }],
            "partialFingerprints": {"postwatch/v1": format!("{}|{}", f.id, f.package.purl)},
            "properties": {
                "purl": f.package.purl,
                "fixed_versions": f.fixed_versions,
                "kev": f.kev.is_some(),
                "epss": f.epss.map(|e| e.cve_score),
            },
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "postwatch",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/postwatch/postwatch",
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
            "properties": {"target": inv.target.name},
        }],
    })
}
