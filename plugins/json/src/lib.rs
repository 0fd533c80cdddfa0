//! The `json` extractor: fields over events whose payload is a JSON document, named as
//! Falco's json plugin names them.
//!
//! - `json.value[/json/pointer]`: the value at an RFC 6901 pointer, as text (strings without
//!   quotes, anything else as compact JSON); the whole document without argument.
//! - `json.obj`: the whole document, compact.
//! - `json.exists[/json/pointer]`: whether the pointer leads to a value.
//! - `json.len[/json/pointer]`: the number of items of the array or object (or the length of
//!   the string) at the pointer.

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Arg, Event, Extractor, Field, FieldType, Info, Plugin, Request, Value};

const VALUE: u32 = 0;
const OBJ: u32 = 1;
const EXISTS: u32 = 2;
const LEN: u32 = 3;

struct JsonPlugin {
    /// Sources whose events are read; empty means every source.
    sources: Vec<String>,
}

impl Plugin for JsonPlugin {
    fn info() -> Info {
        Info::new("json", "0.1.0", "Fields over events whose payload is JSON").with_schema(
            r#"{"type": "object", "properties": {"sources": {"type": "array", "items": {"type": "string"}}}, "additionalProperties": false}"#,
        )
    }

    fn init(config: &str) -> Result<Self, String> {
        let mut sources = Vec::new();
        if !config.trim().is_empty() {
            let cfg: Json = json::from_str(config).map_err(|e| format!("configuration: {e}"))?;
            if let Some(list) = cfg.get("sources").and_then(Json::as_array) {
                sources = list.iter().filter_map(|s| s.as_str().map(String::from)).collect();
            }
        }
        Ok(JsonPlugin { sources })
    }
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn at<'a>(doc: &'a Json, arg: Option<&str>) -> Option<&'a Json> {
    match arg {
        None | Some("") => Some(doc),
        Some(p) => doc.pointer(p),
    }
}

impl Extractor for JsonPlugin {
    fn fields() -> Vec<Field> {
        vec![
            Field::new(
                "json.value",
                FieldType::String,
                "The value at a JSON pointer, as text (the whole document without argument)",
            )
            .with_arg(Arg::OptionalKey),
            Field::new("json.obj", FieldType::String, "The whole JSON document"),
            Field::new("json.exists", FieldType::Bool, "Whether the JSON pointer leads to a value")
                .with_arg(Arg::OptionalKey),
            Field::new(
                "json.len",
                FieldType::UInt64,
                "Items of the array or object, or characters of the string, at the JSON pointer",
            )
            .with_arg(Arg::OptionalKey),
        ]
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        let doc = if self.sources.is_empty() || self.sources.contains(&event.source) {
            json::from_slice::<Json>(&event.data).ok()
        } else {
            None
        };
        let Some(doc) = doc else {
            out.extend(requests.iter().map(|_| None));
            return Ok(());
        };
        for r in requests {
            let v = at(&doc, r.arg.as_deref());
            out.push(match r.field {
                VALUE => v.map(|v| Value::Str(text(v))),
                OBJ => Some(Value::Str(doc.to_string())),
                EXISTS => Some(Value::Bool(v.is_some())),
                LEN => v.and_then(|v| match v {
                    Json::Array(a) => Some(Value::UInt(a.len() as u64)),
                    Json::Object(o) => Some(Value::UInt(o.len() as u64)),
                    Json::String(s) => Some(Value::UInt(s.chars().count() as u64)),
                    _ => None,
                }),
                other => return Err(format!("no field with index {other}")),
            });
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_extractor!(JsonPlugin);
