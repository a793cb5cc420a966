//! npm versions and ranges, with the semantics of `node-semver` 7.8: `parse`/`valid`
//! (strict and `loose`), `compare`, and `satisfies` with the `loose` and
//! `includePrerelease` options.
//!
//! Versions are SemVer 2.0 (`1.2.3-beta.1+build`); strict parsing also takes a `v`
//! prefix and surrounding blanks, loose parsing also takes `=`/`v`/blank prefixes,
//! leading zeros and a prerelease without its `-` (`1.2.3beta`). Components above
//! 2^53-1 and strings over 256 characters are refused, as JavaScript does. Build
//! metadata never affects ordering.
//!
//! Ranges: `||`-separated sets of space-separated comparators, where each comparator
//! is `<`, `<=`, `>`, `>=`, `=` or nothing before a version, an x-range (`1.2.x`,
//! `1.*`, `*`), a tilde (`~1.2.3`: patch updates), a caret (`^1.2.3`: no change to the
//! first non-zero part) or a hyphen range (`1.2.3 - 2.3`). A prerelease version only
//! satisfies a set if some comparator in that set names a prerelease of the same
//! `major.minor.patch`, unless `includePrerelease` is given.
//!
//! Written here rather than with the `nodejs-semver` crate, which fails vector rows
//! (`^x`, `1.0.0 - x`, leading blanks, 16-digit components); the `semver` crate is
//! Cargo's dialect. The range desugaring follows node-semver step by step (strip
//! builds, hyphen ranges, operator whitespace, carets, tildes, x-ranges, stars),
//! reading each of its regular expressions with a hand-written matcher that takes the
//! same match, backtracking included (loose `1.2.34.5` is patch 3, prerelease `4.5`).
//! Checked against node-semver 7.8.6 itself on 420,000 generated ranges and versions.

use std::cmp::Ordering;

use crate::{Ecosystem, VersionError};

/// JavaScript's `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// node-semver's `MAX_LENGTH`.
const MAX_LENGTH: usize = 256;
/// node-semver's `MAX_SAFE_BUILD_LENGTH`: identifier length bound in its regexes.
const MAX_IDENTIFIER_LENGTH: usize = MAX_LENGTH - 6;

/// `satisfies` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Accept loose version syntax (`=1.2.3`, `1.2.3beta`, `01.2.3`).
    pub loose: bool,
    /// Let prerelease versions satisfy ranges that do not mention a prerelease.
    pub include_prerelease: bool,
}

/// One prerelease identifier. Numbers below 2^53-1 are numbers; longer digit runs stay
/// text but still order as (floating-point) numbers, as in JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Number(u64),
    Text(String),
}

impl Identifier {
    fn parse(text: &str) -> Identifier {
        if is_digits(text) {
            let stripped = text.trim_start_matches('0');
            let value = match stripped.len() {
                0 => Some(0),
                1..=16 => stripped.parse::<u64>().ok(),
                _ => None,
            };
            if let Some(n) = value.filter(|&n| n < MAX_SAFE_INTEGER) {
                return Identifier::Number(n);
            }
        }
        Identifier::Text(text.to_owned())
    }

    /// The value JavaScript's unary `+` gives a numeric identifier.
    fn as_number(&self) -> Option<f64> {
        match self {
            Identifier::Number(n) => Some(*n as f64),
            Identifier::Text(t) if is_digits(t) => t.parse().ok(),
            Identifier::Text(_) => None,
        }
    }
}

impl std::fmt::Display for Identifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identifier::Number(n) => write!(f, "{n}"),
            Identifier::Text(t) => f.write_str(t),
        }
    }
}

