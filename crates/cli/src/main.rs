//! The `postwatch` command: parses the command line and runs each stage in order
//! (open target → collect inventory → render). Owns user-facing behaviour only:
//! flags, progress, messages, exit codes, writing output files atomically.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use postwatch_model::{Inventory, Target, TargetKind, SCAN_SCHEMA_VERSION};
use postwatch_report::{render, Format, RenderOptions};
use postwatch_target::{Limits, OpenOptions, Progress};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "postwatch",
    version,
    about = "Watch software after it ships: what is installed where, and what is vulnerable.",
    long_about = "Watch software after it ships.\n\n\
        Today postwatch inventories the OS packages (dpkg, apk, rpm) of container images, \
        root filesystems and the live host, and writes them as a table, JSON, CycloneDX or SPDX.",
    after_help = "Examples:\n  postwatch scan host\n  postwatch scan ./image.tar --format cyclonedx --output sbom.json\n  postwatch scan ./rootfs --format json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the operating system and installed packages of an image, a root filesystem or this host.
    #[command(
        long_about = "List the operating system and installed packages of a target.\n\n\
            TARGET is one of:\n  \
            host            this machine, read from /\n  \
            DIR             a root filesystem (an unpacked image, a chroot, a mounted disk)\n  \
            DIR             an OCI image layout (has oci-layout and index.json)\n  \
            FILE.tar        a `docker save` tarball or an OCI archive (a tar of a layout)\n\n\
            The kind is detected; --type forces it. Image layers may be plain, gzip or zstd; \
            they are read in one pass, in memory, without unpacking to disk.",
        after_help = "Examples:\n  postwatch scan host\n  postwatch scan nginx.tar --format json --output nginx.json\n  postwatch scan ./oci-dir --type oci-layout --format spdx"
    )]
    Scan(ScanArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum TypeArg {
    Rootfs,
    Host,
    DockerArchive,
    OciLayout,
    OciArchive,
}

impl From<TypeArg> for TargetKind {
    fn from(t: TypeArg) -> Self {
        match t {
            TypeArg::Rootfs => TargetKind::Rootfs,
            TypeArg::Host => TargetKind::Host,
            TypeArg::DockerArchive => TargetKind::DockerArchive,
            TypeArg::OciLayout => TargetKind::OciLayout,
            TypeArg::OciArchive => TargetKind::OciArchive,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Human-readable table.
    Table,
    /// postwatch's versioned JSON (docs/scan-json.md).
    Json,
    /// CycloneDX 1.6 JSON SBOM.
    Cyclonedx,
    /// SPDX 2.3 JSON SBOM.
    Spdx,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Cyclonedx => Format::CycloneDx,
            FormatArg::Spdx => Format::Spdx,
        }
    }
}

#[derive(clap::Args)]
struct ScanArgs {
    /// What to scan: `host`, a directory, or an image tarball.
    target: String,
    /// Force the target type instead of detecting it.
    #[arg(long = "type", value_enum)]
    kind: Option<TypeArg>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    format: FormatArg,
    /// Write to FILE instead of standard output (written whole, or not at all).
    #[arg(long, short, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// Include each package's owned files in JSON output.
    #[arg(long)]
    with_files: bool,
    /// Most bytes an image's layers may expand to when decompressed (guards against
    /// decompression bombs). Accepts K, M, G suffixes.
    #[arg(long, value_name = "SIZE", default_value = "64G", value_parser = parse_size)]
    max_image_size: u64,
    /// Do not print warnings to standard error (they stay in JSON output).
    #[arg(long, short)]
    quiet: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, shift) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 512M or 8G"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A progress bar over an image's compressed bytes, shown only on a terminal.
fn progress_reporter() -> impl Fn(Progress) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading layers {bar:30} {bytes}/{total_bytes} ({eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    move |p| {
        let Some(bar) = &bar else { return };
        match p {
            Progress::Start { total_bytes } => {
                bar.set_length(total_bytes);
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            Progress::Advance { bytes } => bar.inc(bytes),
            Progress::Finish => bar.finish_and_clear(),
        }
    }
}

fn scan(args: ScanArgs) -> Result<ExitCode> {
    let progress = progress_reporter();
    let options = OpenOptions {
        kind: args.kind.map(TargetKind::from),
        wanted: &postwatch_inventory::wants,
        limits: Limits {
            max_image_bytes: args.max_image_size,
            ..Limits::default()
        },
        progress: &progress,
    };
    let opened = postwatch_target::open(&args.target, &options)
        .with_context(|| format!("cannot scan {:?}", args.target))?;
    let collected = postwatch_inventory::collect(opened.tree.as_ref())
        .with_context(|| format!("cannot read packages in {:?}", args.target))?;
    let mut warnings = opened.warnings;
    warnings.extend(collected.warnings);
    let inventory = Inventory {
        schema_version: SCAN_SCHEMA_VERSION.to_owned(),
        target: Target {
            name: args.target.clone(),
            kind: opened.kind,
            image: opened.image,
        },
        os: collected.os,
        packages: collected.packages,
        warnings,
    };
    if !args.quiet {
        const SHOWN: usize = 20;
        for w in inventory.warnings.iter().take(SHOWN) {
            eprintln!("warning: {w}");
        }
        if inventory.warnings.len() > SHOWN {
            eprintln!(
                "warning: … and {} more (all are listed in --format json)",
                inventory.warnings.len() - SHOWN
            );
        }
        if inventory.os.is_none() && inventory.packages.is_empty() {
            eprintln!(
                "warning: no operating system and no packages found in {:?}; is it the root of a filesystem or image?",
                args.target
            );
        }
    }
    let width = (args.output.is_none() && std::io::stdout().is_terminal())
        .then(terminal_width)
        .flatten();
    let rendered = render(
        &inventory,
        args.format.into(),
        &RenderOptions {
            with_files: args.with_files,
            now: now(),
            width,
        },
    );
    match &args.output {
        Some(path) => write_atomically(path, rendered.as_bytes())?,
        None => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout
                .write_all(rendered.as_bytes())
                .and_then(|()| stdout.flush())
            {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    bail!("cannot write to standard output: {e}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}

/// The time stamped into SBOMs; `SOURCE_DATE_EPOCH` makes it reproducible.
fn now() -> time::OffsetDateTime {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc)
}

/// Writes via a temporary file in the same directory and a rename, so a reader never
/// sees half a report and a failure leaves any previous file untouched.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
