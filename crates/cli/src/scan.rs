//! `postwatch scan`: open the target, collect its inventory, match advisories, render.

use crate::db::{human_age, DbLocation};
use crate::output::{emit, now, progress_reporter, table_width};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use postwatch_advisory::{age_seconds, Store, Table};
use postwatch_inventory::PackageTypes;
use postwatch_model::{
    DatabaseInfo, FixState, InUse, Inventory, Severity, Target, TargetKind, SCAN_SCHEMA_VERSION,
};
use postwatch_report::{render, Format, RenderOptions};
use postwatch_target::{Limits, OpenOptions};
use std::process::ExitCode;

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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PkgTypeArg {
    /// Operating system packages: dpkg, apk, rpm.
    Os,
    /// Language packages: installed ones and lockfile pins.
    Lang,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Human-readable table.
    Table,
    /// postwatch's versioned JSON (docs/scan-json.md).
    Json,
    /// CycloneDX 1.6 JSON: SBOM, with vulnerabilities when matched.
    Cyclonedx,
    /// SPDX 2.3 JSON SBOM.
    Spdx,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// OpenVEX 0.2.0 statements.
    Openvex,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Cyclonedx => Format::CycloneDx,
            FormatArg::Spdx => Format::Spdx,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Openvex => Format::OpenVex,
        }
    }
}

/// `scan --help`: what a target can be and how matching treats OS packages.
pub const LONG_ABOUT: &str = "List the operating system and installed packages of a target, and the known vulnerabilities in them.\n\n\
        TARGET is one of:\n  \
        host            this machine, read from /\n  \
        DIR             a root filesystem (an unpacked image, a chroot, a mounted disk)\n  \
        DIR             a project folder (its lockfiles: Cargo.lock, package-lock.json, poetry.lock, go.mod, …)\n  \
        DIR             an OCI image layout (has oci-layout and index.json)\n  \
        FILE.tar        a `docker save` tarball or an OCI archive (a tar of a layout)\n\n\
        The kind is detected; --type forces it. Image layers may be plain, gzip or zstd; \
        they are read in one pass, in memory, without unpacking to disk.\n\n\
        Vulnerabilities are matched when an advisory database exists (`postwatch db update`); \
        OS packages are matched on their source package and only against their own \
        distribution's advisories, so backported fixes are not reported.\n\n\
        Language packages are found installed (dist-info, node_modules, gemspecs, Go and \
        cargo-auditable binaries, jars) and pinned in lockfiles, and matched against their \
        registry's advisories (PyPI, npm, crates.io, Go, Maven, RubyGems, Packagist, NuGet). \
        One that an OS package installed (Debian's python3-requests) is reported once, as \
        the OS package.";

pub const AFTER_HELP: &str = "Examples:\n  postwatch scan host\n  postwatch scan nginx.tar --severity HIGH,CRITICAL --ignore-unfixed\n  postwatch scan nginx.tar --fail-on CRITICAL --format sarif -o nginx.sarif\n  postwatch scan ./rootfs --explain CVE-2023-4807\n  postwatch scan ./oci-dir --no-vulns --format spdx";

