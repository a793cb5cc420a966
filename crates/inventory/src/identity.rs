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

/// The OSV ecosystem of a language package: the registry's, whatever the OS.
pub fn language_ecosystem(manager: PackageManager) -> &'static str {
    match manager {
        PackageManager::Pip => "PyPI",
        PackageManager::Npm => "npm",
        PackageManager::Cargo => "crates.io",
        PackageManager::Go => "Go",
        PackageManager::Maven => "Maven",
        PackageManager::Gem => "RubyGems",
        PackageManager::Composer => "Packagist",
        PackageManager::Nuget => "NuGet",
        PackageManager::Dpkg | PackageManager::Apk | PackageManager::Rpm => manager.as_str(),
    }
}

/// The PURL of a language package, with the namespace its purl-spec type uses: npm
/// scope, Maven group, Go module path prefix, Composer vendor. PyPI names are
/// lowercased with `_` as `-`, as the spec requires.
pub fn language_purl(manager: PackageManager, name: &str, version: &str) -> String {
    let split_at = |sep: char| match name.rsplit_once(sep) {
        Some((ns, n)) if !ns.is_empty() && !n.is_empty() => (Some(ns), n),
        _ => (None, name),
    };
    let pypi;
    let (ty, namespace, short) = match manager {
        PackageManager::Pip => {
            pypi = name.to_ascii_lowercase().replace('_', "-");
            ("pypi", None, pypi.as_str())
        }
        PackageManager::Npm if name.starts_with('@') => {
            let (ns, n) = split_at('/');
            ("npm", ns, n)
        }
        PackageManager::Npm => ("npm", None, name),
        PackageManager::Cargo => ("cargo", None, name),
        PackageManager::Go => {
            let (ns, n) = split_at('/');
            ("golang", ns, n)
        }
        PackageManager::Maven => {
            let (ns, n) = split_at(':');
            ("maven", ns, n)
        }
        PackageManager::Gem => ("gem", None, name),
        PackageManager::Composer => {
            let (ns, n) = split_at('/');
            ("composer", ns, n)
        }
        PackageManager::Nuget => ("nuget", None, name),
        PackageManager::Dpkg | PackageManager::Apk | PackageManager::Rpm => {
            return purl(
                None,
                &PurlParts {
                    manager,
                    name,
                    version,
                    arch: None,
                    epoch: None,
                },
            )
        }
    };
    let built = PackageUrl::new(ty, short).ok().and_then(|mut p| {
        if let Some(ns) = namespace {
            p.with_namespace(ns).ok()?;
        }
        p.with_version(version).ok()?;
        Some(p.to_string())
    });
    built.unwrap_or_else(|| format!("pkg:{ty}/{name}@{version}"))
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

    #[test]
    fn language_purls_carry_their_namespaces() {
        let cases = [
            (
                PackageManager::Pip,
                "PyYAML_x",
                "5.3",
                "pkg:pypi/pyyaml-x@5.3",
            ),
            (
                PackageManager::Npm,
                "@babel/core",
                "7.1.0",
                "pkg:npm/%40babel/core@7.1.0",
            ),
            (
                PackageManager::Npm,
                "lodash",
                "4.17.20",
                "pkg:npm/lodash@4.17.20",
            ),
            (
                PackageManager::Go,
                "github.com/gorilla/websocket",
                "v1.4.0",
                "pkg:golang/github.com/gorilla/websocket@v1.4.0",
            ),
            (
                PackageManager::Go,
                "stdlib",
                "1.19.8",
                "pkg:golang/stdlib@1.19.8",
            ),
            (
                PackageManager::Maven,
                "org.yaml:snakeyaml",
                "1.33",
                "pkg:maven/org.yaml/snakeyaml@1.33",
            ),
            (
                PackageManager::Composer,
                "guzzlehttp/guzzle",
                "7.4.0",
                "pkg:composer/guzzlehttp/guzzle@7.4.0",
            ),
            (
                PackageManager::Cargo,
                "smallvec",
                "1.6.0",
                "pkg:cargo/smallvec@1.6.0",
            ),
            (PackageManager::Gem, "rack", "2.2.3", "pkg:gem/rack@2.2.3"),
            (
                PackageManager::Nuget,
                "Newtonsoft.Json",
                "12.0.1",
                "pkg:nuget/Newtonsoft.Json@12.0.1",
            ),
        ];
        for (manager, name, version, expected) in cases {
            assert_eq!(language_purl(manager, name, version), expected, "{name}");
        }
    }
}
