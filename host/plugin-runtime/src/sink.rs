//! A sink plugin as an output of the alert pipeline: [`PluginSink`] implements
//! [`lanner_event::AlertSink`] over a loaded plugin of a `sink` world: 0.6.0's, whose alerts
//! carry typed field values, or 0.1.0's (reused unchanged up to 0.5.0), whose alerts carry
//! text.
//!
//! Errors map to [`SinkError`]: an error value from the plugin is retryable (sinks report
//! network and I/O failures that way) unless its message starts with `permanent:` (a request
//! the destination rejects, such as HTTP 400); a plugin failure (trap, timeout) or a plugin
//! waiting for its restart is retryable; a disabled plugin or a plugin that is not a sink is
//! permanent. Messages carry the plugin's name and never its configuration (webhook URLs,
//! passwords).

use crate::bindings::typed_alert_sink as typed;
use crate::bindings::types;
use crate::{Plugin, PluginError, PluginKind};
use lanner_event::{Alert, AlertSink, SinkError, Value};
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

/// The alert as the 0.1.0 interface carries it: field values as text, `<NA>` when missing.
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

/// The alert as the 0.6.0 sink world carries it: each value with the JSON type Lanner's own
/// JSON output gives it ([`Alert::to_json`]), so that a sink's JSON matches stdout's.
pub fn to_typed(a: &Alert) -> typed::Alert {
    typed::Alert {
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
            .map(|f| typed::OutputField { name: f.name.clone(), value: f.value.as_ref().map(typed_value) })
            .collect(),
    }
}

fn typed_value(v: &Value<'_>) -> typed::FieldValue {
    match v {
        Value::Int(i) => typed::FieldValue::Int(*i),
        Value::UInt(u) => typed::FieldValue::Uint(*u),
        Value::Bool(b) => typed::FieldValue::Boolean(*b),
        Value::List(items) => typed::FieldValue::List(items.iter().map(typed_item).collect()),
        // Text, addresses and bytes: JSON strings, as `Alert::to_json` writes them.
        other => typed::FieldValue::Str(text(other)),
    }
}

fn typed_item(v: &Value<'_>) -> typed::Item {
    match v {
        Value::Int(i) => typed::Item::Int(*i),
        Value::UInt(u) => typed::Item::Uint(*u),
        Value::Bool(b) => typed::Item::Boolean(*b),
        // A list inside a list has no field yet; it would come as its text, `(a,b)`.
        other => typed::Item::Str(text(other)),
    }
}

fn text(v: &Value<'_>) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
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
        self.plugin.deliver(alerts).map_err(sink_error)
    }
}
