//! Operating-system identity from `os-release` and its older relatives.

use postwatch_model::OsInfo;
use std::collections::HashMap;

/// Files read for OS identity, in the order they are tried.
pub const OS_FILES: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/lsb-release",
    "etc/alpine-release",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/rocky-release",
    "etc/almalinux-release",
    "etc/system-release-cpe",
    "etc/debian_version",
];

/// Parses `KEY=value` lines as os-release(5) describes: optional single or double
/// quotes, backslash escapes inside double quotes, `#` comments.
pub fn parse_key_values(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let raw = raw.trim();
        let value = if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_owned()
        } else {
            raw.to_owned()
        };
        map.insert(key.trim().to_owned(), value);
    }
    map
}

/// Builds the identity from the files a target holds. `read` returns a file's text.
pub fn detect(read: &mut dyn FnMut(&str) -> Option<String>) -> Option<OsInfo> {
    let mut info = None;
    for file in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(text) = read(file) {
            let kv = parse_key_values(&text);
            if let Some(id) = kv.get("ID").filter(|id| !id.is_empty()) {
                info = Some(OsInfo {
                    id: id.to_lowercase(),
                    version_id: kv.get("VERSION_ID").cloned().filter(|v| !v.is_empty()),
                    version_codename: kv
                        .get("VERSION_CODENAME")
                        .cloned()
                        .filter(|v| !v.is_empty()),
                    pretty_name: kv.get("PRETTY_NAME").cloned(),
                    id_like: kv
                        .get("ID_LIKE")
                        .map(|s| s.split_whitespace().map(str::to_lowercase).collect())
                        .unwrap_or_default(),
                    ecosystem: None,
                    source_file: file.to_owned(),
                });
                break;
            }
        }
    }
    let mut info = match info {
        Some(info) => info,
        None => from_legacy_files(read)?,
    };
    // Distroless and some minimal images ship an os-release without VERSION_ID.
    if info.version_id.is_none() {
        match info.id.as_str() {
            "debian" => {
                if let Some(v) = read("etc/debian_version").and_then(|t| debian_version(&t)) {
                    info.version_id = Some(v);
                }
            }
            "alpine" => {
                if let Some(v) = read("etc/alpine-release") {
                    info.version_id = Some(v.trim().to_owned());
                }
            }
            _ => {}
        }
    }
    info.ecosystem = osv_ecosystem(&info.id, info.version_id.as_deref());
    Some(info)
}

/// The major release from `/etc/debian_version` (`12.5` → `12`); testing/sid
/// names like `bookworm/sid` carry no number and give `None`.
fn debian_version(text: &str) -> Option<String> {
    let major = text.trim().split('.').next()?;
    (!major.is_empty() && major.chars().all(|c| c.is_ascii_digit())).then(|| major.to_owned())
}

fn from_legacy_files(read: &mut dyn FnMut(&str) -> Option<String>) -> Option<OsInfo> {
    let make = |id: &str, version: Option<String>, pretty: Option<String>, file: &str| OsInfo {
        id: id.to_owned(),
        version_id: version,
        pretty_name: pretty,
        source_file: file.to_owned(),
        ..Default::default()
    };
    if let Some(text) = read("etc/lsb-release") {
        let kv = parse_key_values(&text);
        if let Some(id) = kv.get("DISTRIB_ID") {
            return Some(make(
                &id.to_lowercase(),
                kv.get("DISTRIB_RELEASE").cloned(),
                kv.get("DISTRIB_DESCRIPTION").cloned(),
                "etc/lsb-release",
            ));
        }
    }
    if let Some(text) = read("etc/alpine-release") {
        return Some(make(
            "alpine",
            Some(text.trim().to_owned()),
            None,
            "etc/alpine-release",
        ));
    }
    for file in [
        "etc/almalinux-release",
        "etc/rocky-release",
        "etc/centos-release",
        "etc/redhat-release",
    ] {
        if let Some(text) = read(file) {
            if let Some((id, version)) = parse_redhat_release(&text) {
                return Some(make(id, Some(version), Some(text.trim().to_owned()), file));
            }
        }
    }
    if let Some(text) = read("etc/system-release-cpe") {
        // cpe:/o:centos:linux:6:GA
        let parts: Vec<&str> = text.trim().split(':').collect();
        if parts.len() >= 5 && parts[1] == "/o" {
            return Some(make(
                &parts[2].to_lowercase(),
                Some(parts[4].to_owned()),
                None,
                "etc/system-release-cpe",
            ));
        }
    }
    if let Some(text) = read("etc/debian_version") {
        return Some(make(
            "debian",
            debian_version(&text),
            None,
            "etc/debian_version",
        ));
    }
    None
}

