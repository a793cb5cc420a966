//! Turns an [`Inventory`] into what people and tools read: a terminal table,
//! postwatch's versioned JSON, CycloneDX 1.6 JSON and SPDX 2.3 JSON.
//!
//! Owns: output formats only. Must not: read targets or decide what is installed —
//! everything shown comes from the inventory it is handed. Pure: returns strings, the
//! caller writes them.

mod findings;
mod sarif;
mod sbom;
mod table;
mod vex;

use postwatch_model::Inventory;
use time::OffsetDateTime;

/// Output formats of `postwatch scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    CycloneDx,
    Spdx,
    Sarif,
    OpenVex,
}

/// Settings that affect rendering.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Include each package's owned files in JSON.
    pub with_files: bool,
    /// Creation time written into SBOMs.
    pub now: OffsetDateTime,
    /// Terminal width for the table, when known.
    pub width: Option<u16>,
}

/// Renders the inventory in `format`. The result ends with a newline.
pub fn render(inventory: &Inventory, format: Format, options: &RenderOptions) -> String {
    let findings = inventory.findings.as_deref().unwrap_or_default();
    let mut out = match format {
        Format::Table => match &inventory.findings {
            Some(f) => {
                let mut text = table::header(inventory);
                text.push_str(&findings::render(inventory, f, options.width));
                text
            }
            None => table::render(inventory, options.width),
        },
        Format::Json => json(inventory, options.with_files),
        Format::CycloneDx => pretty(&sbom::cyclonedx(inventory, options.now)),
        Format::Spdx => pretty(&sbom::spdx(inventory, options.now)),
        Format::Sarif => pretty(&sarif::render(inventory, findings)),
        Format::OpenVex => pretty(&vex::render(
            inventory,
            findings,
            options.now,
            &sbom::document_uuid(inventory, options.now),
        )),
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn pretty(value: &serde_json::Value) -> String {
    // Serialising a Value cannot fail: keys are strings and numbers are finite.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn json(inventory: &Inventory, with_files: bool) -> String {
    if with_files {
        return serde_json::to_string_pretty(inventory).unwrap_or_default();
    }
    let mut trimmed = inventory.clone();
    for p in &mut trimmed.packages {
        p.files = Vec::new();
    }
    serde_json::to_string_pretty(&trimmed).unwrap_or_default()
}

/// RFC 3339 in UTC, second precision, as both SBOM formats want.
pub(crate) fn timestamp(now: OffsetDateTime) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// CycloneDX severity words for a vendor rating.
pub(crate) fn cdx_severity(
    _source: &str,
    vendor: &str,
    fallback: postwatch_model::Severity,
) -> &'static str {
    match vendor.to_ascii_lowercase().as_str() {
        "critical" => "critical",
        "important" | "high" => "high",
        "moderate" | "medium" => "medium",
        "low" | "negligible" | "unimportant" => "low",
        _ => match fallback {
            postwatch_model::Severity::Critical => "critical",
            postwatch_model::Severity::High => "high",
            postwatch_model::Severity::Medium => "medium",
            postwatch_model::Severity::Low => "low",
            postwatch_model::Severity::Unknown => "unknown",
        },
    }
}
