//! The `postwatch` command: parses the command line and runs each stage in order
//! (open target → collect inventory → match advisories → render). Owns user-facing
//! behaviour only: flags, progress, messages, exit codes, writing output atomically.

mod agent;
mod db;
mod inuse;
mod output;
mod promql;
mod scan;
mod serve;
mod tools;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "postwatch",
    version,
    about = "Watch software after it ships: what is installed where, and what is vulnerable.",
    long_about = "Watch software after it ships.\n\n\
        postwatch inventories the OS and language packages of container images, root \
        filesystems, project folders and the live host, and matches them against OSV \
        advisories with each ecosystem's exact version ordering, CVSS, CISA KEV, EPSS and \
        what running processes actually load.\n\n\
        One machine: `postwatch db update`, then `postwatch scan TARGET`. A fleet: \
        `postwatch up` (server and local agent), `postwatch agent` on every other host, \
        `postwatch scan --server URL` in CI.",
    after_help = "Examples:\n  postwatch db update\n  postwatch up\n  postwatch scan host --in-use\n  postwatch scan ./image.tar --severity HIGH,CRITICAL --fail-on HIGH\n  postwatch scan ./rootfs --format sarif --output results.sarif"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the OS and packages of an image, a root filesystem or this host, and their vulnerabilities.
    #[command(long_about = scan::LONG_ABOUT, after_help = scan::AFTER_HELP)]
    Scan(Box<scan::ScanArgs>),
    /// Import, update and inspect the advisory database.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Compare versions with an ecosystem's own ordering.
    #[command(subcommand)]
    Version(tools::VersionCommand),
    /// Score CVSS v2, v3.0, v3.1 and v4.0 vectors.
    Cvss(tools::CvssArgs),
    /// Run the fleet server and a local agent for this host in one process, with data
    /// under ~/.local/share/postwatch; prints the URL and an API token.
    Up(serve::UpArgs),
    /// Run the fleet server: stores agents' and CI's reports, matches them, answers
    /// the fleet API (/api/v1, described at /api/openapi.json).
    Server(serve::ServerArgs),
    /// Create a user API token (or, with --enrolment, an agent enrolment token) in a
    /// server's data directory. The secret is printed once and stored hashed.
    Token(serve::TokenArgs),
    /// Inventory this host (or --root DIR) and its containers on an interval and ship
    /// it to a server; undelivered reports wait in a durable queue.
    Agent(agent::AgentArgs),
    /// PromQL tools: `promql test FILE…` runs Prometheus' promqltest scripts.
    #[command(subcommand)]
    Promql(promql::PromqlCommand),
}

/// The command line of `postwatch agent` alone. The agent runs for months: parsing
/// only its own arguments keeps every other subcommand's argument code out of its
/// memory. `postwatch agent --help` and its errors read as with [`Cli`].
#[derive(Parser)]
#[command(name = "postwatch", version)]
struct AgentCli {
    #[command(subcommand)]
    command: AgentCommand,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Inventory this host (or --root DIR) and its containers on an interval and ship
    /// it to a server; undelivered reports wait in a durable queue.
    Agent(agent::AgentArgs),
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|arg| arg == "agent") {
        let AgentCli {
            command: AgentCommand::Agent(args),
        } = AgentCli::parse();
        // Before any thread starts: the agent's threads share one malloc arena.
        postwatch_agent::use_one_malloc_arena();
        return report(agent::run(args));
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan::run(*args),
        Command::Db(cmd) => db::run(cmd),
        Command::Version(cmd) => tools::version(cmd),
        Command::Cvss(args) => tools::cvss(args),
        Command::Up(args) => serve::up(args),
        Command::Server(args) => serve::server(args),
        Command::Token(args) => serve::token(args),
        // Parsed by AgentCli above; listed here for `postwatch --help`.
        Command::Agent(args) => agent::run(args),
        Command::Promql(cmd) => Ok(promql::run(cmd)),
    };
    report(result)
}

/// The exit code of a run, printing its error.
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
