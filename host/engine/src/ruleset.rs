//! A compiled ruleset: rules indexed by source and event type, evaluated against events.

use crate::EngineConfig;
use crate::compile::bitmap_names;
use crate::eval::{Expr, bit};
use crate::output::OutputFormat;
use lanner_event::{Alert, Event, EventTypeId, FieldRef, Priority, SYSCALL_SOURCE, evttype};
use std::collections::HashMap;

/// Whether an event raises one alert (its first matching rule, in load order: Falco's
/// default) or one per matching rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchMode {
    /// The first matching rule only.
    #[default]
    First,
    /// Every matching rule.
    All,
}

/// A rule, compiled.
#[derive(Debug)]
pub struct CompiledRule {
    /// Its name.
    pub name: String,
    /// Its description.
    pub desc: String,
    /// Its condition as written (after appends).
    pub condition: String,
    /// Its output template.
    pub output_template: String,
    /// Its priority.
    pub priority: Priority,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its event source.
    pub source: String,
    /// The resolved condition in Falco's canonical text: macros and lists expanded,
    /// exceptions appended.
    pub condition_compiled: String,
    /// The event types it can match, for syscall rules.
    pub(crate) event_bits: Option<Vec<u64>>,
    /// Fields its condition reads.
    pub condition_fields: Vec<String>,
    /// Fields its output prints.
    pub output_fields: Vec<String>,
    /// Fields its exceptions read.
    pub exception_fields: Vec<String>,
    /// Its exceptions' names.
    pub exception_names: Vec<String>,
    /// The file that defined it.
    pub file: String,
    /// The line where it is defined.
    pub line: usize,
    /// Whether it asks for Falco's per-rule capture (`capture: true`).
    pub capture: bool,
    pub(crate) expr: Expr,
    pub(crate) output: OutputFormat,
    /// Fields added to `output_fields` only (Falco's `extra_fields`): key, template, and
    /// whether the value is the field's own (raw) rather than the template's text.
    pub(crate) extra_fields: Vec<(String, OutputFormat, bool)>,
}

impl CompiledRule {
    /// The names of the event types this rule can match (`None` for non-syscall sources).
    pub fn event_types(&self) -> Option<Vec<String>> {
        self.event_bits.as_deref().map(bitmap_names)
    }

    /// Whether the rule matches the event (ignoring whether it is enabled).
    pub fn matches<E: Event + ?Sized>(&self, ev: &E) -> bool {
        self.expr.eval(ev)
    }

    /// Every field its alert reads: the output's and the extra fields'.
    pub(crate) fn output_field_refs(&self) -> impl Iterator<Item = &FieldRef> {
        self.output.field_refs().chain(self.extra_fields.iter().flat_map(|(_, f, _)| f.field_refs()))
    }

    /// The alert this rule raises for an event.
    pub fn alert<E: Event + ?Sized>(&self, ev: &E, hostname: &str) -> Alert {
        let (output, mut output_fields) = self.output.render(ev);
        for (key, format, raw) in &self.extra_fields {
            let (text, fields) = format.render(ev);
            let value = if *raw {
                fields.into_iter().next().and_then(|f| f.value)
            } else {
                Some(lanner_event::Value::Str(text.into()))
            };
            match output_fields.iter_mut().find(|f| &f.name == key) {
                Some(f) => f.value = value,
                None => output_fields.push(lanner_event::OutputField { name: key.clone(), value }),
            }
        }
        Alert {
            time_ns: ev.timestamp_ns(),
            rule: self.name.clone(),
            priority: self.priority,
            output,
            output_fields,
            source: self.source.clone(),
            tags: self.tags.clone(),
            hostname: hostname.to_string(),
        }
    }
}

/// A macro, described.
#[derive(Debug, Clone)]
pub struct MacroInfo {
    /// Its name.
    pub name: String,
    /// Its condition as written.
    pub condition: String,
    /// Whether a rule or macro refers to it.
    pub used: bool,
    /// Macros it refers to.
    pub macros: Vec<String>,
    /// Lists it refers to.
    pub lists: Vec<String>,
    /// Its resolved condition, when it compiles.
    pub condition_compiled: Option<String>,
    pub(crate) events: Option<Vec<u64>>,
}

impl MacroInfo {
    /// The event types the macro restricts to.
    pub fn event_types(&self) -> Vec<String> {
        self.events.as_deref().map(bitmap_names).unwrap_or_default()
    }
}

/// A list, described.
#[derive(Debug, Clone)]
pub struct ListInfo {
    /// Its name.
    pub name: String,
    /// Its items as written.
    pub items: Vec<String>,
    /// Whether a rule, macro or list refers to it.
    pub used: bool,
    /// Lists among its items.
    pub lists: Vec<String>,
    /// Its items with inner lists expanded.
    pub items_compiled: Vec<String>,
}

/// Rules of one source, indexed for evaluation.
#[derive(Debug, Default)]
pub(crate) struct SourceIndex {
    /// For syscall events: the rules that can match each event type.
    pub(crate) by_type: Vec<Box<[u32]>>,
    /// For other sources: every enabled rule.
    pub(crate) all: Box<[u32]>,
}

