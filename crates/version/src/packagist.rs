//! Packagist (Composer) versions: normalised as `Composer\Semver\VersionParser::normalize`
//! does, then ordered as `Composer\Semver\Comparator` orders them — PHP's
//! `version_compare` on the normalised strings.
//!
//! Normalising gives four numeric parts and an expanded stability suffix
//! (`v1.2-beta2` → `1.2.0.0-beta2`, `1.0.0-rc.1` → `1.0.0.0-RC1`, `1.0-p1` →
//! `1.0.0.0-patch1`, `2010-01-02` → `2010.01.02`), drops build metadata, aliases
//! (`1.0 as 2.0`) and `@stability` flags, and turns branches into `dev-NAME` or
//! `1.x-dev` → `1.9999999.9999999.9999999-dev`. Ordering is then
//! `dev` < `alpha` < `beta` < `RC` < (stable) < `patch`.
//!
//! Two named branches (`dev-main`, `dev-feature`) have no order in Composer; here the
//! same branch is equal and different ones order by name, so the ordering stays total.
//! Written here because no Rust crate implements Composer's normaliser. Checked against
//! composer/semver itself (its current classical and date patterns) and PHP's
//! `version_compare` on generated strings.

use std::cmp::Ordering;

use crate::{Ecosystem, VersionError};

/// PHP's `trim()` characters.
fn is_php_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\x0b')
}

fn is_regex_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

fn invalid(v: &str) -> VersionError {
    VersionError::new(
        Ecosystem::Packagist,
        v,
        "not a version, branch or date version",
    )
}

/// `VersionParser::normalize`.
pub fn normalize(input: &str) -> Result<String, VersionError> {
    let mut version = input.trim_matches(is_php_space);
    // Alias: `1.0 as 2.0` means 1.0.
    if let Some(left) = split_alias(version) {
        version = left;
    }
    // Stability flag: `1.0@beta`.
    if let Some(at) = version.rfind('@') {
        let flag = &version[at + 1..];
        if ["stable", "rc", "beta", "alpha", "dev"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(flag))
        {
            version = &version[..at];
        }
    }
    let owned;
    if matches!(version, "master" | "trunk" | "default") {
        owned = format!("dev-{version}");
        version = &owned;
    }
    if version.len() >= 4 && version.as_bytes()[..4].eq_ignore_ascii_case(b"dev-") {
        return Ok(format!("dev-{}", &version[4..]));
    }
    // Build metadata.
    if let Some((main, build)) = version.split_once('+') {
        if !main.is_empty()
            && !main.contains(|c: char| c == ',' || is_regex_space(c))
            && !build.is_empty()
            && !build.contains(is_regex_space)
        {
            version = main;
        }
    }
    if let Some(normalized) = classical(version).or_else(|| date_based(version)) {
        return Ok(normalized);
    }
    // `1.x-dev`, `2.0.x-dev`: numeric branches.
    if let Some(name) = strip_dev_suffix(version) {
        if let Some(branch) = numeric_branch(name) {
            return Ok(branch);
        }
    }
    Err(invalid(input))
}

/// `^([^,\s]++) ++as ++([^,\s]++)$`: the aliased version on the left.
fn split_alias(v: &str) -> Option<&str> {
    let left_end = v.find(|c: char| c == ',' || is_regex_space(c))?;
    let (left, rest) = v.split_at(left_end);
    let after_spaces = rest.trim_start_matches(' ');
    if after_spaces.len() == rest.len() {
        return None;
    }
    let right = after_spaces.strip_prefix("as")?;
    let right_trimmed = right.trim_start_matches(' ');
    if right_trimmed.len() == right.len()
        || right_trimmed.is_empty()
        || right_trimmed.contains(|c: char| c == ',' || is_regex_space(c))
        || left.is_empty()
    {
        return None;
    }
    Some(left)
}

/// What follows the numbers: `[._-]?(stability([.-]?\d+)*)?([.-]?dev)?` to the end.
struct Modifier<'a> {
    stability: Option<&'a str>,
    /// The digits after the stability word, separators included.
    numbers: &'a str,
    dev: bool,
}

fn modifier(rest: &str) -> Option<Modifier<'_>> {
    // `[._-]?` is greedy: try with the separator first, then without.
    let with_separator = rest.strip_prefix(['.', '_', '-']);
    [with_separator, Some(rest)]
        .into_iter()
        .flatten()
        .find_map(modifier_body)
}

