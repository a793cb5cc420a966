//! OpenVEX 0.2.0: one `affected` statement per (vulnerability, package), with the
//! fix as its action statement.

use postwatch_model::{Finding, FixState, Inventory};
use serde_json::{json, Value};
use time::OffsetDateTime;

pub fn render(inv: &Inventory, findings: &[Finding], now: OffsetDateTime, id: &str) -> Value {
    let timestamp = crate::timestamp(now);
    let statements: Vec<Value> = findings
        .iter()
        .map(|f| {
            let action = match (f.fix_state, &f.fix_command) {
                (FixState::Fixed, Some(cmd)) => format!(
                    "Upgrade to {}: {cmd}",
                    f.fixed_versions.last().cloned().unwrap_or_default()
                ),
                (FixState::WontFix, _) => {
                    "The distribution will not fix this; mitigate or replace the package".to_owned()
                }
                _ => "No fixed version is available yet; watch for one".to_owned(),
            };
            json!({
                "vulnerability": {"name": f.id, "aliases": f.aliases},
                "products": [{"@id": f.package.purl}],
                "status": "affected",
                "action_statement": action,
                "timestamp": timestamp,
            })
        })
        .collect();
    json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": format!("https://postwatch.invalid/vex/{id}"),
        "author": "postwatch",
        "role": "scanner",
        "timestamp": timestamp,
        "version": 1,
        "tooling": format!("postwatch {}", env!("CARGO_PKG_VERSION")),
        "statements": statements,
        "metadata": {"target": inv.target.name},
    })
}
