//! Oracle runner: checks every row of every version vector set against this crate.
//!
//! Reads `$POSTWATCH_VECTORS_DIR/versions` when set, else the repository's
//! `testdata/vectors/versions`, and walks it: the ecosystem comes from the directory,
//! the row format from the file name (see `testdata/vectors/README.md`). Prints one
//! `versions/<dir>/<stem>: N passed, N failed` line per set, with up to five failing
//! rows under it, and exits non-zero if any row failed, any set could not be read or
//! any directory names an unknown ecosystem. Fields are split on TAB only and never
//! trimmed: leading and trailing spaces are part of the data.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use postwatch_version::{apk, go, maven, npm, pep440, rpm, rubygems, Ecosystem, VersionError};

const EXAMPLES: usize = 5;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("POSTWATCH_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir).join("versions"),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/vectors")
            .join("versions"),
    }
}

/// The ordering family a vector directory is for.
fn ecosystem_of(dir: &str) -> Option<Ecosystem> {
    Some(match dir {
        "debian" | "ubuntu" | "dpkg" => Ecosystem::Dpkg,
        "rpm" => Ecosystem::Rpm,
        "apk" | "alpine" => Ecosystem::Apk,
        "pep440" | "pypi" => Ecosystem::Pep440,
        "semver" | "npm" => Ecosystem::Npm,
        "cargo" | "crates" | "crates.io" => Ecosystem::Cargo,
        "go" | "golang" => Ecosystem::Go,
        "maven" => Ecosystem::Maven,
        "rubygems" | "gem" => Ecosystem::RubyGems,
        "packagist" | "composer" => Ecosystem::Packagist,
        "nuget" => Ecosystem::NuGet,
        _ => return None,
    })
}

/// How a set's rows are laid out, from its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `left op right …`
    Comparison,
    /// rpm only: `rpmvercmp()` on plain strings, no EVR split.
    RpmVercmp,
    /// `range version include|exclude options …`
    Range,
    /// `input valid|invalid …normalised fields…`
    Parse,
    /// `version valid|invalid …`
    Validity,
    /// `left op right …` with apk's fuzzy operators.
    Fuzzy,
    /// `input valid|invalid canonical …`
    Canonical,
    /// One version per line, strictly ascending (`# NAME` lines start a new list).
    SortedList,
}

fn format_of(file_name: &str) -> Format {
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem);
    if file_name.ends_with("sorted.txt") || file_name.ends_with("sequences.txt") {
        Format::SortedList
    } else if stem.contains("-range") {
        Format::Range
    } else if stem.contains("-parse") {
        Format::Parse
    } else if stem.contains("-validity") {
        Format::Validity
    } else if stem.contains("-fuzzy") {
        Format::Fuzzy
    } else if stem.contains("-canonical") {
        Format::Canonical
    } else if stem.starts_with("rpm-vercmp") {
        Format::RpmVercmp
    } else {
        Format::Comparison
    }
}

/// Tally for one set.
#[derive(Default)]
struct Outcome {
    passed: usize,
    failed: usize,
    examples: Vec<String>,
}

impl Outcome {
    fn record(&mut self, line: usize, row: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(why) => {
                self.failed += 1;
                if self.examples.len() < EXAMPLES {
                    self.examples.push(format!("line {line}: {row:?}: {why}"));
                }
            }
        }
    }
}

fn parse_op(op: &str) -> Option<Ordering> {
    match op {
        "<" | "-1" => Some(Ordering::Less),
        "=" | "==" | "0" => Some(Ordering::Equal),
        ">" | "1" => Some(Ordering::Greater),
        _ => None,
    }
}

fn symbol(order: Ordering) -> &'static str {
    match order {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    }
}

/// npm's options column: `-`, `loose`, `includePrerelease`, or both comma-separated.
fn npm_options(column: Option<&str>) -> Result<npm::Options, String> {
    let mut options = npm::Options::default();
    match column {
        None | Some("-") | Some("") => {}
        Some(list) => {
            for option in list.split(',') {
                match option {
                    "loose" => options.loose = true,
                    "includePrerelease" => options.include_prerelease = true,
                    other => return Err(format!("unknown option {other:?}")),
                }
            }
        }
    }
    Ok(options)
}

