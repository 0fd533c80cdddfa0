//! One loaded plugin: its component, its live instance, and what happens when it fails.

use crate::bindings::{
    extractor, field_hints, live_source, packed_extractor, sink, source, typed_alert_sink, types, v0_6,
};
use crate::config::PluginConfig;
use crate::error::PluginError;
use crate::runtime::{EPOCH_TICK, Runtime, State};
use lanner_event::{ArgSpec, FieldType, Value};
use lanner_plugin_answers::{AnswerValue, Extracted, PackedValues};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::{Component, ResourceAny};

/// The newest interface version this host serves.
pub const API_VERSION: &str = "0.6.0";

/// Every interface version this host serves: a plugin's major.minor must match one (as WIT
/// semver does for 0.x versions).
pub const API_VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0"];

/// The export of `lanner:plugin@0.2.0` the host calls instead of `extract` when present.
const PACKED_EXTRACTOR: &str = "lanner:plugin/packed-extractor@0.2.0";

/// The export of `lanner:plugin@0.3.0` the host opens and reads source streams through when
/// present.
const LIVE_SOURCE: &str = "lanner:plugin/live-source@0.3.0";
/// The export of `lanner:plugin@0.5.0` that names the fields suggested for every output.
const FIELD_HINTS: &str = "lanner:plugin/field-hints@0.5.0";
/// The export of the `lanner:plugin@0.6.0` sink world, whose alerts carry typed values.
const TYPED_ALERT_SINK: &str = "lanner:plugin/typed-alert-sink@0.6.0";

/// Which world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// Provides fields.
    Extractor,
    /// Produces events (and fields over them).
    Source,
    /// Delivers alerts.
    Sink,
}

impl PluginKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Extractor => "extractor",
            PluginKind::Source => "source",
            PluginKind::Sink => "sink",
        }
    }
}

/// A field a plugin declares, in the host's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginField {
    /// Dotted name.
    pub name: String,
    /// Type.
    pub ftype: FieldType,
    /// Argument rules.
    pub arg: ArgSpec,
    /// Description.
    pub description: String,
}

/// A plugin's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginState {
    /// Instantiated and answering.
    Running,
    /// Failed; re-instantiated on the first call after the backoff.
    Backoff,
    /// Failed too often; no longer called.
    Disabled,
}

impl PluginState {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PluginState::Running => "running",
            PluginState::Backoff => "backoff",
            PluginState::Disabled => "disabled",
        }
    }
}

/// Counters kept per plugin.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls made.
    pub calls: AtomicU64,
    /// Traps, timeouts and limit breaches.
    pub failures: AtomicU64,
    /// Re-instantiations after a failure.
    pub restarts: AtomicU64,
    /// Outbound HTTP requests refused.
    pub http_denied: Arc<AtomicU64>,
    /// Events of a source plugin dropped by the host because its rules were behind (counted
    /// by whoever reads the stream, as `lanner run` does).
    pub events_dropped: AtomicU64,
}

/// A failure the host must report beyond the failing call: the binary turns these into log
/// lines and, for a disabled plugin, an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The plugin.
    pub plugin: String,
    /// Whether the plugin was disabled by it.
    pub disabled: bool,
    /// What happened.
    pub message: String,
}

enum Pre {
    Extractor(extractor::ExtractorPre<State>),
    Source(source::SourcePre<State>),
    Sink(sink::SinkPre<State>),
    TypedSink(v0_6::SinkPre<State>),
}

enum Inst {
    Extractor(extractor::Extractor),
    Source(source::Source),
    Sink(sink::Sink),
    TypedSink(v0_6::Sink),
}

struct Live {
    store: Store<State>,
    inst: Inst,
    later: Later,
}

/// The exports of later interface versions an instance has.
struct Later {
    /// The packed extraction of a 0.2.0 extractor or source.
    packed: Option<packed_extractor::Guest>,
    /// The live streams of a 0.3.0 source.
    live_source: Option<live_source::Guest>,
    /// The field hints of a 0.5.0 extractor or source.
    hints: Option<field_hints::Guest>,
}

struct Inner {
    live: Option<Live>,
    /// Bumped at each instantiation: streams opened by an older instance are gone.
    generation: u64,
    consecutive: u32,
    retry_at: Option<Instant>,
    disabled: bool,
    last_error: Option<String>,
    incidents: Vec<Incident>,
    /// The last error value logged, when, and how often it came again since.
    said: Option<(String, Instant, u64)>,
}

/// How often an error value the plugin keeps returning is said again.
const GUEST_ERROR_REPEAT: Duration = Duration::from_secs(60);

