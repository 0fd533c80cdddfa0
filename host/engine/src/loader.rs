//! Rules files to definitions: lists, macros and rules, with Falco's append and override
//! semantics applied across files in load order. Nothing here parses conditions; that is
//! compilation's job, so that a later file can still fix an earlier file's macro.

use crate::diag::{Code, Diagnostic, ItemType, Location};
use crate::yaml::{self, Kind, Node, Pos};
use lanner_event::Priority;
use std::collections::HashMap;

/// A name and position, shared by every definition.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub file: String,
    pub pos: Pos,
}

/// A scalar with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Text {
    pub text: String,
    pub origin: Origin,
    /// Whether the scalar is a YAML block (`>`/`|`) or starts on a later line than its key;
    /// positions inside the text are then approximate.
    pub plain: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ListDef {
    pub name: String,
    pub items: Vec<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub(crate) struct MacroDef {
    pub name: String,
    pub condition: Text,
    pub origin: Origin,
}

/// One value of an exception: a single value, or a list for `in`-style comparisons.
#[derive(Debug, Clone)]
pub(crate) enum ExcValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) enum ExcFields {
    /// `fields: proc.name` with `values: [a, b]`.
    Single(String),
    /// `fields: [proc.name, fd.name]` with `values: [[a, b], ...]`.
    Tuple(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct ExceptionDef {
    pub name: String,
    pub fields: ExcFields,
    /// One comparison per field (default `=`; `in` for the single-field form).
    pub comps: Vec<String>,
    /// Tuples of values, one value per field.
    pub values: Vec<Vec<ExcValue>>,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub(crate) struct RuleDef {
    pub name: String,
    pub condition: Text,
    pub output: Text,
    pub desc: String,
    pub priority: Priority,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub source: String,
    pub exceptions: Vec<ExceptionDef>,
    pub skip_if_unknown_filter: bool,
    pub warn_evttypes: bool,
    /// Falco 0.41's `capture`: record events around the rule's alerts (not implemented by
    /// Lanner; kept so that the program can say so).
    pub capture: bool,
    pub origin: Origin,
}

/// A `required_plugin_versions` entry.
#[derive(Debug, Clone)]
pub(crate) struct PluginRequirement {
    /// Acceptable `(name, minimum version)` pairs: the plugin and its alternatives.
    pub accepted: Vec<(String, String)>,
    pub origin: Origin,
}

/// Everything loaded so far, in definition order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Definitions {
    pub lists: Vec<ListDef>,
    pub list_index: HashMap<String, usize>,
    pub macros: Vec<MacroDef>,
    pub macro_index: HashMap<String, usize>,
    pub rules: Vec<RuleDef>,
    pub rule_index: HashMap<String, usize>,
    pub required_engine: Vec<(semver::Version, Origin)>,
    pub required_plugins: Vec<PluginRequirement>,
}

const RULE_KEYS: &[&str] = &[
    "rule",
    "condition",
    "output",
    "desc",
    "priority",
    "enabled",
    "tags",
    "source",
    "exceptions",
    "append",
    "override",
    "skip-if-unknown-filter",
    "warn_evttypes",
    "capture",
    "capture_duration",
];
const MACRO_KEYS: &[&str] = &["macro", "condition", "append", "override"];
const LIST_KEYS: &[&str] = &["list", "items", "append", "override"];
const EXCEPTION_KEYS: &[&str] = &["name", "fields", "comps", "values"];
const RULE_APPENDABLE: &[&str] = &["condition", "output", "desc", "tags", "exceptions"];
const RULE_REPLACEABLE: &[&str] = &[
    "condition",
    "output",
    "desc",
    "priority",
    "tags",
    "exceptions",
    "enabled",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
];

/// Collects diagnostics for one file.
pub(crate) struct Sink<'a> {
    pub file: &'a str,
    pub diags: Vec<Diagnostic>,
    /// The rule being read, if any: Falco lists it before the exception a report is about.
    pub rule: Option<(String, Pos)>,
}

impl Sink<'_> {
    fn report(&mut self, code: Code, msg: impl Into<String>, ty: ItemType, name: &str, pos: Pos) {
        let locations =
            vec![Location { item_type: ty, item_name: name.to_string(), file: self.file.to_string(), pos }];
        self.push(code, msg.into(), locations);
    }

    fn push(&mut self, code: Code, message: String, mut locations: Vec<Location>) {
        let about_exception = locations.first().is_some_and(|l| {
            matches!(l.item_type, ItemType::Exception | ItemType::Exceptions | ItemType::ExceptionValues)
        });
        if about_exception && let Some((rule, pos)) = &self.rule {
            let rule = Location {
                item_type: ItemType::Rule,
                item_name: rule.clone(),
                file: self.file.to_string(),
                pos: *pos,
            };
            locations.insert(0, rule);
        }
        self.diags.push(Diagnostic { code, message, locations });
    }
}

/// A YAML syntax error in the words Falco prints. Falco reads rules with yaml-cpp and reports
/// its exception text (`yaml-cpp: error at line L, column C: <what>`); tooling and Falco's
/// regression tests match on it. Where libyaml's problem has a yaml-cpp counterpart, that
/// counterpart is used; otherwise libyaml's own words, in a form that does not claim yaml-cpp.
fn yaml_parse_message(problem: &str, pos: Pos) -> String {
    let yaml_cpp = match problem {
        "mapping values are not allowed in this context" => Some("illegal map value"),
        "block sequence entries are not allowed in this context" => Some("illegal block entry"),
        "did not find expected key" => Some("end of map not found"),
        "did not find expected '-' indicator" => Some("end of sequence not found"),
        "did not find expected ',' or ']'" => Some("end of sequence flow not found"),
        "did not find expected ',' or '}'" => Some("end of map flow not found"),
        "found character that cannot start any token" => Some("unknown token"),
        "found unexpected end of stream" => Some("illegal EOF in scalar"),
        "found unexpected document indicator" => Some("illegal document indicator in scalar"),
        "found a tab character that violates indentation" => Some("illegal tab when looking for indentation"),
        _ => None,
    };
    match yaml_cpp {
        Some(what) => format!("yaml-cpp: error at line {}, column {}: {what}", pos.line, pos.column),
        None => format!("yaml error at line {}, column {}: {problem}", pos.line, pos.column),
    }
}

