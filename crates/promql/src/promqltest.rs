//! A runner for Prometheus' `promqltest` script format (`load`, `clear`, `eval …`
//! with `expect` lines), evaluating against a [`MemorySource`].
//!
//! Each `eval` statement counts once: passed, failed, or skipped. A statement is
//! skipped only when it needs a feature Prometheus gates as experimental or one we do
//! not implement by design: native histograms (`{{…}}` data or results), start
//! timestamps (`@st` series), `info()`, `fill` modifiers, `limitk`/`limit_ratio`,
//! type-and-unit labels, duration expressions (`step()`, `range()`) and experimental
//! functions. The decision is made from the statement's syntax and the data it
//! selects, never from whether it would fail.

use crate::engine::parse;
use crate::functions::is_experimental;
use crate::{format_value, Annotation, Engine, MemorySource, QueryResult, Value};
use postwatch_model::metrics::{stale_nan, LabelMatcher, Labels, MatchOp, Sample};
use promql_parser::parser::{self as ast, Expr};
use std::collections::BTreeMap;

/// The outcome of one script.
#[derive(Debug, Default, Clone)]
pub struct ScriptSummary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Failed statements: line number (1-based) and what differed.
    pub failures: Vec<(usize, String)>,
    /// Skipped statements: line number and the feature that caused the skip.
    pub skips: Vec<(usize, String)>,
}

#[derive(Debug, Clone, Default)]
struct Expect {
    fail: bool,
    fail_msg: Option<String>,
    fail_regex: Option<String>,
    warn: Vec<Option<Matcher>>,
    info: Vec<Option<Matcher>>,
    no_warn: bool,
    no_info: bool,
    ordered: bool,
    string: Option<String>,
    range_vector: Option<(i64, i64, i64)>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Regex(String),
}

impl Matcher {
    fn matches(&self, text: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == text,
            Matcher::Regex(r) => {
                regex::Regex::new(&format!("^(?:{r})$")).is_ok_and(|re| re.is_match(text))
            }
        }
    }
}

/// One expected series: labels and values (None = no sample) or a scalar.
#[derive(Debug, Clone)]
struct ExpectedSeries {
    labels: Option<Labels>,
    values: Vec<Option<f64>>,
    native: bool,
}

/// What makes a series off-limits for this runner.
#[derive(Debug, Clone)]
struct Flagged {
    labels: Labels,
    reason: &'static str,
}

struct Runner {
    engine: Engine,
    storage: MemorySource,
    flagged: Vec<Flagged>,
    summary: ScriptSummary,
}

/// Runs a promqltest script.
pub fn run_script(text: &str) -> ScriptSummary {
    let mut runner = Runner {
        engine: Engine::default(),
        storage: MemorySource::new(),
        flagged: Vec::new(),
        summary: ScriptSummary::default(),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = strip_comment(lines[i]).trim();
        if line.is_empty() {
            i += 1;
            continue;
        }
        let start = i;
        // A command's body: following lines up to a blank line or the next command.
        let mut body: Vec<(usize, &str)> = Vec::new();
        i += 1;
        while i < lines.len() {
            let raw = lines[i];
            let t = raw.trim();
            if t.is_empty() {
                break;
            }
            if is_command(t) {
                break;
            }
            if !t.starts_with('#') {
                body.push((i + 1, t));
            }
            i += 1;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        match word {
            "clear" => {
                runner.storage.clear();
                runner.flagged.clear();
            }
            "load" | "load_with_nhcb" => {
                if let Err(e) = runner.load(line, &body, word == "load_with_nhcb") {
                    // A broken load fails the statements that follow only through their results.
                    runner
                        .summary
                        .failures
                        .push((start + 1, format!("load: {e}")));
                }
            }
            w if w.starts_with("eval") => runner.eval(start + 1, line, &body),
            _ => {}
        }
    }
    // Failed loads are not statements; keep them as notes only.
    runner.summary
}

fn is_command(line: &str) -> bool {
    let w = line.split_whitespace().next().unwrap_or("");
    matches!(w, "load" | "load_with_nhcb" | "clear") || w.starts_with("eval")
}

fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        ""
    } else {
        line
    }
}