/// The ordering the vectors were labelled with, which for some ecosystems is total
/// (Go and apk order invalid strings too) where the crate's `compare` would refuse.
fn oracle_compare(
    eco: Ecosystem,
    format: Format,
    a: &str,
    b: &str,
    options: npm::Options,
) -> Result<Ordering, VersionError> {
    match (eco, format) {
        (Ecosystem::Rpm, Format::RpmVercmp) => Ok(rpm::rpmvercmp(a, b)),
        (Ecosystem::Rpm, _) => Ok(rpm::compare_evr(a, b)),
        (Ecosystem::Apk, _) => Ok(apk::compare(a, b)),
        (Ecosystem::Go, _) => Ok(go::compare(a, b)),
        (Ecosystem::Npm, _) => npm::compare(a, b, options.loose),
        (Ecosystem::Maven, _) => maven::compare(a, b),
        _ => postwatch_version::compare(eco, a, b),
    }
}

fn check_order(expected: Ordering, got: Result<Ordering, VersionError>) -> Result<(), String> {
    match got {
        Ok(got) if got == expected => Ok(()),
        Ok(got) => Err(format!(
            "expected {}, got {}",
            symbol(expected),
            symbol(got)
        )),
        Err(e) => Err(format!("expected {}, got error: {e}", symbol(expected))),
    }
}

fn expect_valid(field: &str) -> Result<bool, String> {
    match field {
        "valid" => Ok(true),
        "invalid" => Ok(false),
        other => Err(format!("expected valid|invalid, found {other:?}")),
    }
}

fn field<'a>(fields: &[&'a str], index: usize) -> Result<&'a str, String> {
    fields.get(index).copied().ok_or_else(|| {
        format!(
            "row has {} fields, needs at least {}",
            fields.len(),
            index + 1
        )
    })
}

/// Checks one row of a TAB-separated set.
fn check_row(eco: Ecosystem, format: Format, fields: &[&str]) -> Result<(), String> {
    match format {
        Format::Comparison | Format::RpmVercmp => {
            let (a, op, b) = (field(fields, 0)?, field(fields, 1)?, field(fields, 2)?);
            let expected = parse_op(op).ok_or_else(|| format!("unknown operator {op:?}"))?;
            let options = if eco == Ecosystem::Npm {
                npm_options(fields.get(3).copied())?
            } else {
                npm::Options::default()
            };
            check_order(expected, oracle_compare(eco, format, a, b, options))
        }
        Format::Fuzzy => {
            let (a, op, b) = (field(fields, 0)?, field(fields, 1)?, field(fields, 2)?);
            if eco != Ecosystem::Apk {
                return Err("fuzzy operators are apk's".to_owned());
            }
            match apk::matches(a, op, b) {
                Some(true) => Ok(()),
                Some(false) => Err(format!("{a} {op} {b} does not hold")),
                None => Err(format!("unknown operator {op:?}")),
            }
        }
        Format::Validity => {
            let (version, expected) = (field(fields, 0)?, expect_valid(field(fields, 1)?)?);
            let got = match eco {
                Ecosystem::Apk => apk::is_valid(version),
                Ecosystem::Go => go::is_valid(version),
                _ => postwatch_version::validate(eco, version).is_ok(),
            };
            agree(expected, got)
        }
        Format::Canonical => {
            let (input, expected) = (field(fields, 0)?, expect_valid(field(fields, 1)?)?);
            let canonical = field(fields, 2)?;
            if eco != Ecosystem::Go {
                return Err("canonical forms are Go's".to_owned());
            }
            agree(expected, go::is_valid(input))?;
            let got = go::canonical(input);
            same_text(canonical, &got)
        }
        Format::Range => {
            if eco != Ecosystem::Npm {
                return Err("ranges are npm's".to_owned());
            }
            let (range, version) = (field(fields, 0)?, field(fields, 1)?);
            let expected = match field(fields, 2)? {
                "include" => true,
                "exclude" => false,
                other => return Err(format!("expected include|exclude, found {other:?}")),
            };
            let options = npm_options(fields.get(3).copied())?;
            let got = npm::satisfies(version, range, options);
            if got == expected {
                Ok(())
            } else {
                Err(format!("satisfies() = {got}"))
            }
        }
        Format::Parse => check_parse(eco, fields),
        Format::SortedList => Err("not a row format".to_owned()),
    }
}

fn agree(expected_valid: bool, got_valid: bool) -> Result<(), String> {
    if expected_valid == got_valid {
        Ok(())
    } else if expected_valid {
        Err("rejected a valid version".to_owned())
    } else {
        Err("accepted an invalid version".to_owned())
    }
}

fn same_text(expected: &str, got: &str) -> Result<(), String> {
    if expected == got {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, got {got:?}"))
    }
}

