//! A sink plugin as an output of the alert pipeline: [`PluginSink`] implements
//! [`lanner_event::AlertSink`] over a loaded plugin of the `sink` world.
//!
//! Errors map to [`SinkError`]: an error value from the plugin is retryable (sinks report
//! network and I/O failures that way) unless its message starts with `permanent:` (a request
//! the destination rejects, such as HTTP 400); a plugin failure (trap, timeout) or a plugin
//! waiting for its restart is retryable; a disabled plugin or a plugin that is not a sink is
//! permanent. Messages carry the plugin's name and never its configuration (webhook URLs,
//! passwords).

use crate::bindings::types;
use crate::{Plugin, PluginError, PluginKind};
use lanner_event::{Alert, AlertSink, SinkError};
use std::sync::Arc;

/// An output that delivers alerts through a sink plugin.
pub struct PluginSink {
    plugin: Arc<Plugin>,
}

impl PluginSink {
    /// Wraps `plugin`; an error when it is not a sink.
    pub fn new(plugin: Arc<Plugin>) -> Result<Self, PluginError> {
        if plugin.kind() != PluginKind::Sink {
            return Err(PluginError::Unsupported {
                plugin: plugin.name().to_string(),
                message: "not a sink plugin".into(),
            });
        }
        Ok(Self { plugin })
    }

    /// The plugin.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }
}

/// The alert as the WIT interface carries it: field values as text, `<NA>` when missing.
pub fn to_wit(a: &Alert) -> types::Alert {
    types::Alert {
        time_ns: a.time_ns,
        rule: a.rule.clone(),
        priority: a.priority.as_str().to_string(),
        output: a.output.clone(),
        source: a.source.clone(),
        tags: a.tags.clone(),
        hostname: a.hostname.clone(),
        output_fields: a
            .output_fields
            .iter()
            .map(|f| (f.name.clone(), f.value.as_ref().map_or_else(|| "<NA>".to_string(), |v| v.to_string())))
            .collect(),
    }
}

/// How a plugin error counts for the pipeline.
pub fn sink_error(e: PluginError) -> SinkError {
    match e {
        PluginError::Guest { ref message, .. } => {
            // `deliver: permanent: ...` from the runtime's call wrapper.
            let text = message.strip_prefix("deliver: ").unwrap_or(message);
            if text.starts_with("permanent:") {
                SinkError::permanent(e.to_string())
            } else {
                SinkError::retryable(e.to_string())
            }
        }
        PluginError::Failed { .. } | PluginError::Backoff { .. } => SinkError::retryable(e.to_string()),
        _ => SinkError::permanent(e.to_string()),
    }
}

impl AlertSink for PluginSink {
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        let batch: Vec<types::Alert> = alerts.iter().map(to_wit).collect();
        self.plugin.deliver(&batch).map_err(sink_error)
    }
}
