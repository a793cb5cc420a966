//! Maven versions, ordered as Maven's `ComparableVersion` orders them — the "version
//! order specification" of the POM reference, as implemented on Maven's `master` at
//! the commit the vectors were labelled with (after MNG-7644 and MNG-7714).
//!
//! A version is split into items at `.`, `-` and digit/letter transitions; `-` and
//! transitions open a nested list, so `1-alpha-2` is `[1, [alpha, [2]]]`, and a
//! trailing word always starts one (`1.0.RC` = `1-RC`). Numbers compare by value;
//! qualifiers rank `alpha` (`a1`) < `beta` (`b1`) < `milestone` (`m1`) < `rc` = `cr`
//! < `snapshot` < `""` = `ga` = `final` = `release` < `sp` < unknown words
//! (alphabetical); a number beats a list, which beats a qualifier (`1.1` > `1-1` >
//! `1-sp`); a word directly followed by digits (`rc1`, `x-1`) is one combined item
//! that sorts after the bare word (`X1` > `X`). A missing item compares as zero / the
//! empty qualifier ("padding") and trailing zeros are dropped, so `1` = `1.0.0` and
//! `1-ga` ~ `1`.
//!
//! Written here because no crate tracks `ComparableVersion` since MNG-7644/MNG-7714.
//! Faithful to Java where it shows: parsing runs over UTF-16 code units, qualifiers
//! compare as Java strings, only ASCII `0-9` split numbers from words but a combined
//! item's number may use other Unicode digits, and the rare strings Java throws on
//! (`1𝟤`) are errors here. Newer `master` commits changed `X1` vs `X` for release
//! words and how lists meet words; the vectors pin the behaviour implemented here.

use std::cmp::Ordering;

use crate::digits::BigNum;
use crate::{Ecosystem, VersionError};

/// Longer versions are refused: the item nesting (and so the recursion) grows with
/// the length, and no real Maven version comes near this.
pub const MAX_LENGTH: usize = 2048;

/// Java's number types: a version item's type is chosen by its digit count, and a
/// number of a wider type is always larger, even when the values are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Width {
    Int,
    Long,
    Big,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Number {
    width: Width,
    value: BigNum,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Number(Number),
    /// A qualifier, lower-cased, as UTF-16 code units.
    Word(Vec<u16>),
    /// A qualifier immediately followed by a number (`rc1`, `x-1`).
    Combination(Vec<u16>, Number),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE_QUALIFIERS: [&str; 3] = ["ga", "final", "release"];
/// Rank of the empty qualifier, which "no qualifier" compares as.
const RELEASE_RANK: usize = 5;

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// `StringItem`: single letters before a number stand for the long names; `cr` is `rc`.
fn word(mut value: Vec<u16>, followed_by_digit: bool) -> Vec<u16> {
    if followed_by_digit && value.len() == 1 {
        let long = match value[0] {
            0x61 => Some("alpha"),
            0x62 => Some("beta"),
            0x6d => Some("milestone"),
            _ => None,
        };
        if let Some(long) = long {
            value = utf16(long);
        }
    }
    if is_ascii_word(&value, "cr") {
        value = utf16("rc");
    }
    value
}

/// Java compares qualifiers through strings: a known one becomes its rank ("0"…"6",
/// release words "5"), an unknown one "7-" + itself, so every unknown word sorts after
/// every known one and unknown words sort as text.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum QualifierKey<'a> {
    Known(usize),
    Unknown(&'a [u16]),
}

fn is_ascii_word(units: &[u16], word: &str) -> bool {
    units.len() == word.len()
        && units
            .iter()
            .zip(word.bytes())
            .all(|(&u, b)| u == u16::from(b))
}

fn qualifier_key(value: &[u16]) -> QualifierKey<'_> {
    if RELEASE_QUALIFIERS.iter().any(|q| is_ascii_word(value, q)) {
        return QualifierKey::Known(RELEASE_RANK);
    }
    match QUALIFIERS.iter().position(|q| is_ascii_word(value, q)) {
        Some(rank) => QualifierKey::Known(rank),
        None => QualifierKey::Unknown(value),
    }
}

