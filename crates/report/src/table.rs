//! The human view: a short header about the target, then one row per package.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use postwatch_model::Inventory;
use std::fmt::Write;

/// The lines about the target, its image and its OS.
pub fn header(inv: &Inventory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Target: {} ({})", inv.target.name, inv.target.kind);
    if let Some(image) = &inv.target.image {
        if !image.repo_tags.is_empty() {
            let _ = writeln!(out, "Tags:   {}", image.repo_tags.join(", "));
        }
        if let Some(d) = &image.manifest_digest {
            let _ = writeln!(out, "Manifest: {d}");
        }
        let _ = writeln!(out, "Config:   {}", image.config_digest);
        let _ = writeln!(
            out,
            "Platform: {}/{}  Created: {}  Layers: {}",
            image.os.as_deref().unwrap_or("?"),
            image.architecture.as_deref().unwrap_or("?"),
            image.created.as_deref().unwrap_or("?"),
            image.layers.len()
        );
    }
    match &inv.os {
        Some(os) => {
            let _ = writeln!(
                out,
                "OS:     {} {} ({})",
                os.pretty_name.as_deref().unwrap_or(&os.id),
                os.version_id.as_deref().unwrap_or(""),
                os.ecosystem.as_deref().unwrap_or("no OSV ecosystem known")
            );
        }
        None => {
            let _ = writeln!(out, "OS:     not detected");
        }
    }
    if let Some(db) = &inv.database {
        let _ = writeln!(
            out,
            "Advisories: {} records, updated {}{}",
            db.records,
            db.updated_at.as_deref().unwrap_or("at an unknown time"),
            if db.stale {
                " (STALE: run `postwatch db update`)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "Packages: {}", inv.packages.len());
    out
}

pub fn render(inv: &Inventory, width: Option<u16>) -> String {
    let mut out = header(inv);
    if inv.packages.is_empty() {
        return out;
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["Package", "Version", "Source", "Arch", "Type"]);
    if let Some(w) = width {
        table.set_width(w);
    }
    for p in &inv.packages {
        let source = match (&p.source_name, &p.source_version) {
            (Some(n), Some(v)) if *n == p.name && *v == p.version => String::new(),
            (Some(n), Some(v)) if *v == p.version => n.clone(),
            (Some(n), Some(v)) => format!("{n} {v}"),
            (Some(n), None) => n.clone(),
            _ => String::new(),
        };
        table.add_row([
            p.name.as_str(),
            p.version.as_str(),
            source.as_str(),
            p.arch.as_deref().unwrap_or(""),
            p.package_manager.as_str(),
        ]);
    }
    let _ = writeln!(out, "{table}");
    out
}