fn modifier_body(s: &str) -> Option<Modifier<'_>> {
    const WORDS: [&str; 9] = [
        "stable", "beta", "b", "RC", "alpha", "a", "patch", "pl", "p",
    ];
    let mut rest = s;
    let mut stability = None;
    let mut numbers = "";
    if let Some(word) = WORDS.iter().find(|w| {
        rest.len() >= w.len() && rest.as_bytes()[..w.len()].eq_ignore_ascii_case(w.as_bytes())
    }) {
        stability = Some(&rest[..word.len()]);
        rest = &rest[word.len()..];
        // `(?:[.-]?\d+)*+`
        let start = rest;
        loop {
            let after_sep = rest.strip_prefix(['.', '-']).unwrap_or(rest);
            let digits = after_sep.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                break;
            }
            rest = &after_sep[digits..];
        }
        numbers = &start[..start.len() - rest.len()];
    }
    let after_sep = rest.strip_prefix(['.', '-']).unwrap_or(rest);
    let dev = after_sep.len() == 3 && after_sep.eq_ignore_ascii_case("dev");
    if dev {
        rest = "";
    }
    rest.is_empty().then_some(Modifier {
        stability,
        numbers,
        dev,
    })
}

/// Appends the normalised stability suffix to `version`.
fn with_modifier(mut version: String, m: &Modifier<'_>) -> String {
    if let Some(word) = m.stability {
        if word == "stable" {
            return version;
        }
        let lower = word.to_ascii_lowercase();
        let expanded = match lower.as_str() {
            "a" => "alpha",
            "b" => "beta",
            "p" | "pl" => "patch",
            "rc" => "RC",
            other => other,
        };
        version.push('-');
        version.push_str(expanded);
        version.push_str(m.numbers.trim_start_matches(['.', '-']));
    }
    if m.dev {
        version.push_str("-dev");
    }
    version
}

fn strip_v(v: &str) -> &str {
    v.strip_prefix(['v', 'V']).unwrap_or(v)
}

/// `^v?(\d{1,5}+)(\.\d++)?(\.\d++)?(\.\d++)?MODIFIER$`.
fn classical(v: &str) -> Option<String> {
    let body = strip_v(v);
    let major = body.bytes().take_while(u8::is_ascii_digit).count();
    if major == 0 || major > 5 {
        return None;
    }
    let mut parts = vec![&body[..major]];
    let mut rest = &body[major..];
    while parts.len() < 4 {
        let Some(after_dot) = rest.strip_prefix('.') else {
            break;
        };
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        parts.push(&after_dot[..digits]);
        rest = &after_dot[digits..];
    }
    let m = modifier(rest)?;
    let mut version = parts.join(".");
    for _ in parts.len()..4 {
        version.push_str(".0");
    }
    Some(with_modifier(version, &m))
}

/// `^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3}){0,2})MODIFIER$`, whose number part
/// becomes dotted (`2010-01-02` → `2010.01.02`).
fn date_based(v: &str) -> Option<String> {
    let body = strip_v(v);
    let is_sep = |c: u8| matches!(c, b'.' | b':' | b'-');
    // The date part is the longest run of digits and separators that ends in a digit;
    // whatever follows must be the modifier.
    let bytes = body.as_bytes();
    let mut end = bytes
        .iter()
        .take_while(|&&c| c.is_ascii_digit() || is_sep(c))
        .count();
    while end > 0 && !bytes[end - 1].is_ascii_digit() {
        end -= 1;
    }
    if end < 4 || !bytes[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let m = modifier(&body[end..])?;
    if !date_segments_ok(&body[4..end]) {
        return None;
    }
    let dotted: String = body[..end]
        .chars()
        .map(|c| if c.is_ascii_digit() { c } else { '.' })
        .collect();
    Some(with_modifier(dotted, &m))
}

/// Whether the text after the year splits into 1–6 two-digit groups then 0–2 groups
/// of 1–3 digits, each group optionally preceded by one separator.
fn date_segments_ok(text: &str) -> bool {
    // Runs of digits, each with whether a separator precedes it.
    let mut runs: Vec<&str> = Vec::new();
    let mut rest = text;
    let mut first = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(['.', ':', '-']) {
            rest = after;
        } else if !first {
            return false;
        }
        first = false;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        runs.push(&rest[..digits]);
        rest = &rest[digits..];
    }
    fits(&runs, 0, 0, 0)
}

