//! `lanner plugin test`: one plugin, loaded alone, asked for its fields over recorded events
//! (or over the events of its own source), so that its author sees what rules would see
//! without writing a rule, a configuration or a plugins folder.
//!
//! Events reach the plugin as they would live: a payload event (`data`, `data_base64`) as a
//! source plugin's event, a syscall event as the JSON payload syscall extractors are given.

use anyhow::{Context, Result, bail};
use lanner_event::{FieldRegistry, SYSCALL_SOURCE, Value};
use lanner_plugin_runtime::{Plugin, PluginConfig, PluginKind, RawEvent, SourceBatch};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// What `lanner plugin test` was asked.
pub(crate) struct TestArgs {
    /// The component.
    pub wasm: PathBuf,
    /// An event file (`-`: standard input).
    pub events: Option<PathBuf>,
    /// For a source plugin: the parameters its stream is opened with.
    pub open: Option<String>,
    /// The fields to print, comma-separated (`name` or `name[arg]`); all it declares when absent.
    pub fields: Option<String>,
    /// The plugin's configuration (JSON), instead of the one in NAME.yaml.
    pub config: Option<String>,
    /// One JSON object per event.
    pub json: bool,
}

/// Events are handed over in batches of this many, as a source's are live.
const BATCH: usize = 256;

/// One event to show: where it came from and what the plugin is given.
struct Item {
    /// Its number, from 1.
    num: usize,
    /// Its line in the event file (0 for a source's events).
    line: usize,
    raw: RawEvent,
}

