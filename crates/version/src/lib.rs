//! Version ordering for every ecosystem postwatch matches advisories in.
//!
//! Owns: parsing, validating and ordering version strings exactly as each ecosystem's
//! own tool does — dpkg, rpm, apk, PEP 440 (`packaging`), npm (`node-semver`), Cargo
//! (SemVer 2.0), Go modules (`golang.org/x/mod/semver`), Maven (`ComparableVersion`),
//! RubyGems (`Gem::Version`), Composer and NuGet — and mapping OSV ecosystem names
//! (`Debian:12`, `Alpine:v3.18`, `PyPI`, …) to the ordering family they use.
//!
//! Pure: no I/O and no global state. Every input is untrusted text: a malformed
//! version is a [`VersionError`], never a panic, and numbers longer than any machine
//! integer still order correctly where the ecosystem allows them.
//!
//! Must not: read files or the network, know about packages, advisories or operating
//! systems (that is the matcher's and `postwatch-inventory`'s job), or "fix" an
//! ecosystem's ordering — where the real tool is odd, this crate is odd the same way,
//! because an advisory's `fixed` version means what the real tool says it means.
//!
//! [`compare`] and [`validate`] are the entry points; each ecosystem's module exposes
//! the finer operations its tool has (rpm's plain `rpmvercmp`, apk's fuzzy operators,
//! PEP 440 normalisation, npm ranges, Go's `Canonical`, …).

pub mod apk;
pub mod cargo;
mod digits;
pub mod dpkg;
pub mod go;
pub mod maven;
pub mod npm;
pub mod nuget;
pub mod packagist;
pub mod pep440;
pub mod rpm;
pub mod rubygems;

use std::cmp::Ordering;

/// An ordering family: every OSV ecosystem that shares a version syntax and ordering
/// maps to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecosystem {
    /// Debian and Ubuntu (`dpkg --compare-versions`).
    Dpkg,
    /// Red Hat family, SUSE, Mariner, Photon, openEuler (rpm EVR ordering).
    Rpm,
    /// Alpine, Wolfi, Chainguard (`apk version -t`).
    Apk,
    /// PyPI (PEP 440 as implemented by `packaging`).
    Pep440,
    /// npm (`node-semver`, strict parsing).
    Npm,
    /// crates.io (SemVer 2.0 as Cargo parses it).
    Cargo,
    /// Go modules (`golang.org/x/mod/semver`); the `v` prefix is optional here.
    Go,
    /// Maven (`ComparableVersion`).
    Maven,
    /// RubyGems (`Gem::Version`).
    RubyGems,
    /// Packagist (Composer's normalisation and ordering).
    Packagist,
    /// NuGet (`NuGet.Versioning`).
    NuGet,
}

impl Ecosystem {
    /// Every family, for callers that iterate (tests, documentation).
    pub const ALL: [Ecosystem; 11] = [
        Ecosystem::Dpkg,
        Ecosystem::Rpm,
        Ecosystem::Apk,
        Ecosystem::Pep440,
        Ecosystem::Npm,
        Ecosystem::Cargo,
        Ecosystem::Go,
        Ecosystem::Maven,
        Ecosystem::RubyGems,
        Ecosystem::Packagist,
        Ecosystem::NuGet,
    ];

