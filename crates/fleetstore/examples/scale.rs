//! Measures the fleet store at the scale target: N assets × P packages × F findings
//! (deterministic synthetic data: it measures the store, not matching).
//!
//! ```text
//! cargo run --release -p postwatch-fleetstore --example scale -- \
//!     [--assets 2000] [--packages 500] [--findings 20] [--runs 50] \
//!     [--history-days 400] [--dir /var/tmp/fleet-scale]
//! ```
//!
//! Phases: (1) one full report + replace_findings per asset, timed per call; (2) one
//! delta report (5 packages changed) + replace_findings per asset, the steady state;
//! (3) `--history-days` of daily history for every asset, written straight into the
//! history tables (replaying them through replace_findings would take hours of fsyncs
//! and measure nothing new); (4) every query, `--runs` times each: p50 / p99 / max.
//! Prints peak RSS (VmHWM) and the database size.

use postwatch_fleetstore::{AssetFilter, FindingFilter, Store};
use postwatch_model::fleet::{
    package_key, AssetKind, AssetRef, HostFacts, InventoryPayload, Report, FLEET_PROTOCOL_VERSION,
};
use postwatch_model::{
    Finding, FindingPackage, FixState, InUse, KevInfo, OsInfo, Package, PackageManager, Severity,
    Target, TargetKind,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use time::macros::datetime;

struct Args {
    assets: usize,
    packages: usize,
    findings: usize,
    runs: usize,
    history_days: i64,
    dir: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        assets: 2000,
        packages: 500,
        findings: 20,
        runs: 50,
        history_days: 400,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--assets" => args.assets = number()?,
            "--packages" => args.packages = number()?,
            "--findings" => args.findings = number()?,
            "--runs" => args.runs = number()?.max(1),
            "--history-days" => args.history_days = number()? as i64,
            "--dir" => args.dir = Some(PathBuf::from(&value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// xorshift64*: deterministic, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const OSES: [(&str, &str, &str, &str); 4] = [
    (
        "debian",
        "12",
        "Debian GNU/Linux 12 (bookworm)",
        "Debian:12",
    ),
    (
        "debian",
        "11",
        "Debian GNU/Linux 11 (bullseye)",
        "Debian:11",
    ),
    ("ubuntu", "22.04", "Ubuntu 22.04.4 LTS", "Ubuntu:22.04"),
    (
        "almalinux",
        "9.3",
        "AlmaLinux 9.3 (Shamrock Pink)",
        "AlmaLinux:9",
    ),
];

fn os_of(asset: usize) -> OsInfo {
    let (id, version, pretty, eco) = OSES[asset % OSES.len()];
    OsInfo {
        id: id.into(),
        version_id: Some(version.into()),
        version_codename: None,
        pretty_name: Some(pretty.into()),
        id_like: vec![],
        ecosystem: Some(eco.into()),
        source_file: "etc/os-release".into(),
    }
}

/// Package `n` of the shared name pool (hosts overlap heavily, as real fleets do).
fn package(asset: usize, n: usize, generation: usize) -> Package {
    let os = os_of(asset);
    let eco = os.ecosystem.unwrap_or_default();
    let name = format!(
        "lib{}-{}",
        ["ssl", "xml", "curl", "z", "gnutls", "krb5", "png"][n % 7],
        n
    );
    let version = format!(
        "{}.{}.{}-{}",
        1 + n % 5,
        n % 17,
        (asset + generation) % 3,
        1 + generation
    );
    Package {
        purl: format!(
            "pkg:deb/{}/{name}@{version}?arch=amd64&distro={}",
            os.id,
            eco.replace(':', "-").to_lowercase()
        ),
        name: name.clone(),
        version: version.clone(),
        ecosystem: eco,
        package_manager: PackageManager::Dpkg,
        arch: Some("amd64".into()),
        source_name: Some(format!("src-{}", n / 3)),
        source_version: Some(version),
        epoch: None,
        license: Some("GPL-2.0-or-later".into()),
        found_in: "var/lib/dpkg/status".into(),
        file_count: 10 + n % 40,
        files: vec![],
    }
}

fn asset_ref(i: usize) -> AssetRef {
    if i % 10 == 9 {
        AssetRef {
            kind: AssetKind::Image,
            name: format!("registry.example/app-{i}:1.{}", i % 7),
            host: None,
            image_digest: Some(format!("sha256:{i:064x}")),
        }
    } else {
        AssetRef {
            kind: AssetKind::Host,
            name: format!("host-{i:05}"),
            host: None,
            image_digest: None,
        }
    }
}

fn facts(i: usize) -> HostFacts {
    HostFacts {
        hostname: format!("host-{i:05}"),
        os: Some(os_of(i)),
        kernel: Some("6.1.0-18-amd64".into()),
        cpu_model: Some("Synthetic CPU".into()),
        cpu_cores: [1, 2, 2, 4, 8, 16][i % 6],
        memory_bytes: [2u64, 4, 8, 8, 16, 64][(i / 6) % 6] << 30,
        cloud: None,
        tags: Default::default(),
        agent_version: "0.1.0".into(),
    }
}

fn finding(rng: &mut Rng, p: &Package, cve: usize, in_use_known: bool) -> Finding {
    let severity = [
        Severity::Critical,
        Severity::High,
        Severity::High,
        Severity::Medium,
        Severity::Medium,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ][rng.below(8)];
    let in_use = if !in_use_known {
        InUse::Unknown
    } else if rng.below(4) == 0 {
        InUse::Yes
    } else {
        InUse::No
    };
    let fixable = rng.below(3) != 0;
    let id = format!("CVE-2024-{:05}", cve);
    Finding {
        id: id.clone(),
        aliases: vec![format!("DSA-{cve}-1")],
        records: vec![format!("DEBIAN-{id}")],
        package: FindingPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            ecosystem: p.ecosystem.clone(),
            purl: p.purl.clone(),
            matched_name: p.source_name.clone().unwrap_or_default(),
            matched_version: p.version.clone(),
        },
        severity,
        severity_source: "cvss".into(),
        cvss: None,
        vendor_severity: Some("medium".into()),
        fix_state: if fixable {
            FixState::Fixed
        } else {
            FixState::Unfixed
        },
        fixed_versions: if fixable {
            vec![format!("{}+deb12u1", p.version)]
        } else {
            vec![]
        },
        fix_command: fixable.then(|| format!("apt-get install --only-upgrade {}", p.name)),
        kev: (rng.below(20) == 0).then(|| KevInfo {
            cve: id.clone(),
            date_added: "2024-01-10".into(),
            known_ransomware_use: false,
            due_date: "2024-01-31".into(),
        }),
        epss: None,
        summary: Some(format!(
            "A flaw in {} allows a remote attacker to cause a denial of service or possibly \
             execute code via crafted input.",
            p.name
        )),
        references: vec![format!("https://security-tracker.debian.org/tracker/{id}")],
        in_use,
        in_use_evidence: vec![],
        fix_available: None,
        available_version: None,
        risk: (rng.below(10_000) as f64) / 100.0,
    }
}

fn findings_for(asset: usize, packages: &[Package], n: usize, round: u64) -> Vec<Finding> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((asset as u64) << 8) ^ round);
    let host = asset_ref(asset).kind == AssetKind::Host;
    (0..n)
        .map(|k| {
            let p = &packages[rng.below(packages.len())];
            // Shared CVE space, so vulnerabilities repeat across the fleet.
            let cve = (asset * 7 + k * 13 + round as usize) % 3000;
            finding(&mut rng, p, cve, host)
        })
        .collect()
}

