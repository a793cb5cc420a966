//! `postwatch agent`: inventories this host (or another root filesystem) and its
//! running containers on an interval and whenever a package database changes, and
//! ships the result to the server — through a durable queue, so nothing is lost
//! while the server is unreachable.

use anyhow::{bail, Context, Result};
use clap::Args;
use postwatch_agent::client::{Backoff, Client, ClientConfig, SendError};
use postwatch_agent::overlay::OverlayTree;
use postwatch_agent::queue::{MetricsBatch, PushOutcome, Queue};
use postwatch_agent::state::{Enrolment, StateDir};
use postwatch_agent::{containers, delta, facts, watch::DbWatcher};
use postwatch_inventory::PackageTypes;
use postwatch_model::fleet::{
    AssetKind, AssetRef, ContainerFacts, HostFacts, InventoryPayload, Report,
    FLEET_PROTOCOL_VERSION,
};
use postwatch_model::{InUseSummary, OsInfo, Package, Target, TargetKind};
use postwatch_target::{Limits, OpenOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Args, Clone)]
pub struct AgentArgs {
    /// The server's URL (`https://postwatch.example:8731`; plain http only to loopback
    /// unless --allow-plain-http).
    #[arg(long, value_name = "URL")]
    server: String,
    /// The fleet's enrolment token, needed on the first run only (or set
    /// POSTWATCH_ENROL_TOKEN). The agent keeps its own credential afterwards.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Root filesystem to inventory: this host by default; another directory for a
    /// mounted volume or an unpacked image.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// The asset's name [default: the hostname of --root].
    #[arg(long)]
    name: Option<String>,
    /// Where the agent keeps its credential and queue [default:
    /// ~/.local/share/postwatch/agent].
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Time between inventories (a changed package database triggers one sooner).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::scan::parse_duration)]
    interval: Duration,
    /// Take one inventory, deliver everything queued, and exit (exit code 4 when the
    /// server could not be reached: the reports stay queued for the next run).
    #[arg(long)]
    once: bool,
    /// A tag for this host (repeatable): --tag env=prod --tag team=payments.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    /// Largest size of the queue of undelivered reports.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = crate::scan::parse_size)]
    queue_limit: u64,
    /// Do not read /proc for what running processes load (on the host, or with --root,
    /// the processes chrooted into that root).
    #[arg(long)]
    no_in_use: bool,
    /// Also report each running container (from its own root filesystem) and, when the
    /// runtime's storage holds its layers (docker overlay2, podman/CRI-O
    /// containers/storage, containerd's overlayfs or native snapshotter, Kubernetes
    /// included), its image as an asset of its own. With --root, the containers the
    /// runtimes under it recorded, read from their layers.
    #[arg(long)]
    containers: bool,
    /// Allow http:// to a server that is not on this machine (the credential then
    /// travels in clear text).
    #[arg(long)]
    allow_plain_http: bool,
    /// Trust the CA certificates in this PEM file (instead of the system's store) for
    /// the server's certificate: a self-hosted server's private CA. Or set
    /// POSTWATCH_CA_FILE.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Time between host metric collections sent to the server (CPU, memory, disks,
    /// filesystems, network, processes under node_exporter's names, labelled
    /// job="node", instance=NAME); 0 turns them off. Only for the host itself: with
    /// another --root they are off.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = crate::scan::parse_duration)]
    metrics_interval: Duration,
    /// How much host metrics history is queued on disk while the server is unreachable
    /// (delivered in order once it is back); beyond it the oldest collections are
    /// dropped, with a warning. The queue is also bounded by --queue-limit.
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = crate::scan::parse_duration)]
    metrics_queue: Duration,
    /// Internal: take one inventory, queue its reports, deliver everything queued and
    /// exit (0: all delivered; 4: some stay queued). The agent runs each such cycle in
    /// a child process.
    #[arg(long, hide = true)]
    report_cycle: bool,
    /// Internal: enrol with the server (the enrolment token in POSTWATCH_ENROL_TOKEN)
    /// and exit. The agent enrols in such a child process.
    #[arg(long, hide = true, conflicts_with = "report_cycle")]
    enrol_only: bool,
    /// Internal, with --report-cycle: deliver what is queued, take no inventory.
    #[arg(long, hide = true, requires = "report_cycle")]
    deliver_only: bool,
    /// Internal, with --report-cycle: the server was already unreachable at the last
    /// cycle (and the agent said so); do not repeat the message.
    #[arg(long, hide = true, requires = "report_cycle")]
    retrying: bool,
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// Exit code of `--once` when reports stay queued.
const EXIT_UNDELIVERED: u8 = 4;

