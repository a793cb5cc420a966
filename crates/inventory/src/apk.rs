//! apk: `lib/apk/db/installed`, one blank-line separated record per package with
//! single-letter keys (`P:` name, `V:` version, `A:` arch, `o:` origin, `L:` license,
//! `F:` directory, `R:` file in the last `F:`).

pub const INSTALLED: &str = "lib/apk/db/installed";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApkPackage {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub origin: Option<String>,
    pub license: Option<String>,
    pub files: Vec<String>,
}

/// Parses the installed database. Records without a name or version are reported
/// (naming the line) and skipped.
pub fn parse_installed(text: &str, origin: &str, warnings: &mut Vec<String>) -> Vec<ApkPackage> {
    let mut packages = Vec::new();
    let mut current = ApkPackage::default();
    let mut started_at = 0usize;
    let mut dir = String::new();
    let mut finish = |pkg: &mut ApkPackage, line: usize, warnings: &mut Vec<String>| {
        let pkg = std::mem::take(pkg);
        if pkg.name.is_empty() && pkg.version.is_empty() && pkg.files.is_empty() {
            return;
        }
        if pkg.name.is_empty() || pkg.version.is_empty() {
            let who = if pkg.name.is_empty() {
                "<unnamed>"
            } else {
                pkg.name.as_str()
            };
            warnings.push(format!(
                "{origin}: record {who} at line {line} has no {}; skipped",
                if pkg.name.is_empty() {
                    "name (P:)"
                } else {
                    "version (V:)"
                }
            ));
            return;
        }
        packages.push(pkg);
    };
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            finish(&mut current, started_at, warnings);
            dir.clear();
            continue;
        }
        if current.name.is_empty() && current.version.is_empty() && current.files.is_empty() {
            started_at = index + 1;
        }
        let Some((key, value)) = line.split_once(':') else {
            warnings.push(format!(
                "{origin}: line {}: not a 'K:value' line; ignored",
                index + 1
            ));
            continue;
        };
        match key {
            "P" => current.name = value.to_owned(),
            "V" => current.version = value.to_owned(),
            "A" => current.arch = Some(value.to_owned()),
            "o" => current.origin = Some(value.to_owned()),
            "L" => current.license = Some(value.to_owned()),
            "F" => dir = value.trim_matches('/').to_owned(),
            "R" => current.files.push(if dir.is_empty() {
                format!("/{value}")
            } else {
                format!("/{dir}/{value}")
            }),
            _ => {}
        }
    }
    finish(&mut current, started_at, warnings);
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_their_directory() {
        let text = "C:Q1\nP:musl\nV:1.2.4-r0\nA:x86_64\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\nP:broken\n\n";
        let mut warnings = Vec::new();
        let pkgs = parse_installed(text, "installed", &mut warnings);
        assert_eq!(pkgs.len(), 1);
        assert_eq!(
            pkgs[0].files,
            ["/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"]
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("broken") && warnings[0].contains("line 10"));
    }
}