/// Compiled rules, ready to evaluate events.
#[derive(Debug, Default)]
pub struct Ruleset {
    pub(crate) rules: Vec<CompiledRule>,
    macros: Vec<MacroInfo>,
    lists: Vec<ListInfo>,
    pub(crate) syscall: SourceIndex,
    others: HashMap<String, SourceIndex>,
    pub(crate) mode: MatchMode,
    min_priority: Option<Priority>,
}

impl Ruleset {
    pub(crate) fn new(
        rules: Vec<CompiledRule>,
        macros: Vec<MacroInfo>,
        lists: Vec<ListInfo>,
        cfg: &EngineConfig,
    ) -> Self {
        let mut rs = Ruleset {
            rules,
            macros,
            lists,
            mode: cfg.match_mode,
            min_priority: Some(cfg.min_priority),
            ..Ruleset::default()
        };
        rs.reindex();
        rs
    }

    fn active(&self, r: &CompiledRule) -> bool {
        r.enabled && self.min_priority.is_none_or(|p| r.priority.at_least(p))
    }

    fn reindex(&mut self) {
        let mut by_type: Vec<Vec<u32>> = vec![Vec::new(); evttype::count()];
        let mut others: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            if !self.active(r) {
                continue;
            }
            match &r.event_bits {
                Some(bits) if r.source == SYSCALL_SOURCE => {
                    for (t, list) in by_type.iter_mut().enumerate() {
                        if bit(bits, t as EventTypeId) {
                            list.push(i as u32);
                        }
                    }
                }
                _ => others.entry(r.source.clone()).or_default().push(i as u32),
            }
        }
        self.syscall =
            SourceIndex { by_type: by_type.into_iter().map(Into::into).collect(), all: Box::new([]) };
        self.others = others
            .into_iter()
            .map(|(k, v)| (k, SourceIndex { by_type: Vec::new(), all: v.into() }))
            .collect();
    }

    /// Every compiled rule, in load order, enabled or not.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Every macro, described.
    pub fn macros(&self) -> &[MacroInfo] {
        &self.macros
    }

    /// Every list, described.
    pub fn lists(&self) -> &[ListInfo] {
        &self.lists
    }

    /// Enables or disables rules by name; returns how many changed.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> usize {
        let mut n = 0;
        for r in self.rules.iter_mut().filter(|r| r.name == name && r.enabled != enabled) {
            r.enabled = enabled;
            n += 1;
        }
        self.reindex();
        n
    }

    /// Enables or disables every rule `select` picks (Falco's `rules:` selection works on
    /// name patterns and tags); returns how many it picked, changed or not.
    pub fn set_enabled_where(&mut self, select: impl Fn(&CompiledRule) -> bool, enabled: bool) -> usize {
        let mut n = 0;
        for r in self.rules.iter_mut().filter(|r| select(r)) {
            r.enabled = enabled;
            n += 1;
        }
        self.reindex();
        n
    }

    /// The syscall event types that some enabled rule can match: what capture must deliver.
    pub fn needed_event_types(&self) -> Vec<EventTypeId> {
        (0..self.syscall.by_type.len())
            .filter(|&t| !self.syscall.by_type[t].is_empty())
            .map(|t| t as EventTypeId)
            .collect()
    }

    /// Whether some enabled rule could match a syscall event of `ev`'s type of which only
    /// the fields that `known` accepts are known (with `ev`'s values): `false` when every
    /// candidate rule's condition is false whatever the other fields hold. Capture uses it
    /// to leave in the kernel the events that no rule can match.
    pub fn may_match<E: Event + ?Sized>(&self, ev: &E, known: &dyn Fn(&FieldRef) -> bool) -> bool {
        let Some(candidates) = self.syscall.by_type.get(ev.event_type() as usize) else { return false };
        candidates.iter().any(|&i| self.rules[i as usize].expr.eval_partial(ev, known) != Some(false))
    }

    /// The rules that can match an event of this source and type, in load order.
    pub(crate) fn candidates<E: Event + ?Sized>(&self, ev: &E) -> &[u32] {
        if ev.source() == SYSCALL_SOURCE {
            self.syscall.by_type.get(ev.event_type() as usize).map_or(&[], |c| c)
        } else {
            self.others.get(ev.source()).map_or(&[], |s| &s.all)
        }
    }

    /// Calls `on_match` for each rule the event matches: the first one, or all, per the
    /// match mode. Only rules that can match the event's source and type are evaluated.
    pub fn evaluate<'r, E: Event + ?Sized>(&'r self, ev: &E, mut on_match: impl FnMut(&'r CompiledRule)) {
        for &i in self.candidates(ev) {
            let rule = &self.rules[i as usize];
            if rule.expr.eval(ev) {
                on_match(rule);
                if self.mode == MatchMode::First {
                    return;
                }
            }
        }
    }

    /// The alerts an event raises.
    pub fn process<E: Event + ?Sized>(&self, ev: &E, hostname: &str) -> Vec<Alert> {
        let mut out = Vec::new();
        self.evaluate(ev, |r| out.push(r.alert(ev, hostname)));
        out
    }
}
