//! Plugins behind the engine's seams: their fields in the registry, and batches of events
//! whose plugin fields are extracted with one call per plugin and batch.
//!
//! The engine asks an event for one field at a time; a plugin is best called once for many
//! events. An [`EventBatch`] bridges the two: before the rules run, it extracts, for all its
//! events at once, every plugin field the rules asked for in earlier batches (the
//! [`FieldMap`] learns them); a field asked for the first time is extracted then, for the whole
//! batch in one call, and prefetched from the next batch on.

use crate::bindings::types;
use crate::error::PluginError;
use crate::plugin::Plugin;
use lanner_event::{
    Event, EventTypeId, FieldArg, FieldDef, FieldId, FieldRef, FieldRegistry, RegistryError, Value,
};
use lanner_plugin_answers::Extracted;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An event as plugins exchange it: source, time and payload.
pub type RawEvent = types::Event;

/// Which plugin answers which registry field, and which fields rules ask for.
pub struct FieldMap {
    owners: Vec<Option<(usize, u32)>>,
    plugins: Vec<Arc<Plugin>>,
    learned: Mutex<Vec<FieldRef>>,
    evt_source: Option<FieldId>,
    evt_rawtime: Option<FieldId>,
    evt_pluginname: Option<FieldId>,
    plugin_event_type: EventTypeId,
}

impl std::fmt::Debug for FieldMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldMap").field("plugins", &self.plugins.len()).finish_non_exhaustive()
    }
}

impl FieldMap {
    /// Adds every field of `plugins` to `registry` (provider: the plugin's name) and maps them.
    /// A name already taken (by the syscall source or another plugin) is refused.
    pub fn register(
        plugins: &[Arc<Plugin>],
        registry: &mut FieldRegistry,
    ) -> Result<FieldMap, RegistryError> {
        let mut owners = Vec::new();
        for (pi, p) in plugins.iter().enumerate() {
            for (fi, f) in p.fields().iter().enumerate() {
                let id = registry.add(FieldDef {
                    name: Cow::Owned(f.name.clone()),
                    ftype: f.ftype,
                    arg: f.arg,
                    desc: Cow::Owned(f.description.clone()),
                    provider: Cow::Owned(p.name().to_string()),
                })?;
                let idx = id.0 as usize;
                if owners.len() <= idx {
                    owners.resize(idx + 1, None);
                }
                owners[idx] = Some((pi, fi as u32));
            }
        }
        Ok(FieldMap {
            owners,
            plugins: plugins.to_vec(),
            learned: Mutex::new(Vec::new()),
            evt_source: registry.get("evt.source"),
            evt_rawtime: registry.get("evt.rawtime"),
            evt_pluginname: registry.get("evt.pluginname"),
            plugin_event_type: lanner_event::evttype::id_of("pluginevent").unwrap_or(0),
        })
    }

    /// The plugin and field index answering a registry field.
    pub fn owner(&self, id: FieldId) -> Option<(&Arc<Plugin>, u32)> {
        self.owners.get(id.0 as usize).copied().flatten().map(|(p, f)| (&self.plugins[p], f))
    }

    /// Declares fields to extract in every batch (those rules use), ahead of learning them.
    pub fn prefetch(&self, fields: impl IntoIterator<Item = FieldRef>) {
        let mut l = self.learned.lock().unwrap_or_else(|p| p.into_inner());
        for f in fields {
            if self.owner(f.id).is_some() && !l.contains(&f) {
                l.push(f);
            }
        }
    }

    /// The fields extracted ahead in every batch.
    pub fn prefetched(&self) -> Vec<FieldRef> {
        self.learned.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The plugins mapped.
    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }
}

fn arg_text(a: &FieldArg) -> Option<String> {
    match a {
        FieldArg::None => None,
        FieldArg::Index(i) => Some(i.to_string()),
        FieldArg::Key(k) => Some(k.to_string()),
    }
}

/// One plugin's answer for a batch: its values, and which of its rows is which event.
struct Table {
    values: Extracted,
    /// Requests per event: the width of a row.
    width: usize,
    /// Per event, its row, when the plugin read only some of the batch's events (`u32::MAX`:
    /// an event it does not read); `None` when row `i` is event `i`.
    rows: Option<Vec<u32>>,
}

impl Table {
    fn get(&self, event: usize, request: usize) -> Option<Value<'_>> {
        let row = match &self.rows {
            None => event,
            Some(rows) => match *rows.get(event)? {
                u32::MAX => return None,
                row => row as usize,
            },
        };
        self.values.get(row * self.width + request)
    }
}

