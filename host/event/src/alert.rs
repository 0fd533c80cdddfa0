use crate::{Priority, Value};

/// One output field of an alert: the field as written in the rule's output, and its value
/// (`None` when the event had none, printed `<NA>`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputField {
    /// The field as written after `%`, such as `proc.aname[2]`.
    pub name: String,
    /// Its value for the event.
    pub value: Option<Value<'static>>,
}

/// A rule match, ready for outputs. Detached from the event so it can be queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Event time, nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// The rule's name.
    pub rule: String,
    /// The rule's priority.
    pub priority: Priority,
    /// The formatted output text.
    pub output: String,
    /// The fields named in the output, in order of first appearance.
    pub output_fields: Vec<OutputField>,
    /// The event source (`syscall`, a plugin source, or `internal`).
    pub source: String,
    /// The rule's tags.
    pub tags: Vec<String>,
    /// The host the event was seen on.
    pub hostname: String,
}

impl Alert {
    /// Falco's JSON alert: `time` (RFC 3339, nanoseconds), `rule`, `priority`, `output`,
    /// `output_fields` (typed values, `null` when missing), `source`, `tags`, `hostname`.
    pub fn to_json(&self) -> serde_json::Value {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .output_fields
            .iter()
            .map(|f| (f.name.clone(), f.value.as_ref().map_or(serde_json::Value::Null, json_value)))
            .collect();
        serde_json::json!({
            "hostname": self.hostname,
            "output": self.output,
            "output_fields": fields,
            "priority": self.priority.as_str(),
            "rule": self.rule,
            "source": self.source,
            "tags": self.tags,
            "time": crate::format_rfc3339(self.time_ns),
        })
    }

    /// Falco's text alert with ISO 8601 time: `2024-05-01T12:00:00.123456789Z: Warning output`.
    pub fn to_text(&self) -> String {
        format!("{}: {} {}", crate::format_rfc3339(self.time_ns), self.priority, self.output)
    }
}

fn json_value(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::Int(i) => (*i).into(),
        Value::UInt(u) => (*u).into(),
        Value::Bool(b) => (*b).into(),
        Value::Ip(ip) => ip.to_string().into(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned().into(),
        Value::List(items) => serde_json::Value::Array(items.iter().map(json_value).collect()),
    }
}