/// A qualifier against another, or against padding (`None`, the empty qualifier).
fn compare_words(a: &[u16], b: Option<&[u16]>) -> Ordering {
    let b = b.map_or(QualifierKey::Known(RELEASE_RANK), qualifier_key);
    qualifier_key(a).cmp(&b)
}

impl Number {
    fn compare(&self, other: &Number) -> Ordering {
        self.width
            .cmp(&other.width)
            .then_with(|| self.value.cmp(&other.value))
    }

    fn compare_to_nothing(&self) -> Ordering {
        if self.value.is_zero() {
            Ordering::Equal
        } else {
            Ordering::Greater
        }
    }
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Number(n) => n.value.is_zero(),
            Item::Word(w) => w.is_empty(),
            Item::Combination(..) => false,
            Item::List(items) => items.is_empty(),
        }
    }

    /// `compareTo`, where `None` is a missing item (the shorter side's padding).
    fn compare(&self, other: Option<&Item>) -> Ordering {
        use Item::*;
        match (self, other) {
            (Number(n), None) => n.compare_to_nothing(),
            (Number(a), Some(Number(b))) => a.compare(b),
            (Number(_), Some(_)) => Ordering::Greater,

            (Word(w), None) => compare_words(w, None),
            (Word(_), Some(Number(_))) => Ordering::Less,
            (Word(a), Some(Word(b))) => compare_words(a, Some(b)),
            // `X` < `X1`
            (Word(a), Some(Combination(b, _))) => match compare_words(a, Some(b)) {
                Ordering::Equal => Ordering::Less,
                order => order,
            },
            (Word(_), Some(list @ List(_))) => list.compare(Some(self)).reverse(),

            // Only the word counts against padding: `1-rc1` < `1`, `1-sp1` > `1`.
            (Combination(w, _), None) => compare_words(w, None),
            (Combination(..), Some(Number(_))) => Ordering::Less,
            // `X1` > `X`
            (Combination(a, _), Some(Word(b))) => match compare_words(a, Some(b)) {
                Ordering::Equal => Ordering::Greater,
                order => order,
            },
            (Combination(..), Some(list @ List(_))) => list.compare(Some(self)).reverse(),
            (Combination(a, da), Some(Combination(b, db))) => {
                compare_words(a, Some(b)).then_with(|| da.compare(db))
            }

            (List(items), None) => items
                .iter()
                .map(|item| item.compare(None))
                .find(|order| order.is_ne())
                .unwrap_or(Ordering::Equal),
            (List(_), Some(Number(_))) => Ordering::Less,
            // `1-1` > `1-sp`
            (List(_), Some(Word(_) | Combination(..))) => Ordering::Greater,
            (List(left), Some(List(right))) => compare_lists(left, right),
        }
    }
}

/// Two lists item by item, the shorter one padded with missing items.
fn compare_lists(left: &[Item], right: &[Item]) -> Ordering {
    for i in 0..left.len().max(right.len()) {
        let order = match (left.get(i), right.get(i)) {
            (Some(l), r) => l.compare(r),
            (None, Some(r)) => r.compare(None).reverse(),
            (None, None) => Ordering::Equal,
        };
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
}

/// `ListItem.normalize`: drops the zeros and empty lists that carry no order (a zero
/// before a qualifier list goes too: `1.0-alpha` = `1-alpha`).
fn normalize(items: &mut Vec<Item>) {
    for i in (0..items.len()).rev() {
        if !items[i].is_null() {
            continue;
        }
        let remove = match items.get(i + 1) {
            None | Some(Item::Word(_)) => true,
            Some(Item::List(next)) => {
                matches!(next.first(), Some(Item::Combination(..) | Item::Word(_)))
            }
            Some(_) => false,
        };
        if remove {
            items.remove(i);
        }
    }
}

/// A parsed version, ready to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    items: Vec<Item>,
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_lists(&self.items, &other.items)
    }
}

