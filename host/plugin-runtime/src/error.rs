use std::path::PathBuf;

/// Why a plugin could not be loaded or called. Every message names the plugin (by name once
/// it is known, by file before).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The runtime could not start.
    #[error("plugin runtime: {0}")]
    Runtime(String),
    /// The file could not be read.
    #[error("plugin file {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Not a component this runtime can load.
    #[error("plugin file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Its configuration file is invalid or does not match the plugin's schema.
    #[error("plugin {plugin}: configuration: {message}")]
    Config {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// A grant cannot be honoured (a missing directory).
    #[error("plugin {plugin}: grant: {message}")]
    Grant {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin was built against an interface version this host does not serve.
    #[error("plugin {plugin}: interface version {version} is not supported (this host serves {supported})")]
    ApiVersion {
        /// The plugin.
        plugin: String,
        /// The version it asked for.
        version: String,
        /// What the host serves.
        supported: String,
    },
    /// The plugin's `init` returned an error.
    #[error("plugin {plugin}: init failed: {message}")]
    Init {
        /// The plugin.
        plugin: String,
        /// Its message.
        message: String,
    },
    /// A trap, timeout or limit breach: the instance was dropped and will be restarted.
    #[error("plugin {plugin}: {message}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// What happened.
        message: String,
    },
    /// The plugin returned an error value (it keeps running).
    #[error("plugin {plugin}: {message}")]
    Guest {
        /// The plugin.
        plugin: String,
        /// Its message.
        message: String,
    },
    /// The plugin is waiting to be restarted.
    #[error("plugin {plugin}: restarting in {remaining_ms} ms after a failure")]
    Backoff {
        /// The plugin.
        plugin: String,
        /// Time left.
        remaining_ms: u64,
    },
    /// The plugin failed too often and is disabled.
    #[error("plugin {plugin}: disabled after {failures} consecutive failures (last: {last})")]
    Disabled {
        /// The plugin.
        plugin: String,
        /// How many.
        failures: u32,
        /// The last failure.
        last: String,
    },
    /// The plugin does not implement what was asked (a field from an extractor that is a sink).
    #[error("plugin {plugin}: {message}")]
    Unsupported {
        /// The plugin.
        plugin: String,
        /// What was asked.
        message: String,
    },
}

impl PluginError {
    /// Whether the runtime has logged it already, for an error of a call on a loaded plugin
    /// (extract, open, next-batch): a failure (once, when it happened), an error value (once,
    /// then counted), and what follows from a failure (the backoff, the disabled plugin) for
    /// every later call. Callers leave these out of their own log, so that one failure is
    /// one line, not one per batch. (A sink's `deliver` errors are said by the outputs,
    /// which retry them; errors of `Runtime::load` are the caller's to report.)
    pub fn logged(&self) -> bool {
        matches!(
            self,
            PluginError::Failed { .. }
                | PluginError::Guest { .. }
                | PluginError::Backoff { .. }
                | PluginError::Disabled { .. }
        )
    }

    /// The plugin's name, when the error is about a loaded plugin.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            PluginError::Runtime(_) | PluginError::Io { .. } | PluginError::Invalid { .. } => None,
            PluginError::Config { plugin, .. }
            | PluginError::Grant { plugin, .. }
            | PluginError::ApiVersion { plugin, .. }
            | PluginError::Init { plugin, .. }
            | PluginError::Failed { plugin, .. }
            | PluginError::Guest { plugin, .. }
            | PluginError::Backoff { plugin, .. }
            | PluginError::Disabled { plugin, .. }
            | PluginError::Unsupported { plugin, .. } => Some(plugin),
        }
    }
}
