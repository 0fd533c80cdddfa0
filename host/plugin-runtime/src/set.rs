//! The plugins loaded from a folder, kept in step with it.
//!
//! Each plugin is a `NAME.wasm` component with an optional `NAME.yaml` beside it (its
//! configuration, limits and grants, see [`crate::config`]). [`PluginSet::sync_dir`] loads new
//! and changed plugins, unloads removed ones and reports broken ones, leaving the rest running.

use crate::config::PluginConfig;
use crate::error::PluginError;
use crate::plugin::Plugin;
use crate::runtime::Runtime;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a sync of the folder did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Plugins loaded (new or changed), by name.
    pub loaded: Vec<String>,
    /// Plugins unloaded (removed or replaced), by name.
    pub unloaded: Vec<String>,
    /// Plugins that could not be loaded.
    pub errors: Vec<PluginError>,
}

impl LoadReport {
    /// Whether the set of plugins changed.
    pub fn changed(&self) -> bool {
        !self.loaded.is_empty() || !self.unloaded.is_empty()
    }
}

struct Entry {
    /// Hash of the component and its configuration file: a change reloads.
    digest: String,
    plugin: Option<Arc<Plugin>>,
}

/// Loaded plugins, in file-name order.
pub struct PluginSet {
    runtime: Runtime,
    entries: BTreeMap<PathBuf, Entry>,
}

fn digest(wasm: &[u8], yaml: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update((wasm.len() as u64).to_le_bytes());
    h.update(wasm);
    h.update(yaml);
    hex::encode(h.finalize())
}

/// The configuration file of a component: `x.yaml` (or `x.yml`) beside `x.wasm`.
pub fn config_path(wasm: &Path) -> Option<PathBuf> {
    ["yaml", "yml"].iter().map(|e| wasm.with_extension(e)).find(|p| p.is_file())
}

impl PluginSet {
    /// An empty set on a runtime.
    pub fn new(runtime: Runtime) -> Self {
        PluginSet { runtime, entries: BTreeMap::new() }
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Loads one component file with the configuration file beside it.
    pub fn load_file(&mut self, wasm: &Path) -> Result<Arc<Plugin>, PluginError> {
        let bytes = std::fs::read(wasm)
            .map_err(|e| PluginError::Io { path: wasm.to_path_buf(), message: e.to_string() })?;
        let cfg_path = config_path(wasm);
        let yaml = match &cfg_path {
            Some(p) => {
                std::fs::read(p).map_err(|e| PluginError::Io { path: p.clone(), message: e.to_string() })?
            }
            None => Vec::new(),
        };
        let d = digest(&bytes, &yaml);
        let result = self.load_parts(wasm, &bytes, &yaml, cfg_path.as_deref());
        let plugin = result.as_ref().ok().cloned();
        self.entries.insert(wasm.to_path_buf(), Entry { digest: d, plugin });
        result
    }

    fn load_parts(
        &self,
        wasm: &Path,
        bytes: &[u8],
        yaml: &[u8],
        cfg_path: Option<&Path>,
    ) -> Result<Arc<Plugin>, PluginError> {
        let name = wasm.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let text = String::from_utf8_lossy(yaml);
        let config = PluginConfig::parse(&text).map_err(|e| PluginError::Config {
            plugin: name.clone(),
            message: format!("{}: {e}", cfg_path.map(|p| p.display().to_string()).unwrap_or_default()),
        })?;
        let plugin = self.runtime.load_bytes(wasm, bytes, config)?;
        if let Some(other) = self
            .entries
            .iter()
            .filter(|(p, _)| p.as_path() != wasm)
            .filter_map(|(_, e)| e.plugin.as_ref())
            .find(|o| o.name() == plugin.name())
        {
            return Err(PluginError::Invalid {
                path: wasm.to_path_buf(),
                message: format!(
                    "a plugin named {} is already loaded from {}",
                    plugin.name(),
                    other.path().display()
                ),
            });
        }
        Ok(Arc::new(plugin))
    }

    /// Brings the set in step with a folder's `*.wasm` files: loads new and changed ones,
    /// unloads removed ones; a broken plugin is reported and the others keep running.
    pub fn sync_dir(&mut self, dir: &Path) -> LoadReport {
        let mut report = LoadReport::default();
        let mut present = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "wasm") && p.is_file() {
                        present.push(p);
                    }
                }
            }
            Err(e) => {
                report.errors.push(PluginError::Io { path: dir.to_path_buf(), message: e.to_string() });
                return report;
            }
        }
        present.sort();
        let gone: Vec<PathBuf> =
            self.entries.keys().filter(|p| p.starts_with(dir) && !present.contains(p)).cloned().collect();
        for p in gone {
            if let Some(Entry { plugin: Some(pl), .. }) = self.entries.remove(&p) {
                report.unloaded.push(pl.name().to_string());
            }
        }
        for wasm in present {
            let Ok(bytes) = std::fs::read(&wasm) else { continue };
            let cfg_path = config_path(&wasm);
            let yaml = cfg_path.as_ref().and_then(|p| std::fs::read(p).ok()).unwrap_or_default();
            let d = digest(&bytes, &yaml);
            if self.entries.get(&wasm).is_some_and(|e| e.digest == d) {
                continue;
            }
            let old = self.entries.remove(&wasm).and_then(|e| e.plugin);
            let result = self.load_parts(&wasm, &bytes, &yaml, cfg_path.as_deref());
            match result {
                Ok(p) => {
                    if let Some(o) = old {
                        report.unloaded.push(o.name().to_string());
                    }
                    report.loaded.push(p.name().to_string());
                    self.entries.insert(wasm, Entry { digest: d, plugin: Some(p) });
                }
                Err(e) => {
                    log::error!("{e}");
                    report.errors.push(e);
                    // A broken replacement leaves the previous version running.
                    self.entries.insert(wasm, Entry { digest: d, plugin: old });
                }
            }
        }
        report
    }

    /// The loaded plugins.
    pub fn plugins(&self) -> Vec<Arc<Plugin>> {
        self.entries.values().filter_map(|e| e.plugin.clone()).collect()
    }

    /// A plugin by name.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.entries.values().filter_map(|e| e.plugin.as_ref()).find(|p| p.name() == name).cloned()
    }

    /// `(name, version)` of every plugin, for `required_plugin_versions`.
    pub fn versions(&self) -> Vec<(String, String)> {
        self.plugins().iter().map(|p| (p.name().to_string(), p.version().to_string())).collect()
    }

    /// The event sources of the loaded source plugins.
    pub fn sources(&self) -> Vec<String> {
        self.plugins().iter().filter_map(|p| p.source_name().map(String::from)).collect()
    }
}