/// Java's `Character.isDigit` for a UTF-16 unit, and its value: the Unicode decimal
/// digits of the Basic Multilingual Plane (Nd), each block running from a zero.
fn java_digit(unit: u16) -> Option<u32> {
    const ZEROS: [u16; 37] = [
        0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66,
        0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946,
        0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0,
        0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    ];
    ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&unit))
        .map(|&zero| u32::from(unit - zero))
}

/// A number item from Java's `parseItem(isDigit = true, …)`: leading ASCII zeros are
/// stripped to choose the type, then the text is parsed (any Unicode digit counts;
/// anything else is Java's `NumberFormatException`).
fn number(units: &[u16]) -> Result<Number, String> {
    let first = units
        .iter()
        .position(|&u| u != u16::from(b'0'))
        .unwrap_or(units.len());
    let stripped = if first == units.len() {
        &units[units.len().saturating_sub(1)..]
    } else {
        &units[first..]
    };
    let width = match stripped.len() {
        0..=9 => Width::Int,
        10..=18 => Width::Long,
        _ => Width::Big,
    };
    let mut digits = String::with_capacity(stripped.len());
    for &unit in stripped {
        let value = java_digit(unit)
            .ok_or_else(|| format!("{:?} is not a number", String::from_utf16_lossy(stripped)))?;
        digits.push(char::from_digit(value, 10).unwrap_or('0'));
    }
    if digits.is_empty() {
        digits.push('0');
    }
    Ok(Number {
        width,
        value: BigNum::from_digits(&digits),
    })
}

/// Java's `parseItem`.
fn parse_item(combination: bool, digit: bool, units: &[u16]) -> Result<Item, String> {
    if combination {
        let units: Vec<u16> = units
            .iter()
            .copied()
            .filter(|&u| u != u16::from(b'-'))
            .collect();
        let split = units
            .iter()
            .position(|&u| java_digit(u).is_some())
            .unwrap_or(0);
        let text = word(units[..split].to_vec(), true);
        Ok(Item::Combination(text, number(&units[split..])?))
    } else if digit {
        Ok(Item::Number(number(units)?))
    } else {
        Ok(Item::Word(word(units.to_vec(), false)))
    }
}

/// The chain of lists being filled: each list's last item is the next list.
struct Builder {
    levels: Vec<Vec<Item>>,
}

impl Builder {
    fn current(&mut self) -> &mut Vec<Item> {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        let last = self.levels.len() - 1;
        &mut self.levels[last]
    }

    fn add(&mut self, item: Item) {
        self.current().push(item);
    }

    fn open_list(&mut self) {
        self.levels.push(Vec::new());
    }

    fn open_list_unless_empty(&mut self) {
        if !self.current().is_empty() {
            self.open_list();
        }
    }

    /// Normalises innermost first, as Java pops its stack, nesting each list into its
    /// parent.
    fn finish(mut self) -> Vec<Item> {
        let mut inner: Option<Vec<Item>> = None;
        while let Some(mut list) = self.levels.pop() {
            if let Some(child) = inner.take() {
                list.push(Item::List(child));
            }
            normalize(&mut list);
            inner = Some(list);
        }
        inner.unwrap_or_default()
    }
}

impl Version {
    /// Parses like `ComparableVersion.parseVersion`. Only strings Java itself throws on,
    /// and ones longer than [`MAX_LENGTH`], are errors.
    pub fn parse(version: &str) -> Result<Version, VersionError> {
        if version.len() > MAX_LENGTH {
            return Err(VersionError::new(
                Ecosystem::Maven,
                version,
                format!("longer than {MAX_LENGTH} bytes"),
            ));
        }
        Self::parse_units(&utf16(&version.to_lowercase()))
            .map_err(|reason| VersionError::new(Ecosystem::Maven, version, reason))
    }