/// A loaded plugin.
pub struct Plugin {
    name: Arc<str>,
    path: PathBuf,
    version: String,
    api_version: String,
    description: String,
    kind: PluginKind,
    fields: Vec<PluginField>,
    event_sources: Vec<String>,
    source_name: Option<String>,
    config: PluginConfig,
    init_config: String,
    pre: Pre,
    /// Where the packed extraction is, when the component exports it.
    packed: Option<packed_extractor::GuestIndices>,
    /// Where the live streams are, when the component exports them.
    live_source: Option<live_source::GuestIndices>,
    /// Where the field hints are, when the component exports them.
    hints: Option<field_hints::GuestIndices>,
    /// The fields the plugin suggests for every output (`field-hints`), in its order.
    suggested: Vec<String>,
    /// The buffers a batch is packed into, kept from call to call.
    pack_buf: Mutex<packed_extractor::PackedEvents>,
    engine: wasmtime::Engine,
    /// Keeps the epoch advancing while this plugin's code runs.
    ticking: Arc<crate::runtime::Ticking>,
    inner: Mutex<Inner>,
    /// Counters.
    pub stats: Stats,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

fn field_type(t: types::FieldType) -> FieldType {
    match t {
        types::FieldType::String => FieldType::String,
        types::FieldType::Int64 => FieldType::Int64,
        types::FieldType::Uint64 => FieldType::UInt64,
        types::FieldType::Bool => FieldType::Bool,
        types::FieldType::StringList => FieldType::StringList,
        types::FieldType::Bytes => FieldType::Bytes,
    }
}

fn arg_spec(a: types::ArgKind) -> ArgSpec {
    match a {
        types::ArgKind::None => ArgSpec::NONE,
        types::ArgKind::Index => ArgSpec::INDEX,
        types::ArgKind::Key => ArgSpec::KEY,
        types::ArgKind::OptionalKey => ArgSpec::OPT_KEY,
    }
}

/// A 0.1.0 value in the decoder's terms (moved, not copied).
fn answer_value(v: types::Value) -> AnswerValue {
    match v {
        types::Value::Str(s) => AnswerValue::Str(s),
        types::Value::Int(i) => AnswerValue::Int(i),
        types::Value::Uint(u) => AnswerValue::UInt(u),
        types::Value::Boolean(b) => AnswerValue::Bool(b),
        types::Value::StrList(l) => AnswerValue::StrList(l),
        types::Value::Bytes(b) => AnswerValue::Bytes(b),
    }
}

fn events_size(e: &[types::Event]) -> u64 {
    e.iter().map(|e| 32 + e.source.len() as u64 + e.data.len() as u64).sum()
}

/// The least a plugin may pass in one transfer, whatever its `max_output_bytes`: its log lines
/// and host calls need some.
const MIN_HOSTCALL_FUEL: usize = 64 << 10;

/// What a call returned: a value, or the plugin's error value (it keeps running).
type CallResult<R> = wasmtime::Result<Result<R, String>>;

impl Plugin {
    pub(crate) fn new(
        rt: &Runtime,
        path: &Path,
        component: Component,
        config: PluginConfig,
    ) -> Result<Self, PluginError> {
        let invalid = |message: String| PluginError::Invalid { path: path.to_path_buf(), message };
        check_resources(&component, &config.limits).map_err(invalid)?;
        let exports = |name: &str| component.get_export_index(None, name).is_some();
        let linker = &rt.linker;
        let pre = linker.instantiate_pre(&component).map_err(|e| invalid(format!("{e:#}")))?;
        let packed = if exports(PACKED_EXTRACTOR) {
            Some(packed_extractor::GuestIndices::new(&pre).map_err(|e| invalid(format!("{e:#}")))?)
        } else {
            None
        };
        let live_source = if exports(LIVE_SOURCE) {
            Some(live_source::GuestIndices::new(&pre).map_err(|e| invalid(format!("{e:#}")))?)
        } else {
            None
        };
        let hints = if exports(FIELD_HINTS) {
            Some(field_hints::GuestIndices::new(&pre).map_err(|e| invalid(format!("{e:#}")))?)
        } else {
            None
        };
        let pre = if exports("lanner:plugin/event-source@0.1.0") {
            Pre::Source(source::SourcePre::new(pre).map_err(|e| invalid(format!("{e:#}")))?)
        } else if exports(TYPED_ALERT_SINK) {
            Pre::TypedSink(v0_6::SinkPre::new(pre).map_err(|e| invalid(format!("{e:#}")))?)
        } else if exports("lanner:plugin/alert-sink@0.1.0") {
            Pre::Sink(sink::SinkPre::new(pre).map_err(|e| invalid(format!("{e:#}")))?)
        } else if exports("lanner:plugin/field-extractor@0.1.0") {
            Pre::Extractor(extractor::ExtractorPre::new(pre).map_err(|e| invalid(format!("{e:#}")))?)
        } else {
            return Err(invalid(
                "not a Lanner plugin: it exports none of the lanner:plugin@0.1.0 worlds".into(),
            ));
        };
        let kind = match pre {
            Pre::Extractor(_) => PluginKind::Extractor,
            Pre::Source(_) => PluginKind::Source,
            Pre::Sink(_) | Pre::TypedSink(_) => PluginKind::Sink,
        };
        // Until `info` names it, the plugin is known by its file.
        let file_name: Arc<str> =
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default().into();
        let mut plugin = Plugin {
            name: file_name,
            path: path.to_path_buf(),
            version: String::new(),
            api_version: String::new(),
            description: String::new(),
            kind,
            fields: Vec::new(),
            event_sources: Vec::new(),
            source_name: None,
            init_config: config.config_json(),
            config,
            pre,
            packed,
            live_source,
            hints,
            suggested: Vec::new(),
            pack_buf: Mutex::new(empty_pack()),
            engine: rt.engine.clone(),
            ticking: rt.ticking(),
            inner: Mutex::new(Inner {
                live: None,
                generation: 0,
                consecutive: 0,
                retry_at: None,
                disabled: false,
                last_error: None,
                incidents: Vec::new(),
                said: None,
            }),
            stats: Stats::default(),
        };
        plugin.first_start()?;
        Ok(plugin)
    }

