//! dpkg: `var/lib/dpkg/status`, distroless `var/lib/dpkg/status.d/*`, and the owned
//! file lists in `var/lib/dpkg/info/*.list`.

use crate::control;

pub const STATUS: &str = "var/lib/dpkg/status";
pub const STATUS_D: &str = "var/lib/dpkg/status.d";
pub const INFO: &str = "var/lib/dpkg/info";

/// A package as dpkg records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgPackage {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub source_name: String,
    pub source_version: String,
    pub multi_arch_same: bool,
    pub license: Option<String>,
}

/// True when a `Status:` value (`want flag state`) means the package's files are on
/// disk. Like `dpkg-query -W` this drops `not-installed`; unlike it, it also drops
/// `config-files` (removed, only configuration left), which has nothing to exploit.
pub fn status_is_installed(status: &str) -> bool {
    let state = status.split_whitespace().nth(2).unwrap_or("");
    matches!(
        state,
        "installed"
            | "half-installed"
            | "unpacked"
            | "half-configured"
            | "triggers-awaited"
            | "triggers-pending"
    )
}

/// Parses a status file (or one `status.d` entry). `origin` names the file in
/// warnings. Stanzas without a name or version are reported and skipped.
pub fn parse_status(text: &str, origin: &str, warnings: &mut Vec<String>) -> Vec<DpkgPackage> {
    let stanzas = control::parse(text, |line, why| {
        warnings.push(format!("{origin}: line {line}: {why}; ignored"))
    });
    let mut packages = Vec::new();
    for stanza in stanzas {
        // status.d entries of distroless images carry no Status field: present = installed.
        if let Some(status) = stanza.get("Status") {
            if !status_is_installed(status) {
                continue;
            }
        }
        let (Some(name), Some(version)) = (stanza.get("Package"), stanza.get("Version")) else {
            warnings.push(format!(
                "{origin}: stanza at line {} has no Package or Version field; skipped",
                stanza.line
            ));
            continue;
        };
        if name.is_empty() || version.is_empty() || name.contains(char::is_whitespace) {
            warnings.push(format!(
                "{origin}: stanza at line {} has a malformed Package or Version; skipped",
                stanza.line
            ));
            continue;
        }
        // `Source: name` or `Source: name (version)` when the source version differs.
        let (source_name, source_version) = match stanza.get("Source") {
            Some(source) if !source.is_empty() => match source.split_once('(') {
                Some((n, v)) => (
                    n.trim().to_owned(),
                    v.trim_end_matches(')').trim().to_owned(),
                ),
                None => (source.trim().to_owned(), version.to_owned()),
            },
            _ => (name.to_owned(), version.to_owned()),
        };
        packages.push(DpkgPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: stanza.get("Architecture").map(str::to_owned),
            source_name,
            source_version,
            multi_arch_same: stanza
                .get("Multi-Arch")
                .is_some_and(|m| m.eq_ignore_ascii_case("same")),
            license: None,
        });
    }
    packages
}

/// Candidate `.list` file names for a package, most specific first.
pub fn list_file_names(pkg: &DpkgPackage) -> Vec<String> {
    let mut names = Vec::with_capacity(2);
    if let Some(arch) = &pkg.arch {
        names.push(format!("{}:{arch}.list", pkg.name));
    }
    names.push(format!("{}.list", pkg.name));
    names
}

/// Owned paths from a `.list` file (one absolute path per line; `/.` is dropped).
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && *l != "/.")
        .map(str::to_owned)
        .collect()
}

/// Owned paths from a distroless `status.d/<pkg>.md5sums` (`<md5>  <relative path>`).
pub fn parse_md5sums(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once("  ").map(|(_, p)| p.trim()))
        .filter(|p| !p.is_empty())
        .map(|p| format!("/{}", p.trim_start_matches('/')))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_with_and_without_version() {
        let text = "Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nSource: openssl\n\n\
Package: bsdutils\nStatus: install ok installed\nVersion: 1:2.38.1-5+b1\nSource: util-linux (2.38.1-5)\n\n\
Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
Package: noversion\nStatus: install ok installed\n";
        let mut warnings = Vec::new();
        let pkgs = parse_status(text, "status", &mut warnings);
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[0].source_name, "openssl");
        assert_eq!(pkgs[0].source_version, "3.0.11-1~deb12u2");
        assert_eq!(pkgs[1].source_name, "util-linux");
        assert_eq!(pkgs[1].source_version, "2.38.1-5");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("line 15"));
    }

    #[test]
    fn broken_lines_are_reported_not_fatal() {
        let mut warnings = Vec::new();
        let pkgs = parse_status(
            " stray\nPackage: a\nVersion: 1\ngarbage line\n",
            "status",
            &mut warnings,
        );
        assert_eq!(pkgs.len(), 1);
        assert_eq!(warnings.len(), 2);
    }
}
