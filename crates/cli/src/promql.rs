//! `postwatch promql`: PromQL tools. `test` runs Prometheus' promqltest scripts
//! against postwatch's engine.

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PromqlCommand {
    /// Run promqltest scripts (Prometheus' `.test` format) and print a summary per file.
    #[command(
        long_about = "Run promqltest scripts — Prometheus' PromQL test format — against \
            postwatch's query engine.\n\n\
            A script loads series (`load 5m` followed by `metric{label=\"v\"} 0+10x6` lines, \
            where `a+bxN` expands to N+1 values, `_` is a missing sample and `stale` a \
            staleness marker), then checks queries: `eval instant at 10m QUERY` or \
            `eval range from 0 to 10m step 1m QUERY`, followed by the expected series and \
            optional `expect fail|warn|info|ordered|no_warn|no_info|string …` lines.\n\n\
            Each eval statement passes, fails, or is skipped. Statements are skipped only \
            when they need a feature Prometheus itself gates as experimental or that \
            postwatch leaves out by design: native histograms, start timestamps, info(), \
            fill modifiers, limitk/limit_ratio, type-and-unit labels, duration expressions \
            and experimental functions.\n\n\
            Prints `FILE: N passed, N failed, N skipped` per file; exits 1 if any statement \
            failed or a file could not be read.",
        after_help = "Examples:\n  postwatch promql test testdata/vectors/promql/*.test\n  postwatch promql test -v my-rules.test"
    )]
    Test(TestArgs),
}

#[derive(Args)]
pub struct TestArgs {
    /// Print each failure (line number, expected and got) and each skip with its reason.
    #[arg(short, long)]
    verbose: bool,
    /// promqltest script files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(cmd: PromqlCommand) -> ExitCode {
    match cmd {
        PromqlCommand::Test(args) => test(args),
    }
}

fn test(args: TestArgs) -> ExitCode {
    let mut ok = true;
    for file in &args.files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                ok = false;
                continue;
            }
        };
        let summary = postwatch_promql::promqltest::run_script(&text);
        println!(
            "{}: {} passed, {} failed, {} skipped",
            file.display(),
            summary.passed,
            summary.failed,
            summary.skipped
        );
        if args.verbose {
            for (line, why) in &summary.failures {
                println!("  FAIL {}:{line}: {why}", file.display());
            }
            for (line, why) in &summary.skips {
                println!("  skip {}:{line}: {why}", file.display());
            }
        }
        ok &= summary.failed == 0;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
