//! Lanner's rule engine: Falco's rule language, loaded, validated, compiled and evaluated.
//!
//! It owns rules files (YAML with positions), the condition language, compilation against a
//! [`FieldRegistry`], event-type indexing, evaluation and output formatting. It sees events
//! only through [`lanner_event::Event`] and knows nothing of eBPF, WASM or async runtimes,
//! so it can be loaded, validated and benchmarked alone.
#![deny(missing_docs)]

pub mod ast;
mod availability;
mod compile;
mod constants;
mod defer;
pub mod describe;
pub mod diag;
mod eval;
mod loader;
mod output;
pub mod parser;
mod ruleset;
pub mod yaml;

pub use availability::{Availability, Filler};
pub use constants::compared_constants;
pub use defer::{Decision, DeferPlan};
pub use diag::{Code, Diagnostic, ItemType, Location};
pub use ruleset::{CompiledRule, ListInfo, MacroInfo, MatchMode, Ruleset};

use lanner_event::FieldRegistry;
use std::collections::HashSet;

/// The version of Falco's rule language this engine implements, checked against rules files'
/// `required_engine_version`.
pub const ENGINE_VERSION: &str = "0.57.0";

/// What the engine compiles rules against.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Every field rules may use.
    pub registry: FieldRegistry,
    /// The event sources that exist (`syscall`, plugin sources); rules for others are skipped.
    pub sources: Vec<String>,
    /// Plugins, or built-in providers that stand in for them, as `(name, version)`, checked
    /// against `required_plugin_versions`.
    pub plugins: Vec<(String, String)>,
    /// This engine's version.
    pub engine_version: semver::Version,
    /// Only rules at least this severe are loaded (Falco's `priority` setting).
    pub min_priority: lanner_event::Priority,
    /// Whether an event raises an alert for its first matching rule or for all of them.
    pub match_mode: MatchMode,
    /// What can reach rules where they run: when set, rules that read fields no source
    /// fills, or event types capture never delivers, are warned about.
    pub availability: Option<Availability>,
    /// Formats appended to the outputs of the rules they match (Falco's `append_output`:
    /// `extra_output`, and the fields plugins suggest), in order.
    pub extra_outputs: Vec<ExtraOutput>,
    /// Fields added to the `output_fields` of the rules they match, not to the text
    /// (Falco's `append_output` `extra_fields`), in order.
    pub extra_fields: Vec<ExtraField>,
    /// Falco's `static_fields`: `static.NAME` answers the configured text on every event of
    /// every source. Registered by [`EngineConfig::register_static_fields`]; the values are
    /// folded into the compiled rules, so events never see these fields.
    pub static_fields: std::collections::BTreeMap<String, String>,
}

/// The provider named for `static.*` fields in the registry (Falco's `static` field class).
pub const STATIC_PROVIDER: &str = "static";

/// The class prefix of Falco's static fields.
pub const STATIC_PREFIX: &str = "static.";

/// A format appended, after a space, to the output of every rule it matches, as Falco's
/// `append_output` entries do. Every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraOutput {
    /// Only rules of this source.
    pub source: Option<String>,
    /// Only rules that have all of these tags.
    pub tags: Vec<String>,
    /// Only the rule of this name.
    pub rule: Option<String>,
    /// The format appended, `%field`s included.
    pub format: String,
}

/// A field added to the `output_fields` of every rule it matches, as Falco's
/// `append_output` `extra_fields` entries do: `KEY: FORMAT` (the format's text) or a field
/// name alone (its value, typed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraField {
    /// Only rules of this source.
    pub source: Option<String>,
    /// Only rules that have all of these tags.
    pub tags: Vec<String>,
    /// Only the rule of this name.
    pub rule: Option<String>,
    /// The name in `output_fields`.
    pub key: String,
    /// The format rendered (for a raw field, unused: the field `key` is read).
    pub format: String,
    /// Whether the value is the field `key`'s own.
    pub raw: bool,
}

impl ExtraField {
    /// Whether it applies to a rule of `name`, `source` and `tags`.
    pub fn matches(&self, name: &str, source: &str, tags: &[String]) -> bool {
        self.source.as_deref().is_none_or(|s| s == source)
            && self.rule.as_deref().is_none_or(|r| r == name)
            && self.tags.iter().all(|t| tags.contains(t))
    }
}

impl ExtraOutput {
    /// Whether it applies to a rule of `name`, `source` and `tags`.
    pub fn matches(&self, name: &str, source: &str, tags: &[String]) -> bool {
        self.source.as_deref().is_none_or(|s| s == source)
            && self.rule.as_deref().is_none_or(|r| r == name)
            && self.tags.iter().all(|t| tags.contains(t))
    }

    /// Falco's rendering of a suggested field: `container.id` appends `container_id=%container.id`.
    pub fn suggested(field: &str, source: Option<String>) -> Self {
        ExtraOutput { source, format: format!("{}=%{field}", field.replace('.', "_")), ..Default::default() }
    }
}