/// node-semver's `compareIdentifiers`.
fn compare_identifiers(a: &Identifier, b: &Identifier) -> Ordering {
    match (a.as_number(), b.as_number()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.to_string().cmp(&b.to_string()),
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// JavaScript's `\s` (and what `String.prototype.trim` removes).
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// `s.split(/\s+/)`: empty strings at the ends are kept, as in JavaScript.
fn split_js_space(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(is_js_space) {
        parts.push(&rest[..start]);
        let after = &rest[start..];
        rest = after.trim_start_matches(is_js_space);
    }
    parts.push(rest);
    parts
}

/// `(+digits + 1).toString()`: JavaScript arithmetic on a decimal string.
fn js_increment(digits: &str) -> String {
    let value = digits.parse::<f64>().unwrap_or(f64::INFINITY) + 1.0;
    if !value.is_finite() {
        return "Infinity".to_owned();
    }
    if value < 1e21 {
        format!("{value}")
    } else {
        format!("{value:e}").replacen('e', "e+", 1)
    }
}

/// A text cursor for the hand-written matchers.
#[derive(Clone, Copy)]
struct Scan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Scan<'a> {
        Scan { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn eat_space(&mut self) -> bool {
        match self.peek() {
            Some(c) if is_js_space(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    /// Consumes up to `limit` characters satisfying `pred` and returns them.
    fn take(&mut self, limit: usize, pred: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        for c in self.rest().chars().take(limit) {
            if !pred(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    /// `GTLT`: `((?:<|>)?=?)`.
    fn operator(&mut self) -> &'a str {
        let start = self.pos;
        if !self.eat('<') {
            self.eat('>');
        }
        self.eat('=');
        &self.text[start..self.pos]
    }

    /// `[v=\s]*`.
    fn version_prefix(&mut self) {
        self.take(usize::MAX, |c| c == 'v' || c == '=' || is_js_space(c));
    }
}

/// A main version number: strict `0|[1-9]\d{0,256}`, loose `\d{1,256}`.
fn number<'a>(scan: &mut Scan<'a>, loose: bool) -> Option<&'a str> {
    if loose {
        let digits = scan.take(MAX_LENGTH, |c| c.is_ascii_digit());
        return (!digits.is_empty()).then_some(digits);
    }
    if scan.peek() == Some('0') {
        return Some(scan.take(1, |_| true));
    }
    let digits = scan.take(MAX_LENGTH + 1, |c| c.is_ascii_digit());
    (!digits.is_empty()).then_some(digits)
}

/// One prerelease identifier, matched in full: `\d{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}`
/// or a number (strict `0|[1-9]\d{0,256}`, loose `\d{1,256}`).
fn prerelease_identifier_ok(id: &str, loose: bool) -> bool {
    if id.is_empty() || !id.chars().all(is_ident_char) {
        return false;
    }
    let leading_digits = id.bytes().take_while(u8::is_ascii_digit).count();
    if leading_digits < id.len() {
        return leading_digits <= MAX_LENGTH
            && id.len() - leading_digits - 1 <= MAX_IDENTIFIER_LENGTH;
    }
    if loose {
        id.len() <= MAX_LENGTH
    } else {
        id == "0" || (!id.starts_with('0') && id.len() <= MAX_LENGTH + 1)
    }
}

fn build_identifier_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_IDENTIFIER_LENGTH && id.chars().all(is_ident_char)
}

/// The run of identifier characters and dots at the cursor.
fn dotted_run<'a>(scan: &mut Scan<'a>) -> &'a str {
    scan.take(usize::MAX, |c| is_ident_char(c) || c == '.')
}

/// `PRERELEASE` (strict: `-ids`) or `PRERELEASELOOSE` (`-?ids`) at the cursor.
/// `Ok(None)` when absent, `Err(())` when present but malformed (no match).
fn prerelease<'a>(scan: &mut Scan<'a>, loose: bool) -> Result<Option<&'a str>, ()> {
    let ids_ok = |run: &str| run.split('.').all(|id| prerelease_identifier_ok(id, loose));
    let start = *scan;
    if scan.eat('-') {
        let run = dotted_run(scan);
        if ids_ok(run) {
            return Ok(Some(run));
        }
        if !loose {
            return Err(());
        }
        // `-?` gives its hyphen back: the identifier may start with it.
        *scan = start;
        let run = dotted_run(scan);
        return if ids_ok(run) { Ok(Some(run)) } else { Err(()) };
    }
    if loose && scan.peek().is_some_and(is_ident_char) {
        let run = dotted_run(scan);
        return if ids_ok(run) { Ok(Some(run)) } else { Err(()) };
    }
    Ok(None)
}

/// `BUILD`: `+ids`.
fn build<'a>(scan: &mut Scan<'a>) -> Result<Option<&'a str>, ()> {
    if !scan.eat('+') {
        return Ok(None);
    }
    let run = dotted_run(scan);
    if run.split('.').all(build_identifier_ok) {
        Ok(Some(run))
    } else {
        Err(())
    }
}

/// What `FULLPLAIN`/`LOOSEPLAIN` capture.
struct Plain<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    prerelease: Option<&'a str>,
    build: Option<&'a str>,
}

/// Reads a patch number and then `rest`, giving digits back to `rest` if it fails:
/// in loose mode a prerelease needs no `-`, so `1.2.34.5` is patch `3`, prerelease
/// `4.5` — the regex backtracks into the patch to find that match.
fn patch_then<'a, T>(
    scan: &mut Scan<'a>,
    loose: bool,
    rest: impl Fn(&mut Scan<'a>) -> Option<T>,
) -> Option<(&'a str, T)> {
    let start = *scan;
    let patch = number(scan, loose)?;
    let shortest = if loose { 1 } else { patch.len() };
    for len in (shortest..=patch.len()).rev() {
        let mut after = start;
        after.pos += len;
        if let Some(value) = rest(&mut after) {
            *scan = after;
            return Some((&patch[..len], value));
        }
    }
    None
}

/// `FULLPLAIN` (strict) or `LOOSEPLAIN` matched from the cursor to the end of the text.
fn full_plain<'a>(scan: &mut Scan<'a>, loose: bool) -> Option<Plain<'a>> {
    if loose {
        scan.version_prefix();
    } else {
        scan.eat('v');
    }
    let major = number(scan, loose)?;
    scan.eat('.').then_some(())?;
    let minor = number(scan, loose)?;
    scan.eat('.').then_some(())?;
    let (patch, (prerelease, build)) = patch_then(scan, loose, |s| {
        let prerelease = prerelease(s, loose).ok()?;
        let build = build(s).ok()?;
        s.at_end().then_some((prerelease, build))
    })?;
    Some(Plain {
        major,
        minor,
        patch,
        prerelease,
        build,
    })
}

/// A parsed npm version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub prerelease: Vec<Identifier>,
    pub build: Vec<String>,
}

