//! RubyGems packages ([`PackageManager::Gem`]) from the files that name them:
//!
//! - installed gem specifications, `specifications/*.gemspec` as RubyGems (and
//!   Debian's rubygems-integration) writes them: Ruby source with
//!   `Gem::Specification.new do |s|`, `s.name = "rack".freeze`, `s.version = "2.2.22"`
//!   ([`parse_gemspec`]);
//! - Bundler's `Gemfile.lock`, the gems of its `GEM` section ([`parse_gemfile_lock`]).
//!
//! A gemspec is Ruby, which is not evaluated: only string literals (`"…"`, `'…'`,
//! `%q{…}` and relatives, optionally `.freeze`d or wrapped in `Gem::Version.new(…)`) are
//! understood; anything else is reported. Malformed input is never fatal: the problem
//! becomes a warning naming the file (and the line when known) and every gem read
//! around it is kept.

use super::python::{shown, Sink};
use super::Parsed;
use postwatch_model::PackageManager;

const NEW: &str = "Gem::Specification.new";

// ---------------------------------------------------------------------------------------
// *.gemspec

/// Reads a gem specification: the name and version given as
/// `Gem::Specification.new "name", "version"` arguments or assigned in its block
/// (`s.name = …`, `s.version = …`, first assignment wins). `files` is left empty: a
/// specification lists only some of a gem's files, relative to a directory it does
/// not name.
pub fn parse_gemspec(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Gem);
    let text = out.text(bytes);
    if text.trim().is_empty() {
        out.warn("empty file; no gem read");
        return out.finish();
    }
    let Some(at) = text.find(NEW) else {
        out.warn(format_args!("no {NEW}; no gem read"));
        return out.finish();
    };
    let after = text.get(at + NEW.len()..).unwrap_or_default();
    let first_line = after.lines().next().unwrap_or_default();
    let mut name = None;
    let mut version = None;
    let line_of_new = text
        .get(..at)
        .unwrap_or_default()
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1;

    // `Gem::Specification.new "name", "version"` or `.new("name", "version")`.
    let arguments = first_line.trim_start();
    let arguments = arguments.strip_prefix('(').unwrap_or(arguments);
    if let Some((first, rest)) = ruby_string(arguments) {
        name = Some(first);
        let rest = rest.trim_start();
        if let Some(rest) = rest.strip_prefix(',') {
            version = ruby_string(rest).map(|(value, _)| value);
        }
    }

    // The block's variable: `do |s|` or `{ |spec|`; without one any receiver is accepted.
    let variable = first_line
        .split_once('|')
        .and_then(|(_, rest)| rest.split_once('|'))
        .map(|(variable, _)| variable.trim())
        .filter(|v| is_identifier(v));

    let mut name_assigned = false;
    let mut version_assigned = false;
    for (index, line) in after.lines().enumerate() {
        let number = line_of_new + index;
        let Some((field, value)) = assignment(line, variable) else {
            continue;
        };
        let slot = match field {
            "name" if !name_assigned => {
                name_assigned = true;
                &mut name
            }
            "version" if !version_assigned => {
                version_assigned = true;
                &mut version
            }
            _ => continue,
        };
        match ruby_string(value) {
            Some((literal, _)) => *slot = Some(literal),
            None => {
                *slot = None;
                out.warn(format_args!(
                    "line {number}: {field} is not a string literal ({}); not understood",
                    shown(value.trim())
                ));
            }
        }
    }
    match (name, version) {
        (Some(name), Some(version)) => {
            out.add(
                &name,
                &version,
                false,
                Vec::new(),
                format_args!("specification at line {line_of_new}"),
            );
        }
        (None, _) => out.warn("no gem name found; no gem read"),
        (Some(name), None) => out.warn(format_args!(
            "no version found for {}; no gem read",
            shown(&name)
        )),
    }
    out.finish()
}

/// `recv.name = value` or `recv.version = value` (not `==`): the field and the value
/// text. `recv` must be `variable` when the block has one.
fn assignment<'l>(line: &'l str, variable: Option<&str>) -> Option<(&'l str, &'l str)> {
    let (receiver, rest) = line.trim_start().split_once('.')?;
    if !is_identifier(receiver) || variable.is_some_and(|v| v != receiver) {
        return None;
    }
    let field = ["name", "version"]
        .into_iter()
        .find(|field| rest.starts_with(field))?;
    let rest = rest.get(field.len()..)?.trim_start();
    let value = rest.strip_prefix('=')?;
    if value.starts_with(['=', '~']) {
        return None;
    }
    Some((field, value))
}

