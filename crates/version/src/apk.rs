//! Alpine package versions, ordered as apk-tools 3 (`apk version -t`) orders them.
//!
//! Grammar: `digits{.digits}[letter]{_suffix[digits]}[~hash][-rdigits]`, where the
//! suffixes rank `alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p` and
//! `~hash` is a run of lower-case hex digits. Versions are read token by token and
//! the first differing token decides; a dotted number with a leading zero compares
//! as text (`1.02` < `1.1`, Gentoo's rule); when one version runs out, the longer one
//! is newer unless what follows is a pre-release suffix.
//!
//! Written here because no crate implements apk-tools 3 (commit-hash tokens, the
//! fuzzy `~` operators); the token machine mirrors `version.c`'s states so that
//! invalid strings order the same way too (apk compares token by token up to the
//! first bad one). Numbers of any length compare by value rather than wrapping at
//! 64 bits as apk does.

use std::cmp::Ordering;

use crate::digits::cmp_digits;
use crate::{Ecosystem, VersionError};

/// Token kinds, in the order apk's state machine allows them to follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    RevisionNumber,
    End,
    Invalid,
}

/// Suffix ranks; `NONE` is the pivot between pre-releases and post-releases.
const SUFFIX_INVALID: u8 = 0;
const SUFFIX_NONE: u8 = 5;
const SUFFIXES: [(&str, u8); 9] = [
    ("alpha", 1),
    ("beta", 2),
    ("pre", 3),
    ("rc", 4),
    ("cvs", 6),
    ("svn", 7),
    ("git", 8),
    ("hg", 9),
    ("p", 10),
];

fn suffix_rank(word: &[u8]) -> u8 {
    SUFFIXES
        .iter()
        .find(|(name, _)| name.as_bytes() == word)
        .map_or(SUFFIX_INVALID, |&(_, rank)| rank)
}

/// Walks a version one token at a time.
struct Tokens<'a> {
    rest: &'a [u8],
    token: Token,
    suffix: u8,
    value: &'a [u8],
}

impl<'a> Tokens<'a> {
    fn new(version: &'a str) -> Tokens<'a> {
        let mut tokens = Tokens {
            rest: version.as_bytes(),
            token: Token::InitialDigit,
            suffix: SUFFIX_INVALID,
            value: &[],
        };
        tokens.take_digits();
        tokens
    }

    fn take_digits(&mut self) {
        let n = self.rest.iter().take_while(|c| c.is_ascii_digit()).count();
        self.value = &self.rest[..n];
        self.rest = &self.rest[n..];
        if n == 0 {
            self.token = Token::Invalid;
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) {
        let n = self.rest.iter().take_while(|&&c| keep(c)).count();
        self.value = &self.rest[..n];
        self.rest = &self.rest[n..];
    }

    /// Reads the next token; the previous token decides which ones may follow.
    fn advance(&mut self) {
        let Some(&c) = self.rest.first() else {
            self.token = Token::End;
            return;
        };
        let previous = self.token;
        self.token = match c {
            b'a'..=b'z' if previous <= Token::Digit => {
                self.value = &self.rest[..1];
                self.rest = &self.rest[1..];
                Token::Letter
            }
            b'.' | b'0'..=b'9' => {
                if c == b'.' {
                    if previous > Token::Digit {
                        self.token = Token::Invalid;
                        return;
                    }
                    self.rest = &self.rest[1..];
                }
                let next = match previous {
                    Token::InitialDigit | Token::Digit => Token::Digit,
                    Token::Suffix => Token::SuffixNumber,
                    _ => {
                        self.token = Token::Invalid;
                        return;
                    }
                };
                self.token = next;
                self.take_digits();
                return;
            }
            b'_' if previous <= Token::SuffixNumber => {
                self.rest = &self.rest[1..];
                self.take_while(|c| c.is_ascii_lowercase());
                self.suffix = suffix_rank(self.value);
                if self.suffix == SUFFIX_INVALID {
                    Token::Invalid
                } else {
                    Token::Suffix
                }
            }
            b'~' if previous < Token::CommitHash => {
                self.rest = &self.rest[1..];
                self.take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                if self.value.is_empty() {
                    Token::Invalid
                } else {
                    Token::CommitHash
                }
            }
            b'-' if previous < Token::RevisionNumber && self.rest.starts_with(b"-r") => {
                self.rest = &self.rest[2..];
                self.token = Token::RevisionNumber;
                self.take_digits();
                return;
            }
            _ => Token::Invalid,
        };
    }
}

/// Compares two tokens of the same kind.
fn token_cmp(a: &Tokens<'_>, b: &Tokens<'_>) -> Ordering {
    match a.token {
        Token::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
            a.value.cmp(b.value)
        }
        Token::InitialDigit | Token::Digit | Token::SuffixNumber | Token::RevisionNumber => {
            cmp_digits(a.value, b.value)
        }
        Token::Letter => a.value.first().cmp(&b.value.first()),
        Token::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.value.cmp(b.value),
    }
}

fn compare_fuzzy(a: &str, b: &str, fuzzy: bool) -> Ordering {
    let (mut ta, mut tb) = (Tokens::new(a), Tokens::new(b));
    while ta.token == tb.token && ta.token < Token::End {
        let order = token_cmp(&ta, &tb);
        if order != Ordering::Equal {
            return order;
        }
        ta.advance();
        tb.advance();
    }
    if ta.token == tb.token || (fuzzy && tb.token == Token::End) {
        return Ordering::Equal;
    }
    // One side went on: it is newer, unless what follows is a pre-release suffix.
    if ta.token == Token::Suffix && ta.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if tb.token == Token::Suffix && tb.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    tb.token.cmp(&ta.token)
}

/// apk's ordering. Total: invalid strings are compared token by token up to their
/// first bad token, as apk does (so `1.0` < `1.0bc`); use [`validate`] first when
/// that matters.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_fuzzy(a, b, false)
}