impl Sink<'_> {
    /// A report about a value inside an item: Falco names both, the item first.
    fn report_in(
        &mut self,
        code: Code,
        msg: impl Into<String>,
        item: (ItemType, &str, Pos),
        inner: (ItemType, &str, Pos),
    ) {
        let loc = |(item_type, name, pos): (ItemType, &str, Pos)| Location {
            item_type,
            item_name: name.to_string(),
            file: self.file.to_string(),
            pos,
        };
        let locations = vec![loc(item), loc(inner)];
        self.push(code, msg.into(), locations);
    }
}

/// Whether a key must be present, and whether its value may be empty, as Falco's reader
/// decodes each key of an item.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    Optional,
    /// Optional, and an empty value is accepted.
    OptionalEmpty,
}

/// A scalar key of an item, checked as Falco's reader checks it, with Falco's messages: the
/// key missing, mapped to nothing, not a scalar, or empty. `Ok(None)` when optional and absent.
fn scalar<'n>(
    item: &'n Node,
    key: &str,
    need: Need,
    (ty, name): (ItemType, &str),
    sink: &mut Sink<'_>,
) -> Result<Option<&'n Node>, ()> {
    let Some(v) = item.get(key) else {
        if need == Need::Required {
            sink.report(
                Code::LoadErrYamlValidate,
                format!("Item has no mapping for key '{key}'"),
                ty,
                name,
                item.pos,
            );
            return Err(());
        }
        return Ok(None);
    };
    let value_for = (ItemType::ValueFor, key, v.pos);
    if v.is_null() {
        if need == Need::OptionalEmpty {
            return Ok(Some(v));
        }
        sink.report(Code::LoadErrYamlValidate, format!("Mapping for key '{key}' is empty"), ty, name, v.pos);
        return Err(());
    }
    let Kind::Scalar { text, .. } = &v.kind else {
        sink.report_in(
            Code::LoadErrYamlValidate,
            "Value is not a scalar value",
            (ty, name, item.pos),
            value_for,
        );
        return Err(());
    };
    if text.is_empty() && need != Need::OptionalEmpty {
        sink.report_in(Code::LoadErrYamlValidate, "Value must be non-empty", (ty, name, item.pos), value_for);
        return Err(());
    }
    Ok(Some(v))
}

/// A boolean key, decoded as Falco decodes one (yaml-cpp's spellings of true and false).
fn boolean(
    item: &Node,
    key: &str,
    default: bool,
    (ty, name): (ItemType, &str),
    sink: &mut Sink<'_>,
) -> Option<bool> {
    let Ok(v) = scalar(item, key, Need::Optional, (ty, name), sink) else { return None };
    let Some(v) = v else { return Some(default) };
    match v.as_bool() {
        Some(b) => Some(b),
        None => {
            sink.report_in(
                Code::LoadErrYamlValidate,
                "Can't decode YAML scalar value",
                (ty, name, item.pos),
                (ItemType::ValueFor, key, v.pos),
            );
            None
        }
    }
}

/// A sequence of scalars (`items`, `tags`), checked as Falco's reader checks one.
fn scalar_seq(
    item: &Node,
    key: &str,
    need: Need,
    (ty, name): (ItemType, &str),
    sink: &mut Sink<'_>,
) -> Option<Option<Vec<String>>> {
    let Some(v) = item.get(key) else {
        if need == Need::Required {
            sink.report(
                Code::LoadErrYamlValidate,
                format!("Item has no mapping for key '{key}'"),
                ty,
                name,
                item.pos,
            );
            return None;
        }
        return Some(None);
    };
    let Kind::Seq(values) = &v.kind else {
        sink.report_in(
            Code::LoadErrYamlValidate,
            "Value is not a sequence",
            (ty, name, item.pos),
            (ItemType::ValueFor, key, v.pos),
        );
        return None;
    };
    let mut out = Vec::new();
    for e in values {
        match &e.kind {
            Kind::Scalar { text, .. } if !e.is_null() => out.push(text.clone()),
            _ => {
                sink.report_in(
                    Code::LoadErrYamlValidate,
                    "sequence value is not scalar",
                    (ty, name, item.pos),
                    (ItemType::ListItem, "", e.pos),
                );
                return None;
            }
        }
    }
    Some(Some(out))
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What an item says about a key under `override`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Define,
    Append,
    Replace,
}

impl Definitions {
    /// Loads one file's content on top of what is already defined.
    pub fn load_file(&mut self, content: &str, sink: &mut Sink<'_>) {
        let docs = match yaml::parse(content) {
            Ok(docs) => docs,
            Err(e) => {
                sink.report(
                    Code::LoadErrYamlParse,
                    yaml_parse_message(&e.message, e.pos),
                    ItemType::RulesContent,
                    "",
                    e.pos,
                );
                return;
            }
        };
        for doc in &docs {
            if doc.is_null() {
                continue;
            }
            let Kind::Seq(items) = &doc.kind else {
                // Falco tells a document that is only a scalar from one that is a mapping.
                let msg = match doc.kind {
                    Kind::Map(_) => "Rules content is not yaml array of objects",
                    _ => "Rules content is not yaml",
                };
                sink.report(Code::LoadErrYamlValidate, msg, ItemType::RulesContent, "", doc.pos);
                continue;
            };
            for item in items {
                self.load_item(item, sink);
            }
        }
    }