    /// Instantiates without `init`, reads `info`, validates the configuration, then `init`s and
    /// reads the fields and source name.
    fn first_start(&mut self) -> Result<(), PluginError> {
        let _ticking = self.ticking.run();
        let mut live = self.instantiate()?;
        let ticks = self.ticks();
        live.store.set_epoch_deadline(ticks);
        let info = match &live.inst {
            Inst::Extractor(i) => i.lanner_plugin_plugin().call_info(&mut live.store),
            Inst::Source(i) => i.lanner_plugin_plugin().call_info(&mut live.store),
            Inst::Sink(i) => i.lanner_plugin_plugin().call_info(&mut live.store),
            Inst::TypedSink(i) => i.lanner_plugin0_1_0_plugin().call_info(&mut live.store),
        }
        .map_err(|e| PluginError::Failed {
            plugin: self.name.to_string(),
            message: format!("info: {}", describe(&e, self.hostcall_fuel())),
        })?;
        if info.name.is_empty()
            || info.name.len() > 64
            || !info.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(PluginError::Invalid {
                path: self.path.clone(),
                message: format!("invalid plugin name {:?}: 1 to 64 letters, digits, '_' or '-'", info.name),
            });
        }
        self.name = info.name.as_str().into();
        live.store.data_mut().plugin = self.name.clone();
        if !api_compatible(&info.api_version) {
            return Err(PluginError::ApiVersion {
                plugin: info.name,
                version: info.api_version,
                supported: API_VERSION.into(),
            });
        }
        self.version = info.version;
        self.api_version = info.api_version;
        self.description = info.description;
        validate_config(&self.name, &info.config_schema, &self.config)?;
        self.call_init(&mut live)?;
        let sources_or = |r: wasmtime::Result<Vec<String>>| {
            r.map_err(|e| PluginError::Failed {
                plugin: self.name.to_string(),
                message: describe(&e, self.hostcall_fuel()),
            })
        };
        let (fields, event_sources, source_name) = match &live.inst {
            Inst::Extractor(i) => {
                let x = i.lanner_plugin_field_extractor();
                let f = x.call_fields(&mut live.store);
                (f, sources_or(x.call_event_sources(&mut live.store))?, None)
            }
            Inst::Source(i) => {
                let x = i.lanner_plugin_field_extractor();
                let f = x.call_fields(&mut live.store);
                let es = sources_or(x.call_event_sources(&mut live.store))?;
                let n = i.lanner_plugin_event_source().call_source_name(&mut live.store).map_err(|e| {
                    PluginError::Failed {
                        plugin: self.name.to_string(),
                        message: describe(&e, self.hostcall_fuel()),
                    }
                })?;
                (f, es, Some(n))
            }
            Inst::Sink(_) | Inst::TypedSink(_) => (Ok(Vec::new()), Vec::new(), None),
        };
        let fields = fields.map_err(|e| PluginError::Failed {
            plugin: self.name.to_string(),
            message: describe(&e, self.hostcall_fuel()),
        })?;
        self.fields = fields
            .into_iter()
            .map(|f| PluginField {
                name: f.name,
                ftype: field_type(f.type_),
                arg: arg_spec(f.arg),
                description: f.description,
            })
            .collect();
        if let Some(h) = &live.later.hints {
            let names = h.call_suggested_output(&mut live.store).map_err(|e| PluginError::Failed {
                plugin: self.name.to_string(),
                message: format!("suggested-output: {}", describe(&e, self.hostcall_fuel())),
            })?;
            // Whether each is a field is the engine's to say: a plugin may suggest a field the
            // host fills for the same events (the container plugin suggests `container.id`).
            if let Some(n) = names.iter().find(|n| n.is_empty() || n.contains(char::is_whitespace)) {
                return Err(PluginError::Invalid {
                    path: self.path.clone(),
                    message: format!("suggested-output: {n:?} is not a field name"),
                });
            }
            self.suggested = names;
        }
        self.event_sources = event_sources;
        self.source_name = source_name;
        let inner = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        inner.live = Some(live);
        inner.generation = 1;
        Ok(())
    }