    /// Maps an OSV ecosystem name to its ordering family. Release-qualified forms
    /// (`Debian:12`, `Ubuntu:22.04:LTS`, `Alpine:v3.18`, `openSUSE:Leap 15.5`) map like
    /// their base name. Base names are matched as OSV spells them, plus the lower-case
    /// aliases people and package managers use (`debian`, `pypi`, `cargo`, `dpkg`, …).
    pub fn from_osv(name: &str) -> Option<Ecosystem> {
        let base = name.split(':').next().unwrap_or(name);
        let eco = match base {
            "Debian" | "Ubuntu" | "debian" | "ubuntu" | "dpkg" | "deb" => Ecosystem::Dpkg,
            "AlmaLinux" | "Rocky Linux" | "Red Hat" | "openSUSE" | "SUSE" | "Mariner"
            | "Azure Linux" | "Photon OS" | "openEuler" | "Mageia" | "rpm" => Ecosystem::Rpm,
            "Alpine" | "Wolfi" | "Chainguard" | "MinimOS" | "alpine" | "apk" => Ecosystem::Apk,
            "PyPI" | "pypi" => Ecosystem::Pep440,
            "npm" => Ecosystem::Npm,
            "crates.io" | "cargo" => Ecosystem::Cargo,
            "Go" | "go" => Ecosystem::Go,
            "Maven" | "maven" => Ecosystem::Maven,
            "RubyGems" | "rubygems" => Ecosystem::RubyGems,
            "Packagist" | "packagist" => Ecosystem::Packagist,
            "NuGet" | "nuget" => Ecosystem::NuGet,
            _ => return None,
        };
        Some(eco)
    }

    /// The scheme's name as used in messages ("… is not a valid PEP 440 version").
    pub fn name(self) -> &'static str {
        match self {
            Ecosystem::Dpkg => "dpkg",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Apk => "apk",
            Ecosystem::Pep440 => "PEP 440",
            Ecosystem::Npm => "npm SemVer",
            Ecosystem::Cargo => "Cargo SemVer",
            Ecosystem::Go => "Go module",
            Ecosystem::Maven => "Maven",
            Ecosystem::RubyGems => "RubyGems",
            Ecosystem::Packagist => "Composer",
            Ecosystem::NuGet => "NuGet",
        }
    }
}

/// A version string that the ecosystem's tool would refuse. The message names the
/// string and the problem: `"1.0..2" is not a valid PEP 440 version: empty release
/// segment`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{version:?} is not a valid {scheme} version: {reason}")]
pub struct VersionError {
    version: String,
    scheme: &'static str,
    reason: String,
}

/// Longest stretch of the offending string kept in an error, so a hostile megabyte
/// version does not become a megabyte message.
const ERROR_VERSION_CHARS: usize = 200;

impl VersionError {
    pub(crate) fn new(eco: Ecosystem, version: &str, reason: impl Into<String>) -> Self {
        let version = match version.char_indices().nth(ERROR_VERSION_CHARS) {
            Some((cut, _)) => format!("{}…", &version[..cut]),
            None => version.to_owned(),
        };
        VersionError {
            version,
            scheme: eco.name(),
            reason: reason.into(),
        }
    }

