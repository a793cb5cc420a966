//! Package identity for the outside world: the OSV ecosystem string and the PURL.

use packageurl::PackageUrl;
use postwatch_model::{OsInfo, PackageManager};

/// The OSV ecosystem of an OS package: the distribution's (`Debian:12`) when known,
/// otherwise the package manager's name, so that nothing is matched against the
/// wrong distribution's advisories.
pub fn ecosystem(os: Option<&OsInfo>, manager: PackageManager) -> String {
    os.and_then(|o| o.ecosystem.clone())
        .unwrap_or_else(|| manager.as_str().to_owned())
}

/// Fields that go into a package URL.
pub struct PurlParts<'a> {
    pub manager: PackageManager,
    pub name: &'a str,
    /// For rpm the `version-release` without epoch (epoch is a qualifier).
    pub version: &'a str,
    pub arch: Option<&'a str>,
    pub epoch: Option<u32>,
}

/// `pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12`, following
/// the purl-spec types `deb`, `apk` and `rpm`.
pub fn purl(os: Option<&OsInfo>, parts: &PurlParts<'_>) -> String {
    let (ty, default_ns) = match parts.manager {
        PackageManager::Dpkg => ("deb", Some("debian")),
        PackageManager::Apk => ("apk", Some("alpine")),
        PackageManager::Rpm => ("rpm", None),
        PackageManager::Pip => ("pypi", None),
        PackageManager::Npm => ("npm", None),
        PackageManager::Cargo => ("cargo", None),
        PackageManager::Go => ("golang", None),
        PackageManager::Maven => ("maven", None),
        PackageManager::Gem => ("gem", None),
        PackageManager::Composer => ("composer", None),
        PackageManager::Nuget => ("nuget", None),
    };
    // Only OS packages carry the distribution.
    let os = os.filter(|_| parts.manager.is_os());
    let namespace = os.map(|o| o.id.as_str()).or(default_ns);
    build(ty, namespace, os, parts).unwrap_or_else(|| {
        // Only reachable with names the purl library refuses (e.g. empty); keep a
        // readable identifier rather than dropping the package.
        format!("pkg:{ty}/{}@{}", parts.name, parts.version)
    })
}

fn build(
    ty: &str,
    namespace: Option<&str>,
    os: Option<&OsInfo>,
    parts: &PurlParts<'_>,
) -> Option<String> {
    let mut purl = PackageUrl::new(ty, parts.name).ok()?;
    if let Some(ns) = namespace {
        purl.with_namespace(ns).ok()?;
    }
    purl.with_version(parts.version).ok()?;
    if let Some(arch) = parts.arch {
        purl.add_qualifier("arch", arch).ok()?;
    }
    if let Some(epoch) = parts.epoch {
        purl.add_qualifier("epoch", epoch.to_string()).ok()?;
    }
    if let Some(os) = os {
        let distro = match &os.version_id {
            Some(v) => format!("{}-{v}", os.id),
            None => os.id.clone(),
        };
        purl.add_qualifier("distro", distro).ok()?;
    }
    Some(purl.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_purl_encodes_plus_and_sorts_qualifiers() {
        let os = OsInfo {
            id: "debian".into(),
            version_id: Some("12".into()),
            ..Default::default()
        };
        let p = purl(
            Some(&os),
            &PurlParts {
                manager: PackageManager::Dpkg,
                name: "curl",
                version: "7.88.1-10+deb12u5",
                arch: Some("amd64"),
                epoch: None,
            },
        );
        assert_eq!(
            p,
            "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12"
        );
    }
}
