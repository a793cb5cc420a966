//! Oracle runner (harness = false): every row of every `.tsv` in the CVSS vector
//! directory (see `common::vectors_dir`). The row format is decided per line from its
//! columns (see `testdata/vectors/README.md`, section "cvss"):
//!
//! * `vector  base  temporal  environmental  base_severity  source` (v2 / v3 scores;
//!   `-` = the package gives no such score);
//! * `vector  score  severity  source` (v4 scores);
//! * `vector  valid|invalid  cvss-pkg:valid|invalid  source` (validity; the
//!   `cvss-pkg:` column — the Python `cvss` package — is the expectation, claircore's
//!   column is informational). A source naming claircore's `v2_…`, `v3_…` or `v4_…`
//!   list means the vector was fed to that version's parser, so e.g. a valid v3.1
//!   vector counts as invalid in `v4_error.list`.
//!
//!   Where the two columns differ the package wins. Known case (claircore
//!   `v4_error.list`): `CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/E:A/SA:N`
//!   is invalid for claircore, which enforces the specification's metric order, and
//!   valid for the package, which accepts any order — as does this crate.
//!
//! Prints `cvss/<file stem>: N passed, N failed` per file, with up to five failures,
//! and exits non-zero if any row failed or there were no files.

mod common;

use std::process::ExitCode;

use postwatch_cvss::{Cvss, CvssVersion, Rating};

fn main() -> ExitCode {
    let dir = common::vectors_dir();
    let files = match common::tsv_files() {
        Ok(files) if !files.is_empty() => files,
        Ok(_) => {
            println!("cvss: no .tsv files in {}", dir.display());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            println!("cvss: cannot read {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let mut all_ok = true;
    for path in files {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                println!("cvss/{stem}: 0 passed, 1 failed\n    cannot read: {e}");
                all_ok = false;
                continue;
            }
        };
        let (mut passed, mut failed) = (0usize, 0usize);
        let mut examples = Vec::new();
        for (line_no, line) in common::data_lines(&text) {
            match check_row(&stem, line) {
                Ok(()) => passed += 1,
                Err(why) => {
                    failed += 1;
                    if examples.len() < 5 {
                        examples.push(format!("line {line_no}: {why}"));
                    }
                }
            }
        }
        println!("cvss/{stem}: {passed} passed, {failed} failed");
        for e in examples {
            println!("    {e}");
        }
        all_ok &= failed == 0;
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_row(stem: &str, line: &str) -> Result<(), String> {
    let cols: Vec<&str> = line.split('\t').collect();
    let validity_word = |s: &str| matches!(s, "valid" | "invalid");
    match cols.as_slice() {
        [vector, claircore, rest @ ..] if validity_word(claircore) || stem.contains("validity") => {
            check_validity(vector, claircore, rest)
        }
        [vector, base, temporal, environmental, severity, ..] if is_score(base) => {
            check_v2_v3(vector, base, temporal, environmental, severity)
        }
        [vector, score, severity, ..] if is_score(score) => check_v4(vector, score, severity),
        _ => Err(format!("unrecognised row {line:?}")),
    }
}

fn is_score(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

fn check_validity(vector: &str, claircore: &str, rest: &[&str]) -> Result<(), String> {
    // Expectation: the `cvss-pkg:` column when present, else the first one.
    let expected = rest
        .first()
        .and_then(|c| c.strip_prefix("cvss-pkg:"))
        .unwrap_or(claircore);
    let want_valid = match expected {
        "valid" => true,
        "invalid" => false,
        other => return Err(format!("{vector}: bad expectation {other:?}")),
    };
    let family = rest.last().and_then(|source| family(source));
    let got = Cvss::parse(vector);
    let got_valid = match (&got, family) {
        (Ok(c), Some(versions)) => versions.contains(&c.version()),
        (Ok(_), None) => true,
        (Err(_), _) => false,
    };
    if got_valid == want_valid {
        return Ok(());
    }
    Err(match got {
        Ok(c) => format!(
            "{vector}: expected invalid, parsed as CVSS {} ({})",
            c.version(),
            c.vector()
        ),
        Err(e) => format!("{vector}: expected valid, got error: {e}"),
    })
}

/// The versions a validity row's source file was meant for: claircore's
/// `testdata/v3_error.list` → v3.0 and v3.1.
fn family(source: &str) -> Option<&'static [CvssVersion]> {
    let file = source.rsplit(['/', ' ']).next()?;
    match file.get(..2)? {
        "v2" => Some(&[CvssVersion::V2]),
        "v3" => Some(&[CvssVersion::V3_0, CvssVersion::V3_1]),
        "v4" => Some(&[CvssVersion::V4_0]),
        _ => None,
    }
}

fn check_v2_v3(
    vector: &str,
    base: &str,
    temporal: &str,
    environmental: &str,
    severity: &str,
) -> Result<(), String> {
    let c = Cvss::parse(vector).map_err(|e| format!("{vector}: {e}"))?;
    let mut wrong = Vec::new();
    compare("base", Some(c.base_score()), base, &mut wrong);
    compare("temporal", c.temporal_score(), temporal, &mut wrong);
    compare(
        "environmental",
        c.environmental_score(),
        environmental,
        &mut wrong,
    );
    if c.rating().as_str() != severity {
        wrong.push(format!("severity {} (want {severity})", c.rating()));
    }
    round_trip(&c, &mut wrong);
    verdict(vector, wrong)
}

fn check_v4(vector: &str, score: &str, severity: &str) -> Result<(), String> {
    let c = Cvss::parse(vector).map_err(|e| format!("{vector}: {e}"))?;
    let mut wrong = Vec::new();
    compare("score", Some(c.score()), score, &mut wrong);
    if c.rating().as_str() != severity {
        wrong.push(format!("severity {} (want {severity})", c.rating()));
    }
    if c.version() == CvssVersion::V4_0 && Rating::from_score(c.score()) != c.rating() {
        wrong.push("rating is not the rating of the score".to_owned());
    }
    round_trip(&c, &mut wrong);
    verdict(vector, wrong)
}

/// `want` is a one-decimal score, or `-` for "no such score".
fn compare(what: &str, got: Option<f64>, want: &str, wrong: &mut Vec<String>) {
    let ok = match (got, want) {
        (None, "-") => true,
        (Some(g), w) => w.parse::<f64>().is_ok_and(|w| (g - w).abs() < 0.005),
        (None, _) => false,
    };
    if !ok {
        let got = got.map_or("-".to_owned(), |g| format!("{g:.1}"));
        wrong.push(format!("{what} {got} (want {want})"));
    }
}

/// The canonical vector parses back to the same scores.
fn round_trip(c: &Cvss, wrong: &mut Vec<String>) {
    match Cvss::parse(&c.vector()) {
        Ok(again) => {
            let same = again.version() == c.version()
                && again.base_score() == c.base_score()
                && again.temporal_score() == c.temporal_score()
                && again.environmental_score() == c.environmental_score()
                && again.score() == c.score()
                && again.vector() == c.vector();
            if !same {
                wrong.push(format!("canonical {} scores differently", c.vector()));
            }
        }
        Err(e) => wrong.push(format!("canonical vector does not parse: {e}")),
    }
}

fn verdict(vector: &str, wrong: Vec<String>) -> Result<(), String> {
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{vector}: {}", wrong.join(", ")))
    }
}
