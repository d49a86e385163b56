//! The trace file format: one conformance case per `*.trace` file.
//!
//! # Format
//! ```text
//! # Lines starting with '#' are comments; blank lines separate steps (ignored).
//! rule: profile.md §1 — VersionNegotiation: accept 3 or more bytes, read the first 3
//! kind: codec
//!
//! decode: payload VersionNegotiation
//! base64: AQAAAgAA
//! expect: VersionNegotiation(ProtocolVersion { major: 1, minor: 0, patch: 0 })
//! reencode-base64: AQAA
//! ```
//! Every other line is `key: value`. A value `<<TAG` starts a block that runs up to a line
//! holding exactly `TAG` (for multi-line JSON). `rule` and `kind` are required: `rule`
//! names the profile section or `docs/protocol.md` decision the case checks; `kind` picks
//! the runner (`codec` today; session traces of `C->P` / `P->C` lines will add `session`).
//! The entries after the header are handed, in order, to the kind's runner.

/// One `key: value` entry, with the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key (before the first `:`).
    pub key: String,
    /// The value, trimmed (a block's lines joined with `\n`).
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// A parsed case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The rule it checks.
    pub rule: String,
    /// Which runner replays it.
    pub kind: String,
    /// The entries after `rule` and `kind`, in order.
    pub entries: Vec<Entry>,
}

/// Parses a trace file's text.
pub fn parse(text: &str) -> Result<Case, String> {
    let mut rule = None;
    let mut kind = None;
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            return Err(format!("line {}: expected `key: value`", i + 1));
        };
        let key = key.trim().to_owned();
        let mut value = value.trim().to_owned();
        if let Some(tag) = value.strip_prefix("<<") {
            let tag = tag.trim().to_owned();
            let mut block = Vec::new();
            loop {
                match lines.next() {
                    Some((_, l)) if l.trim() == tag => break,
                    Some((_, l)) => block.push(l),
                    None => return Err(format!("line {}: block `{tag}` never closed", i + 1)),
                }
            }
            value = block.join("\n");
        }
        match key.as_str() {
            "rule" => rule = Some(value),
            "kind" => kind = Some(value),
            _ => entries.push(Entry {
                key,
                value,
                line: i + 1,
            }),
        }
    }
    Ok(Case {
        rule: rule.ok_or("missing `rule:`")?,
        kind: kind.ok_or("missing `kind:`")?,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_entries_and_blocks() {
        let c = parse("# c\nrule: r\nkind: codec\n\ndecode: json-envelope\njson: <<END\n{\n}\nEND\nexpect-error: 400\n").unwrap();
        assert_eq!(c.rule, "r");
        assert_eq!(c.kind, "codec");
        assert_eq!(c.entries.len(), 3);
        assert_eq!(c.entries[1].value, "{\n}");
        assert_eq!(c.entries[2].line, 10);
        assert!(parse("kind: codec\n").is_err());
        assert!(parse("rule: r\nkind: codec\njson: <<X\n{").is_err());
    }
}