/// A promqltest time or duration: `50m`, `1h30m`, `0`, `10s53ms`, `-5m`, `1.5`.
fn parse_time(s: &str) -> Result<i64, String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let ms = match body.parse::<f64>() {
        Ok(secs) => (secs * 1000.0).round() as i64,
        Err(_) => {
            parse_duration_ms(body).ok_or_else(|| format!("invalid time or duration {s:?}"))?
        }
    };
    Ok(if neg { -ms } else { ms })
}

/// A Prometheus duration such as `1h30m`, `10s53ms` or `0m`, in milliseconds.
fn parse_duration_ms(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

/// Splits `metric{a="b"} rest` into the descriptor and the rest.
fn split_series(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut in_quote: Option<u8> = None;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(q) = in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == q {
                in_quote = None;
            }
            continue;
        }
        match b {
            b'"' | b'\'' | b'`' => in_quote = Some(b),
            b'}' => return (&line[..=i], &line[i + 1..]),
            b' ' | b'\t' | b'@' if !line[..i].contains('{') => return (&line[..i], &line[i..]),
            _ => {}
        }
    }
    (line, "")
}

fn parse_descriptor(desc: &str) -> Result<Labels, String> {
    let expr = ast::parse(desc).map_err(|e| format!("invalid series {desc:?}: {e}"))?;
    match expr {
        Expr::VectorSelector(vs) => {
            let mut pairs: Vec<(String, String)> = Vec::new();
            if let Some(name) = vs.name {
                pairs.push(("__name__".into(), name));
            }
            for m in vs.matchers.matchers {
                pairs.push((m.name, m.value));
            }
            Ok(Labels::from_pairs(pairs))
        }
        _ => Err(format!("invalid series {desc:?}")),
    }
}

fn parse_number(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "stale" => Some(stale_nan()),
        _ => s.parse::<f64>().ok(),
    }
}