fn main_number(digits: &str, version: &str, what: &str) -> Result<u64, VersionError> {
    let stripped = digits.trim_start_matches('0');
    let value = if stripped.is_empty() {
        Some(0)
    } else if stripped.len() > 16 {
        None
    } else {
        stripped.parse::<u64>().ok()
    };
    value.filter(|&n| n <= MAX_SAFE_INTEGER).ok_or_else(|| {
        VersionError::new(
            Ecosystem::Npm,
            version,
            format!("{what} version is larger than 2^53-1"),
        )
    })
}

impl SemVer {
    /// `new SemVer(version, { loose })`.
    pub fn parse(version: &str, loose: bool) -> Result<SemVer, VersionError> {
        let err = |reason: &str| VersionError::new(Ecosystem::Npm, version, reason);
        if version.chars().map(char::len_utf16).sum::<usize>() > MAX_LENGTH {
            return Err(err("longer than 256 characters"));
        }
        let trimmed = js_trim(version);
        let mut scan = Scan::new(trimmed);
        let plain = full_plain(&mut scan, loose).ok_or_else(|| {
            err(if loose {
                "expected MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (loose)"
            } else {
                "expected MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]"
            })
        })?;
        Ok(SemVer {
            major: main_number(plain.major, version, "major")?,
            minor: main_number(plain.minor, version, "minor")?,
            patch: main_number(plain.patch, version, "patch")?,
            prerelease: plain
                .prerelease
                .map(|p| p.split('.').map(Identifier::parse).collect())
                .unwrap_or_default(),
            build: plain
                .build
                .map(|b| b.split('.').map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }

    /// The normalised version (`semver.valid`): no prefix, no build.
    pub fn version(&self) -> String {
        let mut text = format!("{}.{}.{}", self.major, self.minor, self.patch);
        for (i, id) in self.prerelease.iter().enumerate() {
            text.push(if i == 0 { '-' } else { '.' });
            text.push_str(&id.to_string());
        }
        text
    }

    /// `SemVer#compare`: main version, then prerelease (none > some); build ignored.
    pub fn compare(&self, other: &SemVer) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| self.compare_prerelease(other))
    }

    fn compare_prerelease(&self, other: &SemVer) -> Ordering {
        match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
            (true, true) => return Ordering::Equal,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (false, false) => {}
        }
        for i in 0.. {
            match (self.prerelease.get(i), other.prerelease.get(i)) {
                (None, None) => return Ordering::Equal,
                (Some(_), None) => return Ordering::Greater,
                (None, Some(_)) => return Ordering::Less,
                (Some(a), Some(b)) if a == b => {}
                // JavaScript returns here even when the identifiers are merely
                // numerically equal (huge digit strings), ending the comparison.
                (Some(a), Some(b)) => return compare_identifiers(a, b),
            }
        }
        Ordering::Equal
    }
}

/// `semver.compare(a, b, loose)`.
pub fn compare(a: &str, b: &str, loose: bool) -> Result<Ordering, VersionError> {
    Ok(SemVer::parse(a, loose)?.compare(&SemVer::parse(b, loose)?))
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Operator {
    fn parse(text: &str) -> Operator {
        match text {
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            _ => Operator::Eq,
        }
    }

    fn holds(self, order: Ordering) -> bool {
        match self {
            Operator::Eq => order.is_eq(),
            Operator::Lt => order.is_lt(),
            Operator::Le => order.is_le(),
            Operator::Gt => order.is_gt(),
            Operator::Ge => order.is_ge(),
        }
    }
}

/// One desugared comparator; `semver: None` matches anything.
#[derive(Debug, Clone)]
struct Comparator {
    operator: Operator,
    semver: Option<SemVer>,
    /// node-semver's `value`, used to deduplicate and to spot `<0.0.0-0`.
    value: String,
}

/// `COMPARATOR`/`COMPARATORLOOSE`: `^GTLT\s?(FULLPLAIN)$|^$`; returns the operator
/// and the version text.
fn match_comparator(comp: &str, loose: bool) -> Option<(&str, &str)> {
    if comp.is_empty() {
        return Some(("", ""));
    }
    let mut scan = Scan::new(comp);
    let operator = scan.operator();
    scan.eat_space();
    let start = scan.pos;
    full_plain(&mut scan, loose)?;
    Some((operator, &comp[start..]))
}

impl Comparator {
    fn parse(comp: &str, options: Options) -> Result<Comparator, VersionError> {
        let comp = split_js_space(js_trim(comp)).join(" ");
        let (operator, version) = match_comparator(&comp, options.loose)
            .ok_or_else(|| VersionError::new(Ecosystem::Npm, &comp, "invalid comparator"))?;
        let operator = if operator == "=" { "" } else { operator };
        if version.is_empty() {
            return Ok(Comparator {
                operator: Operator::Eq,
                semver: None,
                value: String::new(),
            });
        }
        let semver = SemVer::parse(version, options.loose)?;
        Ok(Comparator {
            operator: Operator::parse(operator),
            value: format!("{operator}{}", semver.version()),
            semver: Some(semver),
        })
    }

    fn test(&self, version: &SemVer) -> bool {
        match &self.semver {
            None => true,
            Some(bound) => self.operator.holds(version.compare(bound)),
        }
    }

    fn is_null_set(&self) -> bool {
        self.value == "<0.0.0-0"
    }

    fn is_any(&self) -> bool {
        self.value.is_empty()
    }
}

/// What `XRANGEPLAIN` captures; absent parts are `None`.
struct XRange<'a> {
    /// The whole match, prefix included.
    text: &'a str,
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    prerelease: Option<&'a str>,
}