    fn load_item(&mut self, item: &Node, sink: &mut Sink<'_>) {
        let Kind::Map(_) = &item.kind else {
            sink.report(
                Code::LoadErrYamlValidate,
                "Unexpected element type. Each element should be a yaml associative array.",
                ItemType::RulesContentItem,
                "",
                item.pos,
            );
            return;
        };
        // Falco decides what an item is by the first of these keys it has, in this order,
        // wherever the key sits in the mapping.
        let first = ["required_engine_version", "required_plugin_versions", "list", "macro", "rule"]
            .into_iter()
            .find(|k| item.get(k).is_some());
        match first {
            Some("rule") => self.load_rule(item, sink),
            Some("macro") => self.load_macro(item, sink),
            Some("list") => self.load_list(item, sink),
            Some("required_engine_version") => self.load_engine_version(item, sink),
            Some("required_plugin_versions") => self.load_plugin_versions(item, sink),
            _ => {
                sink.report(
                    Code::LoadUnknownItem,
                    "Unknown top level item",
                    ItemType::RulesContentItem,
                    "",
                    item.pos,
                );
            }
        }
    }

    /// The item's name: reported when missing, empty or not a scalar.
    fn item_name(item: &Node, key: &str, ty: ItemType, sink: &mut Sink<'_>) -> Option<String> {
        let v = scalar(item, key, Need::Required, (ty, ""), sink).ok()??;
        Some(v.as_str().unwrap_or_default().to_string())
    }

    fn warn_unknown_keys(item: &Node, known: &[&str], ty: ItemType, name: &str, sink: &mut Sink<'_>) {
        if let Kind::Map(entries) = &item.kind {
            for (k, _) in entries {
                let key = k.as_str().unwrap_or("");
                if !known.contains(&key) {
                    sink.report(
                        Code::LoadUnknownKey,
                        format!("Unknown key '{key}'. The key will be ignored."),
                        ty,
                        name,
                        k.pos,
                    );
                }
            }
        }
    }

    /// Reads `append` and `override` into a per-key mode.
    fn modes(
        item: &Node,
        ty: ItemType,
        name: &str,
        appendable: &[&str],
        replaceable: &[&str],
        sink: &mut Sink<'_>,
    ) -> Option<(bool, HashMap<String, Mode>)> {
        let append = boolean(item, "append", false, (ty, name), sink)?;
        if append {
            sink.report(
                Code::LoadDeprecatedItem,
                "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.",
                ty,
                name,
                item.get("append").map_or(item.pos, |v| v.pos),
            );
        }
        let mut modes = HashMap::new();
        if let Some(ov) = item.get("override") {
            if append {
                sink.report(
                    Code::LoadErrYamlValidate,
                    "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.",
                    ty,
                    name,
                    ov.pos,
                );
                return None;
            }
            let Kind::Map(entries) = &ov.kind else {
                sink.report(
                    Code::LoadErrYamlValidate,
                    "Value of key 'override' must be a mapping of keys to 'append' or 'replace'",
                    ty,
                    name,
                    ov.pos,
                );
                return None;
            };
            for (k, v) in entries {
                let key = k.as_str().unwrap_or("").to_string();
                let can_append = appendable.contains(&key.as_str());
                let can_replace = replaceable.contains(&key.as_str());
                let (mode, op) = match v.as_str() {
                    Some("append") if can_append => (Mode::Append, "append"),
                    Some("replace") if can_replace => (Mode::Replace, "replace"),
                    Some(m @ ("append" | "replace")) => {
                        let msg = if m == "append" {
                            format!("Key '{key}' cannot be appended to, use 'replace' instead")
                        } else {
                            format!("Key '{key}' cannot be replaced")
                        };
                        sink.report_in(
                            Code::LoadErrYamlValidate,
                            msg,
                            (ty, name, item.pos),
                            (ItemType::Overrides, &key, k.pos),
                        );
                        return None;
                    }
                    other => {
                        // Falco's wording, trailing space included: tools compare it whole.
                        let mut msg = format!(
                            "Invalid override operation for key '{key}': '{}'. Allowed values are: ",
                            other.unwrap_or_default()
                        );
                        if can_append {
                            msg.push_str("append ");
                        }
                        if can_replace {
                            msg.push_str("replace ");
                        }
                        sink.report_in(
                            Code::LoadErrYamlValidate,
                            msg,
                            (ty, name, item.pos),
                            (ItemType::ValueFor, &key, v.pos),
                        );
                        return None;
                    }
                };
                if item.get(&key).is_none() {
                    sink.report(
                        Code::LoadErrYamlValidate,
                        format!("An {op} override for '{key}' was specified but '{key}' is not defined"),
                        ty,
                        name,
                        k.pos,
                    );
                    return None;
                }
                modes.insert(key, mode);
            }
        }
        Some((append, modes))
    }

    fn text(item: &Node, key: &str, file: &str) -> Option<Text> {
        let v = item.get(key)?;
        let plain = matches!(&v.kind, Kind::Scalar { plain: true, .. });
        Some(Text {
            text: v.as_str().unwrap_or("").to_string(),
            origin: Origin { file: file.to_string(), pos: v.pos },
            plain,
        })
    }

