//! Source positions of function and aggregation arguments, for annotation messages
//! (`… (1:25)`), which Prometheus ends with the line and column of the argument the
//! annotation is about. The parser keeps no positions, so they are recovered from
//! the query text: the k-th call of a name in the AST's pre-order is the k-th
//! `name(` in the text.

use promql_parser::parser::Expr;
use std::collections::HashMap;

/// Argument start offsets per AST node (keyed by the node's address).
#[derive(Debug, Default)]
pub(crate) struct Positions {
    args: HashMap<usize, Vec<(usize, usize)>>,
}

impl Positions {
    pub fn new(query: &str, expr: &Expr) -> Self {
        let calls = call_sites(query);
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut args = HashMap::new();
        visit(expr, &mut |node, name| {
            let k = seen.entry(name.to_string()).or_insert(0);
            if let Some(offsets) = calls.get(name).and_then(|v| v.get(*k)) {
                args.insert(node, offsets.iter().map(|&o| line_col(query, o)).collect());
            }
            *k += 1;
        });
        Positions { args }
    }

    /// ` (line:col)` of argument `index` of the node at `node`, or "" when unknown.
    pub fn suffix(&self, node: usize, index: usize) -> String {
        self.args
            .get(&node)
            .and_then(|v| v.get(index))
            .map(|(l, c)| format!(" ({l}:{c})"))
            .unwrap_or_default()
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|p| offset - p).unwrap_or(offset + 1);
    (line, col)
}

fn visit(expr: &Expr, f: &mut dyn FnMut(usize, &str)) {
    match expr {
        Expr::Aggregate(a) => {
            f(a as *const _ as usize, &a.op.to_string());
            if let Some(p) = &a.param {
                visit(p, f);
            }
            visit(&a.expr, f);
        }
        Expr::Call(c) => {
            f(c as *const _ as usize, c.func.name);
            for a in &c.args.args {
                visit(a, f);
            }
        }
        Expr::Unary(u) => visit(&u.expr, f),
        Expr::Binary(b) => {
            visit(&b.lhs, f);
            visit(&b.rhs, f);
        }
        Expr::Paren(p) => visit(&p.expr, f),
        Expr::Subquery(s) => visit(&s.expr, f),
        _ => {}
    }
}

/// For each identifier that opens an argument list (optionally after a
/// `by (…)`/`without (…)` clause), the byte offsets where its arguments start.
fn call_sites(text: &str) -> HashMap<String, Vec<Vec<usize>>> {
    let b = text.as_bytes();
    let mut out: HashMap<String, Vec<Vec<usize>>> = HashMap::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(b, i);
            continue;
        }
        if c == b'{' {
            // Label matchers hold no calls.
            while i < b.len() && b[i] != b'}' {
                if matches!(b[i], b'"' | b'\'' | b'`') {
                    i = skip_string(b, i);
                } else {
                    i += 1;
                }
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let name = &text[start..i];
            let mut j = skip_ws(b, i);
            // `sum by (x) (…)`
            for kw in ["by", "without"] {
                if text[j..].starts_with(kw)
                    && !b
                        .get(j + kw.len())
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    let k = skip_ws(b, j + kw.len());
                    if b.get(k) == Some(&b'(') {
                        j = skip_ws(b, skip_group(b, k));
                    }
                }
            }
            if b.get(j) == Some(&b'(') {
                out.entry(name.to_string())
                    .or_default()
                    .push(arg_starts(b, j));
            }
            continue;
        }
        i += 1;
    }
    out
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn skip_string(b: &[u8], start: usize) -> usize {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' && q != b'`' {
            i += 2;
            continue;
        }
        if b[i] == q {
            return i + 1;
        }
        i += 1;
    }
    i
}

/// The index after the group opened at `open`.
fn skip_group(b: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn arg_starts(b: &[u8], open: usize) -> Vec<usize> {
    let mut starts = vec![skip_ws(b, open + 1)];
    let mut depth = 0;
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            b',' if depth == 0 => starts.push(skip_ws(b, i + 1)),
            _ => {}
        }
        i += 1;
    }
    starts
}