impl EngineConfig {
    /// The syscall source and its fields, including the fields that stand in for Falco
    /// plugins (`container`), so that `required_plugin_versions` is checked against them.
    pub fn syscall() -> Self {
        EngineConfig {
            registry: FieldRegistry::with_syscall_fields(),
            sources: vec![lanner_event::SYSCALL_SOURCE.to_string()],
            plugins: lanner_event::BUILTIN_PLUGIN_EQUIVALENTS
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            engine_version: semver::Version::parse(ENGINE_VERSION).expect("valid version"),
            min_priority: lanner_event::Priority::Debug,
            match_mode: MatchMode::First,
            availability: None,
            extra_outputs: Vec::new(),
            extra_fields: Vec::new(),
            static_fields: Default::default(),
        }
    }

    /// Adds `static.NAME` for each of [`EngineConfig::static_fields`] to the registry, as
    /// text fields with no argument. Call it before plugins add theirs: as in Falco, a
    /// plugin that declares one of these names is then refused.
    pub fn register_static_fields(&mut self) -> Result<(), lanner_event::RegistryError> {
        for name in self.static_fields.keys() {
            let full = format!("{STATIC_PREFIX}{name}");
            if self.registry.get(&full).is_some() {
                continue;
            }
            self.registry.add(lanner_event::FieldDef {
                name: full.into(),
                ftype: lanner_event::FieldType::String,
                arg: lanner_event::ArgSpec::NONE,
                desc: "Static, user-defined field (static_fields in the configuration)".into(),
                provider: STATIC_PROVIDER.into(),
            })?;
        }
        Ok(())
    }
}

/// One rules file's content, named as it should appear in diagnostics.
#[derive(Debug, Clone)]
pub struct RulesSource {
    /// The file's name or path.
    pub name: String,
    /// Its text.
    pub content: String,
}

impl RulesSource {
    /// Reads a file; a read error becomes a `LOAD_ERR_FILE_READ` diagnostic when loading.
    pub fn read(path: &std::path::Path) -> Result<Self, std::io::Error> {
        Ok(RulesSource { name: path.display().to_string(), content: std::fs::read_to_string(path)? })
    }
}

/// The result of loading one file, in Falco's validation terms.
#[derive(Debug, Clone)]
pub struct FileResult {
    /// The file's name.
    pub name: String,
    /// Whether it loaded without error.
    pub successful: bool,
    /// Its errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// Its text, kept so that reports can quote the line a diagnostic points at.
    pub content: std::sync::Arc<str>,
}

impl FileResult {
    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}

/// The result of loading several files in order.
#[derive(Debug)]
pub struct LoadOutcome {
    /// One result per file, in load order.
    pub files: Vec<FileResult>,
    /// Everything that compiled (rules with errors are absent). Use it only when
    /// [`LoadOutcome::is_ok`]: a ruleset with errors is incomplete.
    pub ruleset: Ruleset,
}

impl LoadOutcome {
    /// Whether every file loaded without error.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(|f| f.successful)
    }

    /// Every diagnostic, in order.
    pub fn diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.files.iter().flat_map(|f| f.diagnostics.iter())
    }

    /// The ruleset when loading succeeded, or every error in one message.
    pub fn into_result(self) -> Result<Ruleset, LoadError> {
        if self.is_ok() {
            Ok(self.ruleset)
        } else {
            Err(LoadError { errors: self.diagnostics().filter(|d| d.is_error()).cloned().collect() })
        }
    }
}

/// Rules that did not load: every error, each naming its file, line and item.
#[derive(Debug, Clone, thiserror::Error)]
#[error("rules did not load:\n{}", errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
pub struct LoadError {
    /// The errors.
    pub errors: Vec<Diagnostic>,
}

/// Loads rules files in order, as Falco does: each file's items are added to what came
/// before (appending, overriding or redefining), and the whole is compiled after each file,
/// so that each file's result says whether the rules were valid once it was loaded.
pub fn load(cfg: &EngineConfig, files: &[RulesSource]) -> LoadOutcome {
    let mut defs = loader::Definitions::default();
    let mut results = Vec::new();
    let mut seen: HashSet<Diagnostic> = HashSet::new();
    let mut last = None;
    for f in files {
        let mut sink = loader::Sink { file: &f.name, diags: Vec::new(), rule: None };
        defs.load_file(&f.content, &mut sink);
        let mut diags = sink.diags;
        let out = compile::compile(&defs, cfg);
        for d in out.diags {
            // Compiling after each file repeats what earlier files already reported.
            if seen.insert(d.clone()) {
                diags.push(d);
            }
        }
        let successful = !diags.iter().any(Diagnostic::is_error);
        results.push(FileResult {
            name: f.name.clone(),
            successful,
            diagnostics: diags,
            content: f.content.as_str().into(),
        });
        last = Some((out.rules, out.macros, out.lists));
    }
    let (rules, macros, lists) = last.unwrap_or_default();
    LoadOutcome { files: results, ruleset: Ruleset::new(rules, macros, lists, cfg) }
}