/// `input valid|invalid …`: npm has its parts in columns, the others one normalised
/// string.
fn check_parse(eco: Ecosystem, fields: &[&str]) -> Result<(), String> {
    let input = field(fields, 0)?;
    let expected = expect_valid(field(fields, 1)?)?;
    if eco == Ecosystem::Npm {
        let options = npm_options(fields.get(7).copied())?;
        let parsed = npm::SemVer::parse(input, options.loose);
        agree(expected, parsed.is_ok())?;
        let Ok(v) = parsed else {
            return Ok(());
        };
        let prerelease: Vec<String> = v.prerelease.iter().map(ToString::to_string).collect();
        let got = [
            v.major.to_string(),
            v.minor.to_string(),
            v.patch.to_string(),
            prerelease.join("."),
            v.build.join("."),
        ];
        for (i, got) in got.iter().enumerate() {
            same_text(field(fields, 2 + i)?, got)?;
        }
        return Ok(());
    }
    let normalized: Result<String, VersionError> = match eco {
        Ecosystem::Pep440 => pep440::normalize(input),
        Ecosystem::RubyGems => rubygems::Version::parse(input).map(|v| v.as_str().to_owned()),
        Ecosystem::Packagist => postwatch_version::packagist::normalize(input),
        Ecosystem::NuGet => postwatch_version::nuget::Version::parse(input).map(|v| v.to_string()),
        Ecosystem::Cargo => postwatch_version::cargo::parse(input).map(|v| v.to_string()),
        Ecosystem::Go => Ok(go::canonical(input)).and_then(|c| {
            if c.is_empty() {
                go::validate(input).map(|_| c)
            } else {
                Ok(c)
            }
        }),
        _ => postwatch_version::validate(eco, input).map(|()| input.to_owned()),
    };
    agree(expected, normalized.is_ok())?;
    match (normalized, fields.get(2)) {
        (Ok(got), Some(want)) if !want.is_empty() || expected => same_text(want, &got),
        _ => Ok(()),
    }
}

/// A strictly ascending list: every earlier element is below every later one.
fn check_sorted_list(eco: Ecosystem, text: &str, outcome: &mut Outcome) {
    let mut lists: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    for (index, line) in text.split('\n').enumerate() {
        if line.starts_with('#') {
            lists.push(Vec::new());
        } else if !line.is_empty() {
            if let Some(list) = lists.last_mut() {
                list.push((index + 1, line));
            }
        }
    }
    for list in &lists {
        for (i, &(line_a, a)) in list.iter().enumerate() {
            for &(line_b, b) in &list[i + 1..] {
                let row = format!("{a} < {b} (line {line_b})");
                let got = oracle_compare(eco, Format::SortedList, a, b, npm::Options::default());
                outcome.record(line_a, &row, check_order(Ordering::Less, got));
            }
        }
    }
}

fn run_set(eco: Ecosystem, path: &Path) -> Outcome {
    let mut outcome = Outcome::default();
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let text = match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => {
            outcome.record(0, "", Err(format!("not UTF-8: {e}")));
            return outcome;
        }
        Err(e) => {
            outcome.record(0, "", Err(format!("cannot read: {e}")));
            return outcome;
        }
    };
    let format = format_of(file_name);
    if format == Format::SortedList {
        check_sorted_list(eco, &text, &mut outcome);
        return outcome;
    }
    for (index, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        outcome.record(index + 1, line, check_row(eco, format, &fields));
    }
    outcome
}

/// Every file under `dir`, sorted, as paths relative to it.
fn walk(dir: &Path, relative: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel = relative.join(&name);
        if path.is_dir() {
            walk(&path, &rel, files)?;
        } else {
            files.push(rel);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let root = vectors_dir();
    let mut files = Vec::new();
    if let Err(e) = walk(&root, Path::new(""), &mut files) {
        println!("versions: cannot read {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    if files.is_empty() {
        println!("versions: no vector sets under {}", root.display());
        return ExitCode::FAILURE;
    }
    let mut ok = true;
    for rel in files {
        let dir = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = rel.with_extension("");
        let name = format!("versions/{}", stem.to_string_lossy());
        let Some(eco) = ecosystem_of(&dir).filter(|_| rel.components().count() > 1) else {
            println!("{name}: skipped (unknown ecosystem)");
            ok = false;
            continue;
        };
        let outcome = run_set(eco, &root.join(&rel));
        let mut report = format!(
            "{name}: {} passed, {} failed",
            outcome.passed, outcome.failed
        );
        for example in &outcome.examples {
            let _ = write!(report, "\n    {example}");
        }
        println!("{report}");
        ok &= outcome.failed == 0 && outcome.passed > 0;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
