//! Runs every `promql/*.test` script from `$POSTWATCH_VECTORS_DIR` (default: the
//! repository's `testdata/vectors`) and prints one summary line per file.
//!
//! Fails on any failed statement that `tests/known-failures.txt` does not list, and on
//! any listed entry that now passes, so the list can only shrink.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn vectors_dir() -> PathBuf {
    match std::env::var_os("POSTWATCH_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors"),
    }
}

/// `promql/NAME.test:LINE` entries; `#` starts a comment, the reason follows the entry.
fn known_failures() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known-failures.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A plain `main` (harness = false) so the per-file summary lines always print.
fn main() {
    let dir = vectors_dir().join("promql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no promql/*.test files in {}",
        dir.display()
    );
    let known = known_failures();
    let mut failed_now = BTreeSet::new();
    let mut unexpected = Vec::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for file in &files {
        let name = format!(
            "promql/{}",
            file.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        let text = std::fs::read_to_string(file).expect("read test file");
        let summary = postwatch_promql::promqltest::run_script(&text);
        println!(
            "{name}: {} passed, {} failed, {} skipped",
            summary.passed, summary.failed, summary.skipped
        );
        passed += summary.passed;
        failed += summary.failed;
        skipped += summary.skipped;
        for (line, why) in &summary.failures {
            let key = format!("{name}:{line}");
            if !known.contains(&key) {
                unexpected.push(format!("{key}: {why}"));
            }
            failed_now.insert(key);
        }
    }
    println!("promql: {passed} passed, {failed} failed, {skipped} skipped");
    // Entries of files that were run and no longer fail.
    let ran: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            f.file_name()
                .map(|n| format!("promql/{}:", n.to_string_lossy()))
        })
        .collect();
    let fixed: Vec<&String> = known
        .iter()
        .filter(|k| ran.iter().any(|r| k.starts_with(r.as_str())) && !failed_now.contains(*k))
        .collect();
    assert!(
        unexpected.is_empty(),
        "statements failed that known-failures.txt does not list:\n{}",
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "known failures now pass; remove them from known-failures.txt: {fixed:?}"
    );
}