    fn ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_millis().max(1) as u64;
        self.config.limits.call_timeout_ms.div_ceil(tick).max(1)
    }

    fn instantiate(&self) -> Result<Live, PluginError> {
        // A start function is guest code too.
        let _ticking = self.ticking.run();
        let mut state = Runtime::state_for(&self.name, &self.config)?;
        crate::runtime::Runtime::set_denied_counter(&mut state, self.stats.http_denied.clone());
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // What the host copies out of the plugin in one lift (a call's results, a host call's
        // arguments) is counted before it is copied: a list of many views of one big string
        // stops at the limit instead of growing the host.
        store.set_hostcall_fuel(self.hostcall_fuel());
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.ticks());
        let failed = |e: wasmtime::Error| PluginError::Failed {
            plugin: self.name.to_string(),
            message: format!("instantiation: {}", describe(&e, self.hostcall_fuel())),
        };
        let instance = match &self.pre {
            Pre::Extractor(p) => p.instance_pre().instantiate(&mut store),
            Pre::Source(p) => p.instance_pre().instantiate(&mut store),
            Pre::Sink(p) => p.instance_pre().instantiate(&mut store),
            Pre::TypedSink(p) => p.instance_pre().instantiate(&mut store),
        }
        .map_err(failed)?;
        let inst = match &self.pre {
            Pre::Extractor(_) => {
                Inst::Extractor(extractor::Extractor::new(&mut store, &instance).map_err(failed)?)
            }
            Pre::Source(_) => Inst::Source(source::Source::new(&mut store, &instance).map_err(failed)?),
            Pre::Sink(_) => Inst::Sink(sink::Sink::new(&mut store, &instance).map_err(failed)?),
            Pre::TypedSink(_) => Inst::TypedSink(v0_6::Sink::new(&mut store, &instance).map_err(failed)?),
        };
        let packed = match &self.packed {
            Some(ix) => Some(ix.load(&mut store, &instance).map_err(failed)?),
            None => None,
        };
        let live_source = match &self.live_source {
            Some(ix) => Some(ix.load(&mut store, &instance).map_err(failed)?),
            None => None,
        };
        let hints = match &self.hints {
            Some(ix) => Some(ix.load(&mut store, &instance).map_err(failed)?),
            None => None,
        };
        Ok(Live { store, inst, later: Later { packed, live_source, hints } })
    }

    /// The bytes one lift may copy out of the plugin: `max_output_bytes`, at least 64 KiB.
    fn hostcall_fuel(&self) -> usize {
        usize::try_from(self.config.limits.max_output_bytes).unwrap_or(usize::MAX).max(MIN_HOSTCALL_FUEL)
    }

    /// Bytes of linear memory and tables its live instance holds (0 when it has none).
    pub fn memory_bytes(&self) -> u64 {
        self.lock().live.as_ref().map_or(0, |l| l.store.data().limits.used())
    }

    /// When a call starting now must end: its WASI waits stop there too.
    fn deadline(&self) -> Instant {
        Instant::now() + std::time::Duration::from_millis(self.config.limits.call_timeout_ms.max(1))
    }

    fn call_init(&self, live: &mut Live) -> Result<(), PluginError> {
        let _ticking = self.ticking.run();
        live.store.set_epoch_deadline(self.ticks());
        live.store.data_mut().deadline = Some(self.deadline());
        let cfg = self.init_config.as_str();
        let r = match &live.inst {
            Inst::Extractor(i) => i.lanner_plugin_plugin().call_init(&mut live.store, cfg),
            Inst::Source(i) => i.lanner_plugin_plugin().call_init(&mut live.store, cfg),
            Inst::Sink(i) => i.lanner_plugin_plugin().call_init(&mut live.store, cfg),
            Inst::TypedSink(i) => i.lanner_plugin0_1_0_plugin().call_init(&mut live.store, cfg),
        };
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(PluginError::Init {
                plugin: self.name.to_string(),
                message: crate::wasi_errors::explain(&message, &self.name, &self.config.grants).into_owned(),
            }),
            Err(e) => {
                self.log_backtrace("init", &e);
                Err(PluginError::Failed {
                    plugin: self.name.to_string(),
                    message: format!("init: {}", describe(&e, self.hostcall_fuel())),
                })
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one call on the live instance, re-instantiating it first when it failed before
    /// (after its backoff), and handling a trap, timeout or limit breach: the instance is
    /// dropped, the failure counted and logged, and the plugin disabled after too many.
    fn call<R, S>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Store<State>, &Inst, &Later, u64) -> CallResult<R>,
        check: impl FnOnce(R) -> Result<S, String>,
    ) -> Result<S, PluginError> {
        let mut inner = self.lock();
        if inner.disabled {
            return Err(PluginError::Disabled {
                plugin: self.name.to_string(),
                failures: inner.consecutive,
                last: inner.last_error.clone().unwrap_or_default(),
            });
        }
        if inner.live.is_none() {
            if let Some(at) = inner.retry_at {
                let now = Instant::now();
                if now < at {
                    return Err(PluginError::Backoff {
                        plugin: self.name.to_string(),
                        remaining_ms: (at - now).as_millis() as u64,
                    });
                }
            }
            let restarted = self.instantiate().and_then(|mut live| self.call_init(&mut live).map(|()| live));
            match restarted {
                Ok(live) => {
                    inner.live = Some(live);
                    inner.generation += 1;
                    self.stats.restarts.fetch_add(1, Ordering::Relaxed);
                    log::info!("plugin {}: restarted", self.name);
                }
                Err(e) => return Err(self.fail(&mut inner, format!("restart: {e}"))),
            }
        }
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let generation = inner.generation;
        let live = inner.live.as_mut().expect("instantiated above");
        // Only now does guest code run (a restart above ticks on its own): a disabled plugin
        // or one in backoff, asked at every batch, does not wake the ticker.
        let _ticking = self.ticking.run();
        live.store.set_epoch_deadline(self.ticks());
        live.store.data_mut().deadline = Some(self.deadline());
        match f(&mut live.store, &live.inst, &live.later, generation) {
            Ok(Ok(r)) => match check(r) {
                Ok(s) => {
                    inner.consecutive = 0;
                    Ok(s)
                }
                Err(message) => Err(self.fail(&mut inner, format!("{what}: {message}"))),
            },
            Ok(Err(message)) => {
                let message = format!(
                    "{what}: {}",
                    crate::wasi_errors::explain(&message, &self.name, &self.config.grants)
                );
                if what != "deliver" {
                    self.say_guest_error(&mut inner, &message);
                }
                Err(PluginError::Guest { plugin: self.name.to_string(), message })
            }
            Err(e) => {
                self.log_backtrace(what, &e);
                let message = format!("{what}: {}", describe(&e, self.hostcall_fuel()));
                Err(self.fail(&mut inner, message))
            }
        }
    }

    /// The wasm backtrace of a failure, at debug level: the failure itself is one line.
    fn log_backtrace(&self, what: &str, e: &wasmtime::Error) {
        if let Some(bt) = backtrace(e) {
            log::debug!("plugin {}: {what}: {}", self.name, bt.trim_end());
        }
    }

    /// Logs an error value the plugin returned, once: the same error from the next batches
    /// (a missing grant fails every call) is counted and said again with its count at most
    /// once per [`GUEST_ERROR_REPEAT`].
    fn say_guest_error(&self, inner: &mut Inner, message: &str) {
        let now = Instant::now();
        match &mut inner.said {
            Some((last, at, repeats)) if last == message => {
                *repeats += 1;
                if now.duration_since(*at) >= GUEST_ERROR_REPEAT {
                    log::warn!("plugin {}: {message} ({} times since it was last said)", self.name, repeats);
                    *at = now;
                    *repeats = 0;
                }
            }
            said => {
                log::warn!("plugin {}: {message}", self.name);
                *said = Some((message.to_string(), now, 0));
            }
        }
    }

    fn fail(&self, inner: &mut Inner, message: String) -> PluginError {
        inner.live = None;
        inner.consecutive += 1;
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        inner.last_error = Some(message.clone());
        let policy = &self.config.restart;
        if inner.consecutive >= policy.max_failures.max(1) {
            inner.disabled = true;
            log::error!(
                "plugin {}: disabled after {} consecutive failures: {message}",
                self.name,
                inner.consecutive
            );
            push_incident(
                &mut inner.incidents,
                Incident { plugin: self.name.to_string(), disabled: true, message: message.clone() },
            );
            return PluginError::Disabled {
                plugin: self.name.to_string(),
                failures: inner.consecutive,
                last: message,
            };
        }
        let shift = (inner.consecutive - 1).min(20);
        let wait = policy.backoff_ms.saturating_mul(1 << shift).min(policy.max_backoff_ms);
        inner.retry_at = Some(Instant::now() + Duration::from_millis(wait));
        log::warn!("plugin {}: {message}; restarting in {wait} ms", self.name);
        push_incident(
            &mut inner.incidents,
            Incident { plugin: self.name.to_string(), disabled: false, message: message.clone() },
        );
        PluginError::Failed { plugin: self.name.to_string(), message }
    }

    /// Extracts `requests` (indexes into [`Plugin::fields`] with their arguments) for every
    /// event of the batch, in one call. Row-major: event `e`, request `r` at
    /// `e * requests.len() + r`.
    pub fn extract(
        &self,
        events: &[types::Event],
        requests: &[(u32, Option<String>)],
    ) -> Result<Vec<Option<Value<'static>>>, PluginError> {
        self.extract_values(events, requests).map(Extracted::into_values)
    }

    /// [`Plugin::extract`], the values kept in the plugin's answer's buffers to be read by
    /// borrowing. A component exporting `packed-extractor` (0.2.0) gets batches of two events
    /// or more packed ([`pack`]) and answers columnar values.
    pub fn extract_values(
        &self,
        events: &[types::Event],
        requests: &[(u32, Option<String>)],
    ) -> Result<Extracted, PluginError> {
        let reqs: Vec<types::FieldRequest> =
            requests.iter().map(|(f, a)| types::FieldRequest { field: *f, arg: a.clone() }).collect();
        let max = self.config.limits.max_output_bytes;
        // A single event goes through `extract`: the packed call lowers and lifts more lists,
        // a fixed cost only batches repay.
        if self.packed.is_some() && events.len() > 1 {
            // The packing buffers are reused from batch to batch.
            let mut batch = self.pack_buf.lock().unwrap_or_else(|p| p.into_inner());
            if pack(events, &mut batch) {
                return self.call(
                    "extract",
                    |store, _, later, _| match &later.packed {
                        Some(px) => px.call_extract_packed(store, &batch, &reqs),
                        None => Ok(Err("the packed extraction is missing".into())),
                    },
                    |v: packed_extractor::PackedValues| {
                        let v =
                            PackedValues { kinds: v.kinds, numbers: v.numbers, text: v.text, ends: v.ends };
                        Extracted::from_packed(v, events.len(), requests.len(), max)
                    },
                );
            }
        }
        self.call(
            "extract",
            |store, inst, _, _| match inst {
                Inst::Extractor(i) => i.lanner_plugin_field_extractor().call_extract(store, events, &reqs),
                Inst::Source(i) => i.lanner_plugin_field_extractor().call_extract(store, events, &reqs),
                Inst::Sink(_) | Inst::TypedSink(_) => Ok(Err("a sink provides no fields".into())),
            },
            |vals: Vec<Option<types::Value>>| {
                let vals = vals.into_iter().map(|v| v.map(answer_value)).collect();
                Extracted::from_values(vals, events.len(), requests.len(), max)
            },
        )
    }

    /// Opens a stream of a source plugin (through `live-source` when the component exports
    /// it).
    pub fn open(self: &Arc<Self>, params: &str) -> Result<SourceStream, PluginError> {
        if self.kind != PluginKind::Source {
            return Err(PluginError::Unsupported {
                plugin: self.name.to_string(),
                message: "not a source".into(),
            });
        }
        let (handle, generation) = self.call(
            "open",
            |store, inst, later, generation| {
                Ok(open_stream(store, inst, later, params)?.map(|h| (h, generation)))
            },
            Ok,
        )?;
        Ok(SourceStream {
            plugin: self.clone(),
            params: params.to_string(),
            handle: Some(handle),
            generation,
            ended: false,
        })
    }

    /// Whether its streams may be idle (it exports `live-source`, 0.3.0).
    pub fn live_source(&self) -> bool {
        self.live_source.is_some()
    }

    /// Delivers alerts to a sink plugin, as its world carries them: with typed field values
    /// (0.6.0), or with every value as text (0.1.0 to 0.5.0).
    pub fn deliver(&self, alerts: &[lanner_event::Alert]) -> Result<(), PluginError> {
        if let Pre::TypedSink(_) = self.pre {
            let batch: Vec<typed_alert_sink::Alert> = alerts.iter().map(crate::sink::to_typed).collect();
            return self.call(
                "deliver",
                |store, inst, _, _| match inst {
                    Inst::TypedSink(i) => i.lanner_plugin0_6_0_typed_alert_sink().call_deliver(store, &batch),
                    _ => Ok(Err("not a sink".into())),
                },
                Ok,
            );
        }
        let batch: Vec<types::Alert> = alerts.iter().map(crate::sink::to_wit).collect();
        self.call(
            "deliver",
            |store, inst, _, _| match inst {
                Inst::Sink(i) => i.lanner_plugin_alert_sink().call_deliver(store, &batch),
                _ => Ok(Err("not a sink".into())),
            },
            Ok,
        )
    }

    /// Whether its alerts carry typed field values (it implements the 0.6.0 sink world).
    pub fn typed_alerts(&self) -> bool {
        matches!(self.pre, Pre::TypedSink(_))
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Its version.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The interface version it was built against.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }
    /// The fields it suggests for every alert's output (`field-hints`, 0.5.0), in its order.
    pub fn suggested_output(&self) -> &[String] {
        &self.suggested
    }

    /// Whether it extracts over packed batches (it exports `packed-extractor`, 0.2.0).
    pub fn packed(&self) -> bool {
        self.packed.is_some()
    }
    /// Its description.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// Which world it implements.
    pub fn kind(&self) -> PluginKind {
        self.kind
    }
    /// The fields it provides.
    pub fn fields(&self) -> &[PluginField] {
        &self.fields
    }
    /// The sources whose events it reads (empty: any).
    pub fn event_sources(&self) -> &[String] {
        &self.event_sources
    }
    /// Whether it reads events of `source`: sources named by the plugin, or, when it names
    /// none, any source, `syscall` included (Falco's meaning of an empty list). Syscall events
    /// reach it with the payload of [`crate::syscall`].
    pub fn reads_source(&self, source: &str) -> bool {
        self.event_sources.is_empty() || self.event_sources.iter().any(|s| s == source)
    }
    /// The event source it produces, for a source plugin.
    pub fn source_name(&self) -> Option<&str> {
        self.source_name.as_deref()
    }
    /// Its configuration and grants.
    pub fn config(&self) -> &PluginConfig {
        &self.config
    }
    /// Its health.
    pub fn state(&self) -> PluginState {
        let inner = self.lock();
        if inner.disabled {
            PluginState::Disabled
        } else if inner.live.is_none() {
            PluginState::Backoff
        } else {
            PluginState::Running
        }
    }
    /// The last failure, if any.
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }
    /// Failures since the last report.
    pub fn take_incidents(&self) -> Vec<Incident> {
        std::mem::take(&mut self.lock().incidents)
    }
    /// Makes a disabled plugin callable again, from a fresh instance, with its failure count
    /// reset: an operator's reload is the sign that the cause may have been fixed. Whether it
    /// was disabled.
    pub fn reenable(&self) -> bool {
        let mut inner = self.lock();
        if !inner.disabled {
            return false;
        }
        inner.disabled = false;
        inner.consecutive = 0;
        inner.retry_at = None;
        inner.live = None;
        log::info!("plugin {}: re-enabled", self.name);
        true
    }
}