#[derive(Args)]
pub struct ScanArgs {
    /// What to scan: `host`, a directory, or an image tarball.
    target: String,
    /// Force the target type instead of detecting it.
    #[arg(long = "type", value_enum)]
    kind: Option<TypeArg>,
    /// Package kinds to report (comma-separated): `os` (dpkg, apk, rpm) and `lang`
    /// (Python, Node, Rust, Go, Java, Ruby, PHP, .NET).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "os,lang")]
    pkg_types: Vec<PkgTypeArg>,
    /// Report lockfiles' development-only dependencies too.
    #[arg(long)]
    include_dev_deps: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    format: FormatArg,
    /// Write to FILE instead of standard output (written whole, or not at all).
    #[arg(long, short, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// Include each package's owned files in JSON output.
    #[arg(long)]
    with_files: bool,
    /// Inventory only: do not match advisories.
    #[arg(long)]
    no_vulns: bool,
    /// Show only these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN).
    #[arg(long, value_delimiter = ',', value_parser = parse_severity)]
    severity: Vec<Severity>,
    /// Exit with code 3 when a shown finding is at least this severe.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    fail_on: Option<Severity>,
    /// Hide findings that have no fixed version yet (and won't-fix ones).
    #[arg(long)]
    ignore_unfixed: bool,
    /// Check which packages running processes have loaded (executables, mapped
    /// libraries, open files, read from /proc) and mark each finding in use or not.
    /// For `host` and for root filesystems that processes run chrooted in.
    #[arg(long)]
    in_use: bool,
    /// Show only findings in packages loaded by a running process (implies --in-use).
    #[arg(long)]
    in_use_only: bool,
    /// With --in-use: first record every file opened on the target's filesystem for
    /// this long (fanotify; e.g. 30s, 5m), so Python modules, Node files and
    /// short-lived processes count too. Needs root.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    watch: Option<std::time::Duration>,
    /// Explain why each package is or is not affected by ID (an advisory id or alias):
    /// every range evaluated and every comparison made.
    #[arg(long, value_name = "ID")]
    explain: Option<String>,
    /// Warn when the advisory database is older than this many hours.
    #[arg(long, value_name = "HOURS", default_value_t = 48)]
    db_max_age: u64,
    /// Most bytes an image's layers may expand to when decompressed (guards against
    /// decompression bombs). Accepts K, M, G suffixes.
    #[arg(long, value_name = "SIZE", default_value = "64G", value_parser = parse_size)]
    max_image_size: u64,
    /// Do not print warnings to standard error (they stay in JSON output).
    #[arg(long, short)]
    quiet: bool,
    /// Print how long each stage took to standard error.
    #[arg(long)]
    timings: bool,
    /// Also upload the inventory to a postwatch server, so pipelines and hosts share
    /// one fleet view (the server matches it and keeps its history).
    #[arg(long, value_name = "URL", requires = "token")]
    server: Option<String>,
    /// A user API token for --server (`postwatch token`; or set POSTWATCH_TOKEN).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Trust the CA certificates in this PEM file (instead of the system's store) for
    /// the --server's certificate: a self-hosted server's private CA. Or set
    /// POSTWATCH_CA_FILE.
    #[arg(long, value_name = "PEM", requires = "server")]
    ca_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    location: DbLocation,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s.trim())
        .ok_or_else(|| format!("{s:?} is not one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN"))
}

pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 1h"))?;
    n.checked_mul(unit)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
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

/// Exit code when `--fail-on` trips, distinct from errors (1) and usage (2).
const EXIT_FINDINGS: u8 = 3;