fn is_identifier(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Ruby string literal at the start of `code` (after whitespace): `"…"`, `'…'`,
/// `%q`/`%Q`/`%` with any delimiter, or `Gem::Version.new(<literal>)`. Returns the
/// string and the code after it; `None` for anything else, including interpolation and
/// escapes other than `\\`, `\"`, `\'` and `\#`.
fn ruby_string(code: &str) -> Option<(String, &str)> {
    let code = code.trim_start();
    if let Some(inner) = code.strip_prefix("Gem::Version.new") {
        let inner = inner.trim_start().strip_prefix('(')?;
        let (value, rest) = ruby_string(inner)?;
        return Some((value, rest.trim_start().strip_prefix(')')?));
    }
    let mut chars = code.char_indices();
    let (_, first) = chars.next()?;
    let (close, interpolates) = match first {
        '"' => ('"', true),
        '\'' => ('\'', false),
        '%' => {
            let (_, mut open) = chars.next()?;
            let mut interpolates = true;
            if open == 'q' || open == 'Q' {
                interpolates = open == 'Q';
                open = chars.next()?.1;
            }
            let close = match open {
                '{' => '}',
                '(' => ')',
                '[' => ']',
                '<' => '>',
                c if c.is_ascii_punctuation() => c,
                _ => return None,
            };
            (close, interpolates)
        }
        _ => return None,
    };
    let mut value = String::new();
    while let Some((at, c)) = chars.next() {
        if c == close {
            return Some((value, code.get(at + c.len_utf8()..).unwrap_or_default()));
        }
        match c {
            '\\' => match chars.next()?.1 {
                escaped @ ('\\' | '"' | '\'' | '#') => value.push(escaped),
                escaped if escaped == close => value.push(escaped),
                _ => return None,
            },
            '#' if interpolates && code.get(at + 1..).is_some_and(|r| r.starts_with('{')) => {
                return None
            }
            _ => value.push(c),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Gemfile.lock

/// Sections Bundler writes; anything else at column 0 is reported.
const SECTIONS: &[&str] = &[
    "GEM",
    "GIT",
    "PATH",
    "PLUGIN SOURCE",
    "PLATFORMS",
    "DEPENDENCIES",
    "BUNDLED WITH",
    "RUBY VERSION",
    "CHECKSUMS",
];

/// Reads a Bundler `Gemfile.lock`: the gems of the `GEM` section's `specs:`, written
/// `name (version)` at four spaces' indentation. A platform suffix is dropped as
/// Bundler does (`nokogiri (1.13.10-x86_64-linux)` → `1.13.10`); lines at six spaces
/// are the gems' dependencies and are skipped. `GIT` and `PATH` gems are not from the
/// registry and are not reported.
pub fn parse_gemfile_lock(path: &str, bytes: &[u8]) -> Parsed {
    let mut out = Sink::new(path, PackageManager::Gem);
    let text = out.text(bytes);
    if text.trim().is_empty() {
        out.warn("empty file; no gem read");
        return out.finish();
    }
    let mut in_gem = false;
    let mut in_specs = false;
    let mut saw_section = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line.trim_start_matches(' ');
        match indent {
            0 => {
                in_specs = false;
                in_gem = content == "GEM";
                if SECTIONS.contains(&content) {
                    saw_section = true;
                } else {
                    out.warn(format_args!(
                        "line {number}: unknown section {}; skipped",
                        shown(content)
                    ));
                }
            }
            _ if !in_gem => {}
            2 => in_specs = content == "specs:",
            4 if in_specs => gem_spec(content, number, &mut out),
            4 => {}
            n if n >= 6 => {}
            _ => out.warn(format_args!(
                "line {number}: unexpected indentation ({}); skipped",
                shown(content)
            )),
        }
    }
    if !saw_section {
        out.warn("no Bundler lockfile section (GEM, PATH, …); no gem read");
    }
    out.finish()
}

/// One `name (version[-platform])` line of `specs:`.
fn gem_spec(content: &str, number: usize, out: &mut Sink) {
    let parsed = content
        .split_once(" (")
        .and_then(|(name, rest)| Some((name, rest.strip_suffix(')')?)));
    let Some((name, version)) = parsed else {
        out.warn(format_args!(
            "line {number}: not a `name (version)` spec ({}); skipped",
            shown(content)
        ));
        return;
    };
    let version = version.split_once('-').map_or(version, |(v, _)| v);
    out.add(
        name,
        version,
        false,
        Vec::new(),
        format_args!("line {number}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        let s = |code: &str| ruby_string(code).map(|(v, _)| v);
        assert_eq!(s(r#" "rack".freeze"#).as_deref(), Some("rack"));
        assert_eq!(s("'rack'").as_deref(), Some("rack"));
        assert_eq!(s("%q{rack}").as_deref(), Some("rack"));
        assert_eq!(s("%q<rack>.freeze").as_deref(), Some("rack"));
        assert_eq!(s("%Q|rack|").as_deref(), Some("rack"));
        assert_eq!(s(r#"Gem::Version.new("1.0")"#).as_deref(), Some("1.0"));
        assert_eq!(s(r#""a#{b}""#), None);
        assert_eq!(s("Rack::VERSION"), None);
        assert_eq!(s(r#""unterminated"#), None);
    }
}