/// Backtracking search over how the runs split into the two kinds of groups.
fn fits(runs: &[&str], offset: usize, pairs: usize, tails: usize) -> bool {
    let Some(run) = runs.first() else {
        return pairs >= 1;
    };
    if offset == run.len() {
        return fits(&runs[1..], 0, pairs, tails);
    }
    let left = run.len() - offset;
    if tails == 0 && pairs < 6 && left >= 2 && fits(runs, offset + 2, pairs + 1, 0) {
        return true;
    }
    pairs >= 1 && tails < 2 && (1..=3.min(left)).any(|n| fits(runs, offset + n, pairs, tails + 1))
}

/// `(.*?)[.-]?dev$`: the name before a trailing `dev`.
fn strip_dev_suffix(v: &str) -> Option<&str> {
    if v.len() < 3
        || !v.is_char_boundary(v.len() - 3)
        || !v[v.len() - 3..].eq_ignore_ascii_case("dev")
    {
        return None;
    }
    let name = &v[..v.len() - 3];
    Some(name.strip_suffix(['.', '-']).unwrap_or(name))
}

/// `normalizeBranch` for numeric branches: `1.x` → `1.9999999.9999999.9999999-dev`.
fn numeric_branch(name: &str) -> Option<String> {
    let body = strip_v(name.trim_matches(is_php_space));
    let mut pieces = body.split('.');
    let major = pieces.next()?;
    if major.is_empty() || !major.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut parts = vec![major.to_owned()];
    for piece in pieces {
        let is_number = !piece.is_empty() && piece.bytes().all(|c| c.is_ascii_digit());
        if !(is_number || matches!(piece, "x" | "X" | "*")) || parts.len() == 4 {
            return None;
        }
        parts.push(if is_number {
            piece.to_owned()
        } else {
            "x".to_owned()
        });
    }
    while parts.len() < 4 {
        parts.push("x".to_owned());
    }
    Some(format!("{}-dev", parts.join(".").replace('x', "9999999")))
}

/// PHP's `version_compare` rank of a word: by prefix, unknown words lowest.
fn special_form_rank(form: &[u8]) -> i32 {
    const FORMS: [(&str, i32); 10] = [
        ("dev", 0),
        ("alpha", 1),
        ("a", 1),
        ("beta", 2),
        ("b", 2),
        ("RC", 3),
        ("rc", 3),
        ("#", 4),
        ("pl", 5),
        ("p", 5),
    ];
    FORMS
        .iter()
        .find(|(name, _)| form.starts_with(name.as_bytes()))
        .map_or(-1, |&(_, rank)| rank)
}

/// PHP's `php_canonicalize_version`: `-_+` become dots, and dots are inserted between
/// digits and non-digits.
fn canonicalize(v: &[u8]) -> Vec<u8> {
    let Some((&first, rest)) = v.split_first() else {
        return Vec::new();
    };
    let is_digit = |c: u8| c.is_ascii_digit();
    let is_non_digit = |c: u8| !c.is_ascii_digit() && c != b'.';
    let mut out = vec![first];
    let mut previous = first;
    for &c in rest {
        let last = out.last().copied().unwrap_or(0);
        if matches!(c, b'-' | b'_' | b'+') {
            if last != b'.' {
                out.push(b'.');
            }
        } else if (is_non_digit(previous) && is_digit(c)) || (is_digit(previous) && is_non_digit(c))
        {
            if last != b'.' {
                out.push(b'.');
            }
            out.push(c);
        } else if !c.is_ascii_alphanumeric() {
            if last != b'.' {
                out.push(b'.');
            }
        } else {
            out.push(c);
        }
        previous = c;
    }
    out
}

/// C's `strtol` on a digit run, saturating like it does.
fn strtol(digits: &[u8]) -> i64 {
    digits
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0i64, |n, &d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        })
}

/// PHP's `version_compare($a, $b)`.
pub fn version_compare(a: &str, b: &str) -> Ordering {
    php_version_compare(a.as_bytes(), b.as_bytes())
}

