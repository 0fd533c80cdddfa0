//! Outputs delivered by sink plugins: Falco's `file_output` (served by the `file` plugin),
//! `http_output` (the `webhook` plugin, see `falco_outputs`) and `plugin_outputs` (any sink plugin with its own configuration and grants).
//!
//! Sink plugins live in `sink_plugins_dir`, apart from `plugins_dir` (whose plugins are
//! configured by their `NAME.yaml` and shared): each output gets its own instance of its
//! plugin, configured from the output's entry, so two outputs may use one plugin with
//! different destinations. They run in a runtime the outputs keep alive, compiled once and
//! then loaded from the same precompiled cache as the other plugins.

use crate::config::{Config, PluginOutput};
use anyhow::{Context, Result, bail};
use lanner_event::{Alert, AlertSink, SinkError};
use lanner_plugin_runtime::config::{DirGrant, DirMode, Grants};
use lanner_plugin_runtime::sink::PluginSink;
use lanner_plugin_runtime::{PluginConfig, Runtime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A plugin output, holding the runtime its plugin runs in.
struct Owned {
    sink: PluginSink,
    _runtime: Arc<Runtime>,
}

impl AlertSink for Owned {
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        self.sink.deliver(alerts)
    }
}

/// One output of a sink plugin: its name, priority setting and the key that names it.
pub struct SinkOutput {
    pub name: String,
    pub priority: String,
    pub key: String,
    pub sink: Box<dyn AlertSink>,
    /// The plugin behind it, watched for failures (a disabled sink raises an alert).
    pub plugin: Arc<lanner_plugin_runtime::Plugin>,
}

/// Where the component of `plugin` is: a path as given, else `SINK_PLUGINS_DIR/PLUGIN.wasm`.
pub fn component_path(config: &Config, plugin: &str) -> PathBuf {
    if plugin.contains('/') || plugin.ends_with(".wasm") {
        PathBuf::from(plugin)
    } else {
        config.sink_plugins_dir.join(format!("{plugin}.wasm"))
    }
}

/// The file plugin's configuration for `file_output`: the file's folder granted read-write
/// at `/out`.
pub fn file_output_config(config: &Config) -> Result<PluginConfig> {
    let f = &config.file_output;
    let name =
        f.filename.file_name().context("file_output.filename names no file")?.to_string_lossy().into_owned();
    let parent = match f.filename.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = std::fs::canonicalize(&parent)
        .with_context(|| format!("file_output.filename: folder {}", parent.display()))?;
    Ok(PluginConfig {
        config: Some(serde_json::json!({
            "filename": format!("/out/{name}"),
            "keep_alive": f.keep_alive,
            "format": if config.json_output { "json" } else { "text" },
        })),
        grants: Grants {
            dirs: vec![DirGrant { host: parent, guest: Some("/out".into()), mode: DirMode::Rw }],
            ..Grants::default()
        },
        ..PluginConfig::default()
    })
}

fn plugin_config(o: &PluginOutput) -> PluginConfig {
    PluginConfig {
        config: o.init_config.clone(),
        limits: o.limits.clone(),
        restart: o.restart.clone(),
        grants: o.grants.clone(),
        open_params: None,
    }
}

type Loaded = (Box<dyn AlertSink>, Arc<lanner_plugin_runtime::Plugin>);

/// The sinks `packaging/build-plugins.sh` builds.
const SHIPPED_SINKS: &[&str] = &["file", "webhook", "slack", "email"];

/// Why `plugin`'s component at `path` is missing, and how to get it there: an operator who
/// built Lanner from a checkout has no sinks in `sink_plugins_dir` until they install them.
fn not_found(config: &Config, plugin: &str, path: &Path) -> String {
    if component_path(config, plugin) != config.sink_plugins_dir.join(format!("{plugin}.wasm")) {
        return format!("sink plugin {} not found", path.display());
    }
    let dir = config.sink_plugins_dir.display();
    let how = if SHIPPED_SINKS.contains(&plugin) {
        format!(
            "the lanner package installs the shipped sinks there; from a source checkout, \
             `packaging/build-plugins.sh --sinks-only --install-sinks {dir}` builds and installs them \
             (docs/sinks.md)"
        )
    } else {
        format!("put {plugin}.wasm there, or give `plugin` the path of its .wasm")
    };
    format!("sink plugin {plugin} not found: searched sink_plugins_dir {dir} for {plugin}.wasm; {how}")
}

fn load(runtime: &Arc<Runtime>, path: &Path, cfg: PluginConfig, what: &str) -> Result<Loaded> {
    let plugin =
        Arc::new(runtime.load(path, cfg).with_context(|| format!("{what}: sink plugin {}", path.display()))?);
    let sink = PluginSink::new(plugin.clone()).with_context(|| what.to_string())?;
    Ok((Box::new(Owned { sink, _runtime: runtime.clone() }), plugin))
}

/// The enabled outputs of sink plugins, loaded and configured.
pub fn outputs(config: &Config) -> Result<Vec<SinkOutput>> {
    if !config.file_output.enabled && !config.http_output.enabled && config.plugin_outputs.is_empty() {
        return Ok(Vec::new());
    }
    let runtime = Arc::new(crate::plugins::runtime().context("starting the plugin runtime")?);
    let mut out = Vec::new();
    if config.file_output.enabled {
        let path = component_path(config, "file");
        if !path.is_file() {
            bail!("file_output: {}", not_found(config, "file", &path));
        }
        let (sink, plugin) = load(&runtime, &path, file_output_config(config)?, "file_output")?;
        out.push(SinkOutput {
            name: "file".into(),
            priority: config.file_output.priority.clone(),
            key: "file_output.priority".into(),
            sink,
            plugin,
        });
    }
    if config.http_output.enabled {
        let plan = config.http_output.plan(config.json_output)?;
        for w in &plan.warnings {
            tracing::warn!("{w}");
        }
        let path = component_path(config, "webhook");
        if !path.is_file() {
            bail!("http_output: {}", not_found(config, "webhook", &path));
        }
        let (sink, plugin) = load(&runtime, &path, plan.plugin, "http_output")?;
        out.push(SinkOutput {
            name: "http".into(),
            priority: config.http_output.priority.clone(),
            key: "http_output.priority".into(),
            sink,
            plugin,
        });
    }
    for o in &config.plugin_outputs {
        let path = component_path(config, &o.plugin);
        let what = format!("plugin_outputs: {}", o.name);
        if !path.is_file() {
            bail!("{what}: {}", not_found(config, &o.plugin, &path));
        }
        let (sink, plugin) = load(&runtime, &path, plugin_config(o), &what)?;
        out.push(SinkOutput {
            name: o.name.clone(),
            priority: o.priority.clone(),
            key: format!("plugin_outputs[{}].priority", o.name),
            sink,
            plugin,
        });
    }
    Ok(out)
}
