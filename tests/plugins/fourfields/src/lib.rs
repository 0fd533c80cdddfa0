//! A trivial extractor, the interface's cost with real values: four fields derived from the
//! payload without parsing it, built like `plugins/json` (for the extraction benchmark).
//!
//! - `four.len`: the payload's length (uint64).
//! - `four.brace`: whether the payload starts with `{` (bool).
//! - `four.head`: its first 8 bytes, as text (string).
//! - `four.tail`: its last 8 bytes, as text (string).

use lanner_plugin_sdk::{Event, Extractor, Field, FieldType, Info, Plugin, Request, Value};

struct FourFields;

impl Plugin for FourFields {
    fn info() -> Info {
        Info::new("fourfields", "0.1.0", "Four cheap fields over the payload")
    }

    fn init(_config: &str) -> Result<Self, String> {
        Ok(FourFields)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Extractor for FourFields {
    fn fields() -> Vec<Field> {
        vec![
            Field::new("four.len", FieldType::UInt64, "The payload's length"),
            Field::new("four.brace", FieldType::Bool, "Whether the payload starts with '{'"),
            Field::new("four.head", FieldType::String, "The payload's first 8 bytes"),
            Field::new("four.tail", FieldType::String, "The payload's last 8 bytes"),
        ]
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        let d = &event.data;
        for r in requests {
            out.push(match r.field {
                0 => Some(Value::UInt(d.len() as u64)),
                1 => Some(Value::Bool(d.first() == Some(&b'{'))),
                2 => Some(Value::Str(text(&d[..d.len().min(8)]))),
                3 => Some(Value::Str(text(&d[d.len().saturating_sub(8)..]))),
                _ => None,
            });
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_extractor!(FourFields);
