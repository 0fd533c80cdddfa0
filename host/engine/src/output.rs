//! Rule outputs: `%field` and `%(field)` templates compiled once, rendered per alert with
//! Falco's conventions (`<NA>` for a missing value).

use crate::eval::Operand;
use lanner_event::{Event, OutputField};
use std::fmt::Write;

/// A compiled output template.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutputFormat {
    segments: Vec<Segment>,
    /// The fields in order of first appearance, as written.
    pub fields: Vec<String>,
}

#[derive(Debug, Clone)]
enum Segment {
    Text(String),
    Field { name: String, operand: Operand },
}

/// A token of a template: literal text or a field as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Text(String),
    Field(String),
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Splits a template into text and field names.
pub(crate) fn tokenize(template: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        text.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            // `%(field[arg])`: the argument may itself hold no ')'.
            flush(&mut text, &mut out);
            out.push(Token::Field(inner[..end].trim().to_string()));
            rest = &inner[end + 1..];
            continue;
        }
        let mut len = after.find(|c: char| !is_field_char(c)).unwrap_or(after.len());
        while len > 0 && after[..len].ends_with('.') {
            len -= 1;
        }
        if len == 0 {
            text.push('%');
            rest = after;
            continue;
        }
        let mut end = len;
        if after[len..].starts_with('[')
            && let Some(close) = after[len..].find(']')
        {
            end = len + close + 1;
        }
        flush(&mut text, &mut out);
        out.push(Token::Field(after[..end].to_string()));
        rest = &after[end..];
    }
    text.push_str(rest);
    flush(&mut text, &mut out);
    out
}

fn flush(text: &mut String, out: &mut Vec<Token>) {
    if !text.is_empty() {
        out.push(Token::Text(std::mem::take(text)));
    }
}

impl OutputFormat {
    /// Builds a template from tokens whose fields have been resolved, in order.
    pub fn new(tokens: Vec<Token>, mut operands: impl FnMut(&str) -> Operand) -> Self {
        let mut fmt = OutputFormat::default();
        for t in tokens {
            match t {
                Token::Text(s) => fmt.segments.push(Segment::Text(s)),
                Token::Field(name) => {
                    if !fmt.fields.contains(&name) {
                        fmt.fields.push(name.clone());
                    }
                    let operand = operands(&name);
                    fmt.segments.push(Segment::Field { name, operand });
                }
            }
        }
        fmt
    }

    /// Every field the template reads.
    pub fn field_refs(&self) -> impl Iterator<Item = &lanner_event::FieldRef> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field { operand, .. } => Some(&operand.field),
            Segment::Text(_) => None,
        })
    }

    /// Renders the output text and the values of its fields.
    pub fn render<E: Event + ?Sized>(&self, ev: &E) -> (String, Vec<OutputField>) {
        let mut text = String::with_capacity(256);
        let mut fields: Vec<OutputField> = Vec::with_capacity(self.fields.len());
        for seg in &self.segments {
            match seg {
                Segment::Text(s) => text.push_str(s),
                Segment::Field { name, operand } => {
                    let value = operand.extract(ev).map(|v| v.into_owned());
                    match &value {
                        Some(v) => {
                            let _ = write!(text, "{v}");
                        }
                        None => text.push_str("<NA>"),
                    }
                    if !fields.iter().any(|f| &f.name == name) {
                        fields.push(OutputField { name: name.clone(), value });
                    }
                }
            }
        }
        (text, fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = tokenize("file=%fd.name gp=%proc.aname[2] x=%(evt.arg.flags)! 100% done. end %proc.name.");
        assert_eq!(
            t,
            vec![
                Token::Text("file=".into()),
                Token::Field("fd.name".into()),
                Token::Text(" gp=".into()),
                Token::Field("proc.aname[2]".into()),
                Token::Text(" x=".into()),
                Token::Field("evt.arg.flags".into()),
                Token::Text("! 100% done. end ".into()),
                Token::Field("proc.name".into()),
                Token::Text(".".into()),
            ]
        );
    }
}