/// Failures kept for the host's next report at most: a host that never asks must not grow.
/// The oldest failures that did not disable the plugin go first; each was logged already.
const MAX_INCIDENTS: usize = 64;

fn push_incident(incidents: &mut Vec<Incident>, incident: Incident) {
    if incidents.len() >= MAX_INCIDENTS {
        let oldest = incidents.iter().position(|i| !i.disabled).unwrap_or(0);
        incidents.remove(oldest);
    }
    incidents.push(incident);
}

/// An open stream of a source plugin's events.
pub struct SourceStream {
    plugin: Arc<Plugin>,
    params: String,
    handle: Option<ResourceAny>,
    generation: u64,
    ended: bool,
}

impl SourceStream {
    /// The plugin.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// Up to `max` events, each with the plugin's source name, or that there are none yet, or
    /// that the stream has ended (a 0.1.0 stream's empty batch ends it). When the plugin was
    /// restarted since the stream was opened, the stream is reopened with the same parameters
    /// (the source decides where it resumes).
    pub fn next_batch(&mut self, max: u32) -> Result<SourceBatch, PluginError> {
        if self.ended {
            return Ok(SourceBatch::Ended);
        }
        let source = self.plugin.source_name().unwrap_or_default().to_string();
        let params = self.params.clone();
        let handle = self.handle;
        let mut generation = self.generation;
        let max_bytes = self.plugin.config.limits.max_output_bytes;
        let (batch, new_handle) = self.plugin.call(
            "next-batch",
            |store, inst, later, current| {
                let mut h = handle;
                if current != generation || h.is_none() {
                    match open_stream(&mut *store, inst, later, &params)? {
                        Ok(nh) => {
                            h = Some(nh);
                            generation = current;
                        }
                        Err(e) => return Ok(Err(format!("reopening the stream: {e}"))),
                    }
                }
                let h = h.expect("opened above");
                Ok(next_of_stream(store, inst, later, h, max)?.map(|b| (b, h)))
            },
            |r: (SourceBatch, ResourceAny)| {
                if let SourceBatch::Events(ev) = &r.0 {
                    let size = events_size(ev);
                    if ev.len() > max as usize {
                        return Err(format!("returned {} events, more than the {max} asked", ev.len()));
                    }
                    if size > max_bytes {
                        return Err(format!("returned {size} bytes, more than its limit of {max_bytes}"));
                    }
                }
                Ok(r)
            },
        )?;
        self.handle = Some(new_handle);
        self.generation = generation;
        Ok(match batch {
            SourceBatch::Events(events) => SourceBatch::Events(
                events.into_iter().map(|e| types::Event { source: source.clone(), ..e }).collect(),
            ),
            SourceBatch::Ended => {
                self.ended = true;
                SourceBatch::Ended
            }
            SourceBatch::Idle => SourceBatch::Idle,
        })
    }
}

