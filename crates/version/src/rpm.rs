//! RPM versions, ordered as rpm 4.18 orders them.
//!
//! Two operations, because rpm has two:
//!
//! * [`rpmvercmp`] — rpm's `rpmvercmp()` on one plain string (a version *or* a release):
//!   runs of ASCII letters and digits are compared in turn (digits by value, any
//!   length; letters as text; a digit run beats a letter run), everything else only
//!   separates runs; `~` sorts before anything, even the end of the string (`1.0~rc1`
//!   < `1.0`), and `^` sorts after the end but before any further run (`1.0` <
//!   `1.0^git1` < `1.0.1`). Non-ASCII characters are separators, so `1.1.α` = `1.1.β`.
//! * [`compare_evr`] — the package ordering, on `[epoch:]version[-release]`: epoch,
//!   then version, then release, each with `rpmvercmp`. **A missing epoch is `0`**
//!   (`0:1.0` = `1.0`). The release is the text after the *last* `-`; it is only
//!   compared when both sides have one, so `1.0` = `1.0-5` (rpm's `rpmverCmp`, used
//!   for dependency ranges: a bare version matches any release).
//!
//! Written here because no maintained crate implements rpm 4.18's tilde *and* caret
//! rules together with its EVR split; the algorithm is small, the upstream test
//! table is part of the vectors, and it was checked against rpm 4.18 on generated pairs.

use std::cmp::Ordering;

use crate::digits::cmp_digits;
use crate::{Ecosystem, VersionError};

/// rpm accepts any non-empty string; an empty one has no version at all.
pub fn validate(v: &str) -> Result<(), VersionError> {
    if v.is_empty() {
        return Err(VersionError::new(Ecosystem::Rpm, v, "empty version"));
    }
    if v.contains('\0') {
        return Err(VersionError::new(Ecosystem::Rpm, v, "contains a NUL byte"));
    }
    Ok(())
}

/// rpm's `rpmvercmp()` on two plain strings (no epoch or release split).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    // rpm works on C strings: anything after a NUL is not there.
    let a = a.as_bytes().split(|&c| c == 0).next().unwrap_or_default();
    let b = b.as_bytes().split(|&c| c == 0).next().unwrap_or_default();
    if a == b {
        return Ordering::Equal;
    }
    let is_separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while i < a.len() && is_separator(a[i]) {
            i += 1;
        }
        while j < b.len() && is_separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            match (ca, cb) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(x), _) if x != b'^' => return Ordering::Greater,
                (_, Some(y)) if y != b'^' => return Ordering::Less,
                _ => {}
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = first.is_ascii_digit();
        let in_run = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|c| in_run(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| in_run(c)).count();
        if end_b == j {
            // Different kinds of run: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (run_a, run_b) = (&a[i..end_a], &b[j..end_b]);
        let order = if numeric {
            cmp_digits(run_a, run_b)
        } else {
            run_a.cmp(run_b)
        };
        if order != Ordering::Equal {
            return order;
        }
        i = end_a;
        j = end_b;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// `[epoch:]version[-release]` split as rpm's `parseEVR` splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evr<'a> {
    /// `None` when there is no `epoch:` prefix (compares as `0`).
    pub epoch: Option<&'a str>,
    pub version: &'a str,
    /// The text after the last `-`, if any.
    pub release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    pub fn parse(evr: &'a str) -> Evr<'a> {
        let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = match evr[digits..].strip_prefix(':') {
            Some(rest) if digits == 0 => (Some("0"), rest),
            Some(rest) => (Some(&evr[..digits]), rest),
            None => (None, evr),
        };
        match rest.rsplit_once('-') {
            Some((version, release)) => Evr {
                epoch,
                version,
                release: Some(release),
            },
            None => Evr {
                epoch,
                version: rest,
                release: None,
            },
        }
    }
}

/// rpm's EVR ordering (`rpmverCmp`): epoch (missing = 0), version, then release when
/// both sides have one.
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    compare_parsed(&Evr::parse(a), &Evr::parse(b))
}

pub fn compare_parsed(a: &Evr<'_>, b: &Evr<'_>) -> Ordering {
    rpmvercmp(a.epoch.unwrap_or("0"), b.epoch.unwrap_or("0"))
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            _ => Ordering::Equal,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn tilde_and_caret() {
        assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Less);
        assert_eq!(rpmvercmp("1.0~rc1", "1.0~rc1.1"), Less);
        assert_eq!(rpmvercmp("1.0^", "1.0"), Greater);
        assert_eq!(rpmvercmp("1.0^git1", "1.0.1"), Less);
        assert_eq!(rpmvercmp("1.0^git1~pre", "1.0^git1"), Less);
    }

    #[test]
    fn separators_and_kinds() {
        assert_eq!(rpmvercmp("1.0", "1_0"), Equal);
        assert_eq!(rpmvercmp("1.0a", "1.0.1"), Less);
        assert_eq!(rpmvercmp("2a", "2.0"), Less);
        assert_eq!(rpmvercmp("1.1.α", "1.1.β"), Equal);
        assert_eq!(rpmvercmp("1b.fc17", "1.fc17"), Less);
    }

    #[test]
    fn evr_epoch_defaults_to_zero_and_release_is_optional() {
        assert_eq!(compare_evr("0:1.0-1", "1.0-1"), Equal);
        assert_eq!(compare_evr("1:1.0", "2.0"), Greater);
        assert_eq!(compare_evr("1.0", "1.0-5"), Equal);
        assert_eq!(compare_evr("1.0-5", "1.0-10"), Less);
        assert_eq!(compare_evr(":1.0", "0:1.0"), Equal);
        let evr = Evr::parse("3:1.2-3-4.el9");
        assert_eq!(evr.epoch, Some("3"));
        assert_eq!(evr.version, "1.2-3");
        assert_eq!(evr.release, Some("4.el9"));
    }

    #[test]
    fn huge_numbers() {
        assert_eq!(
            rpmvercmp("1.99999999999999999999999", "1.100000000000000000000000"),
            Less
        );
        assert_eq!(rpmvercmp("000000000000000000000001", "1"), Equal);
    }
}
