//! Alerts as a sink receives them, with their field values typed: a sink that writes JSON
//! keeps the process id `42` a number and `true` a boolean, as Lanner's own JSON output and
//! Falco's do (the `lanner:plugin@0.6.0` sink world), while sinks that write text read the
//! same values as the output shows them.

use std::fmt;

/// An alert, as a sink receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// The rule's name.
    pub rule: String,
    /// Its priority (`Warning`, ...).
    pub priority: String,
    /// The formatted output.
    pub output: String,
    /// The event source.
    pub source: String,
    /// The rule's tags.
    pub tags: Vec<String>,
    /// The host it was raised on.
    pub hostname: String,
    /// `%field` values of the output as text, as the output shows them (`<NA>` when the
    /// event has none), in order of first appearance.
    pub output_fields: Vec<(String, String)>,
    /// The same fields with their types, `None` when the event has no value: what a JSON
    /// alert carries (see [`FieldValue::to_json`]).
    pub typed_fields: Vec<(String, Option<FieldValue>)>,
}

/// A field's value in an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Text; addresses and byte buffers come as text too.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (ports, times, ids).
    UInt(u64),
    /// A boolean.
    Bool(bool),
    /// Several values (never lists themselves).
    List(Vec<FieldValue>),
}

impl FieldValue {
    /// The value as Lanner's JSON output writes it: a string, a number, `true`/`false` or an
    /// array.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldValue::Str(s) => serde_json::Value::String(s.clone()),
            FieldValue::Int(i) => (*i).into(),
            FieldValue::UInt(u) => (*u).into(),
            FieldValue::Bool(b) => (*b).into(),
            FieldValue::List(items) => {
                serde_json::Value::Array(items.iter().map(FieldValue::to_json).collect())
            }
        }
    }
}

impl fmt::Display for FieldValue {
    /// As the output text shows it: lists as `(a,b)`, as Falco does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Str(s) => f.write_str(s),
            FieldValue::Int(i) => write!(f, "{i}"),
            FieldValue::UInt(u) => write!(f, "{u}"),
            FieldValue::Bool(b) => write!(f, "{b}"),
            FieldValue::List(items) => {
                f.write_str("(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(feature = "sink")]
mod wit_in {
    use super::{Alert, FieldValue};
    use crate::bindings::exports::lanner::plugin0_6_0::typed_alert_sink as wit;

    fn value_in(v: wit::FieldValue) -> FieldValue {
        match v {
            wit::FieldValue::Str(s) => FieldValue::Str(s),
            wit::FieldValue::Int(i) => FieldValue::Int(i),
            wit::FieldValue::Uint(u) => FieldValue::UInt(u),
            wit::FieldValue::Boolean(b) => FieldValue::Bool(b),
            wit::FieldValue::List(items) => FieldValue::List(
                items
                    .into_iter()
                    .map(|i| match i {
                        wit::Item::Str(s) => FieldValue::Str(s),
                        wit::Item::Int(i) => FieldValue::Int(i),
                        wit::Item::Uint(u) => FieldValue::UInt(u),
                        wit::Item::Boolean(b) => FieldValue::Bool(b),
                    })
                    .collect(),
            ),
        }
    }

    /// The alert from the interface, its text fields rendered from the typed ones.
    pub fn alert_in(a: wit::Alert) -> Alert {
        let typed_fields: Vec<(String, Option<FieldValue>)> =
            a.output_fields.into_iter().map(|f| (f.name, f.value.map(value_in))).collect();
        let output_fields = typed_fields
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map_or_else(|| "<NA>".to_string(), |v| v.to_string())))
            .collect();
        Alert {
            time_ns: a.time_ns,
            rule: a.rule,
            priority: a.priority,
            output: a.output,
            source: a.source,
            tags: a.tags,
            hostname: a.hostname,
            output_fields,
            typed_fields,
        }
    }
}

#[cfg(feature = "sink")]
pub use wit_in::alert_in;

/// Exports a type implementing [`Sink`](crate::Sink) as the plugin's component (the
/// `lanner:plugin@0.6.0` sink world: a host serving 0.6.0 or later loads it).
#[macro_export]
macro_rules! export_sink {
    ($t:ty) => {
        const _: () = {
            $crate::__export_plugin!($t);
            use $crate::__private::bindings::exports::lanner::plugin0_6_0::typed_alert_sink as __sink;
            impl __sink::Guest for __Exports {
                fn deliver(alerts: Vec<__sink::Alert>) -> Result<(), String> {
                    let alerts = alerts.into_iter().map(__p::alert_in).collect();
                    SLOT.with(|p| <$t as $crate::Sink>::deliver(p, alerts))
                }
            }
            $crate::__private::bindings::__export_world!(
                __Exports with_types_in $crate::__private::bindings
            );
        };
    };
}