/// `XRANGEIDENTIFIER(LOOSE)`: a number or `x`, `X`, `*`.
fn xrange_identifier<'a>(scan: &mut Scan<'a>, loose: bool) -> Option<&'a str> {
    match scan.peek() {
        Some('x' | 'X' | '*') => Some(scan.take(1, |_| true)),
        _ => number(scan, loose),
    }
}

/// `XRANGEPLAIN(LOOSE)` from the cursor, taking the first match (in the regex's
/// order) after which `then` accepts the rest of the text.
fn xrange_plain<'a>(
    scan: &mut Scan<'a>,
    loose: bool,
    then: &dyn Fn(&mut Scan<'a>) -> bool,
) -> Option<XRange<'a>> {
    let start = scan.pos;
    scan.version_prefix();
    let major = xrange_identifier(scan, loose)?;
    let mut range = XRange {
        text: "",
        major,
        minor: None,
        patch: None,
        prerelease: None,
    };
    let after_major = *scan;
    let mut minor_scan = after_major;
    let minor = if minor_scan.eat('.') {
        xrange_identifier(&mut minor_scan, loose)
    } else {
        None
    };
    if let Some(minor) = minor {
        range.minor = Some(minor);
        let mut patch_scan = minor_scan;
        let with_patch = if patch_scan.eat('.') {
            let is_wildcard = matches!(patch_scan.peek(), Some('x' | 'X' | '*'));
            let tail = |s: &mut Scan<'a>| {
                let prerelease = prerelease(s, loose).ok()?;
                build(s).ok()?;
                let mut probe = *s;
                then(&mut probe).then_some((prerelease, s.pos))
            };
            if is_wildcard {
                let mut s = patch_scan;
                let x = s.take(1, |_| true);
                tail(&mut s).map(|(pre, end)| (x, pre, end))
            } else {
                patch_then(&mut patch_scan, loose, tail).map(|(p, (pre, end))| (p, pre, end))
            }
        } else {
            None
        };
        if let Some((patch, prerelease, end)) = with_patch {
            range.patch = Some(patch);
            range.prerelease = prerelease;
            scan.pos = end;
        } else {
            // Without the patch group: `1.2` followed by whatever `then` accepts.
            let mut probe = minor_scan;
            if !then(&mut probe) {
                return None;
            }
            *scan = minor_scan;
        }
    } else {
        let mut probe = after_major;
        if !then(&mut probe) {
            return None;
        }
        *scan = after_major;
    }
    range.text = &scan.text[start..scan.pos];
    Some(range)
}

fn at_end(scan: &mut Scan<'_>) -> bool {
    scan.at_end()
}

/// node-semver's `isX`: missing, empty, `x`/`X` or `*`.
fn is_x(part: Option<&str>) -> bool {
    matches!(part, None | Some("" | "x" | "X" | "*"))
}

/// `^~>?XRANGEPLAIN$` → `>=… <…` (`replaceTilde`).
fn replace_tilde(comp: &str, options: Options) -> String {
    let mut scan = Scan::new(comp);
    if !scan.eat('~') {
        return comp.to_owned();
    }
    scan.eat('>');
    let Some(x) = xrange_plain(&mut scan, options.loose, &at_end) else {
        return comp.to_owned();
    };
    let z = if options.include_prerelease { "-0" } else { "" };
    let (major, minor, patch) = (x.major, x.minor.unwrap_or(""), x.patch.unwrap_or(""));
    if is_x(Some(major)) {
        String::new()
    } else if is_x(x.minor) {
        format!(">={major}.0.0{z} <{}.0.0-0", js_increment(major))
    } else if is_x(x.patch) {
        format!(
            ">={major}.{minor}.0{z} <{major}.{}.0-0",
            js_increment(minor)
        )
    } else if let Some(pre) = x.prerelease.filter(|p| !p.is_empty()) {
        format!(
            ">={major}.{minor}.{patch}-{pre} <{major}.{}.0-0",
            js_increment(minor)
        )
    } else {
        format!(
            ">={major}.{minor}.{patch} <{major}.{}.0-0",
            js_increment(minor)
        )
    }
}

/// `^\^XRANGEPLAIN$` → `>=… <…` (`replaceCaret`).
fn replace_caret(comp: &str, options: Options) -> String {
    let mut scan = Scan::new(comp);
    if !scan.eat('^') {
        return comp.to_owned();
    }
    let Some(x) = xrange_plain(&mut scan, options.loose, &at_end) else {
        return comp.to_owned();
    };
    let z = if options.include_prerelease { "-0" } else { "" };
    let (major, minor, patch) = (x.major, x.minor.unwrap_or(""), x.patch.unwrap_or(""));
    if is_x(Some(major)) {
        String::new()
    } else if is_x(x.minor) {
        format!(">={major}.0.0{z} <{}.0.0-0", js_increment(major))
    } else if is_x(x.patch) {
        if major == "0" {
            format!(
                ">={major}.{minor}.0{z} <{major}.{}.0-0",
                js_increment(minor)
            )
        } else {
            format!(">={major}.{minor}.0{z} <{}.0.0-0", js_increment(major))
        }
    } else {
        let lower = match x.prerelease.filter(|p| !p.is_empty()) {
            Some(pre) => format!(">={major}.{minor}.{patch}-{pre}"),
            None => format!(">={major}.{minor}.{patch}"),
        };
        // The first non-zero part may not change.
        let upper = if major != "0" {
            format!("<{}.0.0-0", js_increment(major))
        } else if minor != "0" {
            format!("<{major}.{}.0-0", js_increment(minor))
        } else {
            format!("<{major}.{minor}.{}-0", js_increment(patch))
        };
        format!("{lower} {upper}")
    }
}