    /// The offending version string (shortened if it was very long).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Orders two versions the way `eco`'s own tool does. Errors if either string is not
/// a valid version there (see [`validate`]); equal means "the tool says equal", not
/// "same string" (`1.0` = `1.0-0` for dpkg, `1` = `1.0.0` for Maven).
pub fn compare(eco: Ecosystem, a: &str, b: &str) -> Result<Ordering, VersionError> {
    match eco {
        Ecosystem::Dpkg => dpkg::compare(a, b),
        Ecosystem::Rpm => {
            rpm::validate(a)?;
            rpm::validate(b)?;
            Ok(rpm::compare_evr(a, b))
        }
        Ecosystem::Apk => {
            apk::validate(a)?;
            apk::validate(b)?;
            Ok(apk::compare(a, b))
        }
        Ecosystem::Pep440 => Ok(pep440::Version::parse(a)?.cmp(&pep440::Version::parse(b)?)),
        Ecosystem::Npm => {
            let a = npm::SemVer::parse(a, false)?;
            let b = npm::SemVer::parse(b, false)?;
            Ok(a.compare(&b))
        }
        Ecosystem::Cargo => cargo::compare(a, b),
        Ecosystem::Go => {
            let a = go::with_prefix(a);
            let b = go::with_prefix(b);
            go::validate(&a)?;
            go::validate(&b)?;
            Ok(go::compare(&a, &b))
        }
        Ecosystem::Maven => maven::compare(a, b),
        Ecosystem::RubyGems => Ok(rubygems::Version::parse(a)?.cmp(&rubygems::Version::parse(b)?)),
        Ecosystem::Packagist => packagist::compare(a, b),
        Ecosystem::NuGet => Ok(nuget::Version::parse(a)?.cmp(&nuget::Version::parse(b)?)),
    }
}

/// Whether `v` is a version `eco`'s tool accepts (what [`compare`] needs).
pub fn validate(eco: Ecosystem, v: &str) -> Result<(), VersionError> {
    match eco {
        Ecosystem::Dpkg => dpkg::Version::parse(v).map(drop),
        Ecosystem::Rpm => rpm::validate(v),
        Ecosystem::Apk => apk::validate(v),
        Ecosystem::Pep440 => pep440::Version::parse(v).map(drop),
        Ecosystem::Npm => npm::SemVer::parse(v, false).map(drop),
        Ecosystem::Cargo => cargo::validate(v),
        Ecosystem::Go => go::validate(&go::with_prefix(v)),
        Ecosystem::Maven => maven::validate(v),
        Ecosystem::RubyGems => rubygems::Version::parse(v).map(drop),
        Ecosystem::Packagist => packagist::normalize(v).map(drop),
        Ecosystem::NuGet => nuget::Version::parse(v).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osv_names_map_with_and_without_release() {
        for (name, eco) in [
            ("Debian", Ecosystem::Dpkg),
            ("Debian:12", Ecosystem::Dpkg),
            ("Ubuntu:22.04:LTS", Ecosystem::Dpkg),
            ("AlmaLinux:8", Ecosystem::Rpm),
            ("Rocky Linux:9", Ecosystem::Rpm),
            ("Red Hat", Ecosystem::Rpm),
            ("openSUSE:Leap 15.5", Ecosystem::Rpm),
            ("SUSE:Linux Enterprise Server 15 SP5", Ecosystem::Rpm),
            ("Azure Linux", Ecosystem::Rpm),
            ("Photon OS:5.0", Ecosystem::Rpm),
            ("openEuler:22.03-LTS", Ecosystem::Rpm),
            ("Alpine:v3.18", Ecosystem::Apk),
            ("Wolfi", Ecosystem::Apk),
            ("Chainguard", Ecosystem::Apk),
            ("PyPI", Ecosystem::Pep440),
            ("npm", Ecosystem::Npm),
            ("crates.io", Ecosystem::Cargo),
            ("cargo", Ecosystem::Cargo),
            ("Go", Ecosystem::Go),
            ("Maven", Ecosystem::Maven),
            ("RubyGems", Ecosystem::RubyGems),
            ("Packagist", Ecosystem::Packagist),
            ("NuGet", Ecosystem::NuGet),
            ("dpkg", Ecosystem::Dpkg),
            ("apk", Ecosystem::Apk),
            ("rpm", Ecosystem::Rpm),
            ("pypi", Ecosystem::Pep440),
        ] {
            assert_eq!(Ecosystem::from_osv(name), Some(eco), "{name}");
        }
        for name in ["", "debian ", "DEBIAN", "Hex", "Pub", "PyPi"] {
            assert_eq!(Ecosystem::from_osv(name), None, "{name}");
        }
    }

    #[test]
    fn error_names_string_and_problem() {
        let err = compare(Ecosystem::Pep440, "1.0..2", "1").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("\"1.0..2\" is not a valid PEP 440 version: "),
            "{text}"
        );
        let long = "1".repeat(10_000) + "!";
        let err = validate(Ecosystem::Pep440, &long).unwrap_err();
        assert!(err.to_string().len() < 400);
    }

    #[test]
    fn go_accepts_osv_versions_without_prefix() {
        assert_eq!(
            compare(Ecosystem::Go, "1.2.3", "v1.10.0"),
            Ok(Ordering::Less)
        );
        assert!(validate(Ecosystem::Go, "1.2.3").is_ok());
        assert!(validate(Ecosystem::Go, "bad").is_err());
    }
}
