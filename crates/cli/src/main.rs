//! The `postwatch` command: parses the command line and runs each stage in order
//! (open target → collect inventory → match advisories → render). Owns user-facing
//! behaviour only: flags, progress, messages, exit codes, writing output atomically.

mod db;
mod inuse;
mod output;
mod scan;
mod tools;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "postwatch",
    version,
    about = "Watch software after it ships: what is installed where, and what is vulnerable.",
    long_about = "Watch software after it ships.\n\n\
        postwatch inventories the OS packages (dpkg, apk, rpm) of container images, root \
        filesystems and the live host, and matches them against OSV advisories with each \
        ecosystem's exact version ordering, CVSS, CISA KEV and EPSS.\n\n\
        First run `postwatch db update` (or `postwatch db import` for offline files), then \
        `postwatch scan TARGET`.",
    after_help = "Examples:\n  postwatch db update\n  postwatch scan host\n  postwatch scan ./image.tar --severity HIGH,CRITICAL --fail-on HIGH\n  postwatch scan ./rootfs --format sarif --output results.sarif"
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan::run(*args),
        Command::Db(cmd) => db::run(cmd),
        Command::Version(cmd) => tools::version(cmd),
        Command::Cvss(args) => tools::cvss(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
