//! The daemon's configuration: `config/lanner.yaml` is embedded as the defaults; a
//! configuration file, its drop-ins and `-o key=value` options override it in that order.
//!
//! Each file is checked on its own against the schema, so that an unknown key or a wrong type
//! is reported with that file's name, line and column; the merged result is checked again
//! (the `-o` options are only in it).

use crate::config_read::parse_priority;
use anyhow::{Context, Result, bail};
use lanner_engine::{EngineConfig, MatchMode};
use lanner_event::Priority;
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The embedded defaults (and the documented example).
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/lanner.yaml");

/// The configuration file read when `-c` is not given.
pub const DEFAULT_PATH: &str = "/etc/lanner/lanner.yaml";

/// The whole configuration. Every level rejects unknown keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub rules_files: Vec<PathBuf>,
    /// Falco's `rules:` selection, applied in order after the rules files load.
    pub rules: Vec<crate::rule_selection::Selection>,
    pub config_files: Vec<ConfigFile>,
    pub watch_config_files: bool,
    pub priority: String,
    pub rule_matching: String,
    pub json_output: bool,
    pub json_include_output_property: bool,
    pub json_include_tags_property: bool,
    pub append_output: Vec<AppendOutput>,
    /// Falco's `static_fields`: `static.NAME` answers VALUE on every event.
    pub static_fields: std::collections::BTreeMap<String, String>,
    pub buffered_outputs: bool,
    pub log_level: String,
    pub log_format: LogFormat,
    pub engine: Engine,
    pub stdout_output: StdoutOutput,
    pub program_output: ProgramOutput,
    pub file_output: FileOutput,
    #[serde(default)]
    pub syslog_output: crate::falco_outputs::SyslogOutput,
    #[serde(default)]
    pub http_output: crate::falco_outputs::HttpOutput,
    pub sink_plugins_dir: PathBuf,
    pub plugin_outputs: Vec<PluginOutput>,
    pub outputs_queue: OutputsQueue,
    pub plugins_dir: PathBuf,
    pub host_root: PathBuf,
    pub webserver: Webserver,
    pub console: crate::console::ConsoleConfig,
    pub internal_alerts: InternalAlerts,
    pub syscall_event_drops: SyscallEventDrops,
    pub metrics: crate::falco_metrics::MetricsConfig,
    pub alert_dedup: AlertDedup,
    pub falco_libs: FalcoLibs,
    /// Whether `rules_files` came from `-r`: then a missing one is an error.
    #[serde(skip)]
    pub rules_from_command_line: bool,
}

/// Lanner's own alerts (drops, rejected reloads, disabled plugins).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalAlerts {
    pub rate_limit_seconds: f64,
    /// Name the drop alert as Falco does, with Falco's priority and fields.
    pub falco_names: bool,
}

/// Falco's `syscall_event_drops`, with its meaning.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyscallEventDrops {
    pub threshold: f64,
    pub actions: Vec<String>,
    pub rate: f64,
    pub max_burst: f64,
    pub simulate_drops: bool,
}

impl SyscallEventDrops {
    /// The policy, or why the section makes no sense (as Falco refuses it).
    pub fn policy(&self) -> Result<crate::throttle::DropPolicy> {
        let mut p = crate::throttle::DropPolicy {
            threshold: self.threshold,
            log: false,
            alert: false,
            exit: false,
            rate: self.rate,
            max_burst: self.max_burst,
            simulate: self.simulate_drops,
        };
        let mut ignore = false;
        for a in &self.actions {
            match a.as_str() {
                "ignore" => ignore = true,
                "log" => p.log = true,
                "alert" => p.alert = true,
                "exit" => p.exit = true,
                other => {
                    bail!("syscall_event_drops.actions: '{other}' is not one of ignore, log, alert, exit")
                }
            }
        }
        if ignore && (p.log || p.alert) {
            bail!("syscall_event_drops.actions: ignore does not make sense with log or alert (as in Falco)");
        }
        if !(self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)) {
            bail!("syscall_event_drops.threshold: {} is not between 0 and 1", self.threshold);
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            bail!("syscall_event_drops.rate: {} is not a positive number of actions a second", self.rate);
        }
        // Below one token the bucket never allows an action: drops would pass unsaid.
        if !(self.max_burst.is_finite() && self.max_burst >= 1.0) {
            bail!(
                "syscall_event_drops.max_burst: {} is below 1 (no action would ever be taken)",
                self.max_burst
            );
        }
        Ok(p)
    }
}

/// Rule alerts' deduplication window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertDedup {
    pub enabled: bool,
    pub window_seconds: f64,
    pub max_keys: usize,
}

/// One entry of Falco's `append_output`: what to add to the outputs of the rules it matches.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendOutput {
    #[serde(rename = "match", default)]
    pub matches: AppendMatch,
    /// A format appended to each matching rule's output.
    #[serde(default)]
    pub extra_output: String,
    /// Append the fields that the loaded plugins suggest (`field-hints`), as Falco does.
    #[serde(default)]
    pub suggested_output: bool,
    /// Falco's fields added to `output_fields` only: `- KEY: FORMAT` or `- FIELD`.
    #[serde(default)]
    pub extra_fields: Option<serde_yaml_ng::Value>,
}

/// Which rules an `append_output` entry applies to; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendMatch {
    pub source: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub rule: Option<String>,
}

impl AppendOutput {
    /// Falco's default: the plugins' suggested fields on every rule.
    pub fn falco_default() -> Vec<AppendOutput> {
        vec![AppendOutput { suggested_output: true, ..Default::default() }]
    }

    /// The `extra_fields` as the engine applies them, or why they are refused (Falco's
    /// decoder refuses the same shapes: an item neither a field name nor a one-key mapping of
    /// text, a key given twice in one entry).
    pub fn extra_fields(&self) -> Result<Vec<lanner_engine::ExtraField>> {
        let Some(v) = &self.extra_fields else { return Ok(Vec::new()) };
        let Some(items) = v.as_sequence() else { bail!("a list of field names or KEY: FORMAT mappings") };
        let mut out: Vec<lanner_engine::ExtraField> = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let (key, format, raw) = match item {
                Value::String(f) => (f.clone(), String::new(), true),
                Value::Mapping(m) if m.len() == 1 => {
                    let (k, v) = m.iter().next().expect("one entry");
                    let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
                        bail!("[{n}]: KEY: FORMAT, both text");
                    };
                    (k.to_string(), v.to_string(), false)
                }
                _ => bail!("[{n}]: a field name or a mapping of one KEY: FORMAT"),
            };
            if key.is_empty() {
                bail!("[{n}]: an empty name");
            }
            if out.iter().any(|f| f.key == key) {
                bail!("[{n}]: {key} is given twice (as Falco refuses it)");
            }
            out.push(lanner_engine::ExtraField {
                source: self.matches.source.clone(),
                tags: self.matches.tags.clone(),
                rule: self.matches.rule.clone(),
                key,
                format,
                raw,
            });
        }
        Ok(out)
    }

    /// The entry as the engine applies it, for one source (the entry's own when it names one).
    pub fn extra(&self, source: Option<&str>, format: String) -> lanner_engine::ExtraOutput {
        lanner_engine::ExtraOutput {
            source: source.map(str::to_string).or_else(|| self.matches.source.clone()),
            tags: self.matches.tags.clone(),
            rule: self.matches.rule.clone(),
            format,
        }
    }
}

/// The state tables' bounds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FalcoLibs {
    pub thread_table_size: usize,
    pub fd_table_size: usize,
    pub fd_total_size: usize,
    pub reconcile_interval_seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    pub kind: EngineKind,
    pub ebpf: Ebpf,
    pub replay: Replay,
}

