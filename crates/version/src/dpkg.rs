//! Debian package versions, `[epoch:]upstream[-revision]`, ordered as
//! `dpkg --compare-versions` (dpkg 1.21) orders them.
//!
//! Written here rather than with the `debversion` crate, which orders every vector row
//! correctly but parses differently from dpkg: it refuses `1.0 ` (dpkg trims blanks)
//! and versions dpkg only *warns* about (characters outside its alphabet), and pulls
//! in chrono, regex and num-bigint. Like dpkg, this module accepts those warning-level
//! versions and compares them; only what dpkg rejects outright (empty parts, embedded
//! blanks, a bad epoch) is an error.
//!
//! Ordering: epochs numerically, then upstream and revision with dpkg's `verrevcmp`:
//! alternating non-digit runs (compared character by character with `~` before the
//! end of the string, the end before letters, letters before everything else) and
//! digit runs (compared by value, any length). A missing revision equals `0`, so
//! `1.0` = `1.0-0`.

use std::cmp::Ordering;

use crate::digits::cmp_digits;
use crate::{Ecosystem, VersionError};

/// A parsed version; the parts borrow from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    pub epoch: u32,
    pub upstream: &'a str,
    /// Empty when the version has no `-revision`.
    pub revision: &'a str,
}

impl<'a> Version<'a> {
    /// Splits a version the way dpkg's `parseversion` does, with its errors.
    pub fn parse(input: &'a str) -> Result<Version<'a>, VersionError> {
        let err = |reason: &str| VersionError::new(Ecosystem::Dpkg, input, reason);
        let is_blank = |c: char| c == ' ' || c == '\t';
        let trimmed = input.trim_start_matches(is_blank);
        let end = trimmed.find(is_blank).unwrap_or(trimmed.len());
        if !trimmed[end..].trim_start_matches(is_blank).is_empty() {
            return Err(err("version string has embedded spaces"));
        }
        let text = &trimmed[..end];
        if text.is_empty() {
            return Err(err("version string is empty"));
        }
        let (epoch, rest) = match text.split_once(':') {
            Some((epoch, rest)) => {
                let epoch = parse_epoch(epoch).map_err(err)?;
                if rest.is_empty() {
                    return Err(err("nothing after colon in version number"));
                }
                (epoch, rest)
            }
            None => (0, text),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((_, "")) => return Err(err("revision number is empty")),
            Some((upstream, revision)) => (upstream, revision),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(err("version number is empty"));
        }
        Ok(Version {
            epoch,
            upstream,
            revision,
        })
    }
}

/// The epoch as C's `strtol` reads it (leading space and a sign allowed), bounded by
/// `INT_MAX` like dpkg.
fn parse_epoch(text: &str) -> Result<u32, &'static str> {
    let unspaced = text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let (negative, digits) = match unspaced.as_bytes().first() {
        Some(b'-') => (true, &unspaced[1..]),
        Some(b'+') => (false, &unspaced[1..]),
        _ => (false, unspaced),
    };
    if digits.is_empty() || !digits.as_bytes()[0].is_ascii_digit() {
        return Err("epoch in version is empty");
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("epoch in version is not number");
    }
    if cmp_digits(digits.as_bytes(), b"2147483647") == Ordering::Greater {
        return Err("epoch in version is too big");
    }
    let value: u32 = digits.parse().map_err(|_| "epoch in version is too big")?;
    if negative && value != 0 {
        return Err("epoch in version is negative");
    }
    Ok(value)
}

/// Orders two version strings; errors if either is one dpkg refuses.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(compare_parsed(&Version::parse(a)?, &Version::parse(b)?))
}

/// Orders two parsed versions.
pub fn compare_parsed(a: &Version<'_>, b: &Version<'_>) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream.as_bytes(), b.upstream.as_bytes()))
        .then_with(|| verrevcmp(a.revision.as_bytes(), b.revision.as_bytes()))
}

/// dpkg's weight of a non-digit character; `None` is the end of the string.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        // dpkg adds 256 to a (signed) char: bytes above 0x7f land between letters
        // and ASCII punctuation.
        Some(c) if c >= 0x80 => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let is_digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let start_a = i;
        while is_digit(a, i) {
            i += 1;
        }
        let start_b = j;
        while is_digit(b, j) {
            j += 1;
        }
        let by_value = cmp_digits(&a[start_a..i], &b[start_b..j]);
        if by_value != Ordering::Equal {
            return by_value;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare(a, b).unwrap()
    }

    #[test]
    fn tilde_sorts_before_everything_even_the_end() {
        assert_eq!(cmp("1.0~rc1", "1.0"), Less);
        assert_eq!(cmp("1.0~~", "1.0~"), Less);
        assert_eq!(cmp("1.0+b1", "1.0"), Greater);
        assert_eq!(cmp("1.0a", "1.0+"), Less);
    }

    #[test]
    fn missing_revision_and_epoch_are_zero() {
        assert_eq!(cmp("1.0", "1.0-0"), Equal);
        assert_eq!(cmp("0:1.0", "1.0"), Equal);
        assert_eq!(cmp("1:0.1", "9.9"), Greater);
        assert_eq!(cmp("1.0000-1", "1.0-1"), Equal);
    }

    #[test]
    fn huge_numbers_compare_by_value() {
        assert_eq!(
            cmp("99999999999999999999999", "100000000000000000000000"),
            Less
        );
        assert_eq!(
            cmp("1.000100000000000000000000", "1.99999999999999999999"),
            Greater
        );
    }

    #[test]
    fn upstream_may_hold_hyphens_and_colons() {
        let v = Version::parse("2:1.2-3-4").unwrap();
        assert_eq!((v.epoch, v.upstream, v.revision), (2, "1.2-3", "4"));
        let v = Version::parse("1:2:3").unwrap();
        assert_eq!((v.epoch, v.upstream), (1, "2:3"));
    }

    #[test]
    fn rejects_what_dpkg_rejects() {
        for bad in [
            "",
            " ",
            "1.0 1",
            "a:1.0",
            ":1.0",
            "1:",
            "1.0-",
            "-1",
            "-1:1",
            "9999999999:1",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
        // dpkg only warns about these and compares them anyway.
        assert_eq!(cmp("b-0", "a-0"), Greater);
        assert!(Version::parse(" 1.0\t").is_ok());
    }
}