fn php_version_compare(a: &[u8], b: &[u8]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let canonical = |v: &[u8]| {
        if v[0] == b'#' {
            v.to_vec()
        } else {
            canonicalize(v)
        }
    };
    let (va, vb) = (canonical(a), canonical(b));
    let number_marker: &[u8] = b"#N#";
    let (mut pa, mut pb) = (0usize, 0usize);
    // Whether the last split found a dot (C's `n1`/`n2` not NULL).
    let (mut more_a, mut more_b) = (true, true);
    let mut order = Ordering::Equal;
    while pa < va.len() && pb < vb.len() && more_a && more_b {
        let end_a = va[pa..].iter().position(|&c| c == b'.').map(|i| pa + i);
        let end_b = vb[pb..].iter().position(|&c| c == b'.').map(|i| pb + i);
        more_a = end_a.is_some();
        more_b = end_b.is_some();
        let seg_a = &va[pa..end_a.unwrap_or(va.len())];
        let seg_b = &vb[pb..end_b.unwrap_or(vb.len())];
        let digit_a = seg_a.first().is_some_and(u8::is_ascii_digit);
        let digit_b = seg_b.first().is_some_and(u8::is_ascii_digit);
        order = match (digit_a, digit_b) {
            (true, true) => strtol(seg_a).cmp(&strtol(seg_b)),
            (false, false) => special_form_rank(seg_a).cmp(&special_form_rank(seg_b)),
            (true, false) => special_form_rank(number_marker).cmp(&special_form_rank(seg_b)),
            (false, true) => special_form_rank(seg_a).cmp(&special_form_rank(number_marker)),
        };
        if order.is_ne() {
            break;
        }
        if let Some(end) = end_a {
            pa = end + 1;
        }
        if let Some(end) = end_b {
            pb = end + 1;
        }
    }
    if order.is_eq() {
        if more_a {
            let rest = &va[pa..];
            order = if rest.first().is_some_and(u8::is_ascii_digit) {
                Ordering::Greater
            } else {
                php_version_compare(rest, number_marker)
            };
        } else if more_b {
            let rest = &vb[pb..];
            order = if rest.first().is_some_and(u8::is_ascii_digit) {
                Ordering::Less
            } else {
                php_version_compare(number_marker, rest)
            };
        }
    }
    order
}

/// Composer's ordering of two versions (normalised first).
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let (na, nb) = (normalize(a)?, normalize(b)?);
    if na.starts_with("dev-") && nb.starts_with("dev-") {
        return Ok(na.cmp(&nb));
    }
    Ok(version_compare(&na, &nb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn norm(v: &str) -> String {
        normalize(v).unwrap()
    }

    #[test]
    fn normalisation() {
        assert_eq!(norm("1.0.0"), "1.0.0.0");
        assert_eq!(norm("v1.2-beta2"), "1.2.0.0-beta2");
        assert_eq!(norm("1.0.0-rc.1"), "1.0.0.0-RC1");
        assert_eq!(norm("1.0-p1"), "1.0.0.0-patch1");
        assert_eq!(norm("1.0.0-stable"), "1.0.0.0");
        assert_eq!(norm("1.0.0+build.5"), "1.0.0.0");
        assert_eq!(norm("1.0 as 2.0"), "1.0.0.0");
        assert_eq!(norm("1.0@beta"), "1.0.0.0");
        assert_eq!(norm("2010-01-02"), "2010.01.02");
        assert_eq!(norm("20100102.1"), "20100102.1");
        assert_eq!(norm("1.0.x-dev"), "1.0.9999999.9999999-dev");
        assert_eq!(norm("dev-master"), "dev-master");
        assert_eq!(norm("master"), "dev-master");
        assert_eq!(norm("1.0-dev"), "1.0.0.0-dev");
        for bad in ["", "foo", "1.0.0.0.0", "1.0-beta-foo", "123456.7.8.9.10"] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stability_order() {
        let ordered = [
            "1.0-dev",
            "1.0-alpha1",
            "1.0-beta1",
            "1.0-RC1",
            "1.0",
            "1.0-p1",
            "1.0.1",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(
                compare(pair[0], pair[1]),
                Ok(Less),
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
        assert_eq!(compare("v1.0", "1.0.0"), Ok(Equal));
        assert_eq!(compare("dev-main", "1.0"), Ok(Less));
    }

    #[test]
    fn php_version_compare_quirks() {
        assert_eq!(version_compare("1.0", "1.0.0"), Less);
        assert_eq!(version_compare("1.0rc1", "1.0"), Less);
        assert_eq!(version_compare("1.0pl1", "1.0"), Greater);
        assert_eq!(version_compare("1.0-dev", "1.0-alpha"), Less);
        assert_eq!(version_compare("", "1"), Less);
    }
}
