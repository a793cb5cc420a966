//! `postwatch db import|update|stats`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use postwatch_advisory::update::{self, DownloadProgress, FeedConfig};
use postwatch_advisory::{age_seconds, default_db_path, import_paths, Store, Table};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Clone)]
pub struct DbLocation {
    /// The advisory database file [default: $POSTWATCH_DB, else
    /// $XDG_DATA_HOME/postwatch/advisories.db, else ~/.local/share/postwatch/advisories.db].
    #[arg(long, value_name = "FILE", global = true)]
    pub db: Option<PathBuf>,
}

impl DbLocation {
    pub fn path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(default_db_path)
    }
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Import OSV all.zip files, directories of <ID>.json, single records, a CISA KEV
    /// catalogue or an EPSS CSV (.csv or .csv.gz). The kind is detected per path.
    #[command(
        after_help = "Examples:\n  postwatch db import osv/PyPI/all.zip osv/Go/all.zip\n  postwatch db import ./advisories/ known_exploited_vulnerabilities.json epss_scores.csv.gz"
    )]
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        location: DbLocation,
    },
    /// Download the feeds (OSV per ecosystem, CISA KEV, FIRST EPSS) and swap in the
    /// new database atomically: a failed update leaves the previous one working.
    #[command(
        after_help = "Interrupted downloads resume on the next run.\n\nExamples:\n  postwatch db update\n  postwatch db update --ecosystem Debian --ecosystem PyPI\n  postwatch db update --osv-url http://mirror.local/osv/{ecosystem}/all.zip --no-epss"
    )]
    Update(UpdateArgs),
    /// Records per ecosystem, sources, KEV/EPSS counts and age.
    Stats {
        /// `table` or `json`.
        #[arg(long, short, default_value = "table")]
        format: String,
        #[command(flatten)]
        location: DbLocation,
    },
}

#[derive(Args)]
pub struct UpdateArgs {
    /// OSV ecosystems to fetch [default: those the database already holds, else a
    /// standard set of distributions and language registries].
    #[arg(long = "ecosystem", value_name = "NAME")]
    ecosystems: Vec<String>,
    /// URL template for OSV zips; `{ecosystem}` is replaced.
    #[arg(long, default_value = update::DEFAULT_OSV_URL)]
    osv_url: String,
    #[arg(long, default_value = update::DEFAULT_KEV_URL)]
    kev_url: String,
    #[arg(long, default_value = update::DEFAULT_EPSS_URL)]
    epss_url: String,
    /// Skip the KEV catalogue.
    #[arg(long)]
    no_kev: bool,
    /// Skip EPSS scores.
    #[arg(long)]
    no_epss: bool,
    /// Where downloads (and partial downloads) are kept [default: beside the database].
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    #[command(flatten)]
    location: DbLocation,
}

pub fn run(cmd: DbCommand) -> Result<ExitCode> {
    match cmd {
        DbCommand::Import { paths, location } => import(paths, location),
        DbCommand::Update(args) => update_db(args),
        DbCommand::Stats { format, location } => stats(&format, location),
    }
}

