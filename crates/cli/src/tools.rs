//! `postwatch version compare` and `postwatch cvss`: the ordering and scoring engines
//! as user tools (and the interface the oracle tests drive).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use postwatch_version::Ecosystem;
use std::cmp::Ordering;
use std::io::{BufRead, Write};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum VersionCommand {
    /// Print `<`, `=` or `>` for A compared with B.
    #[command(
        after_help = "Examples:\n  postwatch version compare --ecosystem Debian 1:1.2-1 1.3-1\n  printf '1.0a1\\t1.0\\n' | postwatch version compare --ecosystem PyPI --batch"
    )]
    Compare(CompareArgs),
}

#[derive(Args)]
pub struct CompareArgs {
    /// OSV ecosystem: Debian, Ubuntu, AlmaLinux, Alpine, PyPI, npm, crates.io, Go, Maven,
    /// RubyGems, Packagist, NuGet, or a release-qualified form such as Debian:12.
    #[arg(long, short)]
    ecosystem: String,
    /// Read `A<TAB>B` lines from standard input; print one result per line
    /// (`<`, `=`, `>` or `error: …`).
    #[arg(long, conflicts_with_all = ["a", "b"])]
    batch: bool,
    #[arg(required_unless_present = "batch")]
    a: Option<String>,
    #[arg(required_unless_present = "batch")]
    b: Option<String>,
}

fn symbol(o: Ordering) -> &'static str {
    match o {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    }
}

pub fn version(cmd: VersionCommand) -> Result<ExitCode> {
    let VersionCommand::Compare(args) = cmd;
    let Some(eco) = Ecosystem::from_osv(&args.ecosystem) else {
        bail!(
            "unknown ecosystem {:?}: use an OSV name such as Debian, Ubuntu, AlmaLinux, Alpine, PyPI, npm, crates.io, Go, Maven, RubyGems, Packagist or NuGet",
            args.ecosystem
        );
    };
    if !args.batch {
        let (a, b) = (args.a.unwrap_or_default(), args.b.unwrap_or_default());
        let o = postwatch_version::compare(eco, &a, &b)?;
        println!("{}", symbol(o));
        return Ok(ExitCode::SUCCESS);
    }
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (n, line) in stdin.lines().enumerate() {
        let line = line?;
        let result = match line.split_once('\t') {
            Some((a, b)) => match postwatch_version::compare(eco, a, b) {
                Ok(o) => symbol(o).to_owned(),
                Err(e) => format!("error: {e}"),
            },
            None => format!("error: line {} has no TAB between the two versions", n + 1),
        };
        writeln!(out, "{result}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
#[command(
    after_help = "Prints `score<TAB>rating` per vector; an invalid vector prints `error: …` and makes the exit code 1.\n\nExamples:\n  postwatch cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n  cut -f1 vectors.tsv | postwatch cvss"
)]
pub struct CvssArgs {
    /// Vectors; read one per line from standard input when none are given.
    vectors: Vec<String>,
}

pub fn cvss(args: CvssArgs) -> Result<ExitCode> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = false;
    let mut score = |vector: &str, out: &mut dyn Write| -> Result<()> {
        match postwatch_cvss::Cvss::parse(vector.trim()) {
            Ok(c) => writeln!(out, "{:.1}\t{}", c.score(), c.rating())?,
            Err(e) => {
                failed = true;
                writeln!(out, "error: {e}")?;
            }
        }
        Ok(())
    };
    if args.vectors.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            if !line.trim().is_empty() {
                score(&line, &mut out)?;
            }
        }
    } else {
        for v in &args.vectors {
            score(v, &mut out)?;
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