impl AgentArgs {
    /// The agent `postwatch up` runs for this host.
    pub fn local(server: &str, token: &str, state: &Path, interval: Duration) -> AgentArgs {
        AgentArgs {
            server: server.to_owned(),
            token: Some(token.to_owned()),
            root: PathBuf::from("/"),
            name: None,
            state: Some(state.to_owned()),
            interval,
            once: false,
            tags: Vec::new(),
            queue_limit: 256 << 20,
            no_in_use: false,
            containers: true,
            allow_plain_http: false,
            ca_file: None,
            metrics_interval: Duration::from_secs(15),
            metrics_queue: Duration::from_secs(2 * 3600),
            report_cycle: false,
            enrol_only: false,
            deliver_only: false,
            retrying: false,
        }
    }
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// One asset's state, ready to report.
struct Observed {
    asset: AssetRef,
    facts: Option<HostFacts>,
    container: Option<ContainerFacts>,
    target: Target,
    os: Option<OsInfo>,
    packages: Vec<Package>,
    in_use: Option<InUseSummary>,
}

/// The state directory: --state, or the default under the user's data directory.
fn state_dir_of(args: &AgentArgs) -> PathBuf {
    args.state
        .clone()
        .unwrap_or_else(|| crate::serve::default_data_dir().join("agent"))
}

fn client_config(args: &AgentArgs) -> ClientConfig {
    let ca_file = args.ca_file.clone().or_else(|| {
        std::env::var_os("POSTWATCH_CA_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    ClientConfig {
        allow_plain_http: args.allow_plain_http,
        ca_file,
        ..ClientConfig::default()
    }
}

pub fn run(args: AgentArgs) -> Result<ExitCode> {
    if args.report_cycle || args.enrol_only {
        postwatch_agent::exit_with_parent();
    }
    if args.report_cycle {
        // A child of the running agent, which holds the state directory's lock.
        let cycle = report_cycle(
            &args,
            &client_config(&args),
            !args.deliver_only,
            !args.retrying,
        )?;
        return Ok(match cycle.delivered {
            true => ExitCode::SUCCESS,
            false => ExitCode::from(EXIT_UNDELIVERED),
        });
    }
    let state_dir = state_dir_of(&args);
    let mut state = StateDir::open(&state_dir)?;
    let config = client_config(&args);
    if args.enrol_only {
        // A child of the running agent, which holds the state directory's lock.
        enrol(&args, &mut state, &config)?;
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = state.lock()?;
    if args.once {
        enrol(&args, &mut state, &config)?;
        let cycle = report_cycle(&args, &config, true, true)?;
        if cycle.delivered {
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "agent: {} report(s) stay queued in {}; they are sent on the next run",
            cycle.queued,
            cycle.queue_dir.display()
        );
        return Ok(ExitCode::from(EXIT_UNDELIVERED));
    }
    let enrolment = enrol_in_child(&args, &mut state, &config)?;
    // Host metrics run on a thread of their own from now on: an inventory can take
    // minutes, and metrics must not wait for it.
    if let Some(metrics) = HostMetrics::new(&args, &state_dir)? {
        let client = Client::new(&args.server, &enrolment.credential, &config)?;
        std::thread::Builder::new()
            .name("host-metrics".into())
            .spawn(move || metrics.run(&client))
            .context("cannot start the host metrics thread")?;
    }
    let watcher = DbWatcher::new(&args.root)
        .map_err(|e| eprintln!("agent: {e}; rescanning on the interval only"))
        .ok();
    let mut backoff = Backoff::new();
    let mut next_inventory = Instant::now();
    loop {
        let take_inventory = Instant::now() >= next_inventory;
        // Inventories and reports (parsing package databases, JSON, deltas) run in a
        // child process: this one idles with only the metrics and scheduling code in
        // memory, and a parser failing on a hostile file cannot take the agent down.
        let delivered = cycle_in_child(
            &args,
            &state_dir,
            &config,
            take_inventory,
            backoff.failures() > 0,
        )?;
        if take_inventory {
            next_inventory = Instant::now() + args.interval;
        }
        if delivered {
            backoff.reset();
        }
        postwatch_agent::release_memory();
        // Wait for the next inventory, a database change, or the next retry.
        let retry_at = (!delivered).then(|| Instant::now() + backoff.next_delay());
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let now = Instant::now();
            if watcher.as_ref().is_some_and(|w| w.changed()) {
                next_inventory = now;
                break;
            }
            if now >= next_inventory || retry_at.is_some_and(|t| now >= t) {
                break;
            }
        }
    }
}

/// What a report cycle left behind.
struct Cycle {
    /// Everything queued reached the server.
    delivered: bool,
    /// Reports still queued.
    queued: usize,
    queue_dir: PathBuf,
}

/// Takes an inventory (when `take_inventory`), queues its reports and delivers
/// everything queued. `report_outage`: say so when the server cannot be reached.
fn report_cycle(
    args: &AgentArgs,
    config: &ClientConfig,
    take_inventory: bool,
    report_outage: bool,
) -> Result<Cycle> {
    let state_dir = state_dir_of(args);
    let mut state = StateDir::open(&state_dir)?;
    let enrolment = state
        .enrolment()?
        .ok_or_else(|| postwatch_agent::AgentError::NotEnrolled {
            dir: state_dir.clone(),
        })?;
    let client = Client::new(&args.server, &enrolment.credential, config)?;
    let mut queue = Queue::open(&state_dir.join("queue"), args.queue_limit)?;
    if take_inventory {
        for observed in observe(args)? {
            queue_report(&mut state, &mut queue, observed)?;
        }
    }
    let delivered = deliver(&client, &mut state, &mut queue, report_outage)?;
    Ok(Cycle {
        delivered,
        queued: queue.len(),
        queue_dir: queue.dir().to_owned(),
    })
}

/// `postwatch agent MODE` for a child process of this same binary, with the server,
/// root, name, state directory and TLS settings of this agent.
fn child_command(
    args: &AgentArgs,
    state_dir: &Path,
    config: &ClientConfig,
    mode: &str,
) -> Result<Command> {
    // /proc/self/exe still runs after a package upgrade replaced the file on disk.
    let exe = match Path::new("/proc/self/exe").exists() {
        true => PathBuf::from("/proc/self/exe"),
        false => std::env::current_exe().context("cannot find the postwatch binary")?,
    };
    let mut cmd = Command::new(exe);
    cmd.args(["agent", mode, "--server", &args.server])
        .arg("--root")
        .arg(&args.root)
        .arg("--state")
        .arg(state_dir);
    if let Some(name) = &args.name {
        cmd.args(["--name", name]);
    }
    if config.allow_plain_http {
        cmd.arg("--allow-plain-http");
    }
    if let Some(ca_file) = &config.ca_file {
        cmd.arg("--ca-file").arg(ca_file);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    Ok(cmd)
}

/// Runs [`report_cycle`] in a child process of this same binary. An inventory touches
/// most of the program and peaks at tens of MB; a child returns all of it when it
/// exits. Returns whether everything queued was delivered.
fn cycle_in_child(
    args: &AgentArgs,
    state_dir: &Path,
    config: &ClientConfig,
    take_inventory: bool,
    retrying: bool,
) -> Result<bool> {
    let mut cmd = child_command(args, state_dir, config, "--report-cycle")?;
    cmd.arg("--queue-limit").arg(args.queue_limit.to_string());
    for (key, value) in &args.tags {
        cmd.arg("--tag").arg(format!("{key}={value}"));
    }
    if args.no_in_use {
        cmd.arg("--no-in-use");
    }
    if args.containers {
        cmd.arg("--containers");
    }
    if !take_inventory {
        cmd.arg("--deliver-only");
    }
    if retrying {
        cmd.arg("--retrying");
    }
    let status = cmd.status().context("cannot start the inventory process")?;
    match status.code() {
        Some(0) => Ok(true),
        Some(code) if code == i32::from(EXIT_UNDELIVERED) => Ok(false),
        _ => bail!("the inventory and report process failed ({status}); its errors are above"),
    }
}

/// The host's metrics, collected every `--metrics-interval` on a thread of their own
/// and queued on disk before they are sent, so that a server outage (or an agent
/// restart during one) loses nothing: the queue is delivered in order once the server
/// answers. It holds `--metrics-queue` worth of collections; beyond that the oldest
/// are dropped, with a warning.
struct HostMetrics {
    collector: postwatch_hostmetrics::Collector,
    queue: Queue<MetricsBatch>,
    instance: String,
    interval: Duration,
    window: Duration,
    /// The server is not taking batches (logged once per outage).
    failing: bool,
    /// Oldest batches dropped since the last delivery, for one warning per outage.
    dropped: u64,
}

impl HostMetrics {
    fn new(args: &AgentArgs, state_dir: &Path) -> Result<Option<HostMetrics>> {
        if args.metrics_interval.is_zero() || args.root != Path::new("/") || args.once {
            return Ok(None);
        }
        let instance = args
            .name
            .clone()
            .unwrap_or_else(|| facts::host_name(&args.root, Path::new("/proc")));
        let collector = match postwatch_hostmetrics::Collector::new(
            postwatch_hostmetrics::Options::default(),
        ) {
            Ok(collector) => collector,
            Err(e) => {
                eprintln!("agent: host metrics are off: {e}");
                return Ok(None);
            }
        };
        // One collection per interval over the window, at least one.
        let collections = (args.metrics_queue.as_secs_f64() / args.metrics_interval.as_secs_f64())
            .ceil()
            .clamp(1.0, 1e9) as usize;
        let mut queue =
            Queue::<MetricsBatch>::open(&state_dir.join("metrics-queue"), args.queue_limit)?
                .with_max_items(collections);
        for w in queue.take_warnings() {
            eprintln!("agent: {w}");
        }
        if !queue.is_empty() {
            eprintln!(
                "agent: {} host metrics collection(s) from before the restart are queued in {}; sending them first",
                queue.len(),
                queue.dir().display()
            );
        }
        Ok(Some(HostMetrics {
            collector,
            queue,
            instance,
            interval: args.metrics_interval,
            window: args.metrics_queue,
            failing: false,
            dropped: 0,
        }))
    }

    /// Collects on the interval, and sends what is queued between collections.
    fn run(mut self, client: &Client) {
        let mut next = Instant::now();
        loop {
            let now = Instant::now();
            if now < next {
                std::thread::sleep(next - now);
            }
            next += self.interval;
            // After a stall (a suspended machine), start afresh instead of catching up.
            if next < Instant::now() {
                next = Instant::now() + self.interval;
            }
            if let Err(e) = self.collect_and_queue() {
                eprintln!("agent: host metrics: {e:#}");
            }
            self.deliver(client, next);
            // Each collection frees what it parsed and encoded: hand it back rather than
            // keep it until the next one.
            postwatch_agent::release_memory();
        }
    }

    fn collect_and_queue(&mut self) -> Result<()> {
        let families = self.collector.collect()?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let series = postwatch_agent::host_metrics::to_series(&families, &self.instance, now_ms);
        let batch = MetricsBatch {
            body: postwatch_agent::host_metrics::encode(&series),
        };
        match self.queue.push(&batch)? {
            PushOutcome::Queued { dropped, .. } if !dropped.is_empty() => {
                if self.dropped == 0 {
                    eprintln!(
                        "agent: WARNING: the host metrics queue in {} is full ({} collections, {} bytes, up to {} s of history): dropping the oldest collections until the server takes them again",
                        self.queue.dir().display(),
                        self.queue.len(),
                        self.queue.status().bytes,
                        self.window.as_secs()
                    );
                }
                self.dropped += dropped.len() as u64;
            }
            PushOutcome::Queued { .. } => {}
            PushOutcome::QueueFull {
                limit,
                report_bytes,
                ..
            } => eprintln!(
                "agent: WARNING: a host metrics collection of {report_bytes} bytes is larger than the whole queue ({limit} bytes): raise --queue-limit"
            ),
        }
        for w in self.queue.take_warnings() {
            eprintln!("agent: {w}");
        }
        Ok(())
    }

    /// Sends queued batches oldest first until the queue is empty, the server stops
    /// taking them, or the next collection is due.
    fn deliver(&mut self, client: &Client, until: Instant) {
        let mut sent = 0u64;
        loop {
            let (id, batch) = match self.queue.peek() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("agent: host metrics queue: {e}");
                    return;
                }
            };
            match client.write_metrics(&batch.body) {
                Ok(()) => sent += 1,
                Err(e) if e.is_retryable() || matches!(e.status(), Some(401 | 403)) => {
                    // Kept for later: the server is away, or refuses this agent's
                    // credential until someone acts.
                    if !self.failing {
                        self.failing = true;
                        eprintln!(
                            "agent: host metrics not delivered, queued in {} until the server takes them: {e}",
                            self.queue.dir().display()
                        );
                    }
                    return;
                }
                Err(e) => {
                    // The server read the batch and refused (part of) it: sending it
                    // again cannot help.
                    eprintln!("agent: a host metrics collection was refused and dropped: {e}");
                }
            }
            if let Err(e) = self.queue.ack(id) {
                eprintln!("agent: host metrics queue: {e}");
                return;
            }
            if Instant::now() >= until {
                break;
            }
        }
        if self.failing && sent > 0 {
            self.failing = false;
            let dropped = std::mem::take(&mut self.dropped);
            eprintln!(
                "agent: host metrics are delivered again ({} queued collection(s) left{})",
                self.queue.len(),
                if dropped > 0 {
                    format!("; the {dropped} oldest were dropped while the queue was full")
                } else {
                    String::new()
                }
            );
        }
    }
}

/// The enrolment token: --token, or POSTWATCH_ENROL_TOKEN.
fn enrolment_token(args: &AgentArgs) -> Result<String> {
    match args
        .token
        .clone()
        .or_else(|| std::env::var("POSTWATCH_ENROL_TOKEN").ok())
    {
        Some(token) => Ok(token),
        None => bail!("this agent is not enrolled with {}: pass --token with an enrolment token (`postwatch token --enrolment` on the server)", args.server),
    }
}

/// [`enrol`], with the enrolment itself (a JSON exchange, once in the agent's life) in
/// a child process, so that its code does not stay in the long-running agent's memory.
fn enrol_in_child(
    args: &AgentArgs,
    state: &mut StateDir,
    config: &ClientConfig,
) -> Result<Enrolment> {
    if let Some(e) = state.enrolment()? {
        if e.server == args.server {
            return Ok(e);
        }
    }
    // The secret goes to the child in its environment, not on its command line
    // (which every user can read in /proc).
    let token = enrolment_token(args)?;
    let status = child_command(args, state.dir(), config, "--enrol-only")?
        .env("POSTWATCH_ENROL_TOKEN", token)
        .status()
        .context("cannot start the enrolment process")?;
    if !status.success() {
        bail!("the enrolment process failed ({status}); its errors are above");
    }
    match state.enrolment()? {
        Some(e) if e.server == args.server => Ok(e),
        _ => bail!(
            "the enrolment process saved no enrolment with {} in {}",
            args.server,
            state.dir().display()
        ),
    }
}

/// The agent's credential: kept from an earlier enrolment with this server, or
/// obtained now with the enrolment token.
fn enrol(args: &AgentArgs, state: &mut StateDir, config: &ClientConfig) -> Result<Enrolment> {
    if let Some(e) = state.enrolment()? {
        if e.server == args.server {
            return Ok(e);
        }
        eprintln!(
            "agent: enrolled with {} before; enrolling with {} now",
            e.server, args.server
        );
    }
    let token = enrolment_token(args)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| facts::host_name(&args.root, Path::new("/proc")));
    let answer = Client::enrol(&args.server, &token, &name, config)?;
    let enrolment = Enrolment {
        server: args.server.clone(),
        agent_id: answer.agent_id,
        credential: answer.credential,
    };
    state.save_enrolment(&enrolment)?;
    Ok(enrolment)
}

fn options<'a>(
    kind: TargetKind,
    progress: &'a dyn Fn(postwatch_target::Progress),
) -> OpenOptions<'a> {
    OpenOptions {
        kind: Some(kind),
        wanted: &postwatch_inventory::wants,
        probe: Some(postwatch_inventory::probe()),
        limits: Limits::default(),
        progress,
    }
}