    /// A boolean key that must be present.
    fn required_bool(item: &Node, key: &str, name: &str, sink: &mut Sink<'_>) -> Option<bool> {
        scalar(item, key, Need::Required, (ItemType::Rule, name), sink).ok()?;
        boolean(item, key, false, (ItemType::Rule, name), sink)
    }

    fn require_str(item: &Node, key: &str, ty: ItemType, name: &str, sink: &mut Sink<'_>) -> Option<()> {
        scalar(item, key, Need::Required, (ty, name), sink).ok().map(|_| ())
    }

    fn load_list(&mut self, item: &Node, sink: &mut Sink<'_>) {
        let Some(name) = Self::item_name(item, "list", ItemType::List, sink) else { return };
        Self::warn_unknown_keys(item, LIST_KEYS, ItemType::List, &name, sink);
        if !is_valid_name(&name) {
            sink.report(Code::LoadInvalidListName, "List has an invalid name. List names should match a regular expression: ^[a-zA-Z_][a-zA-Z0-9_]*$", ItemType::List, &name, item.pos);
        }
        let Some((append, modes)) = Self::modes(item, ItemType::List, &name, &["items"], &["items"], sink)
        else {
            return;
        };
        let Some(Some(items)) = scalar_seq(item, "items", Need::Required, (ItemType::List, &name), sink)
        else {
            return;
        };
        let origin = Origin { file: sink.file.to_string(), pos: item.pos };
        let mode = if append { Mode::Append } else { modes.get("items").copied().unwrap_or(Mode::Define) };
        match (mode, self.list_index.get(&name)) {
            (Mode::Append, Some(&i)) => self.lists[i].items.extend(items),
            (Mode::Replace, Some(&i)) => self.lists[i].items = items,
            (Mode::Define, Some(&i)) => self.lists[i] = ListDef { name, items, origin },
            (Mode::Define, None) => {
                self.list_index.insert(name.clone(), self.lists.len());
                self.lists.push(ListDef { name, items, origin });
            }
            (Mode::Append | Mode::Replace, None) => {
                sink.report(
                    Code::LoadErrValidate,
                    "List uses 'append' or 'override.items: append' but no list by that name already exists",
                    ItemType::List,
                    &name,
                    item.pos,
                );
            }
        }
    }

    fn load_macro(&mut self, item: &Node, sink: &mut Sink<'_>) {
        let Some(name) = Self::item_name(item, "macro", ItemType::Macro, sink) else { return };
        Self::warn_unknown_keys(item, MACRO_KEYS, ItemType::Macro, &name, sink);
        if !is_valid_name(&name) {
            sink.report(Code::LoadInvalidMacroName, "Macro has an invalid name. Macro names should match a regular expression: ^[a-zA-Z_][a-zA-Z0-9_]*$", ItemType::Macro, &name, item.pos);
        }
        let Some((append, modes)) =
            Self::modes(item, ItemType::Macro, &name, &["condition"], &["condition"], sink)
        else {
            return;
        };
        if Self::require_str(item, "condition", ItemType::Macro, &name, sink).is_none() {
            return;
        }
        let condition = Self::text(item, "condition", sink.file).expect("checked above");
        let origin = Origin { file: sink.file.to_string(), pos: item.pos };
        let mode =
            if append { Mode::Append } else { modes.get("condition").copied().unwrap_or(Mode::Define) };
        match (mode, self.macro_index.get(&name)) {
            (Mode::Append, Some(&i)) => {
                let m = &mut self.macros[i];
                m.condition.text = format!("{} {}", m.condition.text, condition.text);
            }
            (Mode::Replace, Some(&i)) => self.macros[i].condition = condition,
            (Mode::Define, Some(&i)) => self.macros[i] = MacroDef { name, condition, origin },
            (Mode::Define, None) => {
                self.macro_index.insert(name.clone(), self.macros.len());
                self.macros.push(MacroDef { name, condition, origin });
            }
            (Mode::Append | Mode::Replace, None) => {
                sink.report(
                    Code::LoadErrValidate,
                    "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists",
                    ItemType::Macro,
                    &name,
                    item.pos,
                );
            }
        }
    }

    fn load_engine_version(&mut self, item: &Node, sink: &mut Sink<'_>) {
        let ty = ItemType::RequiredEngineVersion;
        Self::warn_unknown_keys(item, &["required_engine_version"], ty, "", sink);
        let Ok(Some(v)) = scalar(item, "required_engine_version", Need::Required, (ty, ""), sink) else {
            return;
        };
        let text = v.as_str().unwrap_or("").trim().to_string();
        let parsed = if let Ok(n) = text.parse::<u64>() {
            Some(semver::Version::new(0, n, 0))
        } else {
            semver::Version::parse(&text).ok()
        };
        match parsed {
            Some(version) => self.required_engine.push((version, Origin { file: sink.file.to_string(), pos: v.pos })),
            None => sink.report(
                Code::LoadErrYamlValidate,
                format!("Unable to parse engine version '{text}' as a semver string. Expected \"x.y.z\" semver format."),
                ItemType::RequiredEngineVersion,
                "",
                v.pos,
            ),
        }
    }