/// Falco's `modern_ebpf` and `ebpf` both mean kernel capture by an eBPF probe: Lanner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    #[serde(alias = "modern_ebpf")]
    Ebpf,
    Replay,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ebpf {
    pub ring_buffer_bytes: u32,
    pub poll_interval_ms: u64,
    pub idle_poll_interval_ms: u64,
    pub attach: AttachMode,
}

/// `engine.ebpf.attach`: which tracepoints the probe's syscall programs run from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachMode {
    Raw,
    PerSyscall,
    PerSyscallNoCompat,
    Auto,
}

impl From<AttachMode> for lanner_capture::AttachMode {
    fn from(m: AttachMode) -> Self {
        match m {
            AttachMode::Raw => Self::Raw,
            AttachMode::PerSyscall => Self::PerSyscall,
            AttachMode::PerSyscallNoCompat => Self::PerSyscallNoCompat,
            AttachMode::Auto => Self::Auto,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    pub capture_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutOutput {
    pub enabled: bool,
    pub priority: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramOutput {
    pub enabled: bool,
    pub keep_alive: bool,
    pub program: String,
    pub priority: String,
}

/// Falco's `file_output`, served by the `file` sink plugin.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutput {
    pub enabled: bool,
    pub keep_alive: bool,
    pub filename: PathBuf,
    pub priority: String,
}

/// An output delivered by a sink plugin (`sink_plugins_dir/PLUGIN.wasm`, or a path), with
/// its own configuration and grants, as a plugin's `NAME.yaml` holds them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginOutput {
    pub name: String,
    pub plugin: String,
    #[serde(default = "debug_priority")]
    pub priority: String,
    #[serde(default)]
    pub init_config: Option<serde_json::Value>,
    #[serde(default)]
    pub grants: lanner_plugin_runtime::config::Grants,
    #[serde(default)]
    pub limits: lanner_plugin_runtime::config::Limits,
    #[serde(default)]
    pub restart: lanner_plugin_runtime::config::RestartPolicy,
}

fn debug_priority() -> String {
    "debug".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsQueue {
    pub capacity: usize,
    pub retry_attempts: u32,
    pub shutdown_deadline_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webserver {
    pub enabled: bool,
    pub listen_address: String,
    pub listen_port: u16,
    pub health: Health,
    pub metrics_token_file: PathBuf,
    pub tls: WebTls,
    /// Also serve Falco's `falcosecurity_*` names on /metrics.
    pub prometheus_falcosecurity_names: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebTls {
    pub enabled: bool,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub max_event_gap_seconds: f64,
    pub max_drop_ratio: f64,
}

/// Where a configuration comes from: what `lanner run` was given.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `-c FILE`; otherwise [`DEFAULT_PATH`] when it exists.
    pub file: Option<PathBuf>,
    /// `-o key=value`, in order.
    pub overrides: Vec<String>,
    /// `-r FILE`: replaces `rules_files` when given.
    pub rules: Vec<PathBuf>,
    /// `--events FILE`: replay this file (`-` for standard input) instead of live capture.
    pub events: Option<PathBuf>,
    /// `--plugins-dir DIR`: replaces `plugins_dir`; it must exist.
    pub plugins_dir: Option<PathBuf>,
    /// `--strict`: keys Lanner does not implement are errors rather than warnings.
    pub strict: bool,
}

/// A loaded configuration and the files it was read from (to watch them).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The configuration files read, main file first.
    pub files: Vec<PathBuf>,
    /// What the files hold that Lanner sets aside, each to be logged as a warning.
    pub warnings: Vec<crate::config_read::Warning>,
}

impl Sources {
    /// The main configuration file, if any.
    pub fn main_file(&self) -> Option<PathBuf> {
        match &self.file {
            Some(f) => Some(f.clone()),
            None => Path::new(DEFAULT_PATH).exists().then(|| PathBuf::from(DEFAULT_PATH)),
        }
    }

    /// Reads and checks everything, in order: defaults, the file, its drop-ins, `-o`, `-r`.
    pub fn load(&self) -> Result<Loaded> {
        let defaults: Value = serde_yaml_ng::from_str(DEFAULT_CONFIG).expect("the embedded config parses");
        let mut files = Vec::new();
        let mut warnings = Vec::new();
        // What the files say, merged as Falco merges them; the defaults fill in the rest.
        let mut layer = Mapping::new();
        if let Some(main) = self.main_file() {
            let Value::Mapping(m) = read_checked(&main, self.strict, &mut warnings)?.0 else {
                unreachable!("a configuration file reads as a mapping")
            };
            layer = m;
            files.push(main.clone());
        }
        // The files that the main one (else the defaults) includes.
        let entries: Vec<ConfigFile> =
            match layer.get("config_files").or_else(|| defaults.get("config_files")) {
                Some(v) => serde_yaml_ng::from_value(v.clone()).context("config_files")?,
                None => Vec::new(),
            };
        for entry in &entries {
            if files.first().is_some_and(|main| same_file(main, &entry.path)) {
                bail!("config_files: {} is the main configuration file itself", entry.path.display());
            }
            for f in expand(std::slice::from_ref(&entry.path), false)? {
                let (value, positions) = read_checked(&f, self.strict, &mut warnings)?;
                if let Some(p) = positions.get("config_files") {
                    bail!(
                        "{}: line {}, column {}: config_files: an included file cannot include others \
                         (as in Falco)",
                        f.display(),
                        p.line,
                        p.column
                    );
                }
                let Value::Mapping(m) = value else {
                    unreachable!("a configuration file reads as a mapping")
                };
                include(&mut layer, m, entry.strategy);
                files.push(f);
            }
        }
        let mut merged = defaults;
        merge(&mut merged, Value::Mapping(layer));
        for o in &self.overrides {
            apply_override(&mut merged, o)?;
            if let Err(e) = serde_yaml_ng::from_value::<Partial>(merged.clone()) {
                bail!("-o {o}: {e}");
            }
        }
        let mut config: Config =
            serde_yaml_ng::from_value(merged).context("the configuration after -o options")?;
        if !self.rules.is_empty() {
            config.rules_files = self.rules.clone();
            config.rules_from_command_line = true;
        }
        if let Some(dir) = &self.plugins_dir {
            // Named on the command line: a typo must not run without the plugins.
            if !dir.is_dir() {
                bail!("--plugins-dir {}: no such folder", dir.display());
            }
            config.plugins_dir = dir.clone();
        }
        if let Some(events) = &self.events {
            config.engine.kind = EngineKind::Replay;
            config.engine.replay.capture_file = events.clone();
        }
        config.check()?;
        Ok(Loaded { config, files, warnings })
    }
}

/// Reads one configuration file and checks it against the schema on its own, so that errors
/// name its lines. Keys Lanner does not implement are left out with a warning each.
fn read_checked(
    path: &Path,
    strict: bool,
    warnings: &mut Vec<crate::config_read::Warning>,
) -> Result<(Value, std::collections::HashMap<String, lanner_engine::yaml::Pos>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let known: Value = serde_yaml_ng::from_str(DEFAULT_CONFIG).expect("the embedded config parses");
    let mut read = crate::config_read::read(path, &text, &known, strict, &crate::config_read::process_env)?;
    falco_values(path, &mut read);
    if let Err(e) = serde_yaml_ng::from_value::<Partial>(read.value.clone()) {
        let file = path.display();
        let Value::Mapping(m) = &read.value else { bail!("{file}: {e}") };
        match locate(m, &[]) {
            Some((key, e)) => match read.positions.get(&key) {
                Some(p) => bail!("{file}: line {}, column {}: {key}: {e}", p.line, p.column),
                None => bail!("{file}: {key}: {e}"),
            },
            None => bail!("{file}: {e}"),
        }
    }
    warnings.extend(read.warnings);
    Ok((read.value, read.positions))
}

/// Falco's values whose meaning Lanner cannot keep, replaced by what Lanner does instead,
/// with a warning: `outputs_queue.capacity: 0` is Falco's unbounded queue, and Lanner's
/// queues are always bounded (its default capacity applies).
fn falco_values(path: &Path, read: &mut crate::config_read::FileRead) {
    if read.value.get("buffered_outputs").and_then(Value::as_bool) == Some(true) {
        read.warnings.push(crate::config_read::Warning {
            file: path.display().to_string(),
            pos: read.positions.get("buffered_outputs").copied().unwrap_or_default(),
            key: "buffered_outputs".into(),
            message: "true has no effect: Lanner's outputs write each batch of alerts and flush it \
                      at once, never holding alerts in a buffer"
                .into(),
        });
    }
    let Some(Value::Mapping(q)) = read.value.get_mut("outputs_queue") else { return };
    let key = Value::String("capacity".into());
    if q.get(&key).and_then(Value::as_u64) == Some(0) {
        q.remove(&key);
        let default: Value = serde_yaml_ng::from_str(DEFAULT_CONFIG).expect("the embedded config parses");
        let cap = default["outputs_queue"]["capacity"].as_u64().unwrap_or_default();
        read.warnings.push(crate::config_read::Warning {
            file: path.display().to_string(),
            pos: read.positions.get("outputs_queue.capacity").copied().unwrap_or_default(),
            key: "outputs_queue.capacity".into(),
            message: format!(
                "0 (Falco's unbounded queue) is not supported: Lanner's queues are bounded; \
                 the capacity {cap} applies unless a later file sets one"
            ),
        });
    }
}

/// The dotted key (`[N]` for a list's item) whose value alone fails the schema, the deepest
/// one, with the error.
fn locate(section: &Mapping, prefix: &[Step]) -> Option<(String, serde_yaml_ng::Error)> {
    for (k, v) in section {
        let Some(k) = k.as_str() else { continue };
        let mut path = prefix.to_vec();
        path.push(Step::Key(k.to_string()));
        if let Some(found) = locate_at(v, path) {
            return Some(found);
        }
    }
    None
}

#[derive(Clone)]
enum Step {
    Key(String),
    Item(usize),
}

fn locate_at(v: &Value, path: Vec<Step>) -> Option<(String, serde_yaml_ng::Error)> {
    // The value alone where it sits; a list's item alone in a list.
    let mut alone = v.clone();
    for step in path.iter().rev() {
        alone = match step {
            Step::Key(k) => {
                let mut m = Mapping::new();
                m.insert(Value::String(k.clone()), alone);
                Value::Mapping(m)
            }
            Step::Item(_) => Value::Sequence(vec![alone]),
        };
    }
    let e = serde_yaml_ng::from_value::<Partial>(alone).err()?;
    let deeper = match v {
        Value::Mapping(m) => locate(m, &path),
        Value::Sequence(items) => items.iter().enumerate().find_map(|(i, item)| {
            let mut p = path.clone();
            p.push(Step::Item(i));
            locate_at(item, p)
        }),
        _ => None,
    };
    deeper.or_else(|| {
        let mut name = String::new();
        for step in &path {
            match step {
                Step::Key(k) if name.is_empty() => name.push_str(k),
                Step::Key(k) => {
                    name.push('.');
                    name.push_str(k);
                }
                Step::Item(i) => name.push_str(&format!("[{i}]")),
            }
        }
        Some((name, e))
    })
}

/// One `config_files` entry: a path (a file, or a folder whose `*.yaml`/`*.yml` files are
/// read in name order), or Falco's `{path, strategy}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub strategy: Strategy,
}

/// How an included file's top-level keys combine with what is already there (Falco's
/// `config_files` merge strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Strategy {
    /// A list is appended to the list already there; anything else replaces the key.
    #[default]
    #[serde(rename = "append")]
    Append,
    /// Every key replaces the one already there, lists too.
    #[serde(rename = "override")]
    Override,
    /// Only keys not there yet are added.
    #[serde(rename = "add-only")]
    AddOnly,
}

impl<'de> Deserialize<'de> for ConfigFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            path: PathBuf,
            #[serde(default)]
            strategy: Strategy,
        }
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a path, or a mapping of path and strategy (append, override or add-only)"
        )]
        enum Either {
            Path(PathBuf),
            Entry(Entry),
        }
        Ok(match Either::deserialize(d)? {
            Either::Path(path) => ConfigFile { path, strategy: Strategy::Append },
            Either::Entry(Entry { path, strategy }) => ConfigFile { path, strategy },
        })
    }
}

