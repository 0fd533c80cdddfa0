//! Plugins in the binary: loading the plugins folder, their fields in the engine's registry,
//! `lanner plugins list`, and source plugins' events through the rules.

use anyhow::{Context, Result, bail};
use lanner_engine::{EngineConfig, Ruleset};
use lanner_event::syscall_fields;
use lanner_plugin_runtime::{EventBatch, FieldMap, PluginSet, Runtime, RuntimeOptions, SourceBatch};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where plugins are dropped in by default.
pub(crate) const DEFAULT_PLUGINS_DIR: &str = "/etc/lanner/plugins.d";

use crate::config::AppendOutput;
use crate::sources::SOURCE_BATCH;

/// The precompiled-component cache: `LANNER_PLUGIN_CACHE`, else below the user's cache
/// directory (root: /var/cache/lanner/plugins).
fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("LANNER_PLUGIN_CACHE") {
        return if d.is_empty() { None } else { Some(PathBuf::from(d)) };
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Some(PathBuf::from("/var/cache/lanner/plugins"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("lanner/plugins"))
}

/// A runtime with the precompiled-component cache; without it when the cache directory is
/// unusable (that must not keep plugins from loading, only make them slower to load).
pub(crate) fn runtime() -> Result<Runtime, lanner_plugin_runtime::PluginError> {
    Runtime::new(RuntimeOptions { cache_dir: cache_dir() }).or_else(|e| {
        eprintln!("lanner: {e}; plugins are compiled without a cache");
        Runtime::new(RuntimeOptions::default())
    })
}

/// The plugins of a folder (the default folder when `dir` is `None`; a missing default folder
/// is no plugins). A plugin that does not load is reported and skipped.
pub(crate) fn load(dir: Option<&Path>) -> Result<PluginSet> {
    let (dir, explicit) = match dir {
        Some(d) => (d.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_PLUGINS_DIR), false),
    };
    // No folder, no plugins: no cache directory is created either.
    let rt = if dir.is_dir() { runtime() } else { Runtime::new(RuntimeOptions::default()) };
    let mut set = PluginSet::new(rt.context("starting the plugin runtime")?);
    if !dir.is_dir() {
        if explicit {
            bail!("plugins folder {} does not exist", dir.display());
        }
        return Ok(set);
    }
    let report = set.sync_dir(&dir);
    for e in &report.errors {
        eprintln!("lanner: {e}");
    }
    Ok(set)
}

/// Where the `container` plugin is shipped (the .deb and the image install it there).
const SHIPPED_CONTAINER_PLUGIN: &str = "/usr/lib/lanner/plugins/container.wasm";

/// The runtime sockets the `container` plugin may reach when no `container.yaml` lies beside
/// it: those of its default configuration (Podman, Docker, CRI-O).
const CONTAINER_DEFAULT_GRANTS: &str =
    "grants:\n  unix: [/run/podman/podman.sock, /var/run/docker.sock, /run/crio/crio.sock]\n";

/// The `container` plugin's file when none is in the plugins folder: `LANNER_CONTAINER_PLUGIN`
/// (empty: none), else the shipped one, else, in a development tree, the one
/// `packaging/build-plugins.sh` or the tests' build step produced beside the binary's target
/// directory.
fn container_plugin_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LANNER_CONTAINER_PLUGIN") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let shipped = PathBuf::from(SHIPPED_CONTAINER_PLUGIN);
    if shipped.is_file() {
        return Some(shipped);
    }
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?;
    [
        target.join("lanner-plugins/plugins/container.wasm"),
        target.join("wasm-plugins/wasm32-wasip2/release/lanner_plugin_container.wasm"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The `container` plugin loaded by default, once per process, with its own runtime (its
/// epoch ticker must outlive it); `None`, said once, when it is not installed or does not load.
fn default_container_plugin() -> Option<Arc<lanner_plugin_runtime::Plugin>> {
    static DEFAULT: std::sync::OnceLock<Option<(Runtime, Arc<lanner_plugin_runtime::Plugin>)>> =
        std::sync::OnceLock::new();
    let loaded = DEFAULT.get_or_init(|| {
        let absent = |why: String| {
            eprintln!(
                "lanner: warning: {why}: only container.id is known of containers, and rules files requiring the container plugin do not load"
            );
            None
        };
        let Some(wasm) = container_plugin_file() else {
            return absent(format!(
                "the container plugin is not installed ({SHIPPED_CONTAINER_PLUGIN}, LANNER_CONTAINER_PLUGIN)"
            ));
        };
        let yaml = lanner_plugin_runtime::set::config_path(&wasm)
            .map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display())))
            .transpose();
        let config = yaml.and_then(|y| {
            lanner_plugin_runtime::PluginConfig::parse(y.as_deref().unwrap_or(CONTAINER_DEFAULT_GRANTS))
                .context("the container plugin's configuration")
        });
        let loaded = config.and_then(|c| {
            let rt = runtime().context("starting the plugin runtime")?;
            let p = rt.load(&wasm, c)?;
            Ok((rt, Arc::new(p)))
        });
        match loaded {
            Ok(l) => Some(l),
            Err(e) => absent(format!("the container plugin {} did not load: {e:#}", wasm.display())),
        }
    });
    loaded.as_ref().map(|(_, p)| p.clone())
}

