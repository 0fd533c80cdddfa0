//! Syscall rules that read extractor plugins' fields: lazy and batched.
//!
//! A plugin call costs far more than a field of the state tables, and one call for many
//! events costs little more than one for a single event. So a syscall event is first
//! evaluated with the state's fields alone ([`Ruleset::evaluate_known`]): most are decided
//! there (a cheap part of every candidate's condition is false). Only the others are deferred:
//! the fields their rules read are kept from the moment they happened ([`Snapshot`]), their
//! payload is built ([`PayloadBuilder`]), and at the end of the batch each plugin is called
//! once for all of them. Alerts keep the order of their events: once an event is deferred,
//! the alerts of the events after it wait for it.
//!
//! Live capture, raw replays and event files all go through here, so a rule behaves the same
//! in `lanner run`, `lanner replay` and `lanner run --events`.

use lanner_engine::{Decision, DeferPlan, Ruleset};
use lanner_event::{Alert, Event, EventTypeId, FieldRef, FieldRegistry, SYSCALL_SOURCE};
use lanner_plugin_runtime::{DeferredBatch, FieldMap, PayloadBuilder, PluginError, RawEvent, Snapshot};
use std::sync::Arc;

/// Deferred events are evaluated at the latest after this many, even within one batch.
pub const MAX_DEFERRED: usize = 1024;

/// The most events one plugin call takes: `LANNER_SYSCALL_PLUGIN_BATCH` (1 to 1024, read
/// once; `bench/syscall_plugins.sh` sets 1 to measure calls per event), else
/// [`MAX_DEFERRED`].
pub(crate) fn batch_limit() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| match std::env::var("LANNER_SYSCALL_PLUGIN_BATCH") {
        Err(_) => MAX_DEFERRED,
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_DEFERRED).contains(&n) => n,
            _ => {
                tracing::warn!(
                    "LANNER_SYSCALL_PLUGIN_BATCH={v} is not a number from 1 to {MAX_DEFERRED}: ignored"
                );
                MAX_DEFERRED
            }
        },
    })
}

enum Held {
    Alert(Alert),
    /// The next deferred event's alerts go here.
    Deferred,
}

/// Syscall events whose rules read plugin fields, and the alerts waiting behind them.
pub struct PluginSyscalls {
    map: Arc<FieldMap>,
    plan: DeferPlan,
    builder: PayloadBuilder,
    /// Per event type, the plugin fields its rules read (filled as types are met).
    fields: Vec<Option<Vec<FieldRef>>>,
    pending: Vec<(Snapshot, RawEvent)>,
    pending_types: Vec<EventTypeId>,
    held: Vec<Held>,
    /// Events deferred since the last [`Self::take_counts`].
    deferred: u64,
    /// Events decided from the state's fields alone since the last [`Self::take_counts`].
    decided: u64,
}

impl PluginSyscalls {
    /// For `ruleset`, compiled against `registry` with `map`'s fields; `None` when no syscall
    /// rule reads a plugin field.
    pub fn new(ruleset: &Ruleset, registry: &FieldRegistry, map: Arc<FieldMap>) -> Option<Self> {
        let plan = ruleset.defer_plan(&|f| map.owner(f.id).is_some());
        if plan.is_empty() {
            return None;
        }
        Some(PluginSyscalls {
            builder: PayloadBuilder::new(registry),
            map,
            plan,
            fields: Vec::new(),
            pending: Vec::new(),
            pending_types: Vec::new(),
            held: Vec::new(),
            deferred: 0,
            decided: 0,
        })
    }

    /// How many events were deferred and how many decided without plugins since the last
    /// call (for the metrics).
    pub fn take_counts(&mut self) -> (u64, u64) {
        (std::mem::take(&mut self.deferred), std::mem::take(&mut self.decided))
    }

    /// Whether events are waiting for their plugin fields.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// How many events wait for plugin fields.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Evaluates one syscall event: its alerts go to `on_alert` now, or after [`Self::flush`]
    /// when an earlier event of the batch is waiting. Returns whether the batch is full (flush
    /// now).
    pub fn evaluate<E: Event + ?Sized>(
        &mut self,
        rs: &Ruleset,
        ev: &E,
        hostname: &str,
        on_alert: &mut dyn FnMut(Alert),
    ) -> bool {
        let etype = ev.event_type();
        if ev.source() != SYSCALL_SOURCE || !self.plan.defers(etype) {
            let mut alerts = Vec::new();
            rs.evaluate(ev, |r| alerts.push(r.alert(ev, hostname)));
            alerts.into_iter().for_each(|a| self.emit(a, on_alert));
            return false;
        }
        let mut matched = Vec::new();
        match rs.evaluate_known(ev, &self.plan, |r| matched.push(r)) {
            Decision::Decided => {
                self.decided += 1;
                for r in matched {
                    self.emit(r.alert(ev, hostname), on_alert);
                }
                false
            }
            Decision::Undecided => {
                self.deferred += 1;
                let snap = Snapshot::take(ev, self.plan.snapshot_fields(etype));
                let mut data = Vec::new();
                self.builder.build(ev, &mut data);
                let raw = RawEvent { source: SYSCALL_SOURCE.into(), timestamp_ns: ev.timestamp_ns(), data };
                self.pending.push((snap, raw));
                if !self.pending_types.contains(&etype) {
                    self.pending_types.push(etype);
                }
                self.held.push(Held::Deferred);
                self.pending.len() >= batch_limit()
            }
        }
    }

    fn emit(&mut self, alert: Alert, on_alert: &mut dyn FnMut(Alert)) {
        if self.pending.is_empty() {
            on_alert(alert);
        } else {
            self.held.push(Held::Alert(alert));
        }
    }

    /// Extracts the waiting events' plugin fields, one call per plugin, evaluates them and
    /// hands every held alert to `on_alert` in event order. Returns the plugins' failures
    /// (their fields are then missing: rules that need them do not match).
    pub fn flush(
        &mut self,
        rs: &Ruleset,
        hostname: &str,
        on_alert: &mut dyn FnMut(Alert),
    ) -> Vec<PluginError> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let mut fields: Vec<FieldRef> = Vec::new();
        for &t in &self.pending_types {
            let slot = t as usize;
            if self.fields.len() <= slot {
                self.fields.resize(slot + 1, None);
            }
            let of_type = self.fields[slot].get_or_insert_with(|| self.plan.deferred_fields(rs, t));
            for f in of_type.iter() {
                if !fields.contains(f) {
                    fields.push(f.clone());
                }
            }
        }
        self.pending_types.clear();
        let batch = DeferredBatch::new(&self.map, std::mem::take(&mut self.pending), &fields);
        let mut next = 0;
        for held in std::mem::take(&mut self.held) {
            match held {
                Held::Alert(a) => on_alert(a),
                Held::Deferred => {
                    let ev = batch.event(next);
                    next += 1;
                    rs.evaluate(&ev, |r| on_alert(r.alert(&ev, hostname)));
                }
            }
        }
        batch.take_errors()
    }
}