/// What a source stream had.
#[derive(Debug, Clone)]
pub enum SourceBatch {
    /// Events, at least one.
    Events(Vec<types::Event>),
    /// None yet; the stream is open.
    Idle,
    /// The stream has ended.
    Ended,
}

impl SourceBatch {
    /// The events, none when idle or ended.
    pub fn into_events(self) -> Vec<types::Event> {
        match self {
            SourceBatch::Events(ev) => ev,
            SourceBatch::Idle | SourceBatch::Ended => Vec::new(),
        }
    }
}

/// Opens a stream through `live-source` when the instance exports it, else `event-source`.
fn open_stream(
    store: &mut Store<State>,
    inst: &Inst,
    later: &Later,
    params: &str,
) -> CallResult<ResourceAny> {
    let Inst::Source(i) = inst else { return Ok(Err("not a source".into())) };
    match &later.live_source {
        Some(live) => live.call_open_live(store, params),
        None => i.lanner_plugin_event_source().call_open(store, params),
    }
}

/// Asks a stream opened by [`open_stream`] for its next batch.
fn next_of_stream(
    store: &mut Store<State>,
    inst: &Inst,
    later: &Later,
    h: ResourceAny,
    max: u32,
) -> CallResult<SourceBatch> {
    let Inst::Source(i) = inst else { return Ok(Err("not a source".into())) };
    Ok(match &later.live_source {
        Some(live) => live.live_stream().call_next(store, h, max)?.and_then(|b| match b {
            live_source::Batch::Events(ev) if ev.is_empty() => {
                Err("returned an empty list of events (a stream with none says idle or ended)".into())
            }
            live_source::Batch::Events(ev) => Ok(SourceBatch::Events(ev)),
            live_source::Batch::Idle => Ok(SourceBatch::Idle),
            live_source::Batch::Ended => Ok(SourceBatch::Ended),
        }),
        None => i
            .lanner_plugin_event_source()
            .event_stream()
            .call_next_batch(store, h, max)?
            .map(|ev| if ev.is_empty() { SourceBatch::Ended } else { SourceBatch::Events(ev) }),
    })
}

