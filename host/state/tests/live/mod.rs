//! The live harness the state's kernel tests share: capture feeding the state tables, records
//! applied in order as the event loop applies them, and fields read from the record sought as
//! rules read them.
//!
//! Needs root. When not root the tests fail, unless `LANNER_SKIP_LIVE=1` is set, in which case
//! each says SKIPPED.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lanner_capture::{Capture, CaptureConfig, RawEvent, RecordKind, syscalls};
use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry};
use lanner_state::{FieldMap, LiveEvent, State};

/// How long a record sought may take to come.
pub const WAIT: Duration = Duration::from_secs(10);

/// Whether the live tests run: as root; otherwise only when told to skip, and said.
pub fn live() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("LANNER_SKIP_LIVE").as_deref() == Ok("1") {
        eprintln!("SKIPPED: live state tests need root (LANNER_SKIP_LIVE=1)");
        return false;
    }
    panic!("live state tests need root (to load eBPF programs); set LANNER_SKIP_LIVE=1 to skip them");
}

/// A syscall's number on this machine.
pub fn nr(name: &str) -> u32 {
    syscalls::number(name).unwrap_or_else(|| panic!("no syscall {name}"))
}

/// Whether `raw` is a record of syscall `name`.
pub fn is_syscall(raw: &RawEvent, name: &str) -> bool {
    matches!(raw.kind, RecordKind::Syscall { nr: n } if n == nr(name))
}

/// A scratch folder of this test process, empty.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lanner-state-live-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Capture feeding the state tables, and the records not yet applied.
pub struct Live {
    pub capture: Capture,
    pub state: State,
    pub reg: FieldRegistry,
    pub map: FieldMap,
    pub queue: VecDeque<RawEvent>,
}

/// The fields read from the record that matched, as text (`None`: missing).
pub struct Seen {
    pub raw: RawEvent,
    pub fields: HashMap<String, Option<String>>,
}

impl Seen {
    /// A field asked for; `None` when the record has no value for it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).unwrap_or_else(|| panic!("{name} was not asked for")).as_deref()
    }

    /// A field asked for, which must have a value.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_else(|| panic!("{name} is missing on {:?}", self.raw.kind))
    }

    /// Whether a field asked for has no value.
    pub fn missing(&self, name: &str) -> bool {
        self.get(name).is_none()
    }
}

impl Live {
    /// Captures the state tables' syscalls and `extra`, after seeding from `/proc`.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with(extra, |_| {})
    }

    /// [`Live::start`], the capture's configuration changed by `tweak` first.
    pub fn start_with(extra: &[&str], tweak: impl FnOnce(&mut CaptureConfig)) -> Self {
        let mut nrs: Vec<u32> = lanner_state::NEEDED_SYSCALLS.iter().chain(extra).map(|n| nr(n)).collect();
        nrs.sort_unstable();
        nrs.dedup();
        let mut config = CaptureConfig { syscalls: nrs, ignore_tgid: None, ..CaptureConfig::default() };
        tweak(&mut config);
        let capture = Capture::start(config).unwrap_or_else(|e| panic!("capture starts: {e}"));
        let mut state = State::new(syscalls::name);
        state.seed();
        let reg = FieldRegistry::with_syscall_fields();
        let map = FieldMap::new(&reg);
        Live { capture, state, reg, map, queue: VecDeque::new() }
    }

    /// Applies records in order until one matches `pred` (its fields are read right after it
    /// is applied, as the event loop does) or [`WAIT`] passes.
    pub fn find(
        &mut self,
        what: &str,
        fields: &[&str],
        pred: impl Fn(&RawEvent, &LiveEvent<'_>) -> bool,
    ) -> Seen {
        let deadline = Instant::now() + WAIT;
        loop {
            while let Some(raw) = self.queue.pop_front() {
                let prep = self.state.apply(&raw);
                let found = {
                    let ev = self.state.view(&raw, &prep, &self.map);
                    pred(&raw, &ev).then(|| {
                        fields
                            .iter()
                            .map(|name| {
                                let f = field_ref(&self.reg, name);
                                (name.to_string(), ev.field(&f).map(|v| v.to_string()))
                            })
                            .collect()
                    })
                };
                self.state.finish(&prep);
                if let Some(fields) = found {
                    return Seen { raw, fields };
                }
            }
            self.more(what, deadline);
        }
    }

    /// The first queued record of any process that is a call of `syscall` satisfying `pred`,
    /// waiting for more records until [`WAIT`] passes; nothing is applied.
    pub fn peek(&mut self, syscall: &[&str], pred: impl Fn(&RawEvent) -> bool) -> RawEvent {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(r) = self.queue.iter().find(|r| syscall.iter().any(|s| is_syscall(r, s)) && pred(r)) {
                return r.clone();
            }
            self.more(&format!("{syscall:?}"), deadline);
        }
    }

    fn more(&mut self, what: &str, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no record for {what} within {WAIT:?}");
        let mut batch = Vec::new();
        self.capture.next_batch(&mut batch, Some(left.min(Duration::from_millis(200)))).unwrap();
        self.queue.extend(batch);
    }
}

/// A field as a rule names it: `name`, `name.key` or `name[index]`.
pub fn field_ref(reg: &FieldRegistry, name: &str) -> FieldRef {
    if let Some((base, index)) = name.strip_suffix(']').and_then(|n| n.split_once('[')) {
        let id = reg.get(base).unwrap_or_else(|| panic!("no field {base}"));
        return FieldRef { id, arg: FieldArg::Index(index.parse().unwrap()) };
    }
    let (id, key) = reg.resolve(name).unwrap_or_else(|| panic!("no field {name}"));
    FieldRef { id, arg: key.map_or(FieldArg::None, |k| FieldArg::Key(k.into())) }
}
