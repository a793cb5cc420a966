//! `/proc/meminfo` → `node_memory_*` (node_exporter's naming: `Active(anon)` becomes
//! `Active_anon`; a value with a unit is kB, scaled to bytes, and gets `_bytes`).

/// One meminfo field under its metric name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MemField {
    pub(crate) metric_name: String,
    pub(crate) value: f64,
}

/// Parses `/proc/meminfo` into `out` (cleared first); returns the lines that did not
/// parse. A field seen twice keeps its first value.
pub(crate) fn parse_meminfo(text: &str, out: &mut Vec<MemField>) -> Vec<String> {
    out.clear();
    let mut malformed = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(field) => {
                if !out.iter().any(|f| f.metric_name == field.metric_name) {
                    out.push(field);
                }
            }
            None => malformed.push(line.to_string()),
        }
    }
    malformed
}

fn parse_line(line: &str) -> Option<MemField> {
    let (key, rest) = line.split_once(':')?;
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    let mut parts = rest.split_ascii_whitespace();
    let value = parts.next()?.parse::<u64>().ok()? as f64;
    let unit = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let mut metric_name = String::with_capacity("node_memory__bytes".len() + key.len());
    metric_name.push_str("node_memory_");
    for c in key.chars() {
        match c {
            '(' => metric_name.push('_'),
            ')' => {}
            c if c.is_ascii_alphanumeric() || c == '_' => metric_name.push(c),
            _ => metric_name.push('_'),
        }
    }
    // node_exporter presumes any unit is kB.
    let value = match unit {
        Some(_) => {
            metric_name.push_str("_bytes");
            value * 1024.0
        }
        None => value,
    };
    Some(MemField { metric_name, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_meminfo() {
        let text = include_str!("../../../testdata/hostmetrics/proc/meminfo");
        let mut fields = Vec::new();
        let malformed = parse_meminfo(text, &mut fields);
        assert!(malformed.is_empty(), "{malformed:?}");
        assert_eq!(fields.len(), text.lines().count());
        let get = |name: &str| {
            fields
                .iter()
                .find(|f| f.metric_name == name)
                .map(|f| f.value)
        };
        assert_eq!(get("node_memory_MemTotal_bytes"), Some(24684084.0 * 1024.0));
        assert!(get("node_memory_Active_anon_bytes").is_some());
        assert!(
            get("node_memory_HugePages_Total").is_some(),
            "no unit, no _bytes"
        );
        assert!(get("node_memory_Hugepagesize_bytes").is_some());
    }

    #[test]
    fn odd_lines_are_skipped_and_reported() {
        let text = "MemTotal: 10 kB\nTruncated:\nWeird(x y): 3 kB\nTooMany: 1 kB extra\n\
                    NoColon 5\nMemTotal: 99 kB\n\nNewField: 7\n";
        let mut fields = Vec::new();
        let malformed = parse_meminfo(text, &mut fields);
        let names: Vec<&str> = fields.iter().map(|f| f.metric_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_memory_MemTotal_bytes",
                "node_memory_Weird_x_y_bytes",
                "node_memory_NewField"
            ]
        );
        assert_eq!(fields[0].value, 10240.0);
        assert_eq!(
            malformed,
            ["Truncated:", "TooMany: 1 kB extra", "NoColon 5"]
        );
    }
}
