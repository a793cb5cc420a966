//! Arbitrary-length decimal numbers, ordered without converting them: most ecosystems
//! allow version components far beyond `u64`, and the real tools order those by
//! value (rpm and dpkg by digit count then text, Python and Ruby with big integers).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// Orders two runs of ASCII digits by numeric value: leading zeros are ignored, then
/// the longer run is larger, then the runs compare as text.
pub(crate) fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_zeros(a);
    let b = strip_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_zeros(digits: &[u8]) -> &[u8] {
    let first = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[first..]
}

/// A non-negative integer of any size, kept as its canonical decimal text ("0", "12").
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct BigNum(Cow<'static, str>);

impl BigNum {
    pub(crate) const ZERO: BigNum = BigNum(Cow::Borrowed("0"));

    /// From a run of ASCII digits (leading zeros allowed). The caller guarantees the
    /// run is digits only.
    pub(crate) fn from_digits(digits: &str) -> BigNum {
        let stripped = digits.trim_start_matches('0');
        if stripped.is_empty() {
            BigNum::ZERO
        } else {
            BigNum(Cow::Owned(stripped.to_owned()))
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.0 == "0"
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for BigNum {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for BigNum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for BigNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BigNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_value_beyond_u64() {
        assert_eq!(cmp_digits(b"0010", b"9"), Ordering::Greater);
        assert_eq!(cmp_digits(b"000", b""), Ordering::Equal);
        assert_eq!(
            cmp_digits(b"99999999999999999999999", b"100000000000000000000000"),
            Ordering::Less
        );
        assert!(BigNum::from_digits("0099") < BigNum::from_digits("100"));
        assert_eq!(BigNum::from_digits("000").as_str(), "0");
    }
}