struct Stats(Vec<Duration>);

impl Stats {
    fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(i).copied().unwrap_or_default()
    }
    fn line(&self, name: &str) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let total: Duration = self.0.iter().sum();
        format!(
            "{name:<44} n={:<5} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms  total={:>8.1} s",
            self.0.len(),
            ms(self.pct(0.5)),
            ms(self.pct(0.99)),
            ms(self.pct(1.0)),
            total.as_secs_f64()
        )
    }
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            if d.join("fleet.db").exists() {
                return Err(format!("{} already holds a fleet.db", d.display()).into());
            }
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("fleet-scale")
                .tempdir_in(std::env::temp_dir())?;
            tmp.path().to_owned()
        }
    };
    println!(
        "fleet store scale: {} assets x {} packages x {} findings, {} runs per query, {} days of history, in {}",
        args.assets,
        args.packages,
        args.findings,
        args.runs,
        args.history_days,
        dir.display()
    );
    let store = Store::open(&dir)?;
    let day0 = datetime!(2025-01-01 06:00 UTC);

    // Phase 1: full reports.
    let (mut reports, mut replaces, mut per_asset) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    let mut ids = Vec::with_capacity(args.assets);
    for i in 0..args.assets {
        let packages: Vec<Package> = (0..args.packages)
            .map(|n| package(i, n * 3 + i % 3, 0))
            .collect();
        let asset = asset_ref(i);
        let report = Report {
            protocol: FLEET_PROTOCOL_VERSION.into(),
            report_id: format!("{i}-0"),
            taken_at: "2025-01-01T06:00:00Z".into(),
            facts: (asset.kind == AssetKind::Host).then(|| facts(i)),
            container: None,
            inventory: InventoryPayload::Full {
                target: Target {
                    name: asset.name.clone(),
                    kind: if asset.kind == AssetKind::Host {
                        TargetKind::Host
                    } else {
                        TargetKind::OciArchive
                    },
                    image: None,
                },
                os: Some(os_of(i)),
                packages: packages.clone(),
            },
            asset,
            in_use: None,
        };
        let t = Instant::now();
        let (ack, id) = store.store_report(&report, Some("agent-scale"))?;
        let stored = t.elapsed();
        let id = id.filter(|_| ack.stored).ok_or("report not stored")?;
        let findings = findings_for(i, &packages, args.findings, 0);
        let t2 = Instant::now();
        store.replace_findings(id, &findings, day0)?;
        let replaced = t2.elapsed();
        reports.push(stored);
        replaces.push(replaced);
        per_asset.push(stored + replaced);
        ids.push(id);
    }
    println!(
        "phase 1: {} full reports in {:.1} s",
        args.assets,
        started.elapsed().as_secs_f64()
    );
    println!("{}", Stats(reports).line("store_report (full)"));
    println!("{}", Stats(replaces).line("replace_findings (all new)"));
    println!(
        "{}",
        Stats(per_asset).line("store_report + replace_findings")
    );

    // Phase 2: deltas, the steady state.
    let (mut reports, mut replaces) = (Vec::new(), Vec::new());
    let day1 = day0 + time::Duration::days(1);
    for (i, &id) in ids.iter().enumerate() {
        let removed: Vec<Package> = (0..5).map(|k| package(i, k * 3 + i % 3, 0)).collect();
        let added: Vec<Package> = (0..5).map(|k| package(i, k * 3 + i % 3, 1)).collect();
        let report = Report {
            protocol: FLEET_PROTOCOL_VERSION.into(),
            report_id: format!("{i}-1"),
            taken_at: "2025-01-02T06:00:00Z".into(),
            asset: asset_ref(i),
            facts: None,
            container: None,
            inventory: InventoryPayload::Delta {
                base: format!("{i}-0"),
                os: None,
                added,
                removed: removed.iter().map(package_key).collect(),
            },
            in_use: None,
        };
        let t = Instant::now();
        let (ack, _) = store.store_report(&report, Some("agent-scale"))?;
        reports.push(t.elapsed());
        if !ack.stored {
            return Err(format!("delta {i} refused: {:?}", ack.reason).into());
        }
        let packages: Vec<Package> = (0..args.packages)
            .map(|n| package(i, n * 3 + i % 3, 0))
            .collect();
        let findings = findings_for(i, &packages, args.findings, 1);
        let t = Instant::now();
        store.replace_findings(id, &findings, day1)?;
        replaces.push(t.elapsed());
    }
    println!("{}", Stats(reports).line("store_report (delta, 5 changed)"));
    println!("{}", Stats(replaces).line("replace_findings (some churn)"));

    // Phase 3: synthetic history for the days before phase 1, straight into the tables,
    // delta-encoded for the fleet as replace_findings would have written it.
    if args.history_days > 2 {
        let t = Instant::now();
        let mut conn = rusqlite::Connection::open(store.path())?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let tx = conn.transaction()?;
        let day0_number = i64::from(day0.date().to_julian_day());
        let first = day0_number - args.history_days + 2;
        let last = day0_number - 1;
        // (day, severity, in_use, fixable) → fleet delta; day → (assets delta, new, resolved).
        let mut fleet: HashMap<(i64, i64, &str, i64), i64> = HashMap::new();
        let mut fleet_changes: HashMap<i64, (i64, i64, i64)> = HashMap::new();
        {
            let mut counts = tx.prepare(
                "INSERT INTO daily_counts(asset_id, day, severity, in_use, fixable, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut changes = tx.prepare(
                "INSERT INTO daily_changes(asset_id, day, new, resolved, reopened)
                 VALUES (?1, ?2, ?3, ?4, 0)",
            )?;
            let mut rng = Rng(42);
            for &id in &ids {
                let mut previous: HashMap<(i64, &str, i64), i64> = HashMap::new();
                for day in first..=last {
                    // ~8 non-empty cells per asset and day, `findings` in all.
                    let mut cells: HashMap<(i64, &str, i64), i64> = HashMap::new();
                    let mut left = args.findings as i64;
                    for cell in 0..8i64 {
                        let n = if cell == 7 {
                            left
                        } else {
                            (rng.below(4) as i64).min(left)
                        };
                        left -= n;
                        if n > 0 {
                            let key = (
                                cell % 5,
                                ["yes", "no", "unknown"][(cell % 3) as usize],
                                cell % 2,
                            );
                            *cells.entry(key).or_insert(0) += n;
                        }
                    }
                    for (&(sev, in_use, fix), &n) in &cells {
                        counts.execute(rusqlite::params![id, day, sev, in_use, fix, n])?;
                        *fleet.entry((day, sev, in_use, fix)).or_insert(0) += n;
                    }
                    for (&(sev, in_use, fix), &n) in &previous {
                        *fleet.entry((day, sev, in_use, fix)).or_insert(0) -= n;
                    }
                    let (new, resolved) = (rng.below(2) as i64, rng.below(2) as i64);
                    changes.execute(rusqlite::params![id, day, new, resolved])?;
                    let e = fleet_changes.entry(day).or_insert((0, 0, 0));
                    e.0 += i64::from(day == first);
                    e.1 += new;
                    e.2 += resolved;
                    previous = cells;
                }
                // Phase 1's snapshot was written as the asset's first: it now follows
                // the injected ones.
                for (&(sev, in_use, fix), &n) in &previous {
                    *fleet.entry((day0_number, sev, in_use, fix)).or_insert(0) -= n;
                }
                fleet_changes.entry(day0_number).or_insert((0, 0, 0)).0 -= 1;
            }
            let mut add = tx.prepare(
                "INSERT INTO fleet_daily_counts(day, severity, in_use, fixable, delta)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO UPDATE SET delta = delta + excluded.delta",
            )?;
            for ((day, sev, in_use, fix), delta) in fleet {
                add.execute(rusqlite::params![day, sev, in_use, fix, delta])?;
            }
            let mut add = tx.prepare(
                "INSERT INTO fleet_daily_changes(day, assets, new, resolved, reopened)
                 VALUES (?1, ?2, ?3, ?4, 0)
                 ON CONFLICT DO UPDATE SET assets = assets + excluded.assets,
                    new = new + excluded.new, resolved = resolved + excluded.resolved",
            )?;
            for (day, (assets, new, resolved)) in fleet_changes {
                add.execute(rusqlite::params![day, assets, new, resolved])?;
            }
        }
        tx.commit()?;
        let rows: i64 = conn.query_row("SELECT count(*) FROM daily_counts", [], |r| r.get(0))?;
        println!(
            "phase 3: {} days of history for {} assets ({rows} daily_counts rows) in {:.1} s",
            args.history_days,
            ids.len(),
            t.elapsed().as_secs_f64()
        );
        // The fleet's history must still add up: every day has every asset.
        let points = store.history(
            None,
            day0.date() - time::Duration::days(args.history_days),
            day1.date(),
        )?;
        let full_days = points
            .iter()
            .filter(|p| p.assets == ids.len() as u64)
            .count();
        if full_days != points.len() || points.len() as i64 != args.history_days {
            return Err(format!(
                "fleet history inconsistent: {} points, {full_days} with all assets",
                points.len()
            )
            .into());
        }
    }

    // Phase 4: queries.
    let mid = ids.get(ids.len() / 2).copied().unwrap_or(1);
    let to = day1.date();
    let from = to - time::Duration::days(args.history_days - 1);
    let mut rows = Vec::new();
    macro_rules! bench {
        ($name:expr, $body:expr) => {{
            let mut times = Vec::with_capacity(args.runs);
            let mut size = 0usize;
            for _ in 0..args.runs {
                let t = Instant::now();
                let out = $body?;
                times.push(t.elapsed());
                size = out;
            }
            rows.push(format!("{}  -> {} items", Stats(times).line($name), size));
        }};
    }
    bench!(
        "fleet_summary",
        store.fleet_summary().map(|s| s.top_packages.len())
    );
    bench!(
        "findings (default: open, limit 1000)",
        store.findings(&FindingFilter::default()).map(|v| v.len())
    );
    bench!(
        "findings (limit 10000)",
        store
            .findings(&FindingFilter {
                limit: Some(10_000),
                ..Default::default()
            })
            .map(|v| v.len())
    );
    bench!(
        "findings (one asset)",
        store
            .findings(&FindingFilter {
                asset: Some(mid),
                ..Default::default()
            })
            .map(|v| v.len())
    );
    bench!(
        "findings (critical, in use)",
        store
            .findings(&FindingFilter {
                severity: vec![Severity::Critical],
                in_use: Some(InUse::Yes),
                ..Default::default()
            })
            .map(|v| v.len())
    );
    bench!(
        "findings (kev, fixable)",
        store
            .findings(&FindingFilter {
                kev: Some(true),
                fixable: Some(true),
                ..Default::default()
            })
            .map(|v| v.len())
    );
    bench!(
        "findings (package libssl-0)",
        store
            .findings(&FindingFilter {
                package: Some("libssl-0".into()),
                ..Default::default()
            })
            .map(|v| v.len())
    );
    bench!(
        "findings (include resolved, offset 5000)",
        store
            .findings(&FindingFilter {
                include_resolved: true,
                offset: 5000,
                ..Default::default()
            })
            .map(|v| v.len())
    );
    bench!(
        "count_findings (default)",
        store
            .count_findings(&FindingFilter::default())
            .map(|n| n as usize)
    );
    bench!(
        "assets (all)",
        store.assets(&AssetFilter::default()).map(|v| v.len())
    );
    bench!(
        "assets (images)",
        store
            .assets(&AssetFilter {
                kind: Some(AssetKind::Image),
                ..Default::default()
            })
            .map(|v| v.len())
    );
    bench!(
        "asset (one)",
        store.asset(mid).map(|a| usize::from(a.is_some()))
    );
    bench!(
        "inventory (one asset)",
        store
            .inventory(mid)
            .map(|i| i.map_or(0, |i| i.packages.len()))
    );
    bench!(
        "package_assets (libssl-0)",
        store.package_assets("libssl-0", None).map(|v| v.len())
    );
    bench!(
        &format!("history (fleet, {} days)", args.history_days),
        store.history(None, from, to).map(|v| v.len())
    );
    bench!(
        &format!("history (one asset, {} days)", args.history_days),
        store.history(Some(mid), from, to).map(|v| v.len())
    );
    bench!(
        "authenticate (unknown token)",
        store
            .authenticate("pwu_0000000000000000000000000000000000000000000000000000000000000000")
            .map(|p| usize::from(p.is_some()))
    );
    println!("phase 4: queries");
    for r in rows {
        println!("{r}");
    }

    let t = Instant::now();
    let pruned = store.prune_history(args.history_days.max(1) as u32 - 1, to)?;
    println!(
        "prune_history (one day of {} assets): {pruned} rows in {:.1} ms",
        ids.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );

    println!(
        "peak RSS (VmHWM): {:.1} MiB; RSS now: {:.1} MiB; database + WAL: {:.1} MiB",
        status_kib("VmHWM:") as f64 / 1024.0,
        status_kib("VmRSS:") as f64 / 1024.0,
        dir_size(&dir) as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("scale: {e}");
        std::process::exit(1);
    }
}
