//! Go module versions, with the semantics of `golang.org/x/mod/semver`: `IsValid`,
//! `Canonical` and `Compare`.
//!
//! Versions are `vMAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]]`; the shorthands `v1` and
//! `v1.2` mean `v1.0.0` and `v1.2.0` (and may not carry a prerelease or build). Build
//! metadata — including `+incompatible` — is ignored by the ordering, and
//! pseudo-versions (`v0.0.0-20191109021931-daa7c04131f5`) are ordinary prereleases.
//! [`compare`] is total like Go's: every invalid string is equal to every other and
//! below every valid version. Numbers of any length compare by value.
//!
//! OSV writes Go versions without the `v`; [`with_prefix`] adds it, and the crate's
//! top-level `compare`/`validate` apply it. Written here because the package is small,
//! exactly specified, and no crate reproduces its invalid-string ordering.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::digits::cmp_digits;
use crate::{Ecosystem, VersionError};

/// The pieces of a valid version; `short` is what `Canonical` appends (`.0.0`, `.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    short: &'static str,
    /// Including the leading `-`; empty when absent.
    prerelease: &'a str,
    /// Including the leading `+`; empty when absent.
    build: &'a str,
}

fn parse(v: &str) -> Option<Parsed<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = parse_int(rest)?;
    let mut parsed = Parsed {
        major,
        minor: "0",
        patch: "0",
        short: ".0.0",
        prerelease: "",
        build: "",
    };
    if rest.is_empty() {
        return Some(parsed);
    }
    let (minor, rest) = parse_int(rest.strip_prefix('.')?)?;
    parsed.minor = minor;
    parsed.short = ".0";
    if rest.is_empty() {
        return Some(parsed);
    }
    let (patch, mut rest) = parse_int(rest.strip_prefix('.')?)?;
    parsed.patch = patch;
    parsed.short = "";
    if rest.starts_with('-') {
        let end = rest.find('+').unwrap_or(rest.len());
        parsed.prerelease = &rest[..end];
        if !identifiers_ok(&parsed.prerelease[1..], true) {
            return None;
        }
        rest = &rest[end..];
    }
    if let Some(build) = rest.strip_prefix('+') {
        if !identifiers_ok(build, false) {
            return None;
        }
        parsed.build = rest;
        rest = "";
    }
    rest.is_empty().then_some(parsed)
}

/// A decimal number without leading zeros, and what follows it.
fn parse_int(v: &str) -> Option<(&str, &str)> {
    let n = v.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || (n > 1 && v.starts_with('0')) {
        return None;
    }
    Some(v.split_at(n))
}

/// Dot-separated, non-empty `[0-9A-Za-z-]` identifiers; prerelease numbers may not
/// have leading zeros.
fn identifiers_ok(text: &str, is_prerelease: bool) -> bool {
    text.split('.').all(|ident| {
        !ident.is_empty()
            && ident
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-')
            && !(is_prerelease && is_number(ident) && ident.len() > 1 && ident.starts_with('0'))
    })
}

fn is_number(ident: &str) -> bool {
    ident.bytes().all(|c| c.is_ascii_digit())
}

/// `semver.IsValid`.
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

pub fn validate(v: &str) -> Result<(), VersionError> {
    if is_valid(v) {
        Ok(())
    } else {
        Err(VersionError::new(
            Ecosystem::Go,
            v,
            "expected vMAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]] without leading zeros",
        ))
    }
}

/// `semver.Canonical`: `vMAJOR.MINOR.PATCH[-PRERELEASE]`, build dropped; empty for an
/// invalid version.
pub fn canonical(v: &str) -> String {
    match parse(v) {
        None => String::new(),
        Some(p) if !p.build.is_empty() => v[..v.len() - p.build.len()].to_owned(),
        Some(p) => format!("{v}{}", p.short),
    }
}

/// `semver.Compare`; total (invalid < valid, invalid = invalid).
pub fn compare(v: &str, w: &str) -> Ordering {
    match (parse(v), parse(w)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => cmp_digits(a.major.as_bytes(), b.major.as_bytes())
            .then_with(|| cmp_digits(a.minor.as_bytes(), b.minor.as_bytes()))
            .then_with(|| cmp_digits(a.patch.as_bytes(), b.patch.as_bytes()))
            .then_with(|| compare_prerelease(a.prerelease, b.prerelease)),
    }
}

fn compare_prerelease(x: &str, y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    if x.is_empty() {
        return Ordering::Greater;
    }
    if y.is_empty() {
        return Ordering::Less;
    }
    let mut xs = x[1..].split('.');
    let mut ys = y[1..].split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(dx), Some(dy)) if dx == dy => {}
            (Some(dx), Some(dy)) => {
                return match (is_number(dx), is_number(dy)) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (true, true) => cmp_digits(dx.as_bytes(), dy.as_bytes()),
                    (false, false) => dx.cmp(dy),
                }
            }
        }
    }
}

/// Adds the `v` that OSV leaves off Go versions.
pub fn with_prefix(v: &str) -> Cow<'_, str> {
    if v.starts_with('v') {
        Cow::Borrowed(v)
    } else {
        Cow::Owned(format!("v{v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical("v1"), "v1.0.0");
        assert_eq!(canonical("v1.2"), "v1.2.0");
        assert_eq!(canonical("v1.2.3+incompatible"), "v1.2.3");
        assert_eq!(canonical("v1.2-pre"), "");
        assert_eq!(canonical("1.2.3"), "");
    }

    #[test]
    fn ordering() {
        assert_eq!(compare("v1.2.3", "v1.2.3+incompatible"), Equal);
        assert_eq!(compare("v2.0.0+incompatible", "v1.9.9"), Greater);
        assert_eq!(
            compare(
                "v0.0.0-20191109021931-daa7c04131f5",
                "v0.0.0-20200101000000-aaaaaaaaaaaa"
            ),
            Less
        );
        assert_eq!(compare("v1.0.0-alpha.1", "v1.0.0-alpha.beta"), Less);
        assert_eq!(compare("v1.0.0-rc.1", "v1.0.0"), Less);
        assert_eq!(compare("bad", "v0.0.0-0"), Less);
        assert_eq!(compare("bad", "v1-pre"), Equal);
        assert_eq!(
            compare(
                "v99999999999999999999999.0.0",
                "v100000000000000000000000.0.0"
            ),
            Less
        );
    }

    #[test]
    fn validity() {
        for bad in [
            "",
            "v",
            "v01.0.0",
            "v1.0.0-01",
            "v1.0.0-",
            "v1.0.0+",
            "v1.0.0-a..b",
            "v1.0.0 ",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(is_valid("v1.0.0-0a.00a+001"));
    }
}