    fn parse_units(v: &[u16]) -> Result<Version, String> {
        let is_ascii_digit = |u: u16| (0x30..=0x39).contains(&u);
        let mut lists = Builder { levels: Vec::new() };
        lists.open_list();
        let mut digit = false;
        let mut combination = false;
        let mut start = 0;
        let mut i = 0;
        while i < v.len() {
            let unit = v[i];
            // A surrogate pair is one (non-digit) character, but Java's index then
            // points at its second half: the pending item ends *inside* the pair.
            if (0xD800..0xDC00).contains(&unit) && i + 1 < v.len() {
                i += 1;
                if digit && i > start {
                    lists.add(parse_item(combination, true, &v[start..i])?);
                    start = i;
                    lists.open_list();
                    combination = false;
                }
                digit = false;
            } else if unit == u16::from(b'.') {
                if i == start {
                    lists.add(Item::Number(zero()));
                } else {
                    lists.add(parse_item(combination, digit, &v[start..i])?);
                }
                combination = false;
                start = i + 1;
            } else if unit == u16::from(b'-') {
                if i == start {
                    lists.add(Item::Number(zero()));
                } else {
                    // `X-1` is read as `X1`.
                    if !digit && i + 1 < v.len() && java_digit(v[i + 1]).is_some() {
                        combination = true;
                        i += 1;
                        continue;
                    }
                    lists.add(parse_item(combination, digit, &v[start..i])?);
                }
                start = i + 1;
                lists.open_list_unless_empty();
                combination = false;
            } else if is_ascii_digit(unit) {
                if !digit && i > start {
                    combination = true;
                    lists.open_list_unless_empty();
                }
                digit = true;
            } else {
                if digit && i > start {
                    lists.add(parse_item(combination, true, &v[start..i])?);
                    start = i;
                    lists.open_list();
                    combination = false;
                }
                digit = false;
            }
            i += 1;
        }
        if v.len() > start {
            // `1.0.0.X1` < `1.0.0-X2`: a trailing word always starts a new list.
            if !digit {
                lists.open_list_unless_empty();
            }
            lists.add(parse_item(combination, digit, &v[start..])?);
        }
        Ok(Version {
            items: lists.finish(),
        })
    }
}

fn zero() -> Number {
    Number {
        width: Width::Int,
        value: BigNum::from_digits("0"),
    }
}

/// Every string is a Maven version except ones Java's parser throws on.
pub fn validate(v: &str) -> Result<(), VersionError> {
    Version::parse(v).map(drop)
}

pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(Version::parse(a)?.cmp(&Version::parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare(a, b).unwrap()
    }

    #[test]
    fn padding_and_release_qualifiers() {
        assert_eq!(cmp("1", "1.0.0"), Equal);
        assert_eq!(cmp("1-ga", "1"), Equal);
        assert_eq!(cmp("1.0.final", "1"), Equal);
        assert_eq!(cmp("1-sp", "1"), Greater);
        assert_eq!(cmp("1-snapshot", "1"), Less);
        assert_eq!(cmp("1.0-rc1", "1.0-cr1"), Equal);
    }

    #[test]
    fn qualifier_ranks() {
        let ordered = [
            "1-alpha1",
            "1-beta1",
            "1-m1",
            "1-rc1",
            "1-SNAPSHOT",
            "1",
            "1-sp1",
            "1-abc",
            "1-1",
            "1.1",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(cmp(pair[0], pair[1]), Less, "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn number_widths_and_big_numbers() {
        assert_eq!(cmp("0000000000000000001", "1"), Equal);
        assert_eq!(
            cmp("99999999999999999999999", "100000000000000000000000"),
            Less
        );
        assert_eq!(cmp("1.2147483648", "1.2147483647"), Greater);
    }

    #[test]
    fn non_ascii() {
        assert_eq!(cmp("1", "é"), Greater);
        assert_eq!(cmp("1", "𝟤"), Greater);
        assert_eq!(cmp("٨", "1"), Less);
        assert_eq!(cmp("1.É", "1.é"), Equal);
        // Java reads `a-٨` as a combined item whose number is Arabic-Indic eight.
        assert_eq!(cmp("1-a-٨", "1-a8"), Equal);
        assert!(validate("1𝟤").is_err());
    }
}