/// A batch of events whose plugin fields are extracted together.
pub struct EventBatch<'m> {
    map: &'m FieldMap,
    events: Vec<RawEvent>,
    /// One answer per plugin that was called.
    tables: Vec<Table>,
    /// The prefetched fields: their table and request index, `None` when the plugin failed.
    /// A few, found by comparing field ids (cheaper than hashing the argument text at every
    /// field read).
    cols: Vec<(FieldRef, Option<(usize, usize)>)>,
    /// Fields first asked for in this batch: one table each, `None` when the plugin failed.
    late: RefCell<HashMap<FieldRef, Option<Table>>>,
    errors: RefCell<Vec<PluginError>>,
}

impl<'m> EventBatch<'m> {
    /// Takes the events and extracts the fields the map has learned, one call per plugin.
    pub fn new(map: &'m FieldMap, events: Vec<RawEvent>) -> Self {
        let mut batch = EventBatch {
            map,
            events,
            tables: Vec::new(),
            cols: Vec::new(),
            late: RefCell::new(HashMap::new()),
            errors: RefCell::new(Vec::new()),
        };
        batch.prefetch(&map.prefetched());
        batch
    }

    /// Takes the events and extracts `fields` (those of them that plugins answer), one call
    /// per plugin: for events whose needs are known ahead, such as deferred syscall events.
    pub fn with_fields(map: &'m FieldMap, events: Vec<RawEvent>, fields: &[FieldRef]) -> Self {
        let mut batch = EventBatch {
            map,
            events,
            tables: Vec::new(),
            cols: Vec::new(),
            late: RefCell::new(HashMap::new()),
            errors: RefCell::new(Vec::new()),
        };
        batch.prefetch(fields);
        batch
    }

    fn prefetch(&mut self, fields: &[FieldRef]) {
        let map = self.map;
        for (pi, p) in map.plugins.iter().enumerate() {
            let refs: Vec<&FieldRef> = fields
                .iter()
                .filter(|r| matches!(map.owners.get(r.id.0 as usize), Some(Some((o, _))) if *o == pi))
                .collect();
            if refs.is_empty() {
                continue;
            }
            let table = self.extract_table(p, &refs).map(|t| {
                self.tables.push(t);
                self.tables.len() - 1
            });
            for (ri, r) in refs.into_iter().enumerate() {
                self.cols.push((r.clone(), table.map(|t| (t, ri))));
            }
        }
    }

    /// Extracts `refs` (all of plugin `p`) for every event of the batch the plugin reads;
    /// `None` when the plugin failed (the error is kept for [`EventBatch::take_errors`]).
    fn extract_table(&self, p: &Arc<Plugin>, refs: &[&FieldRef]) -> Option<Table> {
        let n = self.events.len();
        let read = self.events.iter().filter(|e| p.reads_source(&e.source)).count();
        let requests: Vec<(u32, Option<String>)> = refs
            .iter()
            .map(|r| (self.map.owner(r.id).map(|(_, f)| f).unwrap_or(0), arg_text(&r.arg)))
            .collect();
        let (result, rows) = if read == n {
            (p.extract_values(&self.events, &requests), None)
        } else {
            let mut rows = vec![u32::MAX; n];
            let mut subset = Vec::with_capacity(read);
            for (i, e) in self.events.iter().enumerate() {
                if p.reads_source(&e.source) {
                    rows[i] = subset.len() as u32;
                    subset.push(e.clone());
                }
            }
            if subset.is_empty() {
                (Ok(Extracted::default()), Some(rows))
            } else {
                (p.extract_values(&subset, &requests), Some(rows))
            }
        };
        match result {
            Ok(values) => Some(Table { values, width: requests.len(), rows }),
            Err(e) => {
                self.errors.borrow_mut().push(e);
                None
            }
        }
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The `i`th event, as the engine sees it.
    pub fn event(&self, i: usize) -> PluginEvent<'_, 'm> {
        PluginEvent { batch: self, i }
    }

    /// Every event, in order.
    pub fn iter(&self) -> impl Iterator<Item = PluginEvent<'_, 'm>> {
        (0..self.events.len()).map(|i| self.event(i))
    }

    /// The raw events.
    pub fn raw(&self) -> &[RawEvent] {
        &self.events
    }

    /// Plugin failures met while extracting (each names its plugin).
    pub fn take_errors(&self) -> Vec<PluginError> {
        std::mem::take(&mut self.errors.borrow_mut())
    }

    /// A field no earlier batch asked for: extracted now for the whole batch, kept for the
    /// batch's other events, and prefetched from the next batch on.
    fn late_value(&self, f: &FieldRef, i: usize) -> Option<Value<'static>> {
        if let Some(t) = self.late.borrow().get(f) {
            return t.as_ref()?.get(i, 0).map(Value::into_owned);
        }
        let (p, _) = self.map.owner(f.id)?;
        let p = p.clone();
        let table = self.extract_table(&p, &[f]);
        self.map.prefetch([f.clone()]);
        let v = table.as_ref().and_then(|t| t.get(i, 0)).map(Value::into_owned);
        self.late.borrow_mut().insert(f.clone(), table);
        v
    }
}