impl Drop for SourceStream {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let mut inner = self.plugin.lock();
            // The guest's destructor runs: under the call deadline like any guest code.
            let _ticking = self.plugin.ticking.run();
            if inner.generation == self.generation
                && let Some(live) = inner.live.as_mut()
            {
                let _ = h.resource_drop(&mut live.store);
            }
        }
    }
}

fn api_compatible(v: &str) -> bool {
    API_VERSIONS.iter().any(|ours| {
        let mut ours = ours.split('.');
        let mut theirs = v.split('.');
        // 0.x: major and minor must match; the patch may differ.
        ours.next() == theirs.next() && ours.next() == theirs.next()
    })
}

/// Buffers to pack batches into.
fn empty_pack() -> packed_extractor::PackedEvents {
    packed_extractor::PackedEvents {
        sources: Vec::new(),
        source_index: Vec::new(),
        timestamps: Vec::new(),
        data: Vec::new(),
        data_ends: Vec::new(),
    }
}

/// Packs a batch as `packed-extractor` takes it into `b` (its buffers reused); false when it
/// does not fit (more distinct sources than a u16 counts, or 4 GiB of payloads): the batch
/// then goes through `extract`.
fn pack(events: &[types::Event], b: &mut packed_extractor::PackedEvents) -> bool {
    b.sources.clear();
    b.source_index.clear();
    b.timestamps.clear();
    b.data.clear();
    b.data_ends.clear();
    b.data.reserve(events.iter().map(|e| e.data.len()).sum());
    for e in events {
        let si = match b.sources.iter().rposition(|s| *s == e.source) {
            Some(i) => i,
            None => {
                b.sources.push(e.source.clone());
                b.sources.len() - 1
            }
        };
        let Ok(si) = u16::try_from(si) else { return false };
        b.source_index.push(si);
        b.timestamps.push(e.timestamp_ns);
        b.data.extend_from_slice(&e.data);
        let Ok(end) = u32::try_from(b.data.len()) else { return false };
        b.data_ends.push(end);
    }
    true
}

fn validate_config(plugin: &str, schema: &str, config: &PluginConfig) -> Result<(), PluginError> {
    let err = |message: String| PluginError::Config { plugin: plugin.to_string(), message };
    if schema.trim().is_empty() {
        return Ok(());
    }
    let schema: serde_json::Value =
        serde_json::from_str(schema).map_err(|e| err(format!("the plugin's schema is not JSON: {e}")))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| err(format!("the plugin's schema is invalid: {e}")))?;
    let value = config.config.clone().unwrap_or(serde_json::Value::Null);
    let value = if value.is_null() { serde_json::json!({}) } else { value };
    let errors: Vec<String> =
        validator.iter_errors(&value).map(|e| format!("{} (at '{}')", e, e.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(err(errors.join("; "))) }
}