/// `^GTLT\s?XRANGEPLAIN$` → comparators (`replaceXRange`).
fn replace_xrange(comp: &str, options: Options) -> String {
    let comp = js_trim(comp);
    let mut scan = Scan::new(comp);
    let mut operator = scan.operator();
    scan.eat_space();
    let Some(x) = xrange_plain(&mut scan, options.loose, &at_end) else {
        return comp.to_owned();
    };
    let (major, minor, patch) = (x.major, x.minor, x.patch);
    let invalid_order = (is_x(Some(major)) && !is_x(minor))
        || (is_x(minor) && patch.is_some_and(|p| !p.is_empty()) && !is_x(patch));
    if invalid_order {
        return comp.to_owned();
    }
    let x_major = is_x(Some(major));
    let x_minor = x_major || is_x(minor);
    let x_patch = x_minor || is_x(patch);
    if operator == "=" && x_patch {
        operator = "";
    }
    let mut pre = if options.include_prerelease { "-0" } else { "" };
    if x_major {
        return if operator == ">" || operator == "<" {
            "<0.0.0-0".to_owned()
        } else {
            "*".to_owned()
        };
    }
    let minor = minor.unwrap_or("");
    if !operator.is_empty() && x_patch {
        let mut major = major.to_owned();
        let mut minor = if x_minor {
            "0".to_owned()
        } else {
            minor.to_owned()
        };
        if operator == ">" {
            operator = ">=";
            if x_minor {
                major = js_increment(&major);
                minor = "0".to_owned();
            } else {
                minor = js_increment(&minor);
            }
        } else if operator == "<=" {
            operator = "<";
            if x_minor {
                major = js_increment(&major);
            } else {
                minor = js_increment(&minor);
            }
        }
        if operator == "<" {
            pre = "-0";
        }
        return format!("{operator}{major}.{minor}.0{pre}");
    }
    if x_minor {
        format!(">={major}.0.0{pre} <{}.0.0-0", js_increment(major))
    } else if x_patch {
        format!(
            ">={major}.{minor}.0{pre} <{major}.{}.0-0",
            js_increment(minor)
        )
    } else {
        comp.to_owned()
    }
}

/// `HYPHENRANGE(LOOSE)` over the whole text → `>=from <=to` (`hyphenReplace`).
fn replace_hyphen(range: &str, options: Options) -> String {
    let loose = options.loose;
    let second = |s: &mut Scan<'_>| {
        s.eat_space();
        s.at_end()
    };
    let separator_then_second = |s: &mut Scan<'_>| {
        s.eat_space() && s.eat('-') && s.eat_space() && xrange_plain(s, loose, &second).is_some()
    };
    let mut scan = Scan::new(range);
    scan.eat_space();
    let matched = xrange_plain(&mut scan, loose, &separator_then_second).and_then(|from| {
        (scan.eat_space() && scan.eat('-') && scan.eat_space()).then_some(())?;
        let to = xrange_plain(&mut scan, loose, &second)?;
        Some((from, to))
    });
    let Some((from, to)) = matched else {
        return range.to_owned();
    };
    let z = if options.include_prerelease { "-0" } else { "" };
    let low = if is_x(Some(from.major)) {
        String::new()
    } else if is_x(from.minor) {
        format!(">={}.0.0{z}", from.major)
    } else if is_x(from.patch) {
        format!(">={}.{}.0{z}", from.major, from.minor.unwrap_or(""))
    } else if from.prerelease.is_some_and(|p| !p.is_empty()) {
        format!(">={}", from.text)
    } else {
        format!(">={}{z}", from.text)
    };
    let (major, minor, patch) = (to.major, to.minor.unwrap_or(""), to.patch.unwrap_or(""));
    let high = if is_x(Some(major)) {
        String::new()
    } else if is_x(to.minor) {
        format!("<{}.0.0-0", js_increment(major))
    } else if is_x(to.patch) {
        format!("<{major}.{}.0-0", js_increment(minor))
    } else if let Some(pre) = to.prerelease.filter(|p| !p.is_empty()) {
        format!("<={major}.{minor}.{patch}-{pre}")
    } else if options.include_prerelease {
        format!("<{major}.{minor}.{}-0", js_increment(patch))
    } else {
        format!("<={}", to.text)
    };
    js_trim(&format!("{low} {high}")).to_owned()
}