/// `AlmaLinux release 8.10 (Cerulean Leopard)` → (`almalinux`, `8.10`).
fn parse_redhat_release(text: &str) -> Option<(&'static str, String)> {
    let line = text.lines().next()?.trim();
    let (name, rest) = line.split_once(" release ")?;
    let version = rest.split_whitespace().next()?.to_owned();
    let name = name.to_lowercase();
    let id = if name.starts_with("almalinux") {
        "almalinux"
    } else if name.starts_with("rocky") {
        "rocky"
    } else if name.starts_with("centos") {
        "centos"
    } else if name.starts_with("red hat enterprise linux") {
        "rhel"
    } else if name.starts_with("scientific") {
        "scientific"
    } else if name.starts_with("fedora") {
        "fedora"
    } else if name.starts_with("oracle") {
        "ol"
    } else {
        return None;
    };
    Some((id, version))
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// `3.18.4` → `3.18`; `3.19_alpha2023` → `3.19`.
fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major = parts.next()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (!minor.is_empty()).then(|| format!("{major}.{minor}"))
}

/// The OSV ecosystem string for a distribution's own packages.
pub fn osv_ecosystem(id: &str, version: Option<&str>) -> Option<String> {
    let v = version?;
    Some(match id {
        "debian" => format!("Debian:{}", major(v)),
        "ubuntu" => {
            let lts = v
                .split_once('.')
                .and_then(|(y, m)| Some(m == "04" && y.parse::<u32>().ok()? % 2 == 0))
                .unwrap_or(false);
            if lts {
                format!("Ubuntu:{v}:LTS")
            } else {
                format!("Ubuntu:{v}")
            }
        }
        "alpine" => format!("Alpine:v{}", major_minor(v)?),
        "almalinux" => format!("AlmaLinux:{}", major(v)),
        "rocky" => format!("Rocky Linux:{}", major(v)),
        "mariner" => format!("Mariner:{v}"),
        "azurelinux" => format!("Azure Linux:{v}"),
        "opensuse-leap" => format!("openSUSE:Leap {v}"),
        "opensuse-tumbleweed" => "openSUSE:Tumbleweed".to_owned(),
        "sles" => match v.split_once('.') {
            Some((m, "0")) | Some((m, "")) => format!("SUSE:Linux Enterprise Server {m}"),
            Some((m, sp)) => format!("SUSE:Linux Enterprise Server {m} SP{sp}"),
            None => format!("SUSE:Linux Enterprise Server {v}"),
        },
        "wolfi" => "Wolfi".to_owned(),
        "chainguard" => "Chainguard".to_owned(),
        "photon" => format!("Photon OS:{v}"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems() {
        assert_eq!(osv_ecosystem("debian", Some("12")).unwrap(), "Debian:12");
        assert_eq!(
            osv_ecosystem("alpine", Some("3.18.4")).unwrap(),
            "Alpine:v3.18"
        );
        assert_eq!(
            osv_ecosystem("almalinux", Some("8.9")).unwrap(),
            "AlmaLinux:8"
        );
        assert_eq!(
            osv_ecosystem("ubuntu", Some("22.04")).unwrap(),
            "Ubuntu:22.04:LTS"
        );
        assert_eq!(
            osv_ecosystem("ubuntu", Some("23.04")).unwrap(),
            "Ubuntu:23.04"
        );
        assert_eq!(
            osv_ecosystem("ubuntu", Some("22.10")).unwrap(),
            "Ubuntu:22.10"
        );
        assert_eq!(
            osv_ecosystem("sles", Some("15.2")).unwrap(),
            "SUSE:Linux Enterprise Server 15 SP2"
        );
        assert_eq!(osv_ecosystem("arch", Some("x")), None);
    }

    #[test]
    fn quoting() {
        let kv = parse_key_values("A=\"x \\\"y\\\"\"\nB='z'\n# c\nC=plain\n");
        assert_eq!(kv["A"], "x \"y\"");
        assert_eq!(kv["B"], "z");
        assert_eq!(kv["C"], "plain");
    }
}