/// One event of a batch: source, time, payload, and the plugins' fields.
pub struct PluginEvent<'b, 'm> {
    batch: &'b EventBatch<'m>,
    i: usize,
}

impl PluginEvent<'_, '_> {
    /// The raw event.
    pub fn raw(&self) -> &RawEvent {
        &self.batch.events[self.i]
    }
}

impl Event for PluginEvent<'_, '_> {
    fn source(&self) -> &str {
        &self.batch.events[self.i].source
    }

    fn event_type(&self) -> EventTypeId {
        self.batch.map.plugin_event_type
    }

    fn timestamp_ns(&self) -> u64 {
        self.batch.events[self.i].timestamp_ns
    }

    fn field(&self, field: &FieldRef) -> Option<Value<'_>> {
        let m = self.batch.map;
        if Some(field.id) == m.evt_source || Some(field.id) == m.evt_pluginname {
            return Some(Value::Str(Cow::Borrowed(&self.batch.events[self.i].source)));
        }
        if Some(field.id) == m.evt_rawtime {
            return Some(Value::UInt(self.batch.events[self.i].timestamp_ns));
        }
        if let Some((_, col)) = self.batch.cols.iter().find(|(r, _)| r == field) {
            let (t, r) = (*col)?;
            return self.batch.tables[t].get(self.i, r);
        }
        m.owner(field.id)?;
        self.batch.late_value(field, self.i)
    }
}

/// What a deferred syscall event's rules read, kept from the moment it happened: by the time
/// its plugin fields are extracted, its process and fds may have changed or gone.
#[derive(Debug, Clone)]
pub struct Snapshot {
    etype: EventTypeId,
    ts: u64,
    values: Vec<(FieldRef, Option<Value<'static>>)>,
}

impl Snapshot {
    /// Keeps `fields` of `ev` (the plugins' own fields are extracted later, not kept).
    pub fn take<E: Event + ?Sized>(ev: &E, fields: &[FieldRef]) -> Self {
        Snapshot {
            etype: ev.event_type(),
            ts: ev.timestamp_ns(),
            values: fields.iter().map(|f| (f.clone(), ev.field(f).map(Value::into_owned))).collect(),
        }
    }
}

/// Deferred syscall events with their plugin fields, extracted together: one call per plugin
/// for the whole batch.
pub struct DeferredBatch<'m> {
    batch: EventBatch<'m>,
    snaps: Vec<Snapshot>,
}

impl<'m> DeferredBatch<'m> {
    /// Extracts `fields` for the events (each a snapshot and its payload event).
    pub fn new(map: &'m FieldMap, events: Vec<(Snapshot, RawEvent)>, fields: &[FieldRef]) -> Self {
        let (snaps, raws): (Vec<_>, Vec<_>) = events.into_iter().unzip();
        DeferredBatch { batch: EventBatch::with_fields(map, raws, fields), snaps }
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.snaps.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.snaps.is_empty()
    }

    /// The `i`th event, as the engine sees it.
    pub fn event(&self, i: usize) -> DeferredEvent<'_, 'm> {
        DeferredEvent { snap: &self.snaps[i], plugin: self.batch.event(i) }
    }

    /// Plugin failures met while extracting (each names its plugin).
    pub fn take_errors(&self) -> Vec<PluginError> {
        self.batch.take_errors()
    }
}

/// A deferred syscall event: its plugins' fields from the batch, the rest as kept.
pub struct DeferredEvent<'b, 'm> {
    snap: &'b Snapshot,
    plugin: PluginEvent<'b, 'm>,
}

impl Event for DeferredEvent<'_, '_> {
    fn source(&self) -> &str {
        lanner_event::SYSCALL_SOURCE
    }

    fn event_type(&self) -> EventTypeId {
        self.snap.etype
    }

    fn timestamp_ns(&self) -> u64 {
        self.snap.ts
    }

    fn field(&self, field: &FieldRef) -> Option<Value<'_>> {
        if self.plugin.batch.map.owner(field.id).is_some() {
            return self.plugin.field(field);
        }
        let (_, v) = self.snap.values.iter().find(|(f, _)| f == field)?;
        v.as_ref().map(|v| match v {
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
            other => other.clone(),
        })
    }
}
