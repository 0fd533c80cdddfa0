//! Live capture: the probe's records applied to the state tables and evaluated, until
//! SIGINT or SIGTERM; and `lanner capture`, which writes them as an event file.

use anyhow::{Context, Result};
use lanner_capture::record::{RawEvent, RecordKind};
use lanner_capture::{Capture, CaptureConfig, syscalls};
use lanner_engine::Ruleset;
use lanner_event::{Alert, Event, FieldArg, FieldRef, FieldRegistry, Priority, Value};
use lanner_state::{FieldMap, LiveEvent, State};
use serde_json::{Map, Value as Json, json};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The syscall numbers to deliver for a ruleset.
pub fn syscalls_for(ruleset: &Ruleset) -> Vec<u32> {
    let mut nrs = syscalls::numbers_for_event_types(ruleset.needed_event_types());
    nrs.extend(lanner_state::NEEDED_SYSCALLS.iter().filter_map(|n| syscalls::number(n)));
    nrs.retain(|nr| syscalls::spec(*nr).is_some());
    nrs.sort_unstable();
    nrs.dedup();
    nrs
}

/// What to do with each event.
pub enum Sink<'a> {
    /// Evaluate rules and print alerts.
    Alerts { ruleset: &'a Ruleset, json: bool, hostname: String },
    /// Write every event as an event-file line.
    Events { registry: &'a FieldRegistry },
}

/// Runs capture until a signal or the deadline. Returns how many records were lost.
pub fn run(
    syscalls: Vec<u32>,
    mut sink: Sink<'_>,
    duration: Option<Duration>,
    ring_bytes: Option<u32>,
    out: &mut dyn Write,
) -> Result<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    let registry = FieldRegistry::with_syscall_fields();
    let map = FieldMap::new(&registry);
    let mut state = State::new(syscalls::name);
    let seeded = state.seed();
    let mut capture = Capture::start(CaptureConfig {
        syscalls: syscalls.clone(),
        ignore_tgid: Some(std::process::id()),
        ring_bytes: ring_bytes.unwrap_or(CaptureConfig::default().ring_bytes),
    })
    .context("starting live capture (needs root and a kernel with BTF)")?;
    eprintln!(
        "lanner: capturing {} syscalls; {seeded} processes known from /proc; stop with SIGINT or SIGTERM",
        syscalls.len()
    );
    let started = Instant::now();
    let mut batch = Vec::with_capacity(4096);
    let mut drops_seen = 0u64;
    let mut last_drop_check = Instant::now();
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| started.elapsed() < d) {
        batch.clear();
        capture.next_batch(&mut batch, Some(Duration::from_millis(200)))?;
        for raw in &batch {
            let prep = state.apply(raw);
            if prep.etype.is_some() {
                let ev = state.view(raw, &prep, &map);
                match &mut sink {
                    Sink::Alerts { ruleset, json, hostname } => {
                        let mut err = None;
                        ruleset.evaluate(&ev, |rule| {
                            let alert = rule.alert(&ev, hostname);
                            if let Err(e) = write_alert(out, &alert, *json) {
                                err = Some(e);
                            }
                        });
                        if let Some(e) = err {
                            return Err(e.into());
                        }
                    }
                    Sink::Events { registry } => writeln!(out, "{}", event_line(&ev, raw, &state, registry))?,
                }
            }
            state.finish(&prep);
        }
        out.flush()?;
        if last_drop_check.elapsed() >= Duration::from_secs(1) {
            last_drop_check = Instant::now();
            report_drops(&capture, &mut drops_seen, &sink, out)?;
        }
    }
    // Drops since the last check are reported too, so none pass unsaid at shutdown.
    report_drops(&capture, &mut drops_seen, &sink, out)?;
    out.flush()?;
    Ok(capture.drops()?.iter().sum())
}

