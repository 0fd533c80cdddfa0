//! What this program can fill, for the engine's warnings about rules that cannot fire: the
//! syscall fields the state tables answer, the few event fields source plugins' events
//! answer, each plugin's fields for the sources it reads, and the event types capture
//! delivers.

use lanner_engine::{Availability, Filler};
use lanner_event::{FieldRegistry, SYSCALL_SOURCE, evttype};
use lanner_plugin_runtime::Plugin;
use std::collections::HashSet;
use std::sync::Arc;

/// Event fields that every source plugin's events answer (`lanner_plugin_runtime::PluginEvent`).
const PLUGIN_EVENT_FIELDS: &[&str] = &["evt.source", "evt.pluginname", "evt.rawtime"];

/// Event types that are not syscalls but are delivered all the same.
/// (`io_uring_submit`: operations submitted through io_uring rings, from their own tracepoint.)
const NON_SYSCALL_TYPES: &[&str] = &["procexit", "container", "io_uring_submit"];

/// Who fills what, for `registry` (the syscall fields and `plugins`' fields).
pub fn build(registry: &FieldRegistry, plugins: &[Arc<Plugin>]) -> Availability {
    let answered: HashSet<&str> = lanner_state::FieldMap::supported().collect();
    let plugin_sources: Vec<String> =
        plugins.iter().filter_map(|p| p.source_name().map(String::from)).collect();
    let mut a = Availability::default();
    for (id, def) in registry.iter() {
        let name = def.name.as_ref();
        let filler = match plugins.iter().find(|p| p.name() == def.provider.as_ref()) {
            Some(p) => Filler::Plugin {
                plugin: p.name().to_string(),
                sources: (!p.event_sources().is_empty()).then(|| p.event_sources().to_vec()),
            },
            None if def.provider.as_ref() != SYSCALL_SOURCE => continue,
            None => {
                let mut sources = Vec::new();
                if answered.contains(name) {
                    sources.push(SYSCALL_SOURCE.to_string());
                }
                if PLUGIN_EVENT_FIELDS.contains(&name) {
                    sources.extend(plugin_sources.iter().cloned());
                }
                if sources.is_empty() { Filler::Nobody } else { Filler::Sources(sources) }
            }
        };
        a.set(id, filler);
    }
    let captured = lanner_capture::syscalls::CAPTURED
        .iter()
        .filter_map(|s| evttype::id_of(s.name))
        .chain(NON_SYSCALL_TYPES.iter().filter_map(|n| evttype::id_of(n)));
    a.set_captured(captured);
    a
}