    fn load_plugin_versions(&mut self, item: &Node, sink: &mut Sink<'_>) {
        Self::warn_unknown_keys(
            item,
            &["required_plugin_versions"],
            ItemType::RequiredPluginVersions,
            "",
            sink,
        );
        let v = item.get("required_plugin_versions").expect("dispatched on this key");
        let Kind::Seq(entries) = &v.kind else {
            sink.report(
                Code::LoadErrYamlValidate,
                "Value of required_plugin_versions must be a sequence",
                ItemType::RequiredPluginVersions,
                "",
                v.pos,
            );
            return;
        };
        for e in entries {
            let mut accepted = Vec::new();
            // One requirement (`name` and `version`), decoded as Falco decodes it.
            let one = |n: &Node, ty: ItemType, what: &str, sink: &mut Sink<'_>| -> Option<(String, String)> {
                if !matches!(n.kind, Kind::Map(_)) {
                    sink.report(
                        Code::LoadErrYamlValidate,
                        format!("{what} must be a mapping"),
                        ty,
                        "",
                        n.pos,
                    );
                    return None;
                }
                let name = scalar(n, "name", Need::Required, (ty, ""), sink).ok()??.as_str()?.to_string();
                let version =
                    scalar(n, "version", Need::Required, (ty, &name), sink).ok()??.as_str()?.to_string();
                Some((name, version))
            };
            let Some(first) = one(e, ItemType::RequiredPluginVersionsEntry, "Plugin version", sink) else {
                return;
            };
            accepted.push(first);
            if let Some(alts) = e.get("alternatives") {
                let Kind::Seq(alts) = &alts.kind else {
                    sink.report(
                        Code::LoadErrYamlValidate,
                        "Value of plugin version alternatives must be a sequence",
                        ItemType::RequiredPluginVersionsEntry,
                        &accepted[0].0,
                        alts.pos,
                    );
                    return;
                };
                for alt in alts {
                    let Some(a) = one(
                        alt,
                        ItemType::RequiredPluginVersionsAlternative,
                        "Plugin version alternative",
                        sink,
                    ) else {
                        return;
                    };
                    accepted.push(a);
                }
            }
            // What Falco's collector checks once the entry is read.
            let entry = |sink: &mut Sink<'_>, msg: String| {
                sink.report(
                    Code::LoadErrValidate,
                    msg,
                    ItemType::RequiredPluginVersionsEntry,
                    &accepted[0].0,
                    e.pos,
                )
            };
            if let Some((name, version)) = accepted.iter().find(|(_, v)| semver::Version::parse(v).is_err()) {
                entry(sink, format!("Invalid required version '{version}' for plugin '{name}'"));
                return;
            }
            if let Some((name, _)) = accepted
                .iter()
                .enumerate()
                .find(|(i, (n, _))| accepted[..*i].iter().any(|(m, _)| m == n))
                .map(|(_, a)| a)
            {
                entry(sink, format!("Defined multiple alternative version requirements for plugin '{name}'"));
                return;
            }
            self.required_plugins.push(PluginRequirement {
                accepted,
                origin: Origin { file: sink.file.to_string(), pos: e.pos },
            });
        }
    }

    fn load_rule(&mut self, item: &Node, sink: &mut Sink<'_>) {
        let Some(name) = Self::item_name(item, "rule", ItemType::Rule, sink) else { return };
        sink.rule = Some((name.clone(), item.pos));
        self.load_named_rule(item, name, sink);
        sink.rule = None;
    }

    fn load_named_rule(&mut self, item: &Node, name: String, sink: &mut Sink<'_>) {
        Self::warn_unknown_keys(item, RULE_KEYS, ItemType::Rule, &name, sink);
        let Some((append, modes)) =
            Self::modes(item, ItemType::Rule, &name, RULE_APPENDABLE, RULE_REPLACEABLE, sink)
        else {
            return;
        };
        let file = sink.file.to_string();
        let origin = Origin { file: file.clone(), pos: item.pos };
        let keys: Vec<&str> = match &item.kind {
            Kind::Map(e) => e.iter().filter_map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        };
        // An appended exception may bring only values for one the rule has: its fields are
        // optional there, and required everywhere else (as in Falco's reader).
        let fields_optional = append || modes.get("exceptions") == Some(&Mode::Append);
        let Some(exceptions) = self.parse_exceptions(item, fields_optional, sink) else { return };

        // A rule item with none of condition, output, desc and priority, and neither append
        // nor override, turns an existing rule on or off (deprecated in Falco, still honoured).
        let standalone = !append
            && modes.is_empty()
            && !["condition", "output", "desc", "priority"].iter().any(|k| keys.contains(k));
        if standalone {
            let Some(enabled) = Self::required_bool(item, "enabled", &name, sink) else { return };
            sink.report(
                Code::LoadDeprecatedItem,
                "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').",
                ItemType::Rule,
                &name,
                item.pos,
            );
            let Some(&i) = self.rule_index.get(&name) else {
                sink.report(
                    Code::LoadErrValidate,
                    "Rule has 'enabled' key but no rule by that name already exists",
                    ItemType::Rule,
                    &name,
                    item.pos,
                );
                return;
            };
            self.rules[i].enabled = enabled;
            return;
        }

        if append {
            let Some(&i) = self.rule_index.get(&name) else {
                sink.report(
                    Code::LoadErrValidate,
                    "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists",
                    ItemType::Rule,
                    &name,
                    item.pos,
                );
                return;
            };
            if item.get("condition").is_none() && item.get("exceptions").is_none() {
                sink.report(
                    Code::LoadErrValidate,
                    "Appended rule must have exceptions or condition property",
                    ItemType::Rule,
                    &name,
                    item.pos,
                );
                return;
            }
            if let Some(c) = Self::text(item, "condition", &file) {
                let rule = &mut self.rules[i];
                rule.condition.text = format!("{} {}", rule.condition.text, c.text);
            }
            self.merge_exceptions(i, exceptions, true, sink);
            return;
        }

        if !modes.is_empty() {
            let Some(&i) = self.rule_index.get(&name) else {
                // Falco applies appends before replacements, and says which one found nothing.
                let msg = if modes.values().any(|m| *m == Mode::Append) {
                    "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"
                } else {
                    "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists"
                };
                sink.report(Code::LoadErrValidate, msg, ItemType::Rule, &name, item.pos);
                return;
            };
            for key in keys.iter().filter(|k| !matches!(**k, "rule" | "override")) {
                if !modes.contains_key(*key) {
                    sink.report(
                        Code::LoadErrYamlValidate,
                        format!(
                            "Unexpected key '{key}': no corresponding entry under 'override' is defined."
                        ),
                        ItemType::Rule,
                        &name,
                        item.pos,
                    );
                    return;
                }
            }
            let Some(fields) = self.rule_fields(item, &name, sink, false) else { return };
            for (key, mode) in &modes {
                let rule = &mut self.rules[i];
                match (key.as_str(), mode) {
                    ("condition", Mode::Append) => {
                        rule.condition.text =
                            format!("{} {}", rule.condition.text, fields.condition.as_ref().unwrap().text)
                    }
                    ("condition", _) => rule.condition = fields.condition.clone().unwrap(),
                    ("output", Mode::Append) => {
                        rule.output.text =
                            format!("{} {}", rule.output.text, fields.output.as_ref().unwrap().text)
                    }
                    ("output", _) => rule.output = fields.output.clone().unwrap(),
                    ("desc", Mode::Append) => {
                        rule.desc = format!("{} {}", rule.desc, fields.desc.clone().unwrap())
                    }
                    ("desc", _) => rule.desc = fields.desc.clone().unwrap(),
                    ("tags", Mode::Append) => rule.tags.extend(fields.tags.clone()),
                    ("tags", _) => rule.tags = fields.tags.clone(),
                    ("priority", _) => rule.priority = fields.priority.unwrap(),
                    ("enabled", _) => rule.enabled = fields.enabled,
                    ("warn_evttypes", _) => rule.warn_evttypes = fields.warn_evttypes,
                    ("capture", _) => rule.capture = fields.capture,
                    ("skip-if-unknown-filter", _) => rule.skip_if_unknown_filter = fields.skip,
                    _ => {}
                }
            }
            match modes.get("exceptions") {
                Some(Mode::Append) => self.merge_exceptions(i, exceptions, true, sink),
                Some(_) => {
                    self.rules[i].exceptions.clear();
                    self.merge_exceptions(i, exceptions, false, sink);
                }
                None => {}
            }
            return;
        }

        let Some(fields) = self.rule_fields(item, &name, sink, true) else { return };
        let rule = RuleDef {
            name: name.clone(),
            condition: fields.condition.unwrap(),
            output: fields.output.unwrap(),
            desc: fields.desc.unwrap(),
            priority: fields.priority.unwrap(),
            enabled: fields.enabled,
            tags: fields.tags,
            source: fields.source,
            exceptions: Vec::new(),
            skip_if_unknown_filter: fields.skip,
            warn_evttypes: fields.warn_evttypes,
            capture: fields.capture,
            origin,
        };
        let i = match self.rule_index.get(&name) {
            Some(&i) if self.rules[i].source != rule.source => {
                sink.report(
                    Code::LoadErrValidate,
                    "Rule has been re-defined with a different source",
                    ItemType::Rule,
                    &name,
                    item.pos,
                );
                return;
            }
            Some(&i) => {
                self.rules[i] = rule;
                i
            }
            None => {
                self.rule_index.insert(name, self.rules.len());
                self.rules.push(rule);
                self.rules.len() - 1
            }
        };
        self.merge_exceptions(i, exceptions, false, sink);
    }

    fn rule_fields(
        &self,
        item: &Node,
        name: &str,
        sink: &mut Sink<'_>,
        required: bool,
    ) -> Option<RuleFields> {
        let file = sink.file.to_string();
        if required {
            for key in ["condition", "output", "desc", "priority"] {
                Self::require_str(item, key, ItemType::Rule, name, sink)?;
            }
        }
        let priority = match scalar(item, "priority", Need::Optional, (ItemType::Rule, name), sink).ok()? {
            None => None,
            Some(p) => match p.as_str().unwrap_or("").parse::<Priority>() {
                Ok(p) => Some(p),
                Err(_) => {
                    sink.report_in(
                        Code::LoadErrYamlValidate,
                        "Invalid priority",
                        (ItemType::Rule, name, item.pos),
                        (ItemType::RulePriority, "", p.pos),
                    );
                    return None;
                }
            },
        };
        let rule = (ItemType::Rule, name);
        let enabled = boolean(item, "enabled", true, rule, sink)?;
        let skip = boolean(item, "skip-if-unknown-filter", false, rule, sink)?;
        let warn_evttypes = boolean(item, "warn_evttypes", true, rule, sink)?;
        let capture = boolean(item, "capture", false, rule, sink)?;
        let tags = scalar_seq(item, "tags", Need::Optional, rule, sink)?.unwrap_or_default();
        let source = match scalar(item, "source", Need::Optional, rule, sink).ok()? {
            Some(v) => v.as_str().unwrap_or_default().to_string(),
            None => lanner_event::SYSCALL_SOURCE.to_string(),
        };
        Some(RuleFields {
            condition: Self::text(item, "condition", &file),
            output: Self::text(item, "output", &file),
            desc: item.get("desc").map(|d| d.as_str().unwrap_or("").to_string()),
            priority,
            enabled,
            skip,
            warn_evttypes,
            capture,
            tags,
            source,
        })
    }

    /// Parses a rule's `exceptions`. Each comes back with its fields when it has them:
    /// an appended exception may name an existing one and bring only values.
    #[allow(clippy::type_complexity)]
    fn parse_exceptions(
        &self,
        item: &Node,
        fields_optional: bool,
        sink: &mut Sink<'_>,
    ) -> Option<Vec<(ExceptionDef, bool, bool)>> {
        let Some(node) = item.get("exceptions") else { return Some(Vec::new()) };
        if node.is_null() {
            return Some(Vec::new());
        }
        let Kind::Seq(list) = &node.kind else {
            sink.report(
                Code::LoadErrYamlValidate,
                "Rule exceptions must be a sequence",
                ItemType::Exceptions,
                "",
                node.pos,
            );
            return None;
        };
        let mut out = Vec::new();
        for ex in list {
            if !matches!(ex.kind, Kind::Map(_)) {
                sink.report(
                    Code::LoadErrYamlValidate,
                    "Rule exception must be a mapping",
                    ItemType::Exception,
                    "",
                    ex.pos,
                );
                return None;
            }
            let name = match ex.get("name") {
                None => Err(("Item has no mapping for key 'name'", ItemType::Exception, "", ex.pos)),
                Some(n) if n.is_null() => {
                    Err(("Mapping for key 'name' is empty", ItemType::Exception, "", ex.pos))
                }
                Some(n) => match n.as_str() {
                    Some("") => Err(("Value must be non-empty", ItemType::ValueFor, "name", n.pos)),
                    Some(s) => Ok(s),
                    None => Err(("Value is not a scalar value", ItemType::ValueFor, "name", n.pos)),
                },
            };
            let name = match name {
                Ok(n) => n,
                Err((msg, ty, item, pos)) => {
                    sink.report(Code::LoadErrYamlValidate, msg, ty, item, pos);
                    return None;
                }
            };
            let name = name.to_string();
            Self::warn_unknown_keys(ex, EXCEPTION_KEYS, ItemType::Exception, &name, sink);
            let strings = |n: &Node, what: &str, sink: &mut Sink<'_>| -> Option<Vec<String>> {
                match &n.kind {
                    Kind::Seq(items) => items
                        .iter()
                        .map(|i| match i.as_str() {
                            Some(s) => Some(s.to_string()),
                            None => {
                                sink.report(
                                    Code::LoadErrYamlValidate,
                                    format!("Exception {what} must be strings"),
                                    ItemType::Exception,
                                    &name,
                                    i.pos,
                                );
                                None
                            }
                        })
                        .collect(),
                    _ => None,
                }
            };
            let fields = match ex.get("fields") {
                None if !fields_optional => {
                    sink.report(
                        Code::LoadErrYamlValidate,
                        "Item has no mapping for key 'fields'",
                        ItemType::Exception,
                        &name,
                        ex.pos,
                    );
                    return None;
                }
                None => None,
                Some(f) => {
                    match f.as_str() {
                        Some(s) => Some(ExcFields::Single(s.to_string())),
                        None => {
                            match strings(f, "fields", sink) {
                                Some(v) => Some(ExcFields::Tuple(v)),
                                None => {
                                    sink.report(Code::LoadErrYamlValidate, "Rule exception fields must be a field name or a sequence of field names", ItemType::Exception, &name, f.pos);
                                    return None;
                                }
                            }
                        }
                    }
                }
            };
            let comps: Option<Vec<String>> = match ex.get("comps") {
                None => None,
                Some(c) => match c.as_str() {
                    Some(s) => Some(vec![s.to_string()]),
                    None => match strings(c, "comps", sink) {
                        Some(v) => Some(v),
                        None => {
                            sink.report(
                                Code::LoadErrYamlValidate,
                                "Rule exception comps must be an operator or a sequence of operators",
                                ItemType::Exception,
                                &name,
                                c.pos,
                            );
                            return None;
                        }
                    },
                },
            };
            let nfields = match &fields {
                Some(ExcFields::Tuple(f)) => Some(f.len()),
                Some(ExcFields::Single(_)) => Some(1),
                None => None,
            };
            let has_comps = comps.is_some();
            // Falco trims the operators before it checks them.
            let comps = comps.map(|c| c.into_iter().map(|op| op.trim().to_string()).collect::<Vec<_>>());
            // One comparison per field: `=` each by default, `in` for the single-field form.
            let comps = match (&fields, comps) {
                (Some(ExcFields::Tuple(f)), None) => vec!["=".to_string(); f.len()],
                (Some(ExcFields::Single(_)), None) => vec!["in".to_string()],
                (Some(ExcFields::Single(_)), Some(c)) => {
                    let msg = if matches!(ex.get("comps").map(|n| &n.kind), Some(Kind::Seq(_))) {
                        Some("Fields and comps must both be strings")
                    } else if !matches!(c[0].as_str(), "in" | "pmatch" | "intersects") {
                        Some(
                            "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator (e.g. startswith oneof)",
                        )
                    } else {
                        None
                    };
                    if let Some(msg) = msg {
                        sink.report(Code::LoadErrValidate, msg, ItemType::Exception, &name, ex.pos);
                        return None;
                    }
                    c
                }
                (Some(f), Some(c)) => {
                    let scalar_for_tuple = matches!(f, ExcFields::Tuple(_))
                        && matches!(ex.get("comps").map(|n| &n.kind), Some(Kind::Scalar { .. }));
                    if scalar_for_tuple || Some(c.len()) != nfields {
                        sink.report(
                            Code::LoadErrValidate,
                            "Fields and comps lists must have equal length",
                            ItemType::Exception,
                            &name,
                            ex.pos,
                        );
                        return None;
                    }
                    c
                }
                (None, c) => c.unwrap_or_default(),
            };
            for c in &comps {
                if crate::ast::Op::from_text(c).is_none() {
                    sink.report(
                        Code::LoadErrValidate,
                        format!("'{c}' is not a supported comparison operator"),
                        ItemType::Exception,
                        &name,
                        ex.pos,
                    );
                    return None;
                }
            }
            let mut values = Vec::new();
            if let Some(v) = ex.get("values") {
                let Kind::Seq(rows) = &v.kind else {
                    if !v.is_null() {
                        sink.report(
                            Code::LoadErrYamlValidate,
                            "Rule exception values must be a sequence",
                            ItemType::ExceptionValues,
                            "",
                            v.pos,
                        );
                        return None;
                    }
                    out.push((
                        ExceptionDef {
                            name,
                            fields: fields.clone().unwrap_or(ExcFields::Tuple(Vec::new())),
                            comps,
                            values,
                            origin: Origin { file: sink.file.to_string(), pos: ex.pos },
                        },
                        fields.is_some(),
                        has_comps,
                    ));
                    continue;
                };
                for row in rows {
                    let one = |n: &Node, sink: &mut Sink<'_>| -> Option<ExcValue> {
                        match &n.kind {
                            Kind::Seq(items) => Some(ExcValue::Many(
                                items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
                            )),
                            _ => match n.as_str() {
                                Some(s) => Some(ExcValue::One(s.to_string())),
                                None => {
                                    sink.report(
                                        Code::LoadErrYamlValidate,
                                        "Exception values must be strings or sequences of strings",
                                        ItemType::Exception,
                                        &name,
                                        n.pos,
                                    );
                                    None
                                }
                            },
                        }
                    };
                    let tuple = match (&fields, &row.kind) {
                        // Without fields (an append to an existing exception, or an error
                        // reported when merging), a scalar row is a one-value tuple.
                        (Some(ExcFields::Single(_)), _) | (None, Kind::Scalar { .. }) => {
                            vec![one(row, sink)?]
                        }
                        (_, Kind::Seq(items)) => {
                            let mut t = Vec::new();
                            for i in items {
                                t.push(one(i, sink)?);
                            }
                            t
                        }
                        _ => {
                            sink.report(
                                Code::LoadErrValidate,
                                "Rule exception values must be sequences of values, one per field",
                                ItemType::Exception,
                                &name,
                                row.pos,
                            );
                            return None;
                        }
                    };
                    if let Some(n) = nfields
                        && tuple.len() != n
                    {
                        sink.report(
                            Code::LoadErrValidate,
                            "Fields and values lists must have equal length",
                            ItemType::Exception,
                            &name,
                            row.pos,
                        );
                        return None;
                    }
                    values.push(tuple);
                }
            }
            let has_fields = fields.is_some();
            out.push((
                ExceptionDef {
                    name,
                    fields: fields.unwrap_or(ExcFields::Tuple(Vec::new())),
                    comps,
                    values,
                    origin: Origin { file: sink.file.to_string(), pos: ex.pos },
                },
                has_fields,
                has_comps,
            ));
        }
        Some(out)
    }

    /// Adds exceptions to a rule. Appending to an exception of the same name adds its values;
    /// a new exception must bring its fields.
    fn merge_exceptions(
        &mut self,
        rule: usize,
        exceptions: Vec<(ExceptionDef, bool, bool)>,
        append: bool,
        sink: &mut Sink<'_>,
    ) {
        for (ex, has_fields, has_comps) in exceptions {
            let existing = self.rules[rule].exceptions.iter_mut().find(|e| e.name == ex.name);
            match existing {
                Some(_) if append && (has_fields || has_comps) => {
                    // Falco refuses rather than ignore what cannot be appended.
                    let what = if has_fields { "fields" } else { "comps" };
                    sink.report(
                        Code::LoadErrValidate,
                        format!("Can not append exception {what} to existing exception, only values"),
                        ItemType::Exception,
                        &ex.name,
                        ex.origin.pos,
                    );
                }
                Some(e) if append => {
                    let n = match &e.fields {
                        ExcFields::Tuple(f) => f.len(),
                        ExcFields::Single(_) => 1,
                    };
                    if ex.values.iter().any(|t| t.len() != n) {
                        sink.report(
                            Code::LoadErrValidate,
                            "Fields and values lists must have equal length",
                            ItemType::Exception,
                            &ex.name,
                            ex.origin.pos,
                        );
                        continue;
                    }
                    e.values.extend(ex.values);
                }
                Some(_) => {
                    sink.report(
                        Code::LoadExceptionNameNotUnique,
                        format!("Multiple definitions of exception '{}' in the same rule", ex.name),
                        ItemType::Exception,
                        &ex.name,
                        ex.origin.pos,
                    );
                    let list = &mut self.rules[rule].exceptions;
                    list.retain(|e| e.name != ex.name);
                    list.push(ex);
                }
                None if append && has_fields && ex.values.is_empty() => {
                    sink.report(
                        Code::LoadErrValidate,
                        "Rule exception must have values property with a list of values",
                        ItemType::Exception,
                        &ex.name,
                        ex.origin.pos,
                    );
                }
                None => {
                    if !has_fields {
                        sink.report(
                            Code::LoadErrValidate,
                            "Rule exception must have fields property with a list of fields",
                            ItemType::Exception,
                            &ex.name,
                            ex.origin.pos,
                        );
                        continue;
                    }
                    self.rules[rule].exceptions.push(ex);
                }
            }
        }
    }
}

struct RuleFields {
    condition: Option<Text>,
    output: Option<Text>,
    desc: Option<String>,
    priority: Option<Priority>,
    enabled: bool,
    skip: bool,
    warn_evttypes: bool,
    capture: bool,
    tags: Vec<String>,
    source: String,
}