/// What the plugin answered for one event.
enum Answer {
    Values(Vec<Option<Value<'static>>>),
    /// The plugin does not read the event's source.
    NotRead,
    Failed(String),
}

/// Runs `lanner plugin test`.
pub(crate) fn run(args: TestArgs) -> Result<ExitCode> {
    init_logging("info");
    // The runtime (its epoch ticker) lives as long as the plugin.
    let (_runtime, plugin) = load(&args)?;
    let requests = requests(&plugin, args.fields.as_deref())?;
    let mut bad = 0usize;
    let items = match (&args.events, &args.open) {
        (Some(events), None) => read_events(events, &mut bad)?,
        (None, Some(params)) => open_source(&plugin, params, &mut bad)?,
        _ => bail!("give either --events FILE or --open PARAMS"),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let names: Vec<String> = requests.iter().map(|(_, name, _)| name.clone()).collect();
    let reqs: Vec<(u32, Option<String>)> = requests.into_iter().map(|(i, _, a)| (i, a)).collect();
    for chunk in items.chunks(BATCH) {
        for (item, answer) in chunk.iter().zip(extract(&plugin, chunk, &reqs)) {
            // The runtime logged the failure; its event is told in the output.
            if let Answer::Failed(_) = &answer {
                bad += 1;
            }
            let written = if args.json {
                write_json(&mut out, item, &names, &answer)
            } else {
                write_text(&mut out, item, &names, &answer)
            };
            match written {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
                r => r?,
            }
        }
    }
    out.flush()?;
    if items.is_empty() {
        eprintln!("lanner: no events");
    }
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Plugin log lines and the runtime's reports (each failure once) go to standard error,
/// at `default` level and above (`RUST_LOG` refines: `RUST_LOG=debug` shows the wasm
/// backtrace of a failure). For the one-shot commands, `lanner replay` and `lanner plugin
/// test`: the daemon configures its own.
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .try_init();
}

/// Loads the plugin alone, with its NAME.yaml when one lies beside it (said either way).
fn load(args: &TestArgs) -> Result<(lanner_plugin_runtime::Runtime, Arc<Plugin>)> {
    let wasm = &args.wasm;
    if !wasm.is_file() {
        bail!("{}: no such file", wasm.display());
    }
    let mut cfg = match lanner_plugin_runtime::set::config_path(wasm) {
        Some(yaml) => {
            let text =
                std::fs::read_to_string(&yaml).with_context(|| format!("reading {}", yaml.display()))?;
            let cfg = PluginConfig::parse(&text).with_context(|| format!("{}", yaml.display()))?;
            eprintln!("lanner: configuration, grants and limits from {}", yaml.display());
            cfg
        }
        None => {
            eprintln!(
                "lanner: no {} beside {}: the plugin runs with no grants (no files, network or environment variables) and the default limits",
                wasm.with_extension("yaml").file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
                wasm.display()
            );
            PluginConfig::default()
        }
    };
    if let Some(c) = &args.config {
        cfg.config = Some(serde_json::from_str(c).context("--config must be JSON")?);
    }
    // A test shows every event's answer: a failure is reported with its event, and the
    // next call gets a fresh instance at once instead of a backoff or a disabled plugin.
    cfg.restart.max_failures = u32::MAX;
    cfg.restart.backoff_ms = 0;
    cfg.restart.max_backoff_ms = 0;
    let rt = crate::plugins::runtime().context("starting the plugin runtime")?;
    let plugin = rt.load(wasm, cfg).with_context(|| format!("loading {}", wasm.display()))?;
    if plugin.kind() == PluginKind::Sink {
        bail!("{} is a sink: it has no fields to test", plugin.name());
    }
    Ok((rt, Arc::new(plugin)))
}

/// The requests: (field index, name as printed, argument).
fn requests(plugin: &Plugin, asked: Option<&str>) -> Result<Vec<(u32, String, Option<String>)>> {
    let declared = plugin.fields();
    if declared.is_empty() {
        bail!("plugin {} declares no fields", plugin.name());
    }
    let Some(asked) = asked else {
        let mut all = Vec::new();
        for (i, f) in declared.iter().enumerate() {
            if f.arg.required {
                eprintln!("lanner: {} needs an argument: ask for it with --fields '{}[ARG]'", f.name, f.name);
                continue;
            }
            all.push((i as u32, f.name.clone(), None));
        }
        return Ok(all);
    };
    let mut out = Vec::new();
    for name in asked.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let (base, arg) = match name.find('[') {
            Some(i) if name.ends_with(']') => (&name[..i], Some(name[i + 1..name.len() - 1].to_string())),
            _ => (name, None),
        };
        let Some(i) = declared.iter().position(|f| f.name == base) else {
            let names: Vec<&str> = declared.iter().map(|f| f.name.as_str()).collect();
            bail!(
                "--fields: plugin {} has no field {base} (it declares {})",
                plugin.name(),
                names.join(", ")
            );
        };
        if arg.is_none() && declared[i].arg.required {
            bail!("--fields: {base} needs an argument: {base}[ARG]");
        }
        out.push((i as u32, name.to_string(), arg));
    }
    if out.is_empty() {
        bail!("--fields names no field");
    }
    Ok(out)
}

/// The events of an event file, each as the plugin is given it.
fn read_events(path: &Path, bad: &mut usize) -> Result<Vec<Item>> {
    let input: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let f =
            std::fs::File::open(path).with_context(|| format!("opening event file {}", path.display()))?;
        Box::new(BufReader::new(f))
    };
    let registry = FieldRegistry::with_syscall_fields();
    let builder = lanner_plugin_runtime::PayloadBuilder::new(&registry);
    let mut reader = lanner_replay::Reader::new(input, &registry);
    let mut items = Vec::new();
    while let Some(ev) = reader.next() {
        let line = reader.line();
        let mut ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                eprintln!("lanner: {}: {e}", path.display());
                *bad += 1;
                continue;
            }
        };
        let source = lanner_event::Event::source(&ev).to_string();
        let ts = lanner_event::Event::timestamp_ns(&ev);
        let data = match ev.take_payload() {
            Some(data) => data,
            None if source == SYSCALL_SOURCE => {
                let mut data = Vec::new();
                builder.build(&ev, &mut data);
                data
            }
            None => {
                eprintln!(
                    "lanner: {}: line {line}: an event of source {source} without 'data' or 'data_base64': nothing for the plugin to read",
                    path.display()
                );
                *bad += 1;
                continue;
            }
        };
        items.push(Item { num: items.len() + 1, line, raw: RawEvent { source, timestamp_ns: ts, data } });
    }
    Ok(items)
}

