//! `postwatch server`, `postwatch token` and `postwatch up`: the fleet server on its
//! own, its credentials, and the server with a local agent in one process.

use crate::agent::{self, AgentArgs};
use anyhow::{Context, Result};
use clap::Args;
use postwatch_server::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The default data directory: `$XDG_DATA_HOME/postwatch`, else
/// `~/.local/share/postwatch` (beside the advisory database).
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("postwatch")
}

#[derive(Args)]
pub struct ServerArgs {
    /// TOML configuration (keys: listen, data_dir, advisory_db, [tls] cert/key,
    /// [limits] body_bytes, [history] keep_days, [rematch] check_interval_secs,
    /// [metrics] retention_days/retention_bytes/wal_sync_seconds, [[metrics.scrape]] jobs,
    /// [[metrics.remote_write]] destinations: see docs/metrics.md and README).
    /// Environment: POSTWATCH_LISTEN, POSTWATCH_DATA, POSTWATCH_DB, POSTWATCH_TLS_CERT,
    /// POSTWATCH_TLS_KEY. Flags override both.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8731].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Data directory [default: ~/.local/share/postwatch].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Advisory database to match against [default: the one `postwatch db update` writes].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
}

impl ServerArgs {
    fn config(&self) -> Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::with_data_dir(default_data_dir()),
        };
        config.apply_env(&|key| std::env::var(key).ok());
        if let Some(listen) = &self.listen {
            config.listen = listen.clone();
        }
        if let Some(data) = &self.data {
            config.data_dir = data.clone();
        }
        if let Some(db) = &self.db {
            config.advisory_db = Some(db.clone());
        }
        if config.advisory_db.is_none() {
            config.advisory_db = Some(postwatch_advisory::default_db_path());
        }
        config.validate()?;
        Ok(config)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `main` on a fresh runtime, then stops the runtime without waiting more than a
/// few seconds for blocking work still in flight (a re-match of a big inventory), so
/// that a stop request ends the process promptly.
fn run_until_stopped(
    main: impl std::future::Future<Output = Result<ExitCode>>,
) -> Result<ExitCode> {
    let runtime = runtime()?;
    let result = runtime.block_on(main);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what service managers, `docker stop` and
/// `kill` send): both mean "stop gracefully".
async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(e) => {
            eprintln!("cannot listen for SIGTERM ({e}); stop with Ctrl-C");
            tokio::signal::ctrl_c().await.ok();
        }
    }
}

fn scheme(config: &Config) -> &'static str {
    if config.tls.is_some() {
        "https"
    } else {
        "http"
    }
}

/// `postwatch server`: runs until interrupted.
pub fn server(args: ServerArgs) -> Result<ExitCode> {
    let config = args.config()?;
    let scheme = scheme(&config);
    run_until_stopped(async move {
        let running = postwatch_server::start(config).await?;
        eprintln!("postwatch server listening on {scheme}://{}", running.addr);
        stop_requested().await;
        eprintln!("stopping…");
        running.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Args)]
pub struct TokenArgs {
    /// Data directory of the server [default: ~/.local/share/postwatch].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// A name to recognise the token by.
    #[arg(long, default_value = "cli")]
    name: String,
    /// An enrolment token for agents (`postwatch agent --token`) instead of a user
    /// API token.
    #[arg(long)]
    enrolment: bool,
}

/// `postwatch token`: prints a new secret (stored hashed; shown only now).
pub fn token(args: TokenArgs) -> Result<ExitCode> {
    let dir = args.data.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let store = postwatch_fleetstore::Store::open(&dir)
        .with_context(|| format!("cannot open the fleet store in {}", dir.display()))?;
    let secret = if args.enrolment {
        store.create_enrolment_token(&args.name)?
    } else {
        store.create_api_token(&args.name)?
    };
    println!("{secret}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct UpArgs {
    /// Data directory [default: ~/.local/share/postwatch].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8731")]
    listen: String,
    /// Advisory database [default: the one `postwatch db update` writes].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Do not run the local agent (server only).
    #[arg(long)]
    no_agent: bool,
    /// How often the local agent rescans (it also rescans when a package database
    /// changes).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::scan::parse_duration)]
    interval: std::time::Duration,
}

/// Reads a secret kept in the data directory, or makes it with `create` and keeps
/// it (mode 0600), so `up` prints the same token on every start.
fn kept_secret(path: &Path, create: impl FnOnce() -> Result<String>) -> Result<String> {
    if let Ok(secret) = std::fs::read_to_string(path) {
        if !secret.trim().is_empty() {
            return Ok(secret.trim().to_owned());
        }
    }
    let secret = create()?;
    agent::write_private(path, secret.as_bytes())?;
    Ok(secret)
}

/// `postwatch up`: the server and a local agent for this host, in one process.
pub fn up(args: UpArgs) -> Result<ExitCode> {
    let data = args.data.unwrap_or_else(default_data_dir);
    let mut config = Config::with_data_dir(data.clone());
    config.listen = args.listen;
    config.advisory_db = Some(args.db.unwrap_or_else(postwatch_advisory::default_db_path));
    config.validate()?;
    let advisory_db = config.advisory_db.clone();
    run_until_stopped(async move {
        let running = postwatch_server::start(config).await?;
        let store = running.state.store.clone();
        let api_token = kept_secret(&data.join("api-token"), || {
            Ok(store.create_api_token("postwatch up")?)
        })?;
        let enrolment = kept_secret(&data.join("enrolment-token"), || {
            Ok(store.create_enrolment_token("postwatch up")?)
        })?;
        let url = format!("http://{}", running.addr);
        println!("postwatch is up: {url}");
        println!(
            "API token: {api_token}   (kept in {})",
            data.join("api-token").display()
        );
        println!("  curl -H 'Authorization: Bearer {api_token}' {url}/api/v1/fleet/summary");
        if advisory_db.as_ref().is_none_or(|p| !p.is_file()) {
            println!(
                "No advisory database yet: run `postwatch db update` to match vulnerabilities."
            );
        }
        let agent_thread = (!args.no_agent).then(|| {
            let agent_args = AgentArgs::local(&url, &enrolment, &data.join("agent"), args.interval);
            std::thread::spawn(move || {
                if let Err(e) = agent::run(agent_args) {
                    eprintln!("local agent stopped: {e:#}");
                }
            })
        });
        stop_requested().await;
        eprintln!("stopping…");
        // The agent thread ends with the process: what it queued is on disk, and a
        // report in flight is sent again by the next run.
        drop(agent_thread);
        running.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}
