//! NuGet versions, parsed and ordered as `NuGet.Versioning`'s `NuGetVersion` and
//! `VersionComparer.Default` do.
//!
//! `N[.N[.N[.N]]][-label{.label}][+metadata]`: one to four numeric parts (missing
//! ones are 0, so `1.0` = `1.0.0.0`; each at most `int.MaxValue`, leading zeros
//! allowed), SemVer 2.0 prerelease labels, and build metadata that never affects
//! ordering. Labels compare numerically when both parse as 32-bit integers, numbers
//! before words, and words case-insensitively (`1.0.0-BETA` = `1.0.0-beta`); a
//! version with labels sorts before the same version without.
//!
//! Written here because no Rust crate implements NuGet's four-part versions and
//! case-insensitive labels. Surrounding whitespace is trimmed as `NuGetVersion.Parse`
//! does; the numeric parts must be plain ASCII digits.

use std::cmp::Ordering;
use std::fmt;

use crate::{Ecosystem, VersionError};

/// A parsed version.
#[derive(Debug, Clone)]
pub struct Version {
    /// Major, minor, patch, revision.
    parts: [u32; 4],
    labels: Vec<String>,
    metadata: Option<String>,
}

/// `IsValidPart`: non-empty `[0-9A-Za-z-]`; labels (not metadata) may not be numbers
/// with leading zeros.
fn part_ok(part: &str, allow_leading_zeros: bool) -> bool {
    if part.is_empty() || !part.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
        return false;
    }
    let leading_zero_number =
        part.len() > 1 && part.starts_with('0') && part[1..].bytes().all(|c| c.is_ascii_digit());
    allow_leading_zeros || !leading_zero_number
}

impl Version {
    /// `NuGetVersion.TryParse`.
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        let err = |reason: &str| VersionError::new(Ecosystem::NuGet, input, reason);
        let text = input.trim();
        let (rest, metadata) = match text.split_once('+') {
            Some((rest, metadata)) => (rest, Some(metadata)),
            None => (text, None),
        };
        let (numbers, labels) = match rest.split_once('-') {
            Some((numbers, labels)) => (numbers, Some(labels)),
            None => (rest, None),
        };
        let mut parts = [0u32; 4];
        let fields: Vec<&str> = numbers.split('.').collect();
        if fields.len() > 4 {
            return Err(err("more than four numeric parts"));
        }
        for (slot, field) in parts.iter_mut().zip(&fields) {
            if field.is_empty() || !field.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err("numeric parts must be digits"));
            }
            let value: u32 = field
                .trim_start_matches('0')
                .parse()
                .or_else(|_| {
                    if field.bytes().all(|c| c == b'0') {
                        Ok(0)
                    } else {
                        Err(())
                    }
                })
                .map_err(|_| err("numeric part larger than 2147483647"))?;
            if value > i32::MAX as u32 {
                return Err(err("numeric part larger than 2147483647"));
            }
            *slot = value;
        }
        let labels = match labels {
            None => Vec::new(),
            Some(labels) => {
                let labels: Vec<String> = labels.split('.').map(str::to_owned).collect();
                if !labels.iter().all(|l| part_ok(l, false)) {
                    return Err(err("invalid prerelease label"));
                }
                labels
            }
        };
        if let Some(metadata) = metadata {
            if !metadata.split('.').all(|m| part_ok(m, true)) {
                return Err(err("invalid build metadata"));
            }
        }
        Ok(Version {
            parts,
            labels,
            metadata: metadata.map(str::to_owned),
        })
    }

    pub fn is_prerelease(&self) -> bool {
        !self.labels.is_empty()
    }
}

/// A label's value as `Int32.TryParse` reads it (a leading `-` is a sign).
fn label_number(label: &str) -> Option<i32> {
    label.parse().ok()
}

fn compare_labels(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = match (label_number(x), label_number(y)) {
            (Some(m), Some(n)) => m.cmp(&n),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => x
                .bytes()
                .map(|c| c.to_ascii_uppercase())
                .cmp(y.bytes().map(|c| c.to_ascii_uppercase())),
        };
        if order.is_ne() {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts).then_with(|| {
            match (self.is_prerelease(), other.is_prerelease()) {
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => Ordering::Equal,
                (true, true) => compare_labels(&self.labels, &other.labels),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    /// `ToNormalizedString`: three parts (four when the revision is set), labels and
    /// metadata as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [major, minor, patch, revision] = self.parts;
        write!(f, "{major}.{minor}.{patch}")?;
        if revision > 0 {
            write!(f, ".{revision}")?;
        }
        if !self.labels.is_empty() {
            write!(f, "-{}", self.labels.join("."))?;
        }
        if let Some(metadata) = &self.metadata {
            write!(f, "+{metadata}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Version::parse(a).unwrap().cmp(&Version::parse(b).unwrap())
    }

    #[test]
    fn ordering() {
        assert_eq!(cmp("1.0", "1.0.0.0"), Equal);
        assert_eq!(cmp("1.0.0.1", "1.0.0"), Greater);
        assert_eq!(cmp("1.0.0-BETA", "1.0.0-beta"), Equal);
        assert_eq!(cmp("1.0.0-beta.2", "1.0.0-beta.10"), Less);
        assert_eq!(cmp("1.0.0-1", "1.0.0-alpha"), Less);
        assert_eq!(cmp("1.0.0-rc", "1.0.0"), Less);
        assert_eq!(cmp("1.0.0+a", "1.0.0+b"), Equal);
        assert_eq!(cmp("01.2", "1.2"), Equal);
    }

    #[test]
    fn validity() {
        for bad in [
            "",
            "a",
            "1.2.3.4.5",
            "1..2",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-01",
            "2147483648",
            "1.0.0-a_b",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Version::parse(" 1.0-Beta+x ").unwrap().to_string(),
            "1.0.0-Beta+x"
        );
        assert_eq!(Version::parse("1.2.3.4").unwrap().to_string(), "1.2.3.4");
    }
}
