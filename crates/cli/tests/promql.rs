//! `postwatch promql test`: summary lines and exit codes on real promqltest scripts.

mod common;

use common::{run, testdata};

#[test]
fn passing_script_prints_summary_and_exits_zero() {
    let file = testdata("vectors/promql/literals.test");
    let out = run(&["promql", "test", &file.to_string_lossy()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        format!("{}: 25 passed, 0 failed, 0 skipped", file.display())
    );
}

#[test]
fn failing_statement_exits_one_and_verbose_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wrong.test");
    std::fs::write(
        &file,
        "load 1m\n  up{job=\"a\"} 1 2 3\n\neval instant at 2m up\n  up{job=\"a\"} 3\n\neval instant at 2m up * 2\n  {job=\"a\"} 5\n\neval instant at 1m limitk(1, up)\n  up{job=\"a\"} 2\n",
    )
    .expect("write script");
    let out = run(&["promql", "test", "-v", &file.to_string_lossy()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}");
    assert!(
        stdout.contains(&format!(
            "{}: 1 passed, 1 failed, 1 skipped",
            file.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(":7: {job=\"a\"}: expected 5, got 6"),
        "{stdout}"
    );
}

#[test]
fn missing_file_is_an_error() {
    let out = run(&["promql", "test", "/nonexistent/x.test"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/x.test"));
}
