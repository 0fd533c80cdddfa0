//! Rule outputs: `%field` and `%(field)` templates compiled once, rendered per alert with
//! Falco's conventions (`<NA>` for a missing value).

use crate::ast::Transformer;
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
    /// `key` is the name the value is reported under; for `%tolower(proc.name)` it is the
    /// inner field, whose untransformed value is reported, as Falco's formatter does.
    Field {
        key: String,
        operand: Operand,
    },
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
        let word = after.find(|c: char| !is_field_char(c)).unwrap_or(after.len());
        if after[word..].starts_with('(') && Transformer::from_name(&after[..word]).is_some() {
            // `%tolower(proc.name)`, possibly nested: up to the matching ')'. An unbalanced
            // one takes the rest, so that compiling it fails with the whole token named.
            let mut depth = 0usize;
            let mut end = after.len();
            for (i, c) in after[word..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = word + i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            flush(&mut text, &mut out);
            out.push(Token::Field(after[..end].to_string()));
            rest = &after[end..];
            continue;
        }
        let mut len = word;
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
    /// Builds a template from tokens whose fields have been resolved, in order: `operands`
    /// gives a field token's operand and the key its value is reported under.
    pub fn new(tokens: Vec<Token>, mut operands: impl FnMut(&str) -> (Operand, String)) -> Self {
        let mut fmt = OutputFormat::default();
        for t in tokens {
            match t {
                Token::Text(s) => fmt.segments.push(Segment::Text(s)),
                Token::Field(name) => {
                    let (operand, key) = operands(&name);
                    if !fmt.fields.contains(&key) {
                        fmt.fields.push(key.clone());
                    }
                    fmt.segments.push(Segment::Field { key, operand });
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
                Segment::Field { key, operand } => {
                    let shown = operand.extract(ev);
                    match &shown {
                        Some(v) => {
                            let _ = write!(text, "{v}");
                        }
                        None => text.push_str("<NA>"),
                    }
                    if !fields.iter().any(|f| &f.name == key) {
                        let value = if operand.transformers.is_empty() {
                            shown.map(|v| v.into_owned())
                        } else {
                            operand.raw(ev).map(|v| v.into_owned())
                        };
                        fields.push(OutputField { name: key.clone(), value });
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

    #[test]
    fn transformer_tokens_run_to_the_matching_paren() {
        let t = tokenize("a %toupper( tolower(proc.name) )) b %len(proc.args)%basename(fd.name");
        assert_eq!(
            t,
            vec![
                Token::Text("a ".into()),
                Token::Field("toupper( tolower(proc.name) )".into()),
                Token::Text(") b ".into()),
                Token::Field("len(proc.args)".into()),
                Token::Field("basename(fd.name".into()),
            ]
        );
        // A field whose class happens to be a transformer name is still a field.
        assert_eq!(tokenize("%len.x"), vec![Token::Field("len.x".into())]);
    }
}
