//! A YAML tree that remembers where every node came from, so that every diagnostic can name
//! the file, line and column of the item it is about. Built on yaml-rust2's event parser.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a source file: 1-based line and column, 0-based byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// Byte offset, from 0.
    pub offset: usize,
}

impl Pos {
    fn from_marker(m: &Marker) -> Self {
        Pos { line: m.line(), column: m.col() + 1, offset: m.index() }
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What it holds.
    pub kind: Kind,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A scalar: its text, and whether it was written plain (unquoted, so `~`, `null` and
    /// nothing mean null).
    Scalar {
        /// The text.
        text: String,
        /// Whether it was written without quotes or block markers.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar's text, when this node is a non-null scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    /// Whether the node is null (`~`, `null` or nothing, unquoted).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if text.is_empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
    }

    /// The value of a mapping's key, when this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A boolean scalar, YAML 1.1 and 1.2 spellings.
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_str()? {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "on" | "On" => Some(true),
            "false" | "False" | "FALSE" | "no" | "No" | "off" | "Off" => Some(false),
            _ => None,
        }
    }

    /// A short name of the node's kind for error messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } if self.is_null() => "null",
            Kind::Scalar { .. } => "scalar",
            Kind::Seq(_) => "sequence",
            Kind::Map(_) => "mapping",
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {}, column {}", pos.line, pos.column)]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub pos: Pos,
}

/// Parses every document of a YAML stream (documents separated by `---`).
pub fn parse(source: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder { source, ..Builder::default() };
    let mut parser = Parser::new_from_str(source);
    parser
        .load(&mut builder, true)
        .map_err(|e| YamlError { message: e.info().to_string(), pos: Pos::from_marker(e.marker()) })?;
    if let Some(message) = builder.error {
        return Err(YamlError { message, pos: builder.error_pos });
    }
    Ok(builder.docs)
}

enum Open {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder<'s> {
    source: &'s str,
    stack: Vec<Open>,
    docs: Vec<Node>,
    anchors: Vec<(usize, Node)>,
    error: Option<String>,
    error_pos: Pos,
}

impl Builder<'_> {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    /// A value written as `!= x` or `!x` is a tag to YAML, but Falco's rule files use such
    /// text as plain strings (`comps: [!=]`, values starting with `!=`). Put the text back.
    fn untag(&self, text: String, tag: Option<Tag>, pos: Pos) -> String {
        let Some(tag) = tag else { return text };
        if tag.handle == "!!" || tag.handle.starts_with("tag:") {
            return text;
        }
        let tag_text = format!("{}{}", tag.handle, tag.suffix);
        // The scalar's mark is at the tag or at the text after it, depending on the parser's
        // state: either way, a blank between the two was written as a separator.
        let after = self.source.get(pos.offset..).unwrap_or("");
        let before = self.source.get(..pos.offset).unwrap_or("");
        let spaced = match after.strip_prefix(tag_text.as_str()) {
            Some(rest) => rest.starts_with([' ', '\t']),
            None => {
                let trimmed = before.trim_end_matches([' ', '\t']);
                trimmed.ends_with(tag_text.as_str()) && trimmed.len() < before.len()
            }
        };
        let sep = if spaced && !text.is_empty() { " " } else { "" };
        format!("{tag_text}{sep}{text}")
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = Pos::from_marker(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain;
                let text = if plain { self.untag(text, tag, pos) } else { text };
                self.push(Node { pos, kind: Kind::Scalar { text, plain } }, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(pos, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => self.stack.push(Open::Map(pos, anchor, Vec::new(), None)),
            Event::SequenceEnd => {
                if let Some(Open::Seq(p, anchor, items)) = self.stack.pop() {
                    self.push(Node { pos: p, kind: Kind::Seq(items) }, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Open::Map(p, anchor, entries, _)) = self.stack.pop() {
                    // A block mapping's start event points past its first key; the first
                    // key is where a reader sees the item begin.
                    let p = entries.first().map_or(p, |(k, _)| k.pos);
                    self.push(Node { pos: p, kind: Kind::Map(entries) }, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, node)) => {
                    let node = node.clone();
                    self.push(node, 0);
                }
                None => {
                    self.error = Some(format!("unknown anchor alias {id}"));
                    self.error_pos = pos;
                }
            },
            Event::DocumentEnd => {}
            Event::DocumentStart | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = parse("- rule: a\n  condition: evt.type=open\n").unwrap();
        let item = &docs[0];
        let Kind::Seq(items) = &item.kind else { panic!() };
        assert_eq!(items[0].pos.line, 1);
        assert_eq!(items[0].pos.column, 3);
        let cond = items[0].get("condition").unwrap();
        assert_eq!((cond.pos.line, cond.pos.column), (2, 14));
    }

    #[test]
    fn several_documents() {
        let docs = parse("- list: a\n  items: [x]\n---\n- list: b\n  items: [y]\n").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn operators_stay_strings() {
        let docs = parse("comps: [=, in, !=]\nv: != foo\n").unwrap();
        let comps = docs[0].get("comps").unwrap();
        let Kind::Seq(items) = &comps.kind else { panic!() };
        let texts: Vec<_> = items.iter().map(|n| n.as_str().unwrap()).collect();
        assert_eq!(texts, ["=", "in", "!="]);
        assert_eq!(docs[0].get("v").unwrap().as_str(), Some("!= foo"));
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("this : is : not : yaml").unwrap_err();
        assert_eq!(err.pos.line, 1);
        assert!(err.pos.column > 1, "{err:?}");
    }
}