/// The set's plugins, and the default `container` plugin when the set has none of that name.
pub(crate) fn with_container(set: &PluginSet) -> Vec<Arc<lanner_plugin_runtime::Plugin>> {
    let mut plugins = set.plugins();
    if !plugins.iter().any(|p| p.name() == syscall_fields::CONTAINER_PLUGIN)
        && let Some(c) = default_container_plugin()
    {
        plugins.push(c);
    }
    plugins
}

/// Adds the plugins to an engine configuration: their fields (provider: the plugin's name),
/// their event sources, and their versions for `required_plugin_versions`. The `container`
/// plugin is loaded by default when installed; while it is loaded, the built-in declarations
/// of its fields give way to its own, and only then does `container` count as loaded.
pub(crate) fn configure(
    set: &PluginSet,
    cfg: &mut EngineConfig,
    append: &[AppendOutput],
) -> Result<FieldMap> {
    let plugins = with_container(set);
    cfg.plugins.retain(|(n, _)| !lanner_event::BUILTIN_PLUGIN_EQUIVALENTS.iter().any(|(b, _)| b == n));
    if let Some(c) = plugins.iter().find(|p| p.name() == syscall_fields::CONTAINER_PLUGIN) {
        // The whole family gives way: a field the plugin does not declare is unknown, not
        // silently empty. Every other field keeps its id (the process state's map needs it).
        cfg.registry = syscall_fields::registry_without(syscall_fields::gives_way_to_container_plugin);
        cfg.plugins.push((c.name().to_string(), c.version().to_string()));
    }
    // Before the plugins' fields, as Falco adds the static field class first: a plugin
    // declaring one of these names is refused.
    cfg.register_static_fields().context("registering static_fields")?;
    let map = FieldMap::register(&plugins, &mut cfg.registry).context("registering plugin fields")?;
    cfg.availability = Some(crate::availability::build(&cfg.registry, &plugins));
    for s in set.sources() {
        if !cfg.sources.contains(&s) {
            cfg.sources.push(s);
        }
    }
    cfg.plugins.extend(set.versions());
    cfg.extra_outputs = extra_outputs(append, &plugins, cfg)?;
    cfg.extra_fields = Vec::new();
    for (i, a) in append.iter().enumerate() {
        cfg.extra_fields
            .extend(a.extra_fields().with_context(|| format!("append_output[{i}].extra_fields"))?);
    }
    Ok(map)
}

