//! RubyGems versions, parsed, normalised and ordered as `Gem::Version` (current
//! RubyGems) does.
//!
//! Valid: optional blanks around `digits{.alnum}[-alnum-{.alnum-}]`, or nothing at
//! all (which is `0`). A hyphenated prerelease is the dotted one when its first
//! identifier has a letter (`1.0.0-beta.1` = `1.0.0.beta.1`), otherwise it gets `pre`
//! (`1.0-1` is `1.0.pre.1`). Ordering splits the version into numbers and letter runs
//! (`1.0.a10` is `1, 0, "a", 10`) after dropping trailing zeros and the zeros before
//! a prerelease's first letter; a letter run sorts before any number, so any
//! prerelease sorts before its release (`1.0.a` < `1.0`), and missing segments count
//! as zero. Numbers of any length compare by value.
//!
//! The hyphen rule is newer than RubyGems 3.3 (where `1.0.0-beta.1` was
//! `1.0.0.pre.beta.1`); the vectors follow the current rule. Written here because no
//! crate implements `Gem::Version`.

use std::cmp::Ordering;

use crate::digits::BigNum;
use crate::{Ecosystem, VersionError};

/// One piece of a version for ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Number(BigNum),
    Letters(String),
}

/// A parsed version.
#[derive(Debug, Clone)]
pub struct Version {
    /// The normalised string (`Gem::Version#to_s`).
    text: String,
    canonical: Vec<Segment>,
}

/// Ruby's `\s`.
fn is_ruby_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// `Gem::Version.correct?` on the stripped string.
fn is_correct(v: &str) -> bool {
    let bytes = v.as_bytes();
    let digits = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let mut i = digits;
    // `(?>\.[0-9a-zA-Z]+)*`
    while bytes.get(i) == Some(&b'.') {
        let run = bytes[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if run == 0 {
            break;
        }
        i += 1 + run;
    }
    if i == bytes.len() {
        return true;
    }
    // `(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?`
    if bytes[i] != b'-' {
        return false;
    }
    bytes[i + 1..].split(|&c| c == b'.').all(|ident| {
        !ident.is_empty()
            && ident
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    })
}

/// `Gem::Version.normalize_hyphens`: Ruby's `split("-")` (which drops trailing empty
/// fields), each later field kept if its first identifier has a letter, else given
/// `pre.`, joined with dots.
fn normalize_hyphens(v: &str) -> String {
    if !v.contains('-') {
        return v.to_owned();
    }
    let mut fields: Vec<&str> = v.split('-').collect();
    while fields.last() == Some(&"") {
        fields.pop();
    }
    let parts: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let first_identifier = field.split('.').next().unwrap_or("");
            if index == 0 || first_identifier.bytes().any(|c| c.is_ascii_alphabetic()) {
                (*field).to_owned()
            } else {
                format!("pre.{field}")
            }
        })
        .collect();
    parts.join(".")
}

/// `canonical_segments`.
fn canonical_segments(version: &str) -> Vec<Segment> {
    let bytes = version.as_bytes();
    let mut canonical = version;
    // Drop trailing `.`/`0` characters that follow a letter or a dot.
    let tail = bytes
        .iter()
        .rev()
        .take_while(|&&c| c == b'.' || c == b'0')
        .count();
    let tail_start = bytes.len() - tail;
    if let Some(cut) = (tail_start.max(1)..bytes.len())
        .find(|&p| bytes[p - 1].is_ascii_alphabetic() || bytes[p - 1] == b'.')
    {
        canonical = &version[..cut];
    }
    let mut canonical = canonical.to_owned();
    // In a prerelease, drop the zeros right before the first letter (`1.0.a` -> `1.a`).
    if version.bytes().any(|c| c.is_ascii_alphabetic()) {
        if let Some((start, end)) = zeros_before_letter(canonical.as_bytes()) {
            canonical.replace_range(start..end, "");
        }
    }
    let segments = partition_segments(&canonical);
    skip_redundant_pre(segments)
}

/// The first run of `0` and `.` that starts the string or follows a dot and is
/// followed by a letter.
fn zeros_before_letter(bytes: &[u8]) -> Option<(usize, usize)> {
    let is_zero_or_dot = |c: u8| c == b'0' || c == b'.';
    (0..bytes.len()).find_map(|start| {
        if !is_zero_or_dot(bytes[start]) || (start > 0 && bytes[start - 1] != b'.') {
            return None;
        }
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|&&c| is_zero_or_dot(c))
                .count();
        bytes
            .get(end)
            .is_some_and(u8::is_ascii_alphabetic)
            .then_some((start, end))
    })
}