/// Whether apk accepts the string as a version (`apk_version_validate`).
pub fn is_valid(version: &str) -> bool {
    let mut tokens = Tokens::new(version);
    while tokens.token < Token::End {
        tokens.advance();
    }
    tokens.token == Token::End
}

pub fn validate(version: &str) -> Result<(), VersionError> {
    if is_valid(version) {
        Ok(())
    } else {
        Err(VersionError::new(
            Ecosystem::Apk,
            version,
            "expected digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]",
        ))
    }
}

/// Whether `a op b` holds for an apk dependency operator: any of `<`, `>`, `=` and the
/// fuzzy `~` (prefix match: `3.6.9 ~ 3.6`), combined (`<=`, `>~`, `<~`), optionally
/// negated with a leading `!`. `None` if `op` is not such an operator.
pub fn matches(a: &str, op: &str, b: &str) -> Option<bool> {
    const EQUAL: u8 = 1;
    const LESS: u8 = 2;
    const GREATER: u8 = 4;
    const FUZZY: u8 = 8;
    let (negated, op) = match op.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, op),
    };
    let mut mask = 0;
    for c in op.chars() {
        mask |= match c {
            '<' => LESS,
            '>' => GREATER,
            '=' => EQUAL,
            '~' => FUZZY | EQUAL,
            _ => return None,
        };
    }
    if mask == 0 {
        return None;
    }
    let any = LESS | EQUAL | GREATER;
    let result = match compare_fuzzy(a, b, mask & FUZZY != 0) {
        Ordering::Less => LESS,
        Ordering::Equal => EQUAL,
        Ordering::Greater => GREATER,
    };
    let holds = mask & any == any || result & mask != 0;
    Some(holds != negated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn suffixes_letters_and_revisions() {
        assert_eq!(compare("1.0_alpha1", "1.0_beta"), Less);
        assert_eq!(compare("1.0_rc1", "1.0"), Less);
        assert_eq!(compare("1.0_p1", "1.0"), Greater);
        assert_eq!(compare("1.0_p1", "1.0-r1"), Greater);
        assert_eq!(compare("1.0a", "1.0.1"), Less);
        assert_eq!(compare("1.0-r10", "1.0-r9"), Greater);
        assert_eq!(compare("1.02", "1.1"), Less);
        assert_eq!(compare("01.1", "1.1"), Equal);
    }

    #[test]
    fn validity() {
        for good in ["1", "1.2.3a_pre1_p2~abc123-r4", "0.1_p1_pre2", "1~0-r0"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "", "a", "1.", "1a1", "1_post1", "1-r", "1-r1_p1", "1~", "1~A", "1 ",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn fuzzy_operators() {
        assert_eq!(matches("3.6.9_post1", "~", "3.6"), Some(true));
        assert_eq!(matches("3.8", "!~", "3.8.1"), Some(true));
        assert_eq!(matches("3.5", "<~", "3.6"), Some(true));
        assert_eq!(matches("3.6.1", "<=", "3.6"), Some(false));
        assert_eq!(matches("1", "?", "1"), None);
    }

    #[test]
    fn huge_numbers() {
        assert_eq!(
            compare("1.99999999999999999999999", "1.100000000000000000000000"),
            Less
        );
        assert_eq!(
            compare("1-r99999999999999999999999", "1-r100000000000000000000000"),
            Less
        );
    }
}
