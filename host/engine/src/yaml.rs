//! A YAML tree that remembers where every node came from, so that every diagnostic can name
//! the file, line and column of the item it is about. Built from the events of
//! libyaml-safer, a port of libyaml: it reads what Falco's rule files contain, including
//! flow lists whose closing bracket sits left of their items.

use libyaml_safer::{EventData, Mark, Parser, ScalarStyle};
use std::collections::HashMap;

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
    /// libyaml counts lines and columns from 0, and offsets in characters.
    fn from_mark(m: Mark, source: &str) -> Self {
        let chars = m.index as usize;
        let offset = if source.is_ascii() {
            chars.min(source.len())
        } else {
            source.char_indices().nth(chars).map_or(source.len(), |(i, _)| i)
        };
        Pos { line: m.line as usize + 1, column: m.column as usize + 1, offset }
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

enum Open {
    Seq(Pos, Option<String>, Vec<Node>),
    Map(Pos, Option<String>, Vec<(Node, Node)>, Option<Node>),
}

/// Deep nesting would overflow the stack of whoever walks the tree.
const MAX_DEPTH: usize = 256;

/// Parses every document of a YAML stream (documents separated by `---`).
pub fn parse(source: &str) -> Result<Vec<Node>, YamlError> {
    // libyaml-safer 0.3 panics on a block scalar at the very end of input without a final
    // newline (upstream issue 6) and on some malformed tags (issue 7). A final newline
    // changes no value; any other panic becomes an error naming the file rather than a
    // crash. Both were found by the loader's fuzz target.
    let owned;
    let source = if source.ends_with('\n') {
        source
    } else {
        owned = format!("{source}\n");
        &owned
    };
    match std::panic::catch_unwind(|| parse_events(source)) {
        Ok(result) => result,
        Err(_) => {
            Err(YamlError { message: "malformed YAML (the parser gave up)".into(), pos: Pos::default() })
        }
    }
}

fn parse_events(source: &str) -> Result<Vec<Node>, YamlError> {
    let mut parser = Parser::new();
    let mut input = source.as_bytes();
    parser.set_input_string(&mut input);
    let mut stack: Vec<Open> = Vec::new();
    let mut docs = Vec::new();
    let mut anchors: HashMap<String, Node> = HashMap::new();
    loop {
        let ev = parser.parse().map_err(|e| YamlError {
            message: e.problem().to_string(),
            pos: e.problem_mark().map(|m| Pos::from_mark(m, source)).unwrap_or_default(),
        })?;
        let pos = Pos::from_mark(ev.start_mark, source);
        let (node, anchor) = match ev.data {
            EventData::StreamEnd => break,
            EventData::StreamStart { .. }
            | EventData::DocumentStart { .. }
            | EventData::DocumentEnd { .. } => {
                continue;
            }
            EventData::Scalar { anchor, tag, value, style, .. } => {
                let plain = style == ScalarStyle::Plain;
                let text = if plain { untag(source, pos, value, tag) } else { value };
                (Node { pos, kind: Kind::Scalar { text, plain } }, anchor)
            }
            EventData::Alias { anchor } => match anchors.get(&anchor) {
                Some(n) => (n.clone(), None),
                None => return Err(YamlError { message: format!("unknown alias *{anchor}"), pos }),
            },
            EventData::SequenceStart { anchor, .. } => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                        pos,
                    });
                }
                stack.push(Open::Seq(pos, anchor, Vec::new()));
                continue;
            }
            EventData::MappingStart { anchor, .. } => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                        pos,
                    });
                }
                stack.push(Open::Map(pos, anchor, Vec::new(), None));
                continue;
            }
            EventData::SequenceEnd => match stack.pop() {
                Some(Open::Seq(p, anchor, items)) => (Node { pos: p, kind: Kind::Seq(items) }, anchor),
                _ => continue,
            },
            EventData::MappingEnd => match stack.pop() {
                Some(Open::Map(p, anchor, entries, _)) => {
                    // A reader sees a block mapping begin at its first key.
                    let p = entries.first().map_or(p, |(k, _)| k.pos);
                    (Node { pos: p, kind: Kind::Map(entries) }, anchor)
                }
                _ => continue,
            },
        };
        if let Some(a) = anchor {
            anchors.insert(a, node.clone());
        }
        match stack.last_mut() {
            None => docs.push(node),
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(docs)
}

/// A value written as `!= x` or `!x` is a tag to YAML, but Falco's rule files use such text
/// as plain strings (`comps: [!=]`, values starting with `!=`). Put the text back.
fn untag(source: &str, pos: Pos, text: String, tag: Option<String>) -> String {
    let Some(tag) = tag else { return text };
    if tag.starts_with("tag:") {
        return text;
    }
    let after = source.get(pos.offset..).unwrap_or("");
    let spaced = after.strip_prefix(tag.as_str()).is_some_and(|rest| rest.starts_with([' ', '\t']));
    let sep = if spaced && !text.is_empty() { " " } else { "" };
    format!("{tag}{sep}{text}")
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
        let docs = parse("comps: [=, in]\nmore:\n  - !=\n  - \"!=\"\nv: != foo\n").unwrap();
        let texts = |key: &str| -> Vec<String> {
            let Kind::Seq(items) = &docs[0].get(key).unwrap().kind else { panic!() };
            items.iter().map(|n| n.as_str().unwrap().to_string()).collect()
        };
        assert_eq!(texts("comps"), ["=", "in"]);
        assert_eq!(texts("more"), ["!=", "!="]);
        assert_eq!(docs[0].get("v").unwrap().as_str(), Some("!= foo"));
    }

    #[test]
    fn flow_list_closed_left_of_its_items() {
        // As in falco-sandbox_rules.yaml: a quoted last item, then `]` at the key's indent.
        let docs = parse("- list: x\n  items: [\n    \"a\",\n    \"b\"\n  ]\n").unwrap();
        let Kind::Seq(items) = &docs[0].kind else { panic!() };
        let Kind::Seq(values) = &items[0].get("items").unwrap().kind else { panic!() };
        assert_eq!(values.len(), 2);
    }

    #[test]
    fn parser_panics_become_errors() {
        // Found by fuzzing (libyaml-safer issues 6 and 7).
        let docs = parse("- macro: m\n  condition: >\n    evt.type = open").unwrap();
        assert_eq!(docs[0].kind_name(), "sequence");
        assert!(parse("[!,").is_err());
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("this : is : not : yaml").unwrap_err();
        assert_eq!(err.pos.line, 1);
        assert!(err.pos.column > 1, "{err:?}");
    }
}