/// One root filesystem's inventory.
struct Inventoried {
    target: Target,
    os: Option<OsInfo>,
    packages: Vec<Package>,
    in_use: Option<InUseSummary>,
}

/// Inventories the layers of an image or a container, as the runtime stores them.
fn inventory_of_layers(name: &str, layers: &[PathBuf]) -> Result<Inventoried> {
    let tree = OverlayTree::new(layers.to_vec());
    let collected = postwatch_inventory::collect_types(&tree, PackageTypes::default())
        .with_context(|| format!("cannot read packages in the layers of {name}"))?;
    let mut packages = collected.packages;
    for p in &mut packages {
        p.files = Vec::new();
    }
    Ok(Inventoried {
        target: Target {
            name: name.to_owned(),
            kind: TargetKind::Rootfs,
            image: None,
        },
        os: collected.os,
        packages,
        in_use: None,
    })
}

/// Inventories one root filesystem: packages, and what its processes load.
fn inventory_of(path: &str, kind: TargetKind, with_in_use: bool) -> Result<Inventoried> {
    let quiet = |_: postwatch_target::Progress| {};
    let opened = postwatch_target::open(path, &options(kind, &quiet))
        .with_context(|| format!("cannot read {path}"))?;
    // What processes use is read first, so that the inventory keeps only the owned
    // files that tell which packages they load, not every file of the host.
    let observed = match with_in_use {
        true => crate::inuse::observe(path, kind, opened.tree.as_ref(), None, true)?,
        false => None,
    };
    let keep_file = |file: &str| observed.as_ref().is_some_and(|o| o.is_used(file));
    let collected = postwatch_inventory::collect_keeping(
        opened.tree.as_ref(),
        PackageTypes::default(),
        &keep_file,
    )
    .with_context(|| format!("cannot read packages in {path}"))?;
    let in_use = observed.map(|o| o.summary(&collected.packages));
    let mut packages = collected.packages;
    // The server matches packages; which files they own only matters here, for in-use.
    for p in &mut packages {
        p.files = Vec::new();
    }
    let target = Target {
        name: path.to_owned(),
        kind,
        image: None,
    };
    Ok(Inventoried {
        target,
        os: collected.os,
        packages,
        in_use,
    })
}