fn import(paths: Vec<PathBuf>, location: DbLocation) -> Result<ExitCode> {
    let db = location.path();
    let mut store = Store::open_writable(&db)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} records ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let refs: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
    let reports = import_paths(&mut store, &refs, &|source, n| {
        if let Some(bar) = &bar {
            bar.set_message(source.to_owned());
            bar.inc(n);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for r in &reports {
        eprintln!(
            "{}: {} imported ({} withdrawn, kept but never matched), {} skipped [{}]",
            r.source, r.imported, r.withdrawn, r.skipped, r.kind
        );
        for e in &r.errors {
            eprintln!("  skipped: {e}");
        }
        if r.skipped as usize > r.errors.len() {
            eprintln!("  … and {} more", r.skipped as usize - r.errors.len());
        }
    }
    eprintln!("database: {}", db.display());
    Ok(ExitCode::SUCCESS)
}

fn update_db(args: UpdateArgs) -> Result<ExitCode> {
    let db = args.location.path();
    let mut ecosystems = args.ecosystems;
    if ecosystems.is_empty() {
        ecosystems = update::ecosystems_in_use(&db);
    }
    if ecosystems.is_empty() {
        ecosystems = update::DEFAULT_ECOSYSTEMS
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    let config = FeedConfig {
        osv_url: args.osv_url,
        kev_url: (!args.no_kev).then_some(args.kev_url),
        epss_url: (!args.no_epss).then_some(args.epss_url),
        ecosystems,
    };
    let cache = args.cache.unwrap_or_else(|| {
        db.parent()
            .map(|p| p.join("downloads"))
            .unwrap_or_else(|| PathBuf::from("postwatch-downloads"))
    });
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:24} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar
    });
    let quiet_log = bar.is_none();
    let report = update::update(&db, &cache, &config, &|p| match p {
        DownloadProgress::Start {
            file,
            total,
            resumed_from,
        } => {
            if let Some(bar) = &bar {
                bar.set_message(file.to_owned());
                bar.set_length(total.unwrap_or(0));
                bar.set_position(resumed_from);
            } else if quiet_log && resumed_from > 0 {
                eprintln!("{file}: resuming at byte {resumed_from}");
            }
        }
        DownloadProgress::Advance { bytes } => {
            if let Some(bar) = &bar {
                bar.inc(bytes);
            }
        }
        DownloadProgress::Done { file } => {
            if quiet_log {
                eprintln!("{file}: downloaded");
            }
        }
    })
    .with_context(|| {
        format!(
            "update failed; the database at {} was left as it was",
            db.display()
        )
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for r in &report.imports {
        eprintln!(
            "{}: {} imported, {} skipped",
            r.source, r.imported, r.skipped
        );
    }
    eprintln!("database updated: {}", db.display());
    Ok(ExitCode::SUCCESS)
}

fn stats(format: &str, location: DbLocation) -> Result<ExitCode> {
    let db = location.path();
    let store = Store::open(&db)?;
    let updated = store.meta("updated_at")?;
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let by_eco = store.counts_by_ecosystem()?;
    let sources = store.sources()?;
    let stats = serde_json::json!({
        "path": db.display().to_string(),
        "size_bytes": size,
        "updated_at": updated,
        "age_hours": updated.as_deref().and_then(age_seconds).map(|s| s as f64 / 3600.0),
        "records": store.count(Table::Records)?,
        "withdrawn": store.count(Table::Withdrawn)?,
        "kev": store.count(Table::Kev)?,
        "epss": store.count(Table::Epss)?,
        "ecosystems": by_eco.iter().map(|(e, n)| serde_json::json!({"ecosystem": e, "records": n})).collect::<Vec<_>>(),
        "sources": sources,
    });
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Database: {} ({:.1} MB)", db.display(), size as f64 / 1e6);
    println!(
        "Updated:  {}{}",
        updated.as_deref().unwrap_or("never"),
        updated
            .as_deref()
            .and_then(age_seconds)
            .map(|s| format!(" ({} ago)", human_age(s)))
            .unwrap_or_default()
    );
    println!(
        "Records:  {} ({} withdrawn); KEV entries: {}; EPSS scores: {}",
        stats["records"], stats["withdrawn"], stats["kev"], stats["epss"]
    );
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["Ecosystem", "Records"]);
    for (eco, n) in &by_eco {
        table.add_row([eco.clone(), n.to_string()]);
    }
    println!("{table}");
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["Source", "Kind", "Imported", "Records", "Skipped"]);
    for s in &sources {
        table.add_row([
            s.name.clone(),
            s.kind.clone(),
            s.imported_at.clone(),
            s.records.to_string(),
            s.skipped.to_string(),
        ]);
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}

pub fn human_age(seconds: i64) -> String {
    match seconds {
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86400 * 2 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    }
}