/// Falco's merge of an included file, top-level key by top-level key: a section given in
/// an included file replaces the section as a whole (the defaults then fill in what it
/// leaves out), except that `append` adds a list's items to the list already there.
fn include(layer: &mut Mapping, over: Mapping, strategy: Strategy) {
    for (k, v) in over {
        match (strategy, layer.get_mut(&k)) {
            (Strategy::AddOnly, Some(_)) => {}
            (Strategy::Append, Some(Value::Sequence(items))) if v.is_sequence() => {
                let Value::Sequence(more) = v else { unreachable!() };
                items.extend(more);
            }
            _ => {
                layer.insert(k, v);
            }
        }
    }
}

/// Whether two paths name one file (an include naming the main file would loop in Falco).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The schema with every key optional: checks one file's keys and types where they are
/// written. Mirrors [`Config`] (a test keeps the two in step).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Partial {
    rules_files: Option<Vec<PathBuf>>,
    rules: Option<Vec<crate::rule_selection::Selection>>,
    config_files: Option<Vec<ConfigFile>>,
    watch_config_files: Option<bool>,
    priority: Option<String>,
    rule_matching: Option<String>,
    json_output: Option<bool>,
    json_include_output_property: Option<bool>,
    json_include_tags_property: Option<bool>,
    append_output: Option<Vec<AppendOutput>>,
    static_fields: Option<std::collections::BTreeMap<String, String>>,
    buffered_outputs: Option<bool>,
    log_level: Option<String>,
    log_format: Option<LogFormat>,
    engine: Option<PartialEngine>,
    stdout_output: Option<PartialStdout>,
    program_output: Option<PartialProgram>,
    file_output: Option<PartialFile>,
    syslog_output: Option<crate::falco_outputs::SyslogOutput>,
    http_output: Option<crate::falco_outputs::HttpOutput>,
    sink_plugins_dir: Option<PathBuf>,
    plugin_outputs: Option<Vec<PluginOutput>>,
    outputs_queue: Option<PartialQueue>,
    plugins_dir: Option<PathBuf>,
    host_root: Option<PathBuf>,
    webserver: Option<PartialWebserver>,
    console: Option<PartialConsole>,
    internal_alerts: Option<PartialInternalAlerts>,
    syscall_event_drops: Option<PartialSyscallEventDrops>,
    metrics: Option<PartialMetrics>,
    alert_dedup: Option<PartialAlertDedup>,
    falco_libs: Option<PartialFalcoLibs>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialInternalAlerts {
    rate_limit_seconds: Option<f64>,
    falco_names: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialMetrics {
    enabled: Option<bool>,
    interval: Option<serde_yaml_ng::Value>,
    output_rule: Option<bool>,
    output_file: Option<String>,
    resource_utilization_enabled: Option<bool>,
    state_counters_enabled: Option<bool>,
    kernel_event_counters_enabled: Option<bool>,
    kernel_event_counters_per_cpu_enabled: Option<bool>,
    rules_counters_enabled: Option<bool>,
    convert_memory_to_mb: Option<bool>,
    include_empty_values: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialSyscallEventDrops {
    threshold: Option<f64>,
    actions: Option<Vec<String>>,
    rate: Option<f64>,
    max_burst: Option<f64>,
    simulate_drops: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialAlertDedup {
    enabled: Option<bool>,
    window_seconds: Option<f64>,
    max_keys: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialFalcoLibs {
    thread_table_size: Option<usize>,
    fd_table_size: Option<usize>,
    fd_total_size: Option<usize>,
    reconcile_interval_seconds: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialEngine {
    kind: Option<EngineKind>,
    ebpf: Option<PartialEbpf>,
    replay: Option<PartialReplay>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialEbpf {
    ring_buffer_bytes: Option<u32>,
    poll_interval_ms: Option<u64>,
    idle_poll_interval_ms: Option<u64>,
    attach: Option<AttachMode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialReplay {
    capture_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialStdout {
    enabled: Option<bool>,
    priority: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialProgram {
    enabled: Option<bool>,
    keep_alive: Option<bool>,
    program: Option<String>,
    priority: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialFile {
    enabled: Option<bool>,
    keep_alive: Option<bool>,
    filename: Option<PathBuf>,
    priority: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialQueue {
    capacity: Option<usize>,
    retry_attempts: Option<u32>,
    shutdown_deadline_seconds: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialWebserver {
    enabled: Option<bool>,
    listen_address: Option<String>,
    listen_port: Option<u16>,
    health: Option<PartialHealth>,
    metrics_token_file: Option<PathBuf>,
    tls: Option<PartialWebTls>,
    prometheus_falcosecurity_names: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialConsole {
    enabled: Option<bool>,
    max_alerts: Option<usize>,
    token: Option<String>,
    token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialWebTls {
    enabled: Option<bool>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialHealth {
    max_event_gap_seconds: Option<f64>,
    max_drop_ratio: Option<f64>,
}

/// Merges `over` into `base`: mappings key by key, anything else replaced.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// One step of an `-o` key path.
#[derive(Debug, Clone, PartialEq)]
enum PathStep {
    Key(String),
    /// `[N]`: the list's item N (N equal to the length appends one, as in Falco).
    Index(usize),
    /// `[]`: a new item at the end of the list.
    Append,
}

/// Falco's `-o` key paths (yaml_helper's get_node): keys joined by `.`; `[N]` selects a
/// list's item and `[]` appends one, either followed by `.` and more keys or ending the
/// path; `\.`, `\[`, `\]` and `\\` put those characters in a key.
fn key_path(key: &str) -> std::result::Result<Vec<PathStep>, String> {
    let mut steps = Vec::new();
    let mut name = String::new();
    let mut named = false;
    let mut chars = key.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('.' | '[' | ']' | '\\'))) => {
                    name.push(e);
                    named = true;
                }
                Some((_, e)) => return Err(format!("invalid escape sequence '\\{e}' at position {at}")),
                None => return Err(format!("trailing backslash at position {at}")),
            },
            '.' => {
                if !named {
                    return Err(format!("an empty key at position {at}"));
                }
                steps.push(PathStep::Key(std::mem::take(&mut name)));
                named = false;
            }
            '[' => {
                if named {
                    steps.push(PathStep::Key(std::mem::take(&mut name)));
                    named = false;
                } else if !matches!(steps.last(), Some(PathStep::Index(_) | PathStep::Append)) {
                    return Err(format!("'[' without a key before it at position {at}"));
                }
                let mut inside = String::new();
                loop {
                    match chars.next() {
                        Some((_, ']')) => break,
                        Some((_, d)) => inside.push(d),
                        None => return Err(format!("'[' at position {at} is not closed")),
                    }
                }
                if inside.is_empty() {
                    steps.push(PathStep::Append);
                } else {
                    let n = inside.trim().parse::<usize>().map_err(|_| {
                        format!("expected a list index (a number from 0) at position {at}, found '{inside}'")
                    })?;
                    steps.push(PathStep::Index(n));
                }
                match chars.peek() {
                    Some((_, '.')) => {
                        chars.next();
                        if chars.peek().is_none() {
                            return Err("a path ending in '.'".into());
                        }
                    }
                    Some((_, '[')) | None => {}
                    Some((p, _)) => return Err(format!("expected '.' or '[' after ']' at position {p}")),
                }
            }
            ']' => return Err(format!("']' without '[' at position {at}")),
            c => {
                name.push(c);
                named = true;
            }
        }
    }
    if named {
        steps.push(PathStep::Key(name));
    } else if !matches!(steps.last(), Some(PathStep::Index(_) | PathStep::Append)) {
        return Err("an empty key at the end".into());
    }
    Ok(steps)
}

/// Applies one `-o key=value` as Falco reads it (see [`key_path`]): `webserver.listen_port=8766`,
/// `rules_files[]=/etc/extra.yaml` (appends), `rules_files[0]=/etc/first.yaml` (replaces the
/// first item), `rules[].disable.rule=NAME` (a new item holding the rest of the path),
/// `append_output[0].extra_output=...` (inside an existing item). The value is read as YAML
/// (`true`, `8080`, `[a, b]`, text). Keys of Lanner's sections must exist (a typo is an
/// error); inside list items and `static_fields`, keys are created.
pub fn apply_override(root: &mut Value, option: &str) -> Result<()> {
    let (key, raw) = option.split_once('=').with_context(|| format!("-o {option}: expected key=value"))?;
    let mut value: Value = serde_yaml_ng::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    // Legacy short names of `lanner run -o` before the configuration file existed.
    let key = match key {
        "ring_buffer_bytes" => "engine.ebpf.ring_buffer_bytes",
        other => other,
    };
    let steps = key_path(key).map_err(|e| anyhow::anyhow!("-o {option}: '{key}' is not a key path: {e}"))?;
    if let [PathStep::Key(section), PathStep::Key(_)] = steps.as_slice()
        && section == "static_fields"
    {
        // Falco reads static fields as text.
        value = Value::String(raw.to_string());
    }
    let shown = |n: usize| -> String {
        let mut s = String::new();
        for st in &steps[..n] {
            match st {
                PathStep::Key(k) if s.is_empty() => s.push_str(k),
                PathStep::Key(k) => {
                    s.push('.');
                    s.push_str(k);
                }
                PathStep::Index(i) => s.push_str(&format!("[{i}]")),
                PathStep::Append => s.push_str("[]"),
            }
        }
        s
    };
    let mut node = root;
    // Below a list item or in static_fields, keys are the operator's: created when missing.
    let mut free = false;
    for (i, step) in steps.iter().enumerate() {
        match step {
            PathStep::Key(k) => {
                if free && node.is_null() {
                    *node = Value::Mapping(Mapping::new());
                }
                let Value::Mapping(m) = node else {
                    bail!("-o {option}: '{}' is not a section", shown(i));
                };
                let k = Value::String(k.clone());
                if !m.contains_key(&k) {
                    if !free {
                        bail!("-o {option}: unknown key '{}'", shown(i + 1));
                    }
                    m.insert(k.clone(), Value::Null);
                }
                node = m.get_mut(&k).expect("there");
                if i == 0 && matches!(step, PathStep::Key(s) if s == "static_fields") {
                    free = true;
                }
            }
            PathStep::Index(_) | PathStep::Append => {
                if free && node.is_null() {
                    *node = Value::Sequence(Vec::new());
                }
                let Value::Sequence(items) = node else {
                    bail!("-o {option}: '{}' is not a list", shown(i));
                };
                let n = match step {
                    PathStep::Index(n) => *n,
                    _ => items.len(),
                };
                if n > items.len() {
                    bail!(
                        "-o {option}: '{}' has {} items: index {n} is past its end (index {} appends, as [] does)",
                        shown(i),
                        items.len(),
                        items.len()
                    );
                }
                if n == items.len() {
                    items.push(Value::Null);
                }
                node = &mut items[n];
                free = true;
            }
        }
    }
    *node = value;
    Ok(())
}

/// Files named directly, and the `*.yaml`/`*.yml` files of directories in name order.
/// Missing entries are errors when `required`, skipped otherwise.
pub fn expand(paths: &[PathBuf], required: bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            entries.sort();
            out.extend(entries);
        } else if p.exists() {
            out.push(p.clone());
        } else if required {
            bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(out)
}

impl Config {
    /// Value checks that the schema alone cannot make.
    fn check(&self) -> Result<()> {
        self.min_priority()?;
        self.match_mode()?;
        for (i, a) in self.append_output.iter().enumerate() {
            a.extra_fields().with_context(|| format!("append_output[{i}].extra_fields"))?;
        }
        for name in self.static_fields.keys() {
            let part_ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name.split('.').all(part_ok) {
                bail!(
                    "static_fields: '{name}' is not a field name (letters, digits and _, parts joined \
                     by dots): rules could not name static.{name}"
                );
            }
        }
        if !self.engine.ebpf.ring_buffer_bytes.is_power_of_two() || self.engine.ebpf.ring_buffer_bytes < 4096
        {
            bail!(
                "engine.ebpf.ring_buffer_bytes: {} is not a power of two of at least 4096",
                self.engine.ebpf.ring_buffer_bytes
            );
        }
        if self.engine.kind == EngineKind::Replay && self.engine.replay.capture_file.as_os_str().is_empty() {
            bail!("engine.kind is replay but engine.replay.capture_file is empty");
        }
        if !(0.0..=1.0).contains(&self.webserver.health.max_drop_ratio) {
            bail!(
                "webserver.health.max_drop_ratio: {} is not between 0 and 1",
                self.webserver.health.max_drop_ratio
            );
        }
        self.log_filter()?;
        parse_priority("stdout_output.priority", &self.stdout_output.priority)?;
        parse_priority("program_output.priority", &self.program_output.priority)?;
        self.syslog_output.check()?;
        if self.http_output.enabled {
            self.http_output.plan(self.json_output)?;
        }
        if self.program_output.enabled && self.program_output.program.trim().is_empty() {
            bail!("program_output is enabled but program_output.program is empty");
        }
        parse_priority("file_output.priority", &self.file_output.priority)?;
        if self.file_output.enabled && self.file_output.filename.file_name().is_none() {
            bail!("file_output is enabled but file_output.filename names no file");
        }
        let mut names = std::collections::HashSet::new();
        for o in &self.plugin_outputs {
            parse_priority(&format!("plugin_outputs[{}].priority", o.name), &o.priority)?;
            if matches!(o.name.as_str(), "stdout" | "program" | "file") || !names.insert(o.name.as_str()) {
                bail!("plugin_outputs: the output name {} is used twice", o.name);
            }
        }
        let tls = &self.webserver.tls;
        if tls.enabled && (tls.cert_file.as_os_str().is_empty() || tls.key_file.as_os_str().is_empty()) {
            bail!("webserver.tls is enabled but webserver.tls.cert_file or key_file is empty");
        }
        let r = self.internal_alerts.rate_limit_seconds;
        if !(r.is_finite() && r >= 0.0) {
            bail!(
                "internal_alerts.rate_limit_seconds: {r} is not a number of seconds (0 turns the limit off)"
            );
        }
        if self.metrics.enabled {
            self.metrics.check()?;
        }
        self.syscall_event_drops.policy()?;
        let w = self.alert_dedup.window_seconds;
        if self.alert_dedup.enabled && !(w.is_finite() && w > 0.0) {
            bail!("alert_dedup.window_seconds: {w} is not a positive number of seconds");
        }
        if self.alert_dedup.enabled && self.alert_dedup.max_keys == 0 {
            bail!("alert_dedup.max_keys: at least 1");
        }
        if self.outputs_queue.capacity == 0 {
            bail!("outputs_queue.capacity: at least 1 (queues are bounded so that memory is)");
        }
        // Tables smaller than this would evict what the rules are looking at.
        if self.falco_libs.thread_table_size < 64 {
            bail!("falco_libs.thread_table_size: {} is below 64", self.falco_libs.thread_table_size);
        }
        if self.falco_libs.fd_table_size < 16 {
            bail!("falco_libs.fd_table_size: {} is below 16", self.falco_libs.fd_table_size);
        }
        if self.falco_libs.fd_total_size < self.falco_libs.fd_table_size {
            bail!(
                "falco_libs.fd_total_size: {} is below fd_table_size ({})",
                self.falco_libs.fd_total_size,
                self.falco_libs.fd_table_size
            );
        }
        let r = self.falco_libs.reconcile_interval_seconds;
        if !r.is_finite() || r < 0.0 {
            bail!("falco_libs.reconcile_interval_seconds: {r} is not 0 (never) or a number of seconds");
        }
        Ok(())
    }

    /// How repeated alerts are held back.
    pub fn alert_limits(&self) -> crate::throttle::AlertLimits {
        let d = &self.alert_dedup;
        crate::throttle::AlertLimits {
            internal_interval: Duration::from_secs_f64(self.internal_alerts.rate_limit_seconds),
            dedup: d.enabled.then(|| crate::throttle::DedupSettings {
                window: Duration::from_secs_f64(d.window_seconds),
                max_keys: d.max_keys,
            }),
            drops: self.syscall_event_drops.policy().expect("checked when loaded"),
            falco_names: self.internal_alerts.falco_names,
        }
    }

    /// The state tables' bounds.
    pub fn state_limits(&self) -> lanner_state::table::Limits {
        lanner_state::table::Limits {
            max_threads: self.falco_libs.thread_table_size,
            max_fds: self.falco_libs.fd_table_size,
            max_fds_total: self.falco_libs.fd_total_size,
        }
    }

    /// How often the state tables are reconciled with /proc; `None` for never.
    pub fn reconcile_interval(&self) -> Option<Duration> {
        let r = self.falco_libs.reconcile_interval_seconds;
        (r > 0.0).then(|| Duration::from_secs_f64(r.max(0.1)))
    }

    /// The outputs' part of the configuration, to tell whether a reload changes them.
    #[allow(clippy::type_complexity)]
    pub fn outputs_section(
        &self,
    ) -> (StdoutOutput, ProgramOutput, OutputsQueue, bool, bool, bool, (FileOutput, PathBuf, Vec<PluginOutput>))
    {
        (
            self.stdout_output.clone(),
            self.program_output.clone(),
            self.outputs_queue.clone(),
            self.json_output,
            self.json_include_output_property,
            self.json_include_tags_property,
            (self.file_output.clone(), self.sink_plugins_dir.clone(), self.plugin_outputs.clone()),
        )
    }

    /// `priority`, parsed.
    pub fn min_priority(&self) -> Result<Priority> {
        self.priority.parse().map_err(|e| anyhow::anyhow!("priority: {e}"))
    }

    /// How long outputs may take to drain at shutdown.
    pub fn shutdown_deadline(&self) -> Duration {
        Duration::from_secs_f64(self.outputs_queue.shutdown_deadline_seconds.max(0.0))
    }

    /// `rule_matching`, parsed.
    pub fn match_mode(&self) -> Result<MatchMode> {
        Ok(match self.rule_matching.as_str() {
            "first" => MatchMode::First,
            "all" => MatchMode::All,
            other => bail!("rule_matching: '{other}' is first or all"),
        })
    }

    /// `log_level` as a tracing filter directive.
    pub fn log_filter(&self) -> Result<&'static str> {
        Ok(match self.log_level.to_ascii_lowercase().as_str() {
            "error" | "critical" | "alert" | "emergency" => "error",
            "warning" | "warn" => "warn",
            "info" | "notice" => "info",
            "debug" => "debug",
            "trace" => "trace",
            other => bail!("log_level: '{other}' is one of error, warning, info, debug, trace"),
        })
    }

    /// The rule engine's settings.
    pub fn engine_config(&self) -> Result<EngineConfig> {
        let mut cfg = EngineConfig::syscall();
        cfg.min_priority = self.min_priority()?;
        cfg.match_mode = self.match_mode()?;
        cfg.static_fields = self.static_fields.clone();
        Ok(cfg)
    }

    /// The rules files to load, directories expanded; empty for the embedded defaults.
    /// As in Falco, an entry of `rules_files` that does not exist is skipped (a stock
    /// falco.yaml names `/etc/falco/rules.d`, which may not be there), with a warning each
    /// (the second value); when every entry is missing, or a `-r` one is, it is an error: no
    /// rules would run, or not those asked for.
    pub fn rules_paths(&self) -> Result<(Vec<PathBuf>, Vec<String>)> {
        if self.rules_from_command_line {
            return Ok((expand(&self.rules_files, true)?, Vec::new()));
        }
        let (there, missing): (Vec<PathBuf>, Vec<PathBuf>) =
            self.rules_files.iter().cloned().partition(|p| p.exists());
        if there.is_empty() && !missing.is_empty() {
            expand(&missing, true)?;
        }
        let warnings = missing
            .iter()
            .map(|p| format!("rules_files: {} does not exist; skipped (as Falco does)", p.display()))
            .collect();
        Ok((expand(&there, true)?, warnings))
    }

    /// How long records may wait in the ring buffer.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.engine.ebpf.poll_interval_ms.max(1))
    }

    /// How long records may wait in the ring buffer once the node has been quiet.
    pub fn idle_poll_interval(&self) -> Duration {
        Duration::from_millis(self.engine.ebpf.idle_poll_interval_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lanner-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn sources(file: &Path, overrides: &[&str]) -> Sources {
        Sources {
            file: Some(file.to_path_buf()),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            rules: Vec::new(),
            events: None,
            plugins_dir: None,
            strict: false,
        }
    }

    #[test]
    fn the_partial_schema_accepts_the_whole_default_file() {
        // Every key of Config is in the embedded file; Partial must accept them all.
        serde_yaml_ng::from_str::<Partial>(DEFAULT_CONFIG).unwrap();
        serde_yaml_ng::from_str::<Config>(DEFAULT_CONFIG).unwrap();
    }

    #[test]
    fn append_output_defaults_to_suggested_fields_and_reads_extra_fields() {
        let d = temp_dir("append");
        let c = sources(&write(&d, "empty.yaml", ""), &[]).load().unwrap().config;
        assert_eq!(c.append_output, AppendOutput::falco_default());
        let f = write(
            &d,
            "own.yaml",
            "append_output:\n  - match: {source: syscall, tags: [net]}\n    extra_output: on %evt.cpu\n",
        );
        let c = sources(&f, &[]).load().unwrap().config;
        assert_eq!(c.append_output.len(), 1, "a list replaces the default");
        let e = c.append_output[0].extra(None, "x".into());
        assert!(
            e.matches("r", "syscall", &["net".into(), "y".into()])
                && !e.matches("r", "k8s_audit", &["net".into()])
        );
        let f = write(
            &d,
            "fields.yaml",
            "append_output:\n  - match: {rule: R}\n    extra_fields: [evt.hostname, {who: 'u=%user.name'}]\n",
        );
        let c = sources(&f, &[]).load().unwrap().config;
        let fields = c.append_output[0].extra_fields().unwrap();
        assert_eq!(fields.len(), 2);
        assert!(fields[0].raw && fields[0].key == "evt.hostname" && fields[0].rule.as_deref() == Some("R"));
        assert!(!fields[1].raw && fields[1].key == "who" && fields[1].format == "u=%user.name");
        for (bad, why) in [
            ("[evt.hostname, evt.hostname]", "evt.hostname is given twice"),
            ("[{a: x, b: y}]", "[0]: a field name or a mapping of one KEY: FORMAT"),
            ("evt.hostname", "a list of field names"),
        ] {
            let f = write(&d, "bad.yaml", &format!("append_output:\n  - extra_fields: {bad}\n"));
            let err = format!("{:#}", sources(&f, &[]).load().unwrap_err());
            assert!(err.contains("append_output[0].extra_fields") && err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn embedded_defaults_load() {
        let d = temp_dir("defaults");
        let f = write(&d, "empty.yaml", "");
        let c = sources(&f, &[]).load().unwrap().config;
        assert_eq!(c.engine.kind, EngineKind::Ebpf);
        assert_eq!(c.webserver.listen_port, 8765);
        assert!(c.rules_files.is_empty());
        assert_eq!(c.min_priority().unwrap(), Priority::Debug);
    }

    #[test]
    fn files_dropins_and_options_override_in_order() {
        let d = temp_dir("order");
        let dropins = d.join("config.d");
        std::fs::create_dir_all(&dropins).unwrap();
        let main = write(
            &d,
            "lanner.yaml",
            &format!(
                "priority: notice\njson_output: true\nconfig_files: [{}]\nwebserver:\n  listen_port: 9000\n",
                dropins.display()
            ),
        );
        write(&dropins, "20-b.yaml", "priority: error\n");
        write(&dropins, "10-a.yaml", "priority: warning\nwebserver:\n  health:\n    max_drop_ratio: 0.5\n");
        write(&dropins, "ignored.txt", "not: yaml: at all");
        let loaded = sources(&main, &["webserver.listen_address=0.0.0.0"]).load().unwrap();
        let c = loaded.config;
        assert_eq!(c.priority, "error", "the last drop-in in name order wins");
        assert!(c.json_output);
        assert_eq!(
            c.webserver.listen_port, 8765,
            "as in Falco, a section in an included file replaces the section: the default port"
        );
        assert_eq!(c.webserver.health.max_drop_ratio, 0.5);
        assert_eq!(c.webserver.health.max_event_gap_seconds, 30.0, "the defaults fill in the rest");
        assert_eq!(c.webserver.listen_address, "0.0.0.0");
        assert_eq!(loaded.files.len(), 3);
    }

    #[test]
    fn config_files_merge_with_falcos_strategies() {
        let d = temp_dir("strategies");
        let body =
            "rules_files: [/b.yaml]\npriority: error\nwebserver:\n  listen_port: 9100\nrule_matching: all\n";
        let inc = write(&d, "inc.yaml", body);
        let main = |strategy: &str| {
            let entry = if strategy.is_empty() {
                format!("  - {}\n", inc.display())
            } else {
                format!("  - path: {}\n    strategy: {strategy}\n", inc.display())
            };
            write(
                &d,
                "main.yaml",
                &format!(
                    "config_files:\n{entry}rules_files: [/a.yaml]\npriority: notice\nwebserver:\n  enabled: false\n"
                ),
            )
        };
        let load = |strategy: &str| sources(&main(strategy), &[]).load().unwrap().config;
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        for strategy in ["", "append"] {
            let c = load(strategy);
            assert_eq!(c.rules_files, p(&["/a.yaml", "/b.yaml"]), "append: lists are appended");
            assert_eq!(c.priority, "error", "append: scalars are replaced");
            assert_eq!(c.webserver.listen_port, 9100);
            assert!(c.webserver.enabled, "append: a section is replaced as a whole");
            assert_eq!(c.rule_matching, "all", "append: new keys are added");
        }
        let c = load("override");
        assert_eq!(c.rules_files, p(&["/b.yaml"]), "override: lists are replaced");
        assert_eq!((c.priority.as_str(), c.rule_matching.as_str()), ("error", "all"));
        let c = load("add-only");
        assert_eq!(c.rules_files, p(&["/a.yaml"]), "add-only: existing keys stay");
        assert_eq!(c.priority, "notice");
        assert!(!c.webserver.enabled);
        assert_eq!(c.rule_matching, "all", "add-only: new keys are added");

        let err = format!("{:#}", sources(&main("merge"), &[]).load().unwrap_err());
        assert!(
            err.contains("main.yaml: line 3, column 5: config_files[0].strategy") && err.contains("add-only"),
            "{err}"
        );
        let nested = write(&d, "nested.yaml", "priority: error\nconfig_files: [/x]\n");
        let m = write(&d, "m2.yaml", &format!("config_files: [{}]\n", nested.display()));
        let err = format!("{:#}", sources(&m, &[]).load().unwrap_err());
        assert!(
            err.contains("nested.yaml: line 2, column 1: config_files: an included file cannot"),
            "{err}"
        );
        let own = d.join("self.yaml");
        std::fs::write(&own, format!("config_files: [{}]\n", own.display())).unwrap();
        let err = format!("{:#}", sources(&own, &[]).load().unwrap_err());
        assert!(err.contains("is the main configuration file itself"), "{err}");
    }

    #[test]
    fn unknown_keys_warn_with_file_and_line_and_strict_refuses_them() {
        let d = temp_dir("bad");
        let text = "priority: info\nwebserver:\n  enabled: true\n  listen_prot: 9000\ngrpc_output:\n  enabled: true\n";
        let f = write(&d, "lanner.yaml", text);
        let loaded = sources(&f, &[]).load().unwrap();
        let got: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        let file = f.display();
        assert_eq!(
            got,
            vec![
                format!(
                    "{file}: line 4, column 3: webserver.listen_prot: Lanner does not implement this key; it is ignored (--strict makes it an error)"
                ),
                format!(
                    "{file}: line 5, column 1: grpc_output: Lanner does not implement this key; it is ignored (--strict makes it an error)"
                ),
            ],
            "one warning per key, a whole unknown section once"
        );
        assert_eq!(loaded.config.priority, "info", "the known keys still apply");
        let mut strict = sources(&f, &[]);
        strict.strict = true;
        let err = format!("{:#}", strict.load().unwrap_err());
        assert!(
            err.contains(&format!(
                "{file}: line 4, column 3: unknown key `webserver.listen_prot` (--strict)"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("{file}: line 5, column 1: unknown key `grpc_output` (--strict)")),
            "{err}"
        );

        let f = write(&d, "types.yaml", "\njson_output: yes please\n");
        let err = format!("{:#}", sources(&f, &[]).load().unwrap_err());
        assert!(err.contains("types.yaml: line 2, column 1: json_output: invalid type"), "{err}");
        let f =
            write(&d, "nested.yaml", "webserver:\n  enabled: true\n  health:\n    max_drop_ratio: lots\n");
        let err = format!("{:#}", sources(&f, &[]).load().unwrap_err());
        assert!(
            err.contains("nested.yaml: line 4, column 5: webserver.health.max_drop_ratio: invalid type"),
            "{err}"
        );
        let f = write(&d, "values.yaml", "priority: loud\n");
        let err = format!("{:#}", sources(&f, &[]).load().unwrap_err());
        assert!(err.contains("priority"), "{err}");
        let f = write(&d, "two.yaml", "priority: info\n---\npriority: error\n");
        let loaded = sources(&f, &[]).load().unwrap();
        assert_eq!(loaded.config.priority, "info", "the first document only, as Falco reads it");
        assert_eq!(loaded.warnings.len(), 1);
        assert!(
            loaded.warnings[0]
                .to_string()
                .contains("two.yaml: line 3, column 1: ---: a second YAML document")
        );
        let f = write(&d, "list.yaml", "- priority: info\n");
        let err = format!("{:#}", sources(&f, &[]).load().unwrap_err());
        assert!(err.contains("list.yaml: line 1, column 1: the configuration is a sequence"), "{err}");
    }

    /// A falco.yaml with the shapes of Falco's stock file (0.41 to 0.44): the keys Lanner
    /// shares keep their meaning, the rest are warned about one by one.
    const FALCO_LIKE: &str = "\
config_files:
  - /nonexistent/falco/config.d
watch_config_files: true
rules_files:
  - /etc/falco/falco_rules.yaml
engine:
  kind: modern_ebpf
  kmod:
    buf_size_preset: 4
  modern_ebpf:
    cpus_for_each_buffer: 2
    buf_size_preset: 4
  replay:
    capture_file: \"\"
load_plugins: []
plugins:
  - name: container
    library_path: libcontainer.so
priority: warning
json_output: true
json_include_output_property: true
json_include_message_property: false
json_include_tags_property: true
buffered_outputs: true
rule_matching: all
outputs_queue:
  capacity: 0
append_output:
  - suggested_output: true
stdout_output:
  enabled: true
syslog_output:
  enabled: false
file_output:
  enabled: false
  keep_alive: false
  filename: ./events.txt
program_output:
  enabled: false
  keep_alive: false
  program: \"jq '{text: .output}'\"
webserver:
  enabled: true
  threadiness: 0
  listen_port: 8765
  listen_address: 0.0.0.0
  k8s_healthz_endpoint: /healthz
log_stderr: true
log_level: notice
falco_libs:
  thread_table_size: 4096
  snaplen: 80
";

    #[test]
    fn syscall_event_drops_read_as_falco_reads_them() {
        let d = temp_dir("drops");
        let f = write(
            &d,
            "falco.yaml",
            "syscall_event_drops:\n  threshold: .1\n  actions:\n    - log\n    - exit\n  rate: .03333\n  max_burst: 2\n",
        );
        let loaded = sources(&f, &[]).load().unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let p = loaded.config.alert_limits().drops;
        assert_eq!((p.threshold, p.log, p.alert, p.exit), (0.1, true, false, true));
        assert_eq!((p.rate, p.max_burst, p.simulate), (0.03333, 2.0, false));
        for (o, want) in [
            ("syscall_event_drops.actions=[ignore, alert]", "ignore does not make sense with log or alert"),
            ("syscall_event_drops.actions=[page]", "'page' is not one of ignore, log, alert, exit"),
            ("syscall_event_drops.threshold=1.5", "threshold: 1.5 is not between 0 and 1"),
            ("syscall_event_drops.max_burst=0.5", "max_burst: 0.5 is below 1"),
            ("syscall_event_drops.rate=0", "rate: 0 is not a positive number"),
        ] {
            let err = format!("{:#}", sources(&f, &[o]).load().unwrap_err());
            assert!(err.contains(want), "{o}: {err}");
        }
        // ignore alone (and an empty list) take no action: only the count says it.
        let p = sources(&f, &["syscall_event_drops.actions=[ignore]"])
            .load()
            .unwrap()
            .config
            .alert_limits()
            .drops;
        assert!(!(p.log || p.alert || p.exit));
        let limits = sources(&f, &["internal_alerts.falco_names=true"]).load().unwrap().config.alert_limits();
        assert!(limits.falco_names);
    }

    #[test]
    fn a_falco_yaml_loads_with_one_warning_per_unimplemented_key() {
        let d = temp_dir("falcolike");
        let f = write(&d, "falco.yaml", FALCO_LIKE);
        let loaded = sources(&f, &[]).load().unwrap();
        let line_of = |key: &str| {
            let leaf = key.rsplit('.').next().unwrap();
            let depth = key.matches('.').count();
            let want = format!("{}{leaf}:", "  ".repeat(depth));
            FALCO_LIKE.lines().position(|l| l.starts_with(&want)).unwrap() + 1
        };
        let warned: Vec<(String, usize)> =
            loaded.warnings.iter().map(|w| (w.key.clone(), w.pos.line)).collect();
        let expected: Vec<(String, usize)> = [
            "engine.kmod",
            "engine.modern_ebpf",
            "load_plugins",
            "plugins",
            "json_include_message_property",
            "buffered_outputs",
            "outputs_queue.capacity",
            "webserver.threadiness",
            "webserver.k8s_healthz_endpoint",
            "log_stderr",
            "falco_libs.snaplen",
        ]
        .iter()
        .map(|k| (k.to_string(), line_of(k)))
        .collect();
        let mut w = warned.clone();
        w.sort();
        let mut e = expected.clone();
        e.sort();
        assert_eq!(w, e, "{:#?}", loaded.warnings);
        let c = loaded.config;
        assert_eq!(c.engine.kind, EngineKind::Ebpf, "modern_ebpf is Lanner's eBPF capture");
        assert_eq!(c.priority, "warning");
        assert!(c.json_output);
        assert_eq!(c.match_mode().unwrap(), MatchMode::All);
        assert_eq!(c.webserver.listen_address, "0.0.0.0");
        assert_eq!(c.log_filter().unwrap(), "info", "notice is Falco's level above info");
        assert_eq!(c.outputs_queue.capacity, 10000, "0 (unbounded) falls back to the bound");
        assert_eq!(c.falco_libs.thread_table_size, 4096);
        assert_eq!(c.program_output.program, "jq '{text: .output}'");
        assert_eq!(c.append_output, AppendOutput::falco_default());
        assert_eq!(loaded.files, vec![f], "a missing config_files entry is skipped");
    }

    #[test]
    fn options_take_nested_keys_lists_and_report_unknown_keys() {
        let d = temp_dir("opts");
        let f = write(&d, "lanner.yaml", "rules_files: [/a.yaml]\n");
        let c = sources(
            &f,
            &["rules_files[]=/b.yaml", "engine.ebpf.ring_buffer_bytes=65536", "ring_buffer_bytes=8192"],
        )
        .load()
        .unwrap()
        .config;
        assert_eq!(c.rules_files, vec![PathBuf::from("/a.yaml"), PathBuf::from("/b.yaml")]);
        assert_eq!(c.engine.ebpf.ring_buffer_bytes, 8192);
        let c = sources(&f, &["rules_files=[/x.yaml, /y.yaml]"]).load().unwrap().config;
        assert_eq!(c.rules_files.len(), 2);
        let err = format!("{:#}", sources(&f, &["webserver.port=1"]).load().unwrap_err());
        assert!(err.contains("unknown key 'webserver.port'"), "{err}");
        let err = format!("{:#}", sources(&f, &["json_output=maybe"]).load().unwrap_err());
        assert!(err.contains("json_output"), "{err}");
        let err = format!("{:#}", sources(&f, &["ring_buffer_bytes=5000"]).load().unwrap_err());
        assert!(err.contains("power of two"), "{err}");
        assert!(sources(&f, &["priority"]).load().is_err());
        // Falco 0.38's rule selection from the command line: each [] is a new item.
        let c = sources(&f, &["rules[].disable.rule=*", "rules[].enable.tag=network"]).load().unwrap().config;
        use crate::rule_selection::Selection;
        assert_eq!(
            c.rules,
            vec![
                Selection { enable: false, rule: Some("*".into()), tag: None },
                Selection { enable: true, rule: None, tag: Some("network".into()) },
            ]
        );
        let err = format!("{:#}", sources(&f, &["rules[].drop.rule=x"]).load().unwrap_err());
        assert!(err.contains("-o rules[].drop.rule=x") && err.contains("drop"), "{err}");
        let err = format!("{:#}", sources(&f, &["rulez[].disable.rule=x"]).load().unwrap_err());
        assert!(err.contains("unknown key 'rulez'"), "{err}");
    }

    #[test]
    fn o_paths_take_falcos_list_indexes_and_escapes() {
        let d = temp_dir("o-index");
        let f = write(
            &d,
            "c.yaml",
            "rules_files: [/a.yaml, /b.yaml]\nappend_output:\n  - suggested_output: true\n",
        );
        let load = |opts: &[&str]| sources(&f, opts).load().map(|l| l.config);
        let c = load(&["rules_files[0]=/z.yaml"]).unwrap();
        assert_eq!(c.rules_files, vec![PathBuf::from("/z.yaml"), PathBuf::from("/b.yaml")]);
        // The length appends, as yaml-cpp's index does; past it is an error.
        let c = load(&["rules_files[2]=/c.yaml", "rules_files[]=/d.yaml"]).unwrap();
        assert_eq!(c.rules_files.len(), 4);
        assert_eq!(c.rules_files[2], PathBuf::from("/c.yaml"));
        let err = format!("{:#}", load(&["rules_files[3]=/c.yaml"]).unwrap_err());
        assert!(err.contains("'rules_files' has 2 items: index 3 is past its end"), "{err}");
        // Inside an item: keys it lacks are created, the schema then checks them.
        let c = load(&["append_output[0].extra_output=by %user.name", "append_output[0].match.tags=[net]"])
            .unwrap();
        assert_eq!(c.append_output[0].extra_output, "by %user.name");
        assert!(c.append_output[0].suggested_output);
        assert_eq!(c.append_output[0].matches.tags, vec!["net".to_string()]);
        let c =
            load(&["rules[].disable.rule=a*", "rules[0].disable.rule=b*", "rules[1].enable.tag=t"]).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].rule.as_deref(), Some("b*"));
        assert_eq!(c.rules[1].tag.as_deref(), Some("t"));
        let err = format!("{:#}", load(&["append_output[0].nope=1"]).unwrap_err());
        assert!(err.contains("nope"), "{err}");
        // Escapes put '.', '[', ']' and '\\' in a key.
        let c = load(&[r"static_fields.k8s\.cluster=eu.1"]).unwrap();
        assert_eq!(c.static_fields.get("k8s.cluster").map(String::as_str), Some("eu.1"));
        assert!(load(&[r"static_fields.a\[b\]=x"]).is_err(), "a name rules cannot write is refused");
        for (bad, why) in [
            ("rules_files[x]=/a", "expected a list index"),
            ("rules_files[0=/a", "is not closed"),
            (r"static_fields.a\q=1", "invalid escape sequence"),
            ("webserver..listen_port=1", "an empty key"),
            ("json_output[0]=true", "'json_output' is not a list"),
            ("rules_files.x=1", "'rules_files' is not a section"),
            ("webserver.listen_port]=1", "']' without '['"),
        ] {
            let err = format!("{:#}", load(&[bad]).unwrap_err());
            assert!(err.contains(&format!("-o {bad}")) && err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn missing_rules_files_are_skipped_with_a_warning_unless_none_is_left_or_named_by_r() {
        let d = temp_dir("missingrules");
        let there = write(&d, "rules.yaml", "");
        let gone = d.join("rules.d");
        let f = write(&d, "falco.yaml", &format!("rules_files: [{}, {}]\n", there.display(), gone.display()));
        let (paths, warnings) = sources(&f, &[]).load().unwrap().config.rules_paths().unwrap();
        assert_eq!(paths, vec![there.clone()]);
        assert_eq!(
            warnings,
            vec![format!("rules_files: {} does not exist; skipped (as Falco does)", gone.display())]
        );
        let f = write(&d, "none.yaml", &format!("rules_files: [{}]\n", gone.display()));
        let err = format!("{:#}", sources(&f, &[]).load().unwrap().config.rules_paths().unwrap_err());
        assert!(err.contains("rules.d: no such file or directory"), "{err}");
        let mut s = sources(&f, &[]);
        s.rules = vec![there.clone(), gone.clone()];
        let err = format!("{:#}", s.load().unwrap().config.rules_paths().unwrap_err());
        assert!(err.contains("rules.d: no such file or directory"), "-r names what must be there: {err}");
    }

    #[test]
    fn rules_directories_expand_in_name_order() {
        let d = temp_dir("rules");
        let rd = d.join("rules.d");
        std::fs::create_dir_all(&rd).unwrap();
        write(&rd, "b.yaml", "");
        write(&rd, "a.yml", "");
        write(&rd, "c.txt", "");
        let one = write(&d, "one.yaml", "");
        let got = expand(&[one.clone(), rd.clone()], true).unwrap();
        assert_eq!(got, vec![one, rd.join("a.yml"), rd.join("b.yaml")]);
        assert!(expand(&[d.join("missing.yaml")], true).is_err());
        assert!(expand(&[d.join("missing.yaml")], false).unwrap().is_empty());
    }
}