/// The events of the plugin's own source, opened with `params`, until the stream ends (or
/// is idle: a followed source has nothing more for now).
fn open_source(plugin: &Arc<Plugin>, params: &str, bad: &mut usize) -> Result<Vec<Item>> {
    if plugin.kind() != PluginKind::Source {
        bail!("--open: plugin {} is not a source; give --events FILE", plugin.name());
    }
    let mut stream = plugin.open(params).with_context(|| format!("--open {params}"))?;
    let mut items = Vec::new();
    loop {
        match stream.next_batch(BATCH as u32) {
            Ok(SourceBatch::Events(events)) => {
                for raw in events {
                    items.push(Item { num: items.len() + 1, line: 0, raw });
                }
            }
            Ok(SourceBatch::Ended) => break,
            Ok(SourceBatch::Idle) => {
                eprintln!("lanner: the stream is idle (nothing more for now): stopping");
                break;
            }
            Err(e) => {
                eprintln!("lanner: reading the stream: {e}");
                *bad += 1;
                break;
            }
        }
    }
    Ok(items)
}

/// The plugin's answers for a batch, in one call; when that call fails, event by event, so
/// that the failure is told with the event that caused it.
fn extract(plugin: &Plugin, chunk: &[Item], reqs: &[(u32, Option<String>)]) -> Vec<Answer> {
    let read: Vec<RawEvent> =
        chunk.iter().filter(|i| plugin.reads_source(&i.raw.source)).map(|i| i.raw.clone()).collect();
    let width = reqs.len();
    let mut rows: Vec<Answer> = Vec::with_capacity(read.len());
    match plugin.extract(&read, reqs) {
        Ok(values) => {
            let mut it = values.into_iter();
            for _ in 0..read.len() {
                rows.push(Answer::Values(it.by_ref().take(width).collect()));
            }
        }
        Err(_) if read.len() > 1 => {
            for ev in &read {
                rows.push(match plugin.extract(std::slice::from_ref(ev), reqs) {
                    Ok(values) => Answer::Values(values),
                    Err(e) => Answer::Failed(e.to_string()),
                });
            }
        }
        Err(e) => rows.extend((0..read.len()).map(|_| Answer::Failed(e.to_string()))),
    }
    let mut rows = rows.into_iter();
    chunk
        .iter()
        .map(|i| {
            if plugin.reads_source(&i.raw.source) {
                rows.next().unwrap_or(Answer::NotRead)
            } else {
                Answer::NotRead
            }
        })
        .collect()
}

fn write_text(out: &mut dyn Write, item: &Item, names: &[String], answer: &Answer) -> std::io::Result<()> {
    let line = if item.line > 0 { format!("line {}, ", item.line) } else { String::new() };
    writeln!(out, "event {} ({line}source {}, ts {})", item.num, item.raw.source, item.raw.timestamp_ns)?;
    match answer {
        Answer::Values(values) => {
            for (name, v) in names.iter().zip(values) {
                match v {
                    Some(v) => writeln!(out, "  {name} = {v}")?,
                    None => writeln!(out, "  {name} = <NA>")?,
                }
            }
        }
        Answer::NotRead => writeln!(out, "  (the plugin does not read source {})", item.raw.source)?,
        Answer::Failed(e) => writeln!(out, "  (failed: {e})")?,
    }
    writeln!(out)
}

fn to_json(v: &Value<'_>) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::Str(s) => json!(s),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Bool(b) => json!(b),
        Value::Ip(ip) => json!(ip.to_string()),
        Value::Bytes(b) => json!(String::from_utf8_lossy(b)),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
    }
}

fn write_json(out: &mut dyn Write, item: &Item, names: &[String], answer: &Answer) -> std::io::Result<()> {
    let mut obj = serde_json::Map::new();
    obj.insert("event".into(), item.num.into());
    if item.line > 0 {
        obj.insert("line".into(), item.line.into());
    }
    obj.insert("source".into(), item.raw.source.clone().into());
    obj.insert("ts".into(), item.raw.timestamp_ns.into());
    match answer {
        Answer::Values(values) => {
            let fields = names
                .iter()
                .zip(values)
                .map(|(n, v)| (n.clone(), v.as_ref().map_or(serde_json::Value::Null, to_json)))
                .collect();
            obj.insert("fields".into(), serde_json::Value::Object(fields));
        }
        Answer::NotRead => {
            obj.insert("not_read".into(), true.into());
        }
        Answer::Failed(e) => {
            obj.insert("error".into(), e.clone().into());
        }
    }
    writeln!(out, "{}", serde_json::Value::Object(obj))
}