/// Falco's `append_output` entries as the engine applies them: an `extra_output` as written;
/// `suggested_output` as one `name_with_underscores=%name` per static field (every source),
/// then per field a plugin suggests, for each source the plugin reads (all loaded sources
/// when it names none), in plugin order.
fn extra_outputs(
    append: &[AppendOutput],
    plugins: &[Arc<lanner_plugin_runtime::Plugin>],
    cfg: &EngineConfig,
) -> Result<Vec<lanner_engine::ExtraOutput>> {
    let mut out: Vec<lanner_engine::ExtraOutput> = Vec::new();
    for a in append {
        if !a.extra_output.trim().is_empty() {
            out.push(a.extra(None, a.extra_output.trim().to_string()));
        }
        if !a.suggested_output {
            continue;
        }
        for src in &cfg.sources {
            if a.matches.source.as_ref().is_some_and(|s| s != src) {
                continue;
            }
            // Falco's static fields are suggested on every source, ahead of the plugins'.
            for name in cfg.static_fields.keys() {
                let field = format!("{}{name}", lanner_engine::STATIC_PREFIX);
                let e = a.extra(Some(src), lanner_engine::ExtraOutput::suggested(&field, None).format);
                if !out.contains(&e) {
                    out.push(e);
                }
            }
            for p in plugins {
                let reads = p.event_sources();
                if !reads.is_empty() && !reads.iter().any(|r| r == src) {
                    continue;
                }
                for name in p.suggested_output() {
                    if cfg.registry.resolve(name).is_none() {
                        bail!(
                            "plugin {} suggests the field {name} for outputs, which no source declares",
                            p.name()
                        );
                    }
                    let e = a.extra(Some(src), lanner_engine::ExtraOutput::suggested(name, None).format);
                    if !out.contains(&e) {
                        out.push(e);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The registry `list-fields` prints: the syscall fields and the plugins'.
pub(crate) fn registry(dir: Option<&Path>) -> Result<EngineConfig> {
    let set = load(dir)?;
    let mut cfg = EngineConfig::syscall();
    configure(&set, &mut cfg, &AppendOutput::falco_default())?;
    Ok(cfg)
}

/// `lanner plugins list`.
pub(crate) fn list(dir: Option<&Path>, json: bool) -> Result<()> {
    list_to(dir, json, &mut std::io::stdout().lock())
}

/// `lanner plugins list` into any writer (`lanner support` keeps it in its bundle).
pub(crate) fn list_to(dir: Option<&Path>, json: bool, out: &mut dyn Write) -> Result<()> {
    let set = load(dir)?;
    let plugins = with_container(&set);
    if json {
        let items: Vec<_> = plugins
            .iter()
            .map(|p| {
                let g = &p.config().grants;
                serde_json::json!({
                    "name": p.name(),
                    "version": p.version(),
                    "api_version": p.api_version(),
                    "description": p.description(),
                    "file": p.path().display().to_string(),
                    "capabilities": capabilities(p),
                    "source": p.source_name(),
                    "open_params": p.config().open_params,
                    "state": p.state().as_str(),
                    "fields": p.fields().iter().map(|f| serde_json::json!({
                        "name": f.name, "type": f.ftype.as_str(), "desc": f.description,
                    })).collect::<Vec<_>>(),
                    "grants": {
                        "dirs": g.dirs.iter().map(|d| serde_json::json!({
                            "host": d.host.display().to_string(), "guest": d.guest_path(),
                            "mode": if d.mode == lanner_plugin_runtime::config::DirMode::Rw { "rw" } else { "ro" },
                        })).collect::<Vec<_>>(),
                        "http": g.http,
                        "tcp": g.tcp,
                        "listen": g.listen,
                        "unix": g.unix,
                        "env": g.env,
                    },
                    "limits": {
                        "memory_mb": p.config().limits.memory_mb,
                        "call_timeout_ms": p.config().limits.call_timeout_ms,
                    },
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "plugins": items }))?;
        writeln!(out)?;
        return Ok(());
    }
    for p in &plugins {
        writeln!(
            out,
            "{} {} ({}) [{}]",
            p.name(),
            p.version(),
            capabilities(p).join(", "),
            p.state().as_str()
        )?;
        writeln!(out, "  {}", p.description())?;
        writeln!(out, "  file: {}", p.path().display())?;
        if let Some(s) = p.source_name() {
            match &p.config().open_params {
                Some(params) => writeln!(out, "  source: {s} (lanner run opens it with {params:?})")?,
                None => writeln!(out, "  source: {s} (no open_params: lanner run does not open it)")?,
            }
        }
        if !p.fields().is_empty() {
            let names: Vec<&str> = p.fields().iter().map(|f| f.name.as_str()).collect();
            writeln!(out, "  fields: {}", names.join(", "))?;
        }
        let g = &p.config().grants;
        let dirs: Vec<String> = g
            .dirs
            .iter()
            .map(|d| {
                let mode = if d.mode == lanner_plugin_runtime::config::DirMode::Rw { "rw" } else { "ro" };
                format!("{}:{}:{mode}", d.host.display(), d.guest_path())
            })
            .collect();
        writeln!(
            out,
            "  grants: dirs [{}] http [{}] tcp [{}] listen [{}] env [{}] unix [{}]",
            dirs.join(", "),
            g.http.join(", "),
            g.tcp.join(", "),
            g.listen.join(", "),
            g.env.join(", "),
            g.unix.join(", ")
        )?;
    }
    if plugins.is_empty() {
        writeln!(out, "no plugins")?;
    }
    Ok(())
}

/// `lanner plugins list --daemon URL`: the plugins a running daemon runs, as its `/plugins`
/// says (not a fresh load in this process, whose plugins have never failed).
pub(crate) fn list_daemon(url: &str, token_file: Option<&Path>, json: bool) -> Result<()> {
    use crate::metrics::PluginStatus;
    let endpoint = format!("{}/plugins", url.trim_end_matches('/'));
    let token = token_file
        .map(|f| {
            let t = std::fs::read_to_string(f).with_context(|| format!("--token-file {}", f.display()))?;
            let t = t.trim().to_string();
            if t.is_empty() {
                bail!("--token-file {}: empty", f.display());
            }
            Ok(t)
        })
        .transpose()?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut req = agent.get(&endpoint);
    if let Some(t) = &token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = req.call().with_context(|| format!("asking the daemon at {endpoint}"))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().with_context(|| format!("reading {endpoint}"))?;
    match status {
        200 => {}
        401 if token.is_none() => {
            bail!(
                "{endpoint}: the daemon requires a bearer token: give its webserver.metrics_token_file with --token-file"
            )
        }
        401 => bail!("{endpoint}: the daemon refused the token of --token-file"),
        404 => bail!("{endpoint}: not found: is that a lanner daemon (one of this version)?"),
        s => bail!("{endpoint}: HTTP {s}: {}", body.trim()),
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        plugins: Vec<PluginStatus>,
    }
    let answer: Answer = serde_json::from_str(&body)
        .with_context(|| format!("{endpoint}: not the plugin list of a lanner daemon"))?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "plugins": answer.plugins }))?;
        writeln!(out)?;
        return Ok(());
    }
    for p in &answer.plugins {
        let plugin = if p.plugin == p.name { String::new() } else { format!(" {}", p.plugin) };
        writeln!(out, "{} ({}{plugin} {}) [{}]", p.name, p.kind, p.version, p.state)?;
        let mut counts = format!("  calls {}, failures {}, restarts {}", p.calls, p.failures, p.restarts);
        if p.events_dropped > 0 {
            counts.push_str(&format!(", events dropped {}", p.events_dropped));
        }
        if p.http_denied > 0 {
            counts.push_str(&format!(", http requests refused {}", p.http_denied));
        }
        writeln!(out, "{counts}")?;
        writeln!(out, "  file: {}", p.file)?;
        if let Some(o) = &p.output {
            writeln!(out, "  output: {o}")?;
        }
        if let Some(s) = &p.source {
            match &p.open_params {
                Some(params) => writeln!(out, "  source: {s} (opened with {params:?})")?,
                None => writeln!(out, "  source: {s} (not opened: no open_params)")?,
            }
        }
        // The first line: a trap's message goes on with its wasm backtrace (all of it in
        // --json).
        let first = |s: &String| s.lines().next().unwrap_or_default().to_string();
        match (&p.disabled_reason, &p.last_error) {
            (Some(why), _) => {
                writeln!(out, "  disabled: {}; a reload (SIGHUP) enables it again", first(why))?
            }
            (None, Some(e)) => writeln!(out, "  last failure: {}", first(e))?,
            (None, None) => {}
        }
    }
    if answer.plugins.is_empty() {
        writeln!(out, "no plugins")?;
    }
    Ok(())
}

fn capabilities(p: &lanner_plugin_runtime::Plugin) -> Vec<&'static str> {
    use lanner_plugin_runtime::PluginKind::*;
    match p.kind() {
        Extractor => vec!["extraction"],
        Source if p.fields().is_empty() => vec!["source"],
        Source => vec!["source", "extraction"],
        Sink => vec!["sink"],
    }
}

/// Reads every event of the source plugins named in `opens` (`PLUGIN=PARAMS`) through the
/// rules, writing alerts; returns how many plugin errors were met.
pub(crate) fn replay_sources(
    set: &PluginSet,
    map: &FieldMap,
    opens: &[String],
    ruleset: &Ruleset,
    format: &lanner_outputs::AlertFormat,
    out: &mut dyn Write,
) -> Result<usize> {
    let host = crate::node::hostname();
    let mut errors = 0;
    for open in opens {
        let (name, params) = open.split_once('=').unwrap_or((open.as_str(), ""));
        let plugin: Arc<_> =
            set.get(name).with_context(|| format!("--open {open}: no plugin named {name}"))?;
        let mut stream = plugin.open(params).map_err(|e| {
            // The runtime has logged the plugin's own error once; the command's last word
            // names what failed rather than repeating it.
            if e.logged() {
                anyhow::anyhow!("--open {open}: the source could not be opened (the plugin's error is above)")
            } else {
                anyhow::anyhow!("--open {open}: {e}")
            }
        })?;
        loop {
            let events = match stream.next_batch(SOURCE_BATCH) {
                Ok(SourceBatch::Events(ev)) => ev,
                Ok(SourceBatch::Ended) => break,
                Ok(SourceBatch::Idle) => {
                    // A followed source: what came so far is out; wait for more.
                    out.flush()?;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                }
                Err(e) => {
                    if !e.logged() {
                        eprintln!("lanner: {e}");
                    }
                    errors += 1;
                    // A failed plugin is restarted after its backoff, or disabled.
                    if plugin.state() == lanner_plugin_runtime::PluginState::Disabled {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
            };
            let batch = EventBatch::new(map, events);
            for ev in batch.iter() {
                let mut write_err = None;
                ruleset.evaluate(&ev, |rule| {
                    if let Err(e) = writeln!(out, "{}", format.line(&rule.alert(&ev, &host))) {
                        write_err = Some(e);
                    }
                });
                if let Some(e) = write_err {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(errors);
                    }
                    return Err(e.into());
                }
            }
            for e in batch.take_errors() {
                if !e.logged() {
                    eprintln!("lanner: {e}");
                }
                errors += 1;
            }
            report_disabled(set, format, &host, out)?;
        }
    }
    report_disabled(set, format, &host, out)?;
    out.flush()?;
    Ok(errors)
}

/// The rule name of the alert raised when a plugin is disabled.
pub(crate) use crate::internal::PLUGIN_DISABLED_RULE;

/// Raises a CRITICAL internal alert for each plugin disabled since the last call.
fn report_disabled(
    set: &PluginSet,
    format: &lanner_outputs::AlertFormat,
    host: &str,
    out: &mut dyn Write,
) -> Result<()> {
    for p in set.plugins() {
        for i in p.take_incidents().into_iter().filter(|i| i.disabled) {
            let time_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let alert = lanner_event::Alert {
                time_ns,
                rule: PLUGIN_DISABLED_RULE.into(),
                priority: lanner_event::Priority::Critical,
                output: format!(
                    "Lanner internal: plugin {} disabled after repeated failures ({})",
                    i.plugin, i.message
                ),
                output_fields: Vec::new(),
                source: "internal".into(),
                tags: vec!["lanner".into(), "plugin".into()],
                hostname: host.to_string(),
            };
            writeln!(out, "{}", format.line(&alert))?;
        }
    }
    Ok(())
}

/// The syscall source's engine configuration with the default `container` plugin and no
/// other (`validate`, `list-rules`): rules requiring `container` load only when it does.
pub(crate) fn syscall_config() -> Result<EngineConfig> {
    let mut cfg = EngineConfig::syscall();
    let set = PluginSet::new(Runtime::new(RuntimeOptions::default()).context("starting the plugin runtime")?);
    configure(&set, &mut cfg, &AppendOutput::falco_default())?;
    Ok(cfg)
}
