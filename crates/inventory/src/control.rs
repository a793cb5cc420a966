//! Debian control-file stanzas (`Field: value`, continuation lines, blank-line
//! separated): the syntax of dpkg's `status` and of each `status.d/` file.

/// One stanza: fields in file order, with the line it started on.
#[derive(Debug, Default)]
pub struct Stanza {
    pub line: usize,
    pub fields: Vec<(String, String)>,
}

impl Stanza {
    /// Field lookup; names compare case-insensitively as in deb822.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits text into stanzas. Lines that are neither `Field: value` nor a
/// continuation are reported (1-based line numbers) and skipped.
pub fn parse(text: &str, mut bad_line: impl FnMut(usize, &str)) -> Vec<Stanza> {
    let mut stanzas = Vec::new();
    let mut current = Stanza::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match current.fields.last_mut() {
                Some((_, value)) => {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                None => bad_line(number, "continuation line outside a field"),
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(' ') => {
                if current.fields.is_empty() {
                    current.line = number;
                }
                current
                    .fields
                    .push((name.to_owned(), value.trim().to_owned()));
            }
            _ => bad_line(number, "not a 'Field: value' line"),
        }
    }
    if !current.fields.is_empty() {
        stanzas.push(current);
    }
    stanzas
}