/// The host (or --root) and, with --containers, each running container.
fn observe(args: &AgentArgs) -> Result<Vec<Observed>> {
    let tags: BTreeMap<String, String> = args.tags.iter().cloned().collect();
    let mut host_facts = facts::host_facts(&args.root, Path::new("/proc"), Path::new("/sys"), tags);
    host_facts.agent_version = env!("CARGO_PKG_VERSION").to_owned();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| host_facts.hostname.clone());
    let is_host = args.root == Path::new("/");
    let root = args.root.to_string_lossy().into_owned();
    let kind = if is_host {
        TargetKind::Host
    } else {
        TargetKind::Rootfs
    };
    // Processes tell about the root they run in: the live host, or for --root the
    // processes chrooted into it (as `scan DIR --in-use` reads them).
    let Inventoried {
        target,
        os,
        packages,
        in_use,
    } = inventory_of(&root, kind, !args.no_in_use)?;
    let mut observed = vec![Observed {
        asset: AssetRef {
            kind: AssetKind::Host,
            name: name.clone(),
            host: None,
            image_digest: None,
        },
        facts: Some(host_facts),
        container: None,
        target,
        os,
        packages,
        in_use,
    }];
    if args.containers {
        let mut warnings = Vec::new();
        let found = if is_host {
            containers::find_containers(&args.root, Path::new("/proc"), &mut warnings)
        } else {
            // Not the live host: what its runtimes recorded, read from their layers.
            containers::recorded_containers(&args.root, &mut warnings)
        };
        let mut images_reported: BTreeSet<String> = BTreeSet::new();
        for c in found {
            let image_name = c
                .local_image
                .as_ref()
                .map(|i| i.asset_name(c.image.as_deref()));
            let inventoried = if is_host {
                let path = format!("/proc/{}/root", c.pid);
                inventory_of(&path, TargetKind::Rootfs, !args.no_in_use)
            } else if let Some(layers) = &c.layers {
                inventory_of_layers(&c.container.id, layers)
            } else {
                Err(anyhow::anyhow!(
                    "its filesystem is not readable from the runtime's storage"
                ))
            };
            match inventoried {
                Ok(Inventoried {
                    mut target,
                    os,
                    packages,
                    in_use,
                }) => {
                    target.name = image_name
                        .clone()
                        .or_else(|| c.image.clone())
                        .unwrap_or_else(|| c.container.id.clone());
                    // The same image description as the image asset's: the link.
                    target.image = c.local_image.as_ref().map(|i| i.metadata());
                    observed.push(Observed {
                        asset: AssetRef {
                            kind: AssetKind::Container,
                            name: c.container.id.clone(),
                            host: Some(name.clone()),
                            image_digest: c.image_digest.clone(),
                        },
                        facts: None,
                        container: Some(ContainerFacts::new(
                            &c.container.runtime,
                            c.name.clone(),
                            c.image.clone(),
                            &c.labels,
                        )),
                        target,
                        os,
                        packages,
                        in_use,
                    });
                }
                Err(e) => warnings.push(format!("container {}: {e:#}", c.container.short_id())),
            }
            let (Some(image), Some(image_name)) = (&c.local_image, image_name) else {
                continue;
            };
            if !images_reported.insert(image.id.clone()) {
                continue;
            }
            match inventory_of_layers(&image_name, &image.layers) {
                Ok(Inventoried {
                    mut target,
                    os,
                    packages,
                    ..
                }) => {
                    target.image = Some(image.metadata());
                    observed.push(Observed {
                        asset: AssetRef {
                            kind: AssetKind::Image,
                            name: image_name,
                            host: None,
                            image_digest: image.digest.clone(),
                        },
                        facts: None,
                        container: None,
                        target,
                        os,
                        packages,
                        in_use: None,
                    });
                }
                Err(e) => warnings.push(format!("image {image_name}: {e:#}")),
            }
        }
        for w in warnings {
            eprintln!("agent: {w}");
        }
    }
    Ok(observed)
}

