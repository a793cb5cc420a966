//! Reading small kernel files into a reused buffer, and name filters.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use regex_lite::Regex;

/// Reads `path` into `buf` (cleared first). The error names the file.
pub(crate) fn read_into(path: &Path, buf: &mut String) -> Result<(), String> {
    buf.clear();
    File::open(path)
        .and_then(|mut file| file.read_to_string(buf))
        .map(|_| ())
        .map_err(|err| format!("{}: {err}", path.display()))
}

/// Parses the first whitespace-separated number in a file such as
/// `/proc/sys/kernel/pid_max`.
pub(crate) fn read_number(path: &Path, buf: &mut String) -> Result<f64, String> {
    read_into(path, buf)?;
    let text = buf.trim();
    text.parse::<u64>()
        .map(|n| n as f64)
        .map_err(|_| format!("{}: expected a number, found {text:?}", path.display()))
}

/// An exclusion pattern (node_exporter's `*-exclude` flags: unanchored RE2 syntax, which
/// `regex-lite` shares, except that its classes such as `\d` and `\w` are ASCII-only —
/// what device, interface and mount names use) with its decisions remembered per name,
/// so a device seen every collection is matched once, not once per collection.
#[derive(Debug)]
pub(crate) struct NameFilter {
    pattern: Option<Regex>,
    decided: HashMap<String, bool>,
}

/// Names remembered at most; past that the cache restarts (devices come and go).
const FILTER_CACHE_LIMIT: usize = 4096;

impl NameFilter {
    /// `pattern` empty means nothing is excluded.
    pub(crate) fn new(option: &'static str, pattern: &str) -> Result<Self, crate::Error> {
        let pattern = if pattern.is_empty() {
            None
        } else {
            Some(
                Regex::new(pattern).map_err(|source| crate::Error::BadPattern {
                    option,
                    pattern: pattern.to_string(),
                    source: Box::new(source),
                })?,
            )
        };
        Ok(NameFilter {
            pattern,
            decided: HashMap::new(),
        })
    }

    pub(crate) fn excludes(&mut self, name: &str) -> bool {
        let Some(pattern) = &self.pattern else {
            return false;
        };
        if let Some(&known) = self.decided.get(name) {
            return known;
        }
        let excluded = pattern.is_match(name);
        if self.decided.len() >= FILTER_CACHE_LIMIT {
            self.decided.clear();
        }
        self.decided.insert(name.to_string(), excluded);
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_like_node_exporter_and_remembers() {
        let mut filter =
            NameFilter::new("test", r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
                .expect("default pattern compiles");
        assert!(filter.excludes("loop0"));
        assert!(filter.excludes("vda1"));
        assert!(filter.excludes("nvme0n1p2"));
        assert!(!filter.excludes("vda"));
        assert!(!filter.excludes("nvme0n1"));
        assert!(!filter.excludes("zram0"));
        assert!(
            filter.excludes("loop0"),
            "second answer comes from the cache"
        );
        let mut none = NameFilter::new("test", "").expect("empty pattern");
        assert!(!none.excludes("anything"));
        assert!(NameFilter::new("test", "(").is_err());
    }

    #[test]
    fn read_number_names_the_file_on_bad_content() {
        let dir = std::env::temp_dir().join(format!("hostmetrics-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("pid_max");
        std::fs::write(&path, "not a number\n").expect("write");
        let mut buf = String::new();
        let err = read_number(&path, &mut buf).expect_err("bad content");
        assert!(
            err.contains("pid_max") && err.contains("not a number"),
            "{err}"
        );
        std::fs::write(&path, "32768\n").expect("write");
        assert_eq!(read_number(&path, &mut buf), Ok(32768.0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
