//! crates.io versions: SemVer 2.0 exactly as Cargo parses it (the `semver` crate,
//! which *is* Cargo's parser), ordered by SemVer precedence — build metadata is
//! ignored, so `1.0.0+a` = `1.0.0+b`.
//!
//! The crate is used rather than reimplemented because its acceptance rules (no `v`,
//! no blanks, no leading zeros, `u64` components) define what a crates.io version is.

use std::cmp::Ordering;

use crate::{Ecosystem, VersionError};

pub fn parse(v: &str) -> Result<semver::Version, VersionError> {
    semver::Version::parse(v).map_err(|e| VersionError::new(Ecosystem::Cargo, v, e.to_string()))
}

pub fn validate(v: &str) -> Result<(), VersionError> {
    parse(v).map(drop)
}

/// SemVer precedence: major, minor, patch, then prerelease (none > some; numeric
/// identifiers by value and before alphanumeric ones).
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(a)?.cmp_precedence(&parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn precedence_ignores_build() {
        assert_eq!(compare("1.0.0+a", "1.0.0+b"), Ok(Equal));
        assert_eq!(compare("1.0.0-alpha.10", "1.0.0-alpha.9"), Ok(Greater));
        assert_eq!(compare("1.0.0-rc.1", "1.0.0"), Ok(Less));
        assert!(validate("v1.0.0").is_err());
        assert!(validate("1.0").is_err());
        assert!(validate("01.0.0").is_err());
    }
}
