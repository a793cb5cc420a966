//! Shared by the integration tests: where the oracle vectors live.

use std::path::PathBuf;

/// `$POSTWATCH_VECTORS_DIR/cvss` when set, else the repository's `testdata/vectors/cvss`.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("POSTWATCH_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir).join("cvss"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/cvss"),
    }
}

/// The `.tsv` files of the directory, sorted by name.
pub fn tsv_files() -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(vectors_dir())? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "tsv") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The data lines of a file: no blank lines, `#` comments or a `vector\t…` header.
pub fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("vector\t"))
}