/// Tokens of a values list; `{{…}}` histograms stay one token.
fn value_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Expands a values list (`1 2+3x4 _ _x2 stale Inf`); `None` marks a missing sample.
/// Returns whether native histograms appeared.
fn expand_values(s: &str) -> Result<(Vec<Option<f64>>, bool), String> {
    let mut out = Vec::new();
    let mut native = false;
    for tok in value_tokens(s) {
        if tok.contains("{{") {
            native = true;
            let times = tok
                .rsplit_once("}}x")
                .and_then(|(_, n)| n.parse::<usize>().ok())
                .map(|n| n + 1)
                .unwrap_or(1);
            out.extend(std::iter::repeat_n(None, times));
            continue;
        }
        if tok == "_" {
            out.push(None);
            continue;
        }
        let (base, times) = match tok.rsplit_once('x') {
            Some((b, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => (
                b,
                Some(n.parse::<usize>().map_err(|e| format!("{tok:?}: {e}"))?),
            ),
            _ => (tok.as_str(), None),
        };
        if base == "_" {
            out.extend(std::iter::repeat_n(None, times.unwrap_or(1)));
            continue;
        }
        // a+b or a-b: the operator after the first character, not after an exponent.
        let bytes = base.as_bytes();
        let split = (1..bytes.len()).find(|&i| {
            (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E')
        });
        let (start, delta) = match split {
            Some(i) if times.is_some() => {
                let a = parse_number(&base[..i]).ok_or_else(|| format!("invalid value {tok:?}"))?;
                let d =
                    parse_number(&base[i + 1..]).ok_or_else(|| format!("invalid value {tok:?}"))?;
                (a, if bytes[i] == b'-' { -d } else { d })
            }
            _ => (
                parse_number(base).ok_or_else(|| format!("invalid value {tok:?}"))?,
                0.0,
            ),
        };
        match times {
            None => out.push(Some(start)),
            Some(n) => {
                let mut v = start;
                for _ in 0..=n {
                    out.push(Some(v));
                    v += delta;
                }
            }
        }
    }
    Ok((out, native))
}

fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let eps = 1e-6;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

impl Runner {
    fn load(&mut self, line: &str, body: &[(usize, &str)], nhcb: bool) -> Result<(), String> {
        let interval = line
            .split_whitespace()
            .nth(1)
            .ok_or("load without interval")
            .and_then(|s| parse_time(s).map_err(|_| "invalid load interval"))?;
        for &(lineno, text) in body {
            let (desc, rest) = split_series(text);
            let (desc, start_timestamps) = match rest.strip_prefix("@st") {
                Some(r) => (desc, Some(r)),
                None => (desc, None),
            };
            let labels = parse_descriptor(desc).map_err(|e| format!("line {lineno}: {e}"))?;
            if start_timestamps.is_some() {
                self.flagged.push(Flagged {
                    labels,
                    reason: "start timestamps",
                });
                continue;
            }
            let (values, native) =
                expand_values(rest).map_err(|e| format!("line {lineno}: {e}"))?;
            if native {
                self.flagged.push(Flagged {
                    labels: labels.clone(),
                    reason: "native histograms",
                });
            }
            if nhcb {
                if let Some(base) = labels.metric_name().and_then(|n| n.strip_suffix("_bucket")) {
                    let mut nh = labels.clone();
                    nh.remove("le");
                    nh.set("__name__", base);
                    self.flagged.push(Flagged {
                        labels: nh,
                        reason: "native histograms (load_with_nhcb)",
                    });
                }
            }
            let samples: Vec<Sample> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    v.map(|value| Sample {
                        timestamp_ms: i as i64 * interval,
                        value,
                    })
                })
                .collect();
            self.storage.add(labels, samples);
        }
        Ok(())
    }

    /// Why a statement must be skipped, if it must.
    fn skip_reason(
        &self,
        query: &str,
        expected: &[(usize, &str)],
        parsed: &Result<Expr, String>,
    ) -> Option<String> {
        if expected.iter().any(|(_, t)| t.contains("{{")) {
            return Some("native histogram result".into());
        }
        match parsed {
            Err(_) => experimental_syntax(query),
            Ok(expr) => {
                let mut reason = None;
                walk(expr, &mut |e| {
                    if reason.is_some() {
                        return;
                    }
                    match e {
                        Expr::Call(c) if c.func.experimental || is_experimental(c.func.name) => {
                            reason = Some(format!("experimental function {}()", c.func.name));
                        }
                        Expr::Call(c)
                            if c.func.name.starts_with("histogram_")
                                && !matches!(
                                    c.func.name,
                                    "histogram_quantile" | "histogram_fraction"
                                ) =>
                        {
                            reason = Some(format!("native histogram function {}()", c.func.name));
                        }
                        Expr::Aggregate(a)
                            if matches!(a.op.to_string().as_str(), "limitk" | "limit_ratio") =>
                        {
                            reason = Some(format!("experimental aggregation {}", a.op));
                        }
                        Expr::Binary(b)
                            if b.modifier.as_ref().is_some_and(|m| {
                                m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some()
                            }) =>
                        {
                            reason = Some("fill modifier".into());
                        }
                        Expr::VectorSelector(vs) => reason = self.flagged_selector(vs),
                        Expr::MatrixSelector(ms) => reason = self.flagged_selector(&ms.vs),
                        _ => {}
                    }
                });
                reason
            }
        }
    }

    fn flagged_selector(&self, vs: &ast::VectorSelector) -> Option<String> {
        if vs
            .matchers
            .matchers
            .iter()
            .any(|m| m.name == "__type__" || m.name == "__unit__")
        {
            return Some("type-and-unit labels".into());
        }
        let mut matchers: Vec<LabelMatcher> = Vec::new();
        if let Some(name) = &vs.name {
            matchers.push(LabelMatcher::equal("__name__", name.clone()));
        }
        for m in &vs.matchers.matchers {
            let op = match m.op {
                promql_parser::label::MatchOp::Equal => MatchOp::Equal,
                promql_parser::label::MatchOp::NotEqual => MatchOp::NotEqual,
                promql_parser::label::MatchOp::Re(_) => MatchOp::RegexMatch,
                promql_parser::label::MatchOp::NotRe(_) => MatchOp::RegexNoMatch,
            };
            matchers.push(LabelMatcher::new(m.name.clone(), op, m.value.clone()).ok()?);
        }
        self.flagged
            .iter()
            .find(|f| matchers.iter().all(|m| m.matches_labels(&f.labels)))
            .map(|f| format!("{} ({})", f.reason, f.labels))
    }

    fn eval(&mut self, lineno: usize, line: &str, body: &[(usize, &str)]) {
        match self.eval_statement(line, body) {
            Outcome::Pass => self.summary.passed += 1,
            Outcome::Skip(reason) => {
                self.summary.skipped += 1;
                self.summary.skips.push((lineno, reason));
            }
            Outcome::Fail(why) => {
                self.summary.failed += 1;
                self.summary.failures.push((lineno, why));
            }
        }
    }

    fn eval_statement(&mut self, line: &str, body: &[(usize, &str)]) -> Outcome {
        let mut words = line.splitn(2, char::is_whitespace);
        let cmd = words.next().unwrap_or("");
        let rest = words.next().unwrap_or("").trim();
        let mut expect = Expect::default();
        match cmd {
            "eval" => {}
            "eval_fail" => expect.fail = true,
            "eval_warn" => expect.warn.push(None),
            "eval_info" => expect.info.push(None),
            "eval_ordered" => expect.ordered = true,
            other => return Outcome::Fail(format!("unknown command {other:?}")),
        }
        // instant at T Q | range from A to B step S Q
        let (range, query) = if let Some(r) = rest.strip_prefix("instant") {
            let r = r.trim_start();
            let Some(r) = r.strip_prefix("at") else {
                return Outcome::Fail(format!("invalid eval line {line:?}"));
            };
            let r = r.trim_start();
            let (t, q) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
            match parse_time(t) {
                Ok(t) => ((t, t, 0), q.trim()),
                Err(e) => return Outcome::Fail(e),
            }
        } else if let Some(r) = rest.strip_prefix("range") {
            let parts: Vec<&str> = r.split_whitespace().collect();
            if parts.len() < 7 || parts[0] != "from" || parts[2] != "to" || parts[4] != "step" {
                return Outcome::Fail(format!("invalid eval line {line:?}"));
            }
            let (a, b, s) = match (
                parse_time(parts[1]),
                parse_time(parts[3]),
                parse_time(parts[5]),
            ) {
                (Ok(a), Ok(b), Ok(s)) => (a, b, s),
                _ => return Outcome::Fail(format!("invalid times in {line:?}")),
            };
            // The query is the remainder after the step word.
            let after_step = r
                .splitn(7, char::is_whitespace)
                .filter(|w| !w.is_empty())
                .count();
            let _ = after_step;
            let q = nth_rest(r, 6);
            ((a, b, s), q)
        } else {
            return Outcome::Fail(format!("invalid eval line {line:?}"));
        };
        let mut expected: Vec<(usize, &str)> = Vec::new();
        for &(n, t) in body {
            if let Some(e) = t.strip_prefix("expect ") {
                if let Err(err) = parse_expect(e.trim(), &mut expect) {
                    return Outcome::Fail(err);
                }
            } else if let Some(m) = t.strip_prefix("expected_fail_message ") {
                expect.fail = true;
                expect.fail_msg = Some(m.trim().to_string());
            } else if let Some(m) = t.strip_prefix("expected_fail_regexp ") {
                expect.fail = true;
                expect.fail_regex = Some(m.trim().to_string());
            } else {
                expected.push((n, t));
            }
        }
        let parsed = parse(query).map_err(|e| e.message);
        if let Some(reason) = self.skip_reason(query, &expected, &parsed) {
            return Outcome::Skip(reason);
        }
        let (start, end, step) = range;
        let result = if step == 0 {
            self.engine
                .instant_query_annotated(&self.storage, query, start)
        } else {
            self.engine
                .range_query_annotated(&self.storage, query, start, end, step)
        };
        let result = match result {
            Err(e) => {
                if !expect.fail {
                    return Outcome::Fail(format!("unexpected error: {}", e.message));
                }
                if let Some(m) = &expect.fail_msg {
                    if &e.message != m {
                        return Outcome::Fail(format!("expected error {m:?}, got {:?}", e.message));
                    }
                }
                if let Some(r) = &expect.fail_regex {
                    if !Matcher::Regex(r.clone()).matches(&e.message)
                        && !regex::Regex::new(r).is_ok_and(|re| re.is_match(&e.message))
                    {
                        return Outcome::Fail(format!(
                            "expected error matching {r:?}, got {:?}",
                            e.message
                        ));
                    }
                }
                return Outcome::Pass;
            }
            Ok(r) => r,
        };
        if expect.fail {
            return Outcome::Fail("expected an error, query succeeded".into());
        }
        if let Err(e) = check_annotations(&expect, &result) {
            return Outcome::Fail(e);
        }
        match compare(&expect, &expected, &result.value, range) {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        }
    }
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// The text after the first `n` whitespace-separated words.
fn nth_rest(s: &str, n: usize) -> &str {
    let mut rest = s.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest
}

fn parse_expect(e: &str, expect: &mut Expect) -> Result<(), String> {
    let (kind, rest) = e.split_once(char::is_whitespace).unwrap_or((e, ""));
    let rest = rest.trim();
    let matcher = || -> Result<Option<Matcher>, String> {
        if rest.is_empty() {
            return Ok(None);
        }
        if let Some(m) = rest.strip_prefix("msg:") {
            return Ok(Some(Matcher::Exact(unquote_expect(m.trim()))));
        }
        if let Some(m) = rest.strip_prefix("regex:") {
            return Ok(Some(Matcher::Regex(unquote_expect(m.trim()))));
        }
        Err(format!("invalid expect line {e:?}"))
    };
    match kind {
        "fail" => {
            expect.fail = true;
            match matcher()? {
                Some(Matcher::Exact(m)) => expect.fail_msg = Some(m),
                Some(Matcher::Regex(r)) => expect.fail_regex = Some(r),
                None => {}
            }
        }
        "warn" => expect.warn.push(matcher()?),
        "info" => expect.info.push(matcher()?),
        "no_warn" => expect.no_warn = true,
        "no_info" => expect.no_info = true,
        "ordered" => expect.ordered = true,
        "string" => {
            let s = rest;
            let unq = if s.len() >= 2
                && ((s.starts_with('"') && s.ends_with('"'))
                    || (s.starts_with('`') && s.ends_with('`')))
            {
                if s.starts_with('`') {
                    s[1..s.len() - 1].to_string()
                } else {
                    promql_parser::util::unquote_string(s)
                        .unwrap_or_else(|_| s[1..s.len() - 1].to_string())
                }
            } else {
                s.to_string()
            };
            expect.string = Some(unq);
        }
        "range" => {
            // range vector from A to B step C
            let p: Vec<&str> = rest.split_whitespace().collect();
            if p.len() != 7 || p[0] != "vector" || p[1] != "from" || p[3] != "to" || p[5] != "step"
            {
                return Err(format!("invalid expect line {e:?}"));
            }
            let a = parse_time(p[2])?;
            let b = parse_time(p[4])?;
            let s = parse_time(p[6])?;
            expect.range_vector = Some((a, b, s));
        }
        other => return Err(format!("unknown expectation {other:?}")),
    }
    Ok(())
}

/// Strips optional surrounding double quotes from an `expect … msg:` text.
fn unquote_expect(s: &str) -> String {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

fn check_annotations(expect: &Expect, result: &QueryResult) -> Result<(), String> {
    let warnings: Vec<&str> = result
        .annotations
        .iter()
        .filter_map(|a| match a {
            Annotation::Warning(m) => Some(m.as_str()),
            _ => None,
        })
        .collect();
    let infos: Vec<&str> = result
        .annotations
        .iter()
        .filter_map(|a| match a {
            Annotation::Info(m) => Some(m.as_str()),
            _ => None,
        })
        .collect();
    for (kind, wanted, got, none) in [
        ("warn", &expect.warn, &warnings, expect.no_warn),
        ("info", &expect.info, &infos, expect.no_info),
    ] {
        if none && !got.is_empty() {
            return Err(format!("expected no {kind} annotations, got {got:?}"));
        }
        for w in wanted {
            let ok = match w {
                None => !got.is_empty(),
                Some(m) => got.iter().any(|g| m.matches(g)),
            };
            if !ok {
                return Err(format!("expected {kind} annotation {w:?}, got {got:?}"));
            }
        }
        // With message expectations, every annotation of the kind must be expected.
        if wanted.iter().any(Option::is_some) && !wanted.iter().any(Option::is_none) {
            for g in got {
                if !wanted.iter().flatten().any(|m| m.matches(g)) {
                    return Err(format!("unexpected {kind} annotation {g:?}"));
                }
            }
        }
    }
    Ok(())
}

fn parse_expected(expected: &[(usize, &str)]) -> Result<Vec<ExpectedSeries>, String> {
    let mut out = Vec::new();
    for &(n, t) in expected {
        let first = t.split_whitespace().next().unwrap_or("");
        if parse_number(first).is_some() && !t.starts_with('{') {
            let (values, native) = expand_values(t).map_err(|e| format!("line {n}: {e}"))?;
            out.push(ExpectedSeries {
                labels: None,
                values,
                native,
            });
            continue;
        }
        let (desc, rest) = split_series(t);
        let labels = if desc.trim() == "{}" {
            Labels::default()
        } else {
            parse_descriptor(desc).map_err(|e| format!("line {n}: {e}"))?
        };
        let (values, native) = expand_values(rest).map_err(|e| format!("line {n}: {e}"))?;
        out.push(ExpectedSeries {
            labels: Some(labels),
            values,
            native,
        });
    }
    Ok(out)
}

fn same(a: f64, b: f64) -> bool {
    almost_equal(a, b)
}

fn compare(
    expect: &Expect,
    expected: &[(usize, &str)],
    got: &Value,
    range: (i64, i64, i64),
) -> Result<(), String> {
    let exp = parse_expected(expected)?;
    if exp.iter().any(|e| e.native) {
        return Err("native histogram expectations are not supported".into());
    }
    match got {
        Value::String(s) => match &expect.string {
            Some(want) if want == s => Ok(()),
            Some(want) => Err(format!("expected string {want:?}, got {s:?}")),
            None => Err(format!("got string {s:?}, no expectation")),
        },
        Value::Scalar(v) => {
            if let Some(want) = &expect.string {
                return Err(format!(
                    "expected string {want:?}, got scalar {}",
                    format_value(*v)
                ));
            }
            match exp.as_slice() {
                [e] if e.labels.is_none() && e.values.len() == 1 => match e.values[0] {
                    Some(w) if same(w, *v) => Ok(()),
                    w => Err(format!("expected scalar {w:?}, got {}", format_value(*v))),
                },
                _ => Err(format!(
                    "got scalar {}, expected {} lines",
                    format_value(*v),
                    exp.len()
                )),
            }
        }
        Value::Vector(samples) => {
            if exp.len() != samples.len() {
                return Err(format!(
                    "expected {} samples, got {}: {}",
                    exp.len(),
                    samples.len(),
                    samples
                        .iter()
                        .map(|(l, v)| format!("{l} {}", format_value(*v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (pos, e) in exp.iter().enumerate() {
                let Some(labels) = &e.labels else {
                    return Err("expected a scalar, got a vector".into());
                };
                let want = e.values.first().copied().flatten();
                let found = samples.iter().position(|(l, _)| l == labels);
                match found {
                    None => return Err(format!("expected series {labels} not found in result")),
                    Some(i) => {
                        let v = samples[i].1;
                        if !want.is_some_and(|w| same(w, v)) {
                            return Err(format!(
                                "{labels}: expected {}, got {}",
                                want.map(format_value).unwrap_or("_".into()),
                                format_value(v)
                            ));
                        }
                        if expect.ordered && i != pos {
                            return Err(format!("{labels}: expected at position {pos}, got {i}"));
                        }
                    }
                }
            }
            Ok(())
        }
        Value::Matrix(series) => {
            let (start, _, step) = match expect.range_vector {
                Some(r) => r,
                None if range.2 == 0 => {
                    return Err("got a range vector without `expect range vector`".into())
                }
                None => range,
            };
            let mut want: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
            for e in &exp {
                let labels = e.labels.clone().unwrap_or_default();
                let points = e
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (start + i as i64 * step, v)))
                    .collect::<Vec<_>>();
                want.insert(labels, points);
            }
            let want: BTreeMap<Labels, Vec<(i64, f64)>> =
                want.into_iter().filter(|(_, p)| !p.is_empty()).collect();
            if want.len() != series.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    want.len(),
                    series.len(),
                    series
                        .iter()
                        .map(|s| s.labels.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for s in series {
                let Some(points) = want.get(&s.labels) else {
                    return Err(format!("unexpected series {}", s.labels));
                };
                let ok = points.len() == s.samples.len()
                    && points
                        .iter()
                        .zip(&s.samples)
                        .all(|(p, g)| p.0 == g.timestamp_ms && same(p.1, g.value));
                if !ok {
                    return Err(format!(
                        "{}: expected {}, got {}",
                        s.labels,
                        points
                            .iter()
                            .map(|p| format!("{}@{}", format_value(p.1), p.0))
                            .collect::<Vec<_>>()
                            .join(" "),
                        s.samples
                            .iter()
                            .map(|p| format!("{}@{}", format_value(p.value), p.timestamp_ms))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Whether unparseable query text uses experimental syntax.
fn experimental_syntax(query: &str) -> Option<String> {
    let checks: [(&str, &str); 7] = [
        (r"\binfo\s*\(", "info()"),
        (r"\bfill(_left|_right)?\s*\(", "fill modifier"),
        (r"\b(step|range)\s*\(\s*\)", "duration expressions"),
        (r"\b(anchored|smoothed)\b", "anchored/smoothed selectors"),
        (r"\b(limitk|limit_ratio)\b", "limitk/limit_ratio"),
        (r"__type__|__unit__", "type-and-unit labels"),
        (
            r"\[[^\]:]*[-+*/%^][^\]]*\]|\boffset\s*\(|\boffset\s+-?\s*\d+[a-z]*\s*[-+*/]",
            "duration expressions",
        ),
    ];
    checks.iter().find_map(|(re, what)| {
        regex::Regex::new(re)
            .ok()
            .filter(|re| re.is_match(query))
            .map(|_| format!("experimental syntax: {what}"))
    })
}

/// Visits every node of an expression.
fn walk(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, f);
            }
            walk(&a.expr, f);
        }
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, f);
            }
        }
        _ => {}
    }
}