/// `scan(/\d+|[a-z]+/i)`: numbers and letter runs; everything else separates.
fn partition_segments(v: &str) -> Vec<Segment> {
    let bytes = v.as_bytes();
    let mut segments = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let run = |pred: fn(&u8) -> bool| bytes[i..].iter().take_while(|c| pred(c)).count();
        if c.is_ascii_digit() {
            let n = run(u8::is_ascii_digit);
            segments.push(Segment::Number(BigNum::from_digits(&v[i..i + n])));
            i += n;
        } else if c.is_ascii_alphabetic() {
            let n = run(u8::is_ascii_alphabetic);
            segments.push(Segment::Letters(v[i..i + n].to_owned()));
            i += n;
        } else {
            i += 1;
        }
    }
    segments
}

/// Drops a `pre` that an old-style hyphen normalisation left before a letter segment.
fn skip_redundant_pre(segments: Vec<Segment>) -> Vec<Segment> {
    let mut result = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let is_pre = matches!(segment, Segment::Letters(l) if l == "pre");
        if is_pre && matches!(segments.get(i + 1), Some(Segment::Letters(_))) {
            continue;
        }
        result.push(segment.clone());
    }
    result
}

impl Version {
    /// `Gem::Version.new`: errors where it raises "Malformed version number string".
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        let stripped = input.trim_matches(is_ruby_space);
        if stripped.is_empty() {
            return Ok(Version {
                text: "0".to_owned(),
                canonical: canonical_segments("0"),
            });
        }
        if !is_correct(stripped) {
            return Err(VersionError::new(
                Ecosystem::RubyGems,
                input,
                "expected digits{.alnum}[-alnum{.alnum}]",
            ));
        }
        let text = normalize_hyphens(stripped);
        let canonical = canonical_segments(&text);
        Ok(Version { text, canonical })
    }

    /// The normalised version string (`Gem::Version#to_s`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it is a prerelease (has a letter).
    pub fn is_prerelease(&self) -> bool {
        self.text.bytes().any(|c| c.is_ascii_alphabetic())
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// `Gem::Version#<=>`.
    fn cmp(&self, other: &Self) -> Ordering {
        if self.text == other.text || self.canonical == other.canonical {
            return Ordering::Equal;
        }
        let (left, right) = (&self.canonical, &other.canonical);
        for (l, r) in left.iter().zip(right) {
            match (l, r) {
                _ if l == r => continue,
                (Segment::Letters(_), Segment::Number(_)) => return Ordering::Less,
                (Segment::Number(_), Segment::Letters(_)) => return Ordering::Greater,
                (Segment::Number(a), Segment::Number(b)) => return a.cmp(b),
                (Segment::Letters(a), Segment::Letters(b)) => return a.cmp(b),
            }
        }
        // The longer side decides by its first letter run or non-zero number.
        let (rest, longer_is_left) = if left.len() > right.len() {
            (&left[right.len()..], true)
        } else {
            (&right[left.len()..], false)
        };
        for segment in rest {
            let order = match segment {
                Segment::Letters(_) => Ordering::Less,
                Segment::Number(n) if !n.is_zero() => Ordering::Greater,
                Segment::Number(_) => continue,
            };
            return if longer_is_left {
                order
            } else {
                order.reverse()
            };
        }
        Ordering::Equal
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
    fn prereleases_sort_before_releases() {
        assert_eq!(cmp("1.0.a", "1.0"), Less);
        assert_eq!(cmp("1.0.b1", "1.0.a.2"), Greater);
        assert_eq!(cmp("1.0.a10", "1.0.a9"), Greater);
        assert_eq!(cmp("0.0.beta", "0.beta.1"), Less);
        assert_eq!(cmp("1.0", "1.0.0.0"), Equal);
        assert_eq!(cmp("", "0"), Equal);
    }

    #[test]
    fn hyphens() {
        assert_eq!(cmp("1.0.0.beta.1", "1.0.0-beta.1"), Equal);
        assert_eq!(cmp("1.0.0.beta.1", "1.0.0.pre.beta.1"), Equal);
        assert_eq!(Version::parse("1.0-1").unwrap().as_str(), "1.0.pre.1");
        assert_eq!(cmp("1.0-1", "1.0"), Less);
    }

    #[test]
    fn validity() {
        for bad in ["junk", "1.2 3.4", "1.", "1..2", "1-", "-1", "1.0-a.", "v1"] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Version::parse(" 1.0 ").unwrap().as_str(), "1.0");
        assert_eq!(Version::parse("\t").unwrap().as_str(), "0");
    }

    #[test]
    fn huge_numbers() {
        assert_eq!(
            cmp("1.99999999999999999999999", "1.100000000000000000000000"),
            Less
        );
    }
}