/// Refuses, before anything is instantiated, a component that declares more memories or
/// tables than its limits allow, or one memory or table larger than all of `memory_mb`. (What
/// the component allocates at instantiation and later is counted by `crate::limits`; a
/// component that imports core modules cannot be sized here, and is left to that.)
fn check_resources(component: &Component, limits: &crate::config::Limits) -> Result<(), String> {
    let Some(r) = component.resources_required() else { return Ok(()) };
    if r.num_memories as usize > limits.memories {
        return Err(format!(
            "the component declares {} linear memories, more than limits.memories ({})",
            r.num_memories, limits.memories
        ));
    }
    if r.num_tables as usize > limits.tables {
        return Err(format!(
            "the component declares {} tables, more than limits.tables ({})",
            r.num_tables, limits.tables
        ));
    }
    let budget = limits.memory_mb.saturating_mul(1 << 20);
    let memory = r.max_initial_memory_size.unwrap_or(0).saturating_mul(64 << 10);
    let table = r.max_initial_table_size.unwrap_or(0).saturating_mul(std::mem::size_of::<usize>() as u64);
    if memory > budget || table > budget {
        return Err(format!(
            "the component starts with a linear memory of {memory} bytes or a table of {table} bytes, \
             more than limits.memory_mb ({} MiB)",
            limits.memory_mb
        ));
    }
    Ok(())
}

/// A failure's description: timeouts and memory breaches said plainly, other traps as
/// wasmtime describes them.
/// A failure's cause, on one line: the wasm backtrace wasmtime attaches is left out (it is
/// logged at debug level, see [`backtrace`]), so that the cause comes first and a failure
/// is one line in the log.
fn describe(e: &wasmtime::Error, max_output_bytes: usize) -> String {
    if let Some(m) = e.downcast_ref::<crate::limits::MemoryLimitExceeded>() {
        return m.to_string();
    }
    if let Some(b) = e.downcast_ref::<crate::deadline::BlockedPastDeadline>() {
        return b.to_string();
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => "call timed out (CPU time limit)".to_string(),
            other => {
                let t = other.to_string();
                format!("trap: {}", t.strip_prefix("wasm trap: ").unwrap_or(&t))
            }
        };
    }
    let mut text = format!("{e:#}");
    if let Some(bt) = backtrace(e) {
        text = text.replace(&format!("{bt}: "), "").replace(&bt, "");
    }
    // wasmtime's hostcall fuel (`Plugin::instantiate`), whose error type is private.
    if text.contains("fuel allocated for hostcalls has been exhausted") {
        return format!(
            "its answer (or what it passed to a host function) is larger than limits.max_output_bytes \
             ({max_output_bytes} bytes): refused before the host copied it"
        );
    }
    if text.contains("forcing a memory growth failure") || text.contains("memory") && text.contains("limit") {
        return format!("memory limit exceeded: {text}");
    }
    text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

/// The wasm backtrace of a failure, when wasmtime captured one.
fn backtrace(e: &wasmtime::Error) -> Option<String> {
    e.downcast_ref::<wasmtime::WasmBacktrace>().map(|bt| bt.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_kept_for_the_host_are_bounded_and_disables_kept_first() {
        let mut v = Vec::new();
        let inc = |n: usize, disabled| Incident { plugin: "p".into(), disabled, message: n.to_string() };
        push_incident(&mut v, inc(0, true));
        for n in 1..1000 {
            push_incident(&mut v, inc(n, false));
        }
        assert_eq!(v.len(), MAX_INCIDENTS);
        assert!(v[0].disabled, "the disable is kept");
        assert_eq!(v.last().unwrap().message, "999");
        assert_eq!(v[1].message, (1000 - MAX_INCIDENTS + 1).to_string(), "the oldest failures went");
    }

    #[test]
    fn packs_a_batch_with_its_sources_once() {
        let ev = |s: &str, t, d: &str| types::Event { source: s.into(), timestamp_ns: t, data: d.into() };
        let mut b = empty_pack();
        // Twice: the second packing starts from the first's buffers.
        assert!(pack(&[ev("c", 0, "stale")], &mut b));
        assert!(pack(&[ev("a", 1, "xy"), ev("b", 2, ""), ev("a", 3, "z")], &mut b));
        assert_eq!(b.sources, ["a", "b"]);
        assert_eq!(b.source_index, [0, 1, 0]);
        assert_eq!(b.timestamps, [1, 2, 3]);
        assert_eq!(b.data, b"xyz");
        assert_eq!(b.data_ends, [2, 2, 3]);
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    /// A schema is a plugin's answer too (`info`), read at load: self-references, a regex
    /// bomb and deep nesting are a verdict or an error, never a hang or a crash.
    #[test]
    fn a_hostile_config_schema_is_an_error_or_a_verdict_never_a_crash() {
        let cfg = PluginConfig::parse("config: {a: 1}\n").unwrap();
        for schema in [
            r##"{"$ref": "#"}"##,
            r##"{"properties": {"a": {"$ref": "#"}}, "$ref": "#"}"##,
            r##"{"allOf": [{"$ref": "#"}]}"##,
            r##"{"definitions": {"x": {"$ref": "#/definitions/x"}}, "$ref": "#/definitions/x"}"##,
            r#"{"pattern": "(a+)+$"}"#,
        ] {
            assert!(validate_config("p", schema, &cfg).is_ok(), "{schema}");
        }
        let bomb = r#"{"properties": {"a": {"pattern": "((((((((((x{1000}){1000}){1000})))))))))"}}}"#;
        let err = validate_config("p", bomb, &cfg).unwrap_err().to_string();
        assert!(err.contains("the plugin's schema is invalid"), "{err}");
        let deep = format!("{}{{}}{}", r#"{"not": "#.repeat(10_000), "}".repeat(10_000));
        let err = validate_config("p", &deep, &cfg).unwrap_err().to_string();
        assert!(err.contains("the plugin's schema is not JSON: recursion limit exceeded"), "{err}");
    }
}