/// Queues a report: a delta against the last report queued for the asset, or the
/// full inventory when there is none.
fn queue_report(state: &mut StateDir, queue: &mut Queue, o: Observed) -> Result<()> {
    let report_id = state.next_report_id()?;
    let base = state.last_ack(&o.asset)?;
    let inventory = match &base {
        Some(base) => {
            let (added, removed) = delta::diff(&base.packages, &o.packages);
            InventoryPayload::Delta {
                base: base.report_id.clone(),
                os: o.os.clone(),
                added,
                removed,
            }
        }
        None => InventoryPayload::Full {
            target: o.target.clone(),
            os: o.os.clone(),
            packages: o.packages.clone(),
        },
    };
    let report = Report {
        protocol: FLEET_PROTOCOL_VERSION.to_owned(),
        report_id: report_id.clone(),
        taken_at: crate::output::now()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        asset: o.asset.clone(),
        facts: o.facts,
        container: o.container,
        inventory,
        in_use: o.in_use,
    };
    match queue.push(&report)? {
        PushOutcome::Queued { .. } => {
            // The next delta builds on this one: the server applies them in order.
            state.record_ack(&o.asset, &report_id, &o.packages)?;
        }
        PushOutcome::QueueFull { bytes, limit, .. } => {
            eprintln!(
                "agent: WARNING: the report queue in {} is full ({bytes} of {limit} bytes): this inventory is not queued; is the server down? raise --queue-limit",
                queue.dir().display()
            );
        }
    }
    for w in queue
        .take_warnings()
        .into_iter()
        .chain(state.take_warnings())
    {
        eprintln!("agent: {w}");
    }
    Ok(())
}

