//! Reading one configuration file the way Falco reads `falco.yaml`: `${VAR}` expanded in
//! values, keys Lanner does not implement set aside with a warning naming file, line and
//! column (an error under `--strict`), and type errors located at the key they are about.
//!
//! The file is parsed once with positions (the rule loader's YAML tree) and turned into the
//! untyped value that the schema then checks, so that every diagnostic can point at the text
//! the operator wrote even after expansion changed it.

use anyhow::{Result, bail};
use lanner_engine::yaml::{self, Kind, Node, Pos};
use lanner_event::Priority;
use serde_yaml_ng::{Mapping, Value};
use std::collections::HashMap;
use std::path::Path;

/// Something in a configuration file that Lanner sets aside, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// The file, as given.
    pub file: String,
    /// Where the key is written.
    pub pos: Pos,
    /// The dotted key.
    pub key: String,
    /// What is done about it.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: line {}, column {}: {}: {}",
            self.file, self.pos.line, self.pos.column, self.key, self.message
        )
    }
}

/// One file, read: its value with unknown keys left out, and what was set aside.
#[derive(Debug)]
pub struct FileRead {
    pub value: Value,
    pub warnings: Vec<Warning>,
    /// Where each dotted key is written, to locate later errors.
    pub positions: HashMap<String, Pos>,
}

/// Reads one configuration file against `known` (the embedded defaults: every key Lanner
/// implements is in them), expanding `${VAR}` from `env`.
pub fn read(
    path: &Path,
    text: &str,
    known: &Value,
    strict: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<FileRead> {
    let file = path.display().to_string();
    let docs = yaml::parse(text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let mut out =
        FileRead { value: Value::Mapping(Mapping::new()), warnings: Vec::new(), positions: HashMap::new() };
    // As Falco (yaml-cpp's Load), only the first document counts; the others are said to be
    // ignored rather than dropped unseen.
    let ignored: Vec<Warning> = docs
        .iter()
        .skip(1)
        .map(|d| Warning {
            file: file.clone(),
            pos: d.pos,
            key: "---".into(),
            message: "a second YAML document: only the first is read (as in Falco); this one is ignored"
                .into(),
        })
        .collect();
    let Some(root) = docs.into_iter().next() else { return Ok(out) };
    if root.is_null() {
        return Ok(out);
    }
    if !matches!(root.kind, Kind::Map(_)) {
        bail!(
            "{file}: line {}, column {}: the configuration is a {}, not a mapping of keys",
            root.pos.line,
            root.pos.column,
            root.kind_name()
        );
    }
    let mut unknown = Vec::new();
    let mut conv = Converter { env, positions: &mut out.positions, unknown: &mut unknown, file: &file };
    out.value = conv.node(&root, Some(known), "")?;
    if strict && !unknown.is_empty() {
        let lines: Vec<String> = unknown
            .iter()
            .map(|(key, pos)| {
                format!("{file}: line {}, column {}: unknown key `{key}` (--strict)", pos.line, pos.column)
            })
            .collect();
        bail!("{}", lines.join("\n"));
    }
    out.warnings = unknown
        .into_iter()
        .map(|(key, pos)| Warning {
            file: file.clone(),
            pos,
            key,
            message: "Lanner does not implement this key; it is ignored (--strict makes it an error)".into(),
        })
        .chain(ignored)
        .collect();
    Ok(out)
}

/// The section whose scalars are text whatever they read as.
const TEXT_ONLY: &str = "static_fields.";

struct Converter<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    positions: &'a mut HashMap<String, Pos>,
    unknown: &'a mut Vec<(String, Pos)>,
    file: &'a str,
}

impl Converter<'_> {
    /// `known` is the defaults' value at this place when it is a section whose keys are
    /// fixed; `None` below it (lists, plugin configurations), where anything goes.
    fn node(&mut self, node: &Node, known: Option<&Value>, path: &str) -> Result<Value> {
        Ok(match &node.kind {
            // Falco reads static fields as text (yaml-cpp's scalar as written): `1.10` stays
            // `1.10`, `0x1f` stays `0x1f`, which typing the scalar would change.
            Kind::Scalar { text, .. } if path.starts_with(TEXT_ONLY) && !node.is_null() => {
                Value::String(expand_env(text, self.env))
            }
            Kind::Scalar { text, plain } => self.scalar(text, *plain, node.is_null()),
            Kind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (n, item) in items.iter().enumerate() {
                    let at = format!("{path}[{n}]");
                    self.positions.insert(at.clone(), item.pos);
                    out.push(self.node(item, None, &at)?);
                }
                Value::Sequence(out)
            }
            Kind::Map(entries) => {
                let mut m = Mapping::new();
                for (k, v) in entries {
                    let Some(key) = k.as_str() else {
                        bail!(
                            "{}: line {}, column {}: a key of {} is not text",
                            self.file,
                            k.pos.line,
                            k.pos.column,
                            if path.is_empty() { "the configuration" } else { path }
                        );
                    };
                    let full = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
                    let below = match known.and_then(Value::as_mapping) {
                        // A section whose default is empty (`static_fields: {}`) is a map of
                        // the operator's own names: any key goes below it.
                        Some(section) => match section.get(key) {
                            Some(d) => Some(d).filter(|d| d.as_mapping().is_some_and(|m| !m.is_empty())),
                            None => {
                                self.unknown.push((full, k.pos));
                                continue;
                            }
                        },
                        None => None,
                    };
                    self.positions.insert(full.clone(), k.pos);
                    let value = self.node(v, below, &full)?;
                    m.insert(Value::String(key.to_string()), value);
                }
                Value::Mapping(m)
            }
        })
    }

    fn scalar(&self, text: &str, plain: bool, null: bool) -> Value {
        if null {
            return Value::Null;
        }
        let expanded = expand_env(text, self.env);
        if !plain {
            return Value::String(expanded);
        }
        // A plain scalar takes the type its text reads as (after expansion, as Falco reads
        // `${PORT}` as the number it names); an expansion to nothing stays empty text.
        if expanded.is_empty() && !text.is_empty() {
            return Value::String(expanded);
        }
        match serde_yaml_ng::from_str::<Value>(&expanded) {
            Ok(v @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
            _ => Value::String(expanded),
        }
    }
}