/// Removes build metadata (`\+[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*`): the first occurrence
/// with node-semver's length bound, or every occurrence unbounded.
fn strip_builds(text: &str, first_only: bool) -> String {
    let limit = if first_only {
        MAX_IDENTIFIER_LENGTH
    } else {
        usize::MAX
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(offset) = text[search..].find('+') {
        let plus = search + offset;
        let mut scan = Scan {
            text,
            pos: plus + 1,
        };
        if scan.take(limit, is_ident_char).is_empty() {
            search = plus + 1;
            continue;
        }
        loop {
            let before = scan;
            if !scan.eat('.') || scan.take(limit, is_ident_char).is_empty() {
                scan = before;
                break;
            }
        }
        out.push_str(&text[copied..plus]);
        copied = scan.pos;
        search = scan.pos;
        if first_only {
            break;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// `TILDETRIM`/`CARETTRIM`: `(\s?)SIGIL\s` → `$1SIGIL`, everywhere (`~>` becomes `~`).
fn trim_after_sigil(text: &str, sigil: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut scan = Scan::new(text);
    let mut copied = 0;
    while !scan.at_end() {
        let start = scan.pos;
        let mut probe = scan;
        let space = probe.eat_space();
        let space_end = probe.pos;
        let matched = probe.eat(sigil) && {
            if sigil == '~' {
                let mut after_gt = probe;
                if after_gt.eat('>') && after_gt.eat_space() {
                    probe = after_gt;
                    true
                } else {
                    probe.eat_space()
                }
            } else {
                probe.eat_space()
            }
        };
        if matched {
            out.push_str(&text[copied..start]);
            if space {
                out.push_str(&text[start..space_end]);
            }
            out.push(sigil);
            copied = probe.pos;
            scan = probe;
        } else {
            scan.pos += scan.peek().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// node-semver 7.8's `trimComparatorWhitespace`: joins an operator to the version
/// after it (`> 1.2.3` → `>1.2.3`), scanning as its former `COMPARATORTRIM` regex did.
fn trim_comparator_whitespace(range: &str) -> String {
    let chars: Vec<char> = range.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let is_prefix =
        |c: Option<char>| matches!(c, Some(c) if c == 'v' || c == '=' || is_js_space(c));
    let is_start = |c: Option<char>| matches!(c, Some(c) if c.is_ascii_digit() || matches!(c, 'x' | 'X' | '*'));
    let mut result = String::with_capacity(range.len());
    let mut copied = 0;
    let mut cursor = 0;
    while cursor < chars.len() {
        let match_start = cursor;
        if matches!(at(cursor), Some('<' | '>')) {
            cursor += 1;
        } else if !is_prefix(at(cursor)) && !is_start(at(cursor)) {
            cursor += 1;
            continue;
        }
        while cursor < chars.len() && is_prefix(at(cursor)) {
            cursor += 1;
        }
        if !is_start(at(cursor)) {
            continue;
        }
        let mut position = match_start;
        if at(position).is_some_and(is_js_space) {
            position += 1;
        }
        if matches!(at(position), Some('<' | '>')) {
            position += 1;
        }
        if at(position) == Some('=') {
            position += 1;
        }
        if at(position).is_some_and(is_js_space) {
            result.extend(chars[copied..position].iter());
            copied = position + 1;
        }
        cursor = version_end(&chars, cursor);
    }
    result.extend(chars[copied..].iter());
    result
}

/// Where the version starting at `start` ends, for [`trim_comparator_whitespace`]: a
/// loose full version if there is one, else a partial/wildcard one.
fn version_end(chars: &[char], start: usize) -> usize {
    let full = loose_full_version_end(chars, start);
    if full != start {
        full
    } else {
        partial_version_end(chars, start)
    }
}

fn digits_end(chars: &[char], start: usize, limit: usize) -> usize {
    start
        + chars[start.min(chars.len())..]
            .iter()
            .take(limit)
            .take_while(|c| c.is_ascii_digit())
            .count()
}

fn version_number_end(chars: &[char], start: usize, loose: bool) -> usize {
    if !loose && chars.get(start) == Some(&'0') {
        return start + 1;
    }
    digits_end(
        chars,
        start,
        if loose { MAX_LENGTH } else { MAX_LENGTH + 1 },
    )
}

fn prerelease_identifier_end(chars: &[char], start: usize, loose: bool) -> usize {
    let digits = digits_end(chars, start, MAX_LENGTH);
    if chars
        .get(digits)
        .is_some_and(|&c| c.is_ascii_alphabetic() || c == '-')
    {
        let mut end = digits + 1;
        let limit = end + MAX_IDENTIFIER_LENGTH;
        while end < limit && chars.get(end).is_some_and(|&c| is_ident_char(c)) {
            end += 1;
        }
        return end;
    }
    version_number_end(chars, start, loose)
}

fn prerelease_end(chars: &[char], start: usize, loose: bool) -> usize {
    let hyphen = chars.get(start) == Some(&'-');
    if !loose && !hyphen {
        return start;
    }
    let id_start = start + usize::from(hyphen);
    let mut end = prerelease_identifier_end(chars, id_start, loose);
    if end == id_start {
        if !loose || !hyphen {
            return start;
        }
        end = prerelease_identifier_end(chars, start, loose);
    }
    while chars.get(end) == Some(&'.') {
        let next = prerelease_identifier_end(chars, end + 1, loose);
        if next == end + 1 {
            break;
        }
        end = next;
    }
    end
}

fn build_identifier_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while end - start < MAX_IDENTIFIER_LENGTH && chars.get(end).is_some_and(|&c| is_ident_char(c)) {
        end += 1;
    }
    end
}

fn build_end(chars: &[char], start: usize) -> usize {
    if chars.get(start) != Some(&'+') {
        return start;
    }
    let mut end = build_identifier_end(chars, start + 1);
    if end == start + 1 {
        return start;
    }
    while chars.get(end) == Some(&'.') {
        let next = build_identifier_end(chars, end + 1);
        if next == end + 1 {
            break;
        }
        end = next;
    }
    end
}

fn loose_full_version_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    for component in 0..3 {
        let next = version_number_end(chars, end, true);
        if next == end {
            return start;
        }
        end = next;
        if component < 2 {
            if chars.get(end) != Some(&'.') {
                return start;
            }
            end += 1;
        }
    }
    build_end(chars, prerelease_end(chars, end, true))
}

fn partial_component_end(chars: &[char], start: usize) -> usize {
    match chars.get(start) {
        Some(c) if c.is_ascii_digit() => version_number_end(chars, start, false),
        Some('x' | 'X' | '*') => start + 1,
        _ => start,
    }
}

fn partial_version_end(chars: &[char], start: usize) -> usize {
    let mut end = partial_component_end(chars, start);
    for _ in 0..2 {
        if chars.get(end) != Some(&'.') {
            return end;
        }
        let next = partial_component_end(chars, end + 1);
        if next == end + 1 {
            return end;
        }
        end = next;
    }
    build_end(chars, prerelease_end(chars, end, false))
}

/// `STAR`: removes the first `(<|>)?=?\s?\*`.
fn replace_stars(comp: &str) -> String {
    let comp = js_trim(comp);
    for (start, _) in comp.char_indices() {
        let mut scan = Scan::new(comp);
        scan.pos = start;
        if !scan.eat('<') {
            scan.eat('>');
        }
        scan.eat('=');
        scan.eat_space();
        if scan.eat('*') {
            return format!("{}{}", &comp[..start], &comp[scan.pos..]);
        }
    }
    comp.to_owned()
}

/// `GTE0`/`GTE0PRE`: `>=0.0.0` (or `>=0.0.0-0` with `includePrerelease`) is "any".
fn replace_gte0(comp: &str, options: Options) -> String {
    let comp = js_trim(comp);
    let mut scan = Scan::new(comp);
    let target = if options.include_prerelease {
        "0.0.0-0"
    } else {
        "0.0.0"
    };
    let matches = scan.eat('>') && scan.eat('=') && {
        scan.eat_space();
        scan.rest() == target
    };
    if matches {
        String::new()
    } else {
        comp.to_owned()
    }
}

/// `parseComparator`: carets, tildes, x-ranges and stars become plain comparators.
fn desugar(comp: &str, options: Options) -> String {
    let comp = strip_builds(comp, true);
    let each = |text: &str, f: &dyn Fn(&str) -> String| -> String {
        split_js_space(text)
            .into_iter()
            .map(f)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let comp = each(js_trim(&comp), &|c| replace_caret(c, options));
    let comp = each(js_trim(&comp), &|c| replace_tilde(c, options));
    let comp = each(&comp, &|c| replace_xrange(c, options));
    replace_stars(&comp)
}

/// A parsed range: a union of comparator sets.
#[derive(Debug, Clone)]
pub struct Range {
    set: Vec<Vec<Comparator>>,
    options: Options,
}

impl Range {
    /// `new Range(range, options)`.
    pub fn parse(range: &str, options: Options) -> Result<Range, VersionError> {
        let raw = split_js_space(js_trim(range)).join(" ");
        let mut set = Vec::new();
        for part in raw.split("||") {
            let comparators = Self::parse_set(js_trim(part), options)?;
            if !comparators.is_empty() {
                set.push(comparators);
            }
        }
        if set.is_empty() {
            return Err(VersionError::new(Ecosystem::Npm, range, "invalid range"));
        }
        if set.len() > 1 {
            let first = set[0].clone();
            set.retain(|c| !c[0].is_null_set());
            if set.is_empty() {
                set = vec![first];
            } else if set.len() > 1 {
                if let Some(any) = set.iter().find(|c| c.len() == 1 && c[0].is_any()) {
                    set = vec![any.clone()];
                }
            }
        }
        Ok(Range { set, options })
    }

    /// `parseRange`: one `||` alternative.
    fn parse_set(range: &str, options: Options) -> Result<Vec<Comparator>, VersionError> {
        let range = strip_builds(range, false);
        let range = replace_hyphen(&range, options);
        let range = trim_comparator_whitespace(&range);
        let range = trim_after_sigil(&range, '~');
        let range = trim_after_sigil(&range, '^');
        let desugared: Vec<String> = range.split(' ').map(|c| desugar(c, options)).collect();
        let joined = desugared.join(" ");
        let mut comps: Vec<String> = split_js_space(&joined)
            .into_iter()
            .map(|c| replace_gte0(c, options))
            .collect();
        if options.loose {
            comps.retain(|c| match_comparator(c, true).is_some());
        }
        let comparators = comps
            .iter()
            .map(|comp| Comparator::parse(comp, options))
            .collect::<Result<Vec<_>, _>>()?;
        let mut unique: Vec<Comparator> = Vec::new();
        for comparator in comparators {
            if comparator.is_null_set() {
                return Ok(vec![comparator]);
            }
            match unique.iter_mut().find(|c| c.value == comparator.value) {
                Some(existing) => *existing = comparator,
                None => unique.push(comparator),
            }
        }
        if unique.len() > 1 {
            unique.retain(|c| !c.is_any());
        }
        Ok(unique)
    }

    /// Whether `version` satisfies the range.
    pub fn test(&self, version: &SemVer) -> bool {
        self.set.iter().any(|set| self.test_set(set, version))
    }

    fn test_set(&self, set: &[Comparator], version: &SemVer) -> bool {
        if !set.iter().all(|c| c.test(version)) {
            return false;
        }
        if version.prerelease.is_empty() || self.options.include_prerelease {
            return true;
        }
        // A prerelease only matches if the set names a prerelease of the same tuple.
        set.iter().filter_map(|c| c.semver.as_ref()).any(|allowed| {
            !allowed.prerelease.is_empty()
                && (allowed.major, allowed.minor, allowed.patch)
                    == (version.major, version.minor, version.patch)
        })
    }
}

/// `semver.satisfies(version, range, options)`: false for an invalid version or range.
pub fn satisfies(version: &str, range: &str, options: Options) -> bool {
    let Ok(range) = Range::parse(range, options) else {
        return false;
    };
    if version.is_empty() {
        return false;
    }
    match SemVer::parse(version, options.loose) {
        Ok(v) => range.test(&v),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    const STRICT: Options = Options {
        loose: false,
        include_prerelease: false,
    };

    #[test]
    fn parsing() {
        let v = SemVer::parse("  v1.2.3-alpha.01a.7+build.5 ", false).unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 2, 3));
        assert_eq!(v.version(), "1.2.3-alpha.01a.7");
        assert_eq!(v.build, ["build", "5"]);
        assert!(SemVer::parse("=1.2.3", false).is_err());
        assert_eq!(
            SemVer::parse("=01.2.3beta", true).unwrap().version(),
            "1.2.3-beta"
        );
        assert_eq!(SemVer::parse("1.2.3-", true).unwrap().version(), "1.2.3--");
        assert!(SemVer::parse("1.2.3-01", false).is_err());
        assert!(SemVer::parse("9007199254740992.0.0", false).is_err());
        assert!(SemVer::parse("9007199254740991.0.0", false).is_ok());
    }

    #[test]
    fn ordering() {
        assert_eq!(compare("1.2.3-5-foo", "1.2.3-5-Foo", false), Ok(Greater));
        assert_eq!(
            compare("1.2.3-alpha.10", "1.2.3-alpha.9", false),
            Ok(Greater)
        );
        assert_eq!(compare("1.2.3-alpha", "1.2.3-1", false), Ok(Greater));
        assert_eq!(compare("1.2.3+a", "1.2.3+b", false), Ok(Equal));
    }

    #[test]
    fn ranges() {
        let yes = |r: &str, v: &str| assert!(satisfies(v, r, STRICT), "{v} in {r}");
        let no = |r: &str, v: &str| assert!(!satisfies(v, r, STRICT), "{v} not in {r}");
        yes("^1.2.3", "1.9.0");
        no("^1.2.3", "2.0.0-0");
        no("^1.2.3", "1.3.0-beta");
        yes("^1.2.3-beta.1", "1.2.3-beta.2");
        yes("~1.2", "1.2.9");
        no("~1.2", "1.3.0");
        yes(">= 1.0.0 < 2", "1.5.0");
        yes("1.2.3 - 2.3", "2.3.9");
        no("1.2.3 - 2.3", "2.4.0");
        yes("<1.0.0 || >=2.0.0 <2.1.0", "2.0.5");
        yes("*", "1.0.0");
        no("*", "1.0.0-rc.1");
        no("not a range", "1.0.0");
        assert!(satisfies(
            "1.0.0-rc.1",
            "*",
            Options {
                include_prerelease: true,
                ..STRICT
            }
        ));
    }

    #[test]
    fn desugaring() {
        let opts = STRICT;
        assert_eq!(replace_caret("^0.0.1", opts), ">=0.0.1 <0.0.2-0");
        assert_eq!(replace_caret("^0.1", opts), ">=0.1.0 <0.2.0-0");
        assert_eq!(replace_tilde("~>1.2.3", opts), ">=1.2.3 <1.3.0-0");
        assert_eq!(replace_xrange(">1.2", opts), ">=1.3.0");
        assert_eq!(replace_xrange("<=1.x", opts), "<2.0.0-0");
        assert_eq!(replace_hyphen("1.2 - 3", opts), ">=1.2.0 <4.0.0-0");
        assert_eq!(trim_comparator_whitespace("> 1.2.3 <= 2"), ">1.2.3 <=2");
        assert_eq!(trim_after_sigil("~> 1.2", '~'), "~1.2");
        assert_eq!(strip_builds("1.2.3+a.b - 2+c", false), "1.2.3 - 2");
        assert_eq!(js_increment("9007199254740993"), "9007199254740992");
        assert_eq!(js_increment("999999999999999999999"), "1e+21");
    }
}
