//! What can actually reach a rule where it runs: which sources fill each field, and which
//! syscall event types capture delivers. A rule that reads a field no source fills, or
//! waits for an event that is never captured, loads without an error in Falco's terms and
//! then never fires; a detection tool must say so when it loads the rule, not stay silent.

use crate::Code;
use crate::eval::Expr;
use crate::eval::bit;
use lanner_event::{EventTypeId, FieldId, FieldRegistry, evttype};
use std::collections::HashMap;

/// Which sources fill which fields, and which event types are captured. Built by the
/// program that knows its capture and plugins; the engine only compares.
#[derive(Debug, Clone, Default)]
pub struct Availability {
    /// Per field: who fills it. Fields not listed are not checked.
    fields: HashMap<FieldId, Filler>,
    /// The syscall event types capture can deliver; `None`: not checked.
    captured: Option<Vec<u64>>,
}

/// Who fills a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filler {
    /// Nobody, on any source.
    Nobody,
    /// These sources' events carry a value.
    Sources(Vec<String>),
    /// A plugin, for the sources it reads (every source when `None`).
    Plugin {
        /// The plugin's name.
        plugin: String,
        /// The sources it reads, `None` for every source.
        sources: Option<Vec<String>>,
    },
}

impl Filler {
    /// The sources that fill the field, as `list-fields` shows them: `never`, the sources
    /// joined by commas, or `any` for a plugin that reads every source.
    pub fn describe(&self) -> String {
        match self {
            Filler::Nobody => "never".into(),
            Filler::Sources(s) => s.join(","),
            Filler::Plugin { sources: None, .. } => "any".into(),
            Filler::Plugin { sources: Some(s), .. } if s.is_empty() => "never".into(),
            Filler::Plugin { sources: Some(s), .. } => s.join(","),
        }
    }
}

impl Availability {
    /// Says who fills a field.
    pub fn set(&mut self, id: FieldId, filler: Filler) {
        self.fields.insert(id, filler);
    }

    /// Who fills a field, when it is known.
    pub fn filler(&self, id: FieldId) -> Option<&Filler> {
        self.fields.get(&id)
    }

    /// Says which syscall event types capture can deliver.
    pub fn set_captured(&mut self, types: impl IntoIterator<Item = EventTypeId>) {
        let mut bits = vec![0u64; evttype::count().div_ceil(64)];
        for t in types {
            if let Some(w) = bits.get_mut(t as usize / 64) {
                *w |= 1 << (t % 64);
            }
        }
        self.captured = Some(bits);
    }

    /// The warnings for a rule of `source` whose condition is `expr` and which matches the
    /// syscall event types `events`.
    pub(crate) fn check(
        &self,
        reg: &FieldRegistry,
        source: &str,
        expr: &Expr,
        events: Option<&[u64]>,
    ) -> Vec<(Code, String)> {
        let mut out: Vec<(Code, String)> = Vec::new();
        // Whether the rule can fire at all once the fields nobody fills are missing: a
        // field in an exception (`and not container.image.repository in (...)`) only makes
        // the exception moot, a field the condition needs makes the rule dead.
        let unfilled = |id: FieldId| match self.fields.get(&id) {
            Some(Filler::Nobody) => true,
            Some(Filler::Sources(srcs)) => !srcs.iter().any(|s| s == source),
            Some(Filler::Plugin { sources: Some(srcs), .. }) => !srcs.iter().any(|s| s == source),
            _ => false,
        };
        let dead = expr.without(&|f| unfilled(f.id)) == Some(false);
        let verdict = if dead { "the rule can never fire" } else { "checks of it are false" };
        let mut seen: Vec<FieldId> = Vec::new();
        expr.for_each_field(&mut |f| {
            if seen.contains(&f.id) {
                return;
            }
            seen.push(f.id);
            let name = reg.def(f.id).name.as_ref();
            match self.fields.get(&f.id) {
                Some(Filler::Nobody) => out.push((
                    Code::LoadUnfilledField,
                    format!("field {name} is never filled: {verdict}"),
                )),
                Some(Filler::Sources(srcs)) if !srcs.iter().any(|s| s == source) => out.push((
                    Code::LoadUnfilledField,
                    format!("field {name} is never filled for source {source}: {verdict}"),
                )),
                Some(Filler::Plugin { plugin, sources: Some(srcs) }) if !srcs.iter().any(|s| s == source) => {
                    out.push((
                        Code::LoadPluginFieldSource,
                        format!(
                            "field {name} of plugin {plugin} cannot be extracted for source {source} (the plugin reads {}): {verdict}",
                            if srcs.is_empty() { "no source".to_string() } else { srcs.join(", ") }
                        ),
                    ))
                }
                _ => {}
            }
        });
        if let (Some(captured), Some(events)) = (&self.captured, events) {
            let missing: Vec<&str> = (0..evttype::count() as EventTypeId)
                .filter(|&t| bit(events, t) && !bit(captured, t))
                .map(evttype::name_of)
                .filter(|n| !n.is_empty())
                .collect();
            let any = (0..evttype::count() as EventTypeId).any(|t| bit(events, t) && bit(captured, t));
            // A rule for every event type (no evt.type in its condition) is not about the
            // missing ones: only say so when some of its own types are never captured.
            let all_types = events.iter().all(|w| *w == u64::MAX);
            if !missing.is_empty() && !all_types && missing.len() <= 32 {
                out.push((
                    Code::LoadUncapturedEvttype,
                    if any {
                        format!("event types never captured: {}", missing.join(", "))
                    } else {
                        format!("the rule can never fire: event types never captured: {}", missing.join(", "))
                    },
                ));
            }
        }
        out
    }
}