pub fn run(args: ScanArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let timing = |stage: &str, since: std::time::Instant| {
        if args.timings {
            eprintln!(
                "timing: {stage} {:.1} ms",
                since.elapsed().as_secs_f64() * 1000.0
            );
        }
    };
    let progress = progress_reporter();
    let types = PackageTypes {
        os: args.pkg_types.contains(&PkgTypeArg::Os),
        language: args.pkg_types.contains(&PkgTypeArg::Lang),
        include_dev: args.include_dev_deps,
    };
    let options = OpenOptions {
        kind: args.kind.map(TargetKind::from),
        wanted: &postwatch_inventory::wants,
        probe: types.language.then(postwatch_inventory::probe),
        limits: Limits {
            max_image_bytes: args.max_image_size,
            ..Limits::default()
        },
        progress: &progress,
    };
    let opened = postwatch_target::open(&args.target, &options)
        .with_context(|| format!("cannot scan {:?}", args.target))?;
    let collected = postwatch_inventory::collect_types(opened.tree.as_ref(), types)
        .with_context(|| format!("cannot read packages in {:?}", args.target))?;
    let mut warnings = opened.warnings;
    warnings.extend(collected.warnings);
    let wants_vulns = !args.no_vulns && !matches!(args.format, FormatArg::Spdx);
    // What the target's own repositories offer, to tell whether a fix is installable.
    let available = if wants_vulns {
        postwatch_inventory::available::collect(opened.tree.as_ref(), &mut warnings)
            .with_context(|| format!("cannot read repository indexes in {:?}", args.target))?
    } else {
        Default::default()
    };
    timing("inventory", started);
    if args.watch.is_some() && !(args.in_use || args.in_use_only) {
        bail!("--watch records what processes load: use it with --in-use or --in-use-only");
    }
    let gathered = if args.in_use || args.in_use_only {
        let since = std::time::Instant::now();
        let g = crate::inuse::gather(
            &args.target,
            opened.kind,
            opened.tree.as_ref(),
            &collected.packages,
            args.watch,
            args.quiet,
        )?;
        if g.is_none() {
            warnings.push(format!(
                "--in-use: {} is an image, and nothing of an image runs until it is a container; findings stay `unknown` (scan the container's root, /proc/<pid>/root, instead)",
                args.target
            ));
        }
        timing("in-use", since);
        g
    } else {
        None
    };
    let mut inventory = Inventory {
        schema_version: SCAN_SCHEMA_VERSION.to_owned(),
        target: Target {
            name: args.target.clone(),
            kind: opened.kind,
            image: opened.image,
        },
        os: collected.os,
        packages: collected.packages,
        warnings,
        database: None,
        findings: None,
        fixes: None,
        in_use: gathered.clone(),
        risk: None,
    };

    if wants_vulns || args.explain.is_some() {
        let db_path = args.location.path();
        match Store::open(&db_path) {
            Ok(store) => {
                if let Some(id) = &args.explain {
                    let text = postwatch_matcher::explain(id, &inventory.packages, &store)?;
                    emit(args.output.as_deref(), text.as_bytes())?;
                    return Ok(ExitCode::SUCCESS);
                }
                let matching = std::time::Instant::now();
                attach_findings(&mut inventory, &store, &args, gathered.as_ref(), &available)?;
                timing("match", matching);
            }
            Err(e) if args.explain.is_some() || args.fail_on.is_some() => bail!(e),
            Err(postwatch_advisory::AdvisoryError::NoDatabase(p)) => {
                if !args.quiet {
                    eprintln!(
                        "note: no advisory database at {}; listing packages only. Run `postwatch db update` to match vulnerabilities.",
                        p.display()
                    );
                }
            }
            Err(e) => bail!(e),
        }
    }

    if let Some(server) = &args.server {
        upload(server, &args, &inventory)?;
    }
    if !args.quiet {
        print_warnings(&inventory);
    }
    let rendered = render(
        &inventory,
        args.format.into(),
        &RenderOptions {
            with_files: args.with_files,
            now: now(),
            width: table_width(args.output.as_deref()),
        },
    );
    emit(args.output.as_deref(), rendered.as_bytes())?;
    if let (Some(threshold), Some(findings)) = (args.fail_on, &inventory.findings) {
        let worst = findings.iter().map(|f| f.severity).max();
        if worst.is_some_and(|w| w >= threshold) {
            if !args.quiet {
                eprintln!(
                    "failing: {} finding(s) at or above {}",
                    findings.iter().filter(|f| f.severity >= threshold).count(),
                    threshold.as_str()
                );
            }
            return Ok(ExitCode::from(EXIT_FINDINGS));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn attach_findings(
    inventory: &mut Inventory,
    store: &Store,
    args: &ScanArgs,
    gathered: Option<&postwatch_model::InUseSummary>,
    available: &postwatch_inventory::available::Available,
) -> Result<()> {
    let updated_at = store.meta("updated_at")?;
    let age = updated_at.as_deref().and_then(age_seconds);
    let stale = age.is_none_or(|s| s >= args.db_max_age as i64 * 3600);
    if stale && !args.quiet {
        eprintln!(
            "warning: the advisory database was last updated {}; run `postwatch db update`",
            age.map(|s| format!("{} ago", human_age(s)))
                .unwrap_or_else(|| "at an unknown time".into())
        );
    }
    inventory.database = Some(DatabaseInfo {
        path: store.path().display().to_string(),
        updated_at,
        age_hours: age.map(|s| s as f64 / 3600.0),
        stale,
        records: store.count(Table::Records)?,
    });
    let report = postwatch_matcher::match_packages(&inventory.packages, store)?;
    inventory.warnings.extend(report.warnings);
    let mut findings: Vec<_> = report
        .findings
        .into_iter()
        .filter(|f| args.severity.is_empty() || args.severity.contains(&f.severity))
        .filter(|f| !args.ignore_unfixed || f.fix_state == FixState::Fixed)
        .collect();
    postwatch_matcher::availability::apply_availability(
        &mut findings,
        &inventory.packages,
        !available.is_empty(),
        &|manager, name| {
            available
                .versions(manager, name)
                .into_iter()
                .map(|(version, _)| version.to_owned())
                .collect()
        },
    );
    if let Some(g) = gathered {
        inventory.in_use = Some(postwatch_matcher::in_use::apply_in_use(&mut findings, g));
    }
    postwatch_matcher::risk::rescore_and_sort(&mut findings);
    if args.in_use_only {
        findings.retain(|f| f.in_use == InUse::Yes);
    }
    inventory.risk = Some(postwatch_matcher::risk::summarize(&findings));
    inventory.fixes = Some(postwatch_matcher::package_fixes(
        &inventory.packages,
        &findings,
    ));
    inventory.findings = Some(findings);
    Ok(())
}

/// Sends the inventory to a server as a full report of an image (or host) asset.
fn upload(server: &str, args: &ScanArgs, inventory: &Inventory) -> Result<()> {
    use postwatch_model::fleet::{AssetKind, AssetRef, InventoryPayload, Report};
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("POSTWATCH_TOKEN").ok())
        .context("--server needs --token (a user API token from `postwatch token`)")?;
    let image = inventory.target.image.as_ref();
    let asset = match inventory.target.kind {
        TargetKind::Host => AssetRef {
            kind: AssetKind::Host,
            name: postwatch_agent::facts::host_facts(
                std::path::Path::new("/"),
                std::path::Path::new("/proc"),
                std::path::Path::new("/sys"),
                Default::default(),
            )
            .hostname,
            host: None,
            image_digest: None,
        },
        _ => AssetRef {
            kind: AssetKind::Image,
            name: image
                .and_then(|i| i.repo_tags.first().cloned())
                .unwrap_or_else(|| args.target.clone()),
            host: None,
            image_digest: image.and_then(|i| i.manifest_digest.clone()),
        },
    };
    let now = now();
    let report = Report {
        protocol: postwatch_model::fleet::FLEET_PROTOCOL_VERSION.to_owned(),
        report_id: format!("scan-{}-{}", std::process::id(), now.unix_timestamp_nanos()),
        taken_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        asset,
        facts: None,
        container: None,
        inventory: InventoryPayload::Full {
            target: inventory.target.clone(),
            os: inventory.os.clone(),
            packages: inventory
                .packages
                .iter()
                .map(|p| postwatch_model::Package {
                    files: Vec::new(),
                    ..p.clone()
                })
                .collect(),
        },
        in_use: inventory.in_use.clone(),
    };
    // The same trust as `postwatch agent`: --ca-file, else POSTWATCH_CA_FILE, else
    // the system's store.
    let ca_file = args.ca_file.clone().or_else(|| {
        std::env::var_os("POSTWATCH_CA_FILE")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    });
    let config = postwatch_agent::client::ClientConfig {
        ca_file,
        ..postwatch_agent::client::ClientConfig::default()
    };
    let client = postwatch_agent::client::Client::new(server, &token, &config)?;
    let ack = client.send(&report)?;
    if !ack.stored {
        bail!(
            "the server did not store the inventory: {}",
            ack.reason.unwrap_or_default()
        );
    }
    if !args.quiet {
        eprintln!("uploaded to {server} as report {}", ack.report_id);
    }
    Ok(())
}

fn print_warnings(inventory: &Inventory) {
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
            inventory.target.name
        );
    }
}