/// Sends queued reports oldest first. Returns whether the queue is empty.
/// `report_outage`: print why the server could not take them.
fn deliver(
    client: &Client,
    state: &mut StateDir,
    queue: &mut Queue,
    report_outage: bool,
) -> Result<bool> {
    while let Some((id, report)) = queue.peek()? {
        match client.send(&report) {
            Ok(ack) => {
                if !ack.stored {
                    // The server lacks this delta's base: the next report is full.
                    eprintln!(
                        "agent: the server did not take report {} ({}); sending a full inventory next",
                        report.report_id,
                        ack.reason.as_deref().unwrap_or("unknown base")
                    );
                    state.forget_ack(&report.asset)?;
                }
                queue.ack(id)?;
            }
            Err(e) if e.is_retryable() => {
                if report_outage {
                    eprintln!("agent: {e}");
                }
                return Ok(false);
            }
            Err(e @ SendError::Rejected { .. })
                if e.status() == Some(401) || e.status() == Some(403) =>
            {
                bail!("{e}");
            }
            Err(e) => {
                // Sending it again cannot succeed: drop it, and send a full inventory next.
                eprintln!("agent: report {} dropped: {e}", report.report_id);
                state.forget_ack(&report.asset)?;
                queue.ack(id)?;
            }
        }
    }
    Ok(true)
}