/// The most expansions one value may take: Falco expands again inside what a variable
/// held, so a variable naming itself would never end.
const MAX_EXPANSIONS: usize = 1000;

/// Falco's `${VAR}` expansion of one scalar (yaml_helper's pre_process_env_vars): each
/// `${NAME}` is replaced by the variable's value, or removed when it is unset; `$${` stands
/// for a literal `${`. Scanning goes on from where a replacement started, so a value holding
/// `${OTHER}` is expanded in turn; a `$` followed by anything else, or a `${` with no `}`
/// after it, ends expansion for the rest of the value.
pub fn expand_env(value: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut v = value.to_string();
    let mut start = v.find('$');
    let mut done = 0;
    while let Some(s) = start {
        let rest = &v[s..];
        if rest.starts_with("${") {
            let Some(end) = rest.find('}') else { break };
            if done == MAX_EXPANSIONS {
                break;
            }
            done += 1;
            let name = rest[2..end].to_string();
            let with = env(&name).unwrap_or_default();
            v.replace_range(s..s + end + 1, &with);
        } else if rest.starts_with("$${") {
            if !rest.contains('}') {
                break;
            }
            v.remove(s);
            start = v[s + 1..].find('$').map(|i| i + s + 1);
            continue;
        } else {
            break;
        }
        start = v[s..].find('$').map(|i| i + s);
    }
    v
}

/// The process environment, for [`read`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A priority setting, parsed; the error names the key.
pub fn parse_priority(key: &str, value: &str) -> Result<Priority> {
    value.parse().map_err(|e| anyhow::anyhow!("{key}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("node-7".into()),
            "PORT" => Some("9100".into()),
            "NESTED" => Some("${HOST}".into()),
            "SELF" => Some("${SELF}".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion_follows_falcos_scan() {
        assert_eq!(expand_env("${HOST}", &env), "node-7");
        assert_eq!(expand_env("a-${HOST}-${PORT}", &env), "a-node-7-9100");
        assert_eq!(expand_env("x${UNSET}y", &env), "xy", "an unset variable expands to nothing");
        assert_eq!(expand_env("${EMPTY}", &env), "");
        assert_eq!(expand_env("$${HOST}", &env), "${HOST}", "$${{ is a literal ${{");
        assert_eq!(expand_env("$${HOST} ${PORT}", &env), "${HOST} 9100");
        assert_eq!(expand_env("${NESTED}", &env), "node-7", "what a variable holds is expanded too");
        assert_eq!(expand_env("${HOST", &env), "${HOST", "no closing brace: left as written");
        assert_eq!(expand_env("$HOST ${PORT}", &env), "$HOST ${PORT}", "a lone $ ends expansion");
        assert_eq!(expand_env("no dollar", &env), "no dollar");
        assert_eq!(expand_env("${SELF}", &env), "${SELF}", "a self-reference stops at the bound");
    }
}