/// Logs records lost since the last report and raises Lanner's internal alert, as Falco
/// does for syscall event drops.
fn report_drops(capture: &Capture, seen: &mut u64, sink: &Sink<'_>, out: &mut dyn Write) -> Result<()> {
    let drops: u64 = capture.drops()?.iter().sum();
    if drops <= *seen {
        return Ok(());
    }
    let lost = drops - *seen;
    *seen = drops;
    eprintln!("lanner: {lost} syscall records dropped (ring buffer full)");
    if let Sink::Alerts { json, hostname, .. } = sink {
        let alert = Alert {
            time_ns: wall_now(),
            rule: "Lanner internal: syscall event drop".into(),
            priority: Priority::Critical,
            output: format!(
                "Lanner internal: syscall event drop. {lost} system calls dropped in last second."
            ),
            output_fields: Vec::new(),
            source: "internal".into(),
            tags: Vec::new(),
            hostname: hostname.clone(),
        };
        write_alert(out, &alert, *json)?;
    }
    Ok(())
}

fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn write_alert(out: &mut dyn Write, alert: &Alert, json: bool) -> std::io::Result<()> {
    if json { writeln!(out, "{}", alert.to_json()) } else { writeln!(out, "{}", alert.to_text()) }
}

fn json_of(v: Value<'_>) -> Json {
    match v {
        Value::Str(s) => Json::String(s.into_owned()),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Bool(b) => json!(b),
        Value::Ip(ip) => Json::String(ip.to_string()),
        Value::Bytes(b) => Json::String(String::from_utf8_lossy(&b).into_owned()),
        Value::List(items) => Json::Array(items.into_iter().map(json_of).collect()),
    }
}

/// One live event as an event-file line: every field state answers, so that replaying the
/// file gives the same alerts as the live run.
fn event_line(ev: &LiveEvent<'_>, raw: &RawEvent, state: &State, reg: &FieldRegistry) -> String {
    let mut fields = Map::new();
    let get = |name: &str, arg: FieldArg| -> Option<Json> {
        let id = reg.get(name)?;
        ev.field(&FieldRef { id, arg }).map(json_of)
    };
    for name in FieldMap::supported() {
        let def = reg.get(name).map(|id| reg.def(id));
        match (name, def.map(|d| d.arg.required)) {
            ("evt.type" | "evt.num" | "evt.rawtime" | "evt.time" | "evt.source" | "evt.dir", _) => {}
            ("proc.aname" | "proc.apid" | "proc.aexe" | "proc.aexepath", _) => {
                let list: Vec<Json> = (0..64).map_while(|i| get(name, FieldArg::Index(i))).collect();
                if !list.is_empty() {
                    fields.insert(name.into(), Json::Array(list));
                }
            }
            ("evt.arg", _) => {
                if let RecordKind::Syscall { nr } = raw.kind {
                    let mut args = Map::new();
                    for (arg, _, _) in lanner_state::args::defs(nr) {
                        if let Some(v) = get(name, FieldArg::Key((*arg).into())) {
                            args.insert((*arg).into(), v);
                        }
                    }
                    fields.insert(name.into(), Json::Object(args));
                }
            }
            ("proc.env", _) => {
                if let Some(p) = state.table.process_of(raw.tid) {
                    let env: Map<String, Json> = p
                        .env
                        .iter()
                        .filter_map(|e| e.split_once('='))
                        .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
                        .collect();
                    fields.insert(name.into(), Json::Object(env));
                }
            }
            (_, Some(true)) => {}
            _ => {
                if let Some(v) = get(name, FieldArg::None) {
                    fields.insert(name.into(), v);
                }
            }
        }
    }
    json!({"ts": raw.ts_ns, "type": ev_type_name(ev, reg), "fields": fields}).to_string()
}

fn ev_type_name(ev: &LiveEvent<'_>, reg: &FieldRegistry) -> String {
    reg.get("evt.type")
        .and_then(|id| ev.field(&FieldRef { id, arg: FieldArg::None }))
        .map_or_else(|| "unknown".to_string(), |v| v.to_string())
}
