//! {{name}}: a Lanner extractor. Its fields serve rules of every source (`event_sources` is
//! empty), syscall events included, whose payload is a JSON object (docs/plugins.md,
//! "Syscall events"):
//!
//! - `{{name}}.argc`: how many arguments the process's command line has (its words after
//!   the first), for syscall events;
//! - `{{name}}.size`: the payload's size in bytes, for events of every source.

use lanner_plugin_sdk::{
    Event, Extractor, Field, FieldType, Info, Level, Plugin, Request, Value, log,
};

const ARGC: u32 = 0;
const SIZE: u32 = 1;

struct Scaffold;

impl Plugin for Scaffold {
    fn info() -> Info {
        Info::new(
            "{{name}}",
            "0.1.0",
            "{{description}}",
        )
        .with_schema(r#"{"type": "object", "additionalProperties": false}"#)
    }

    fn init(_config: &str) -> Result<Self, String> {
        log(Level::Debug, "ready");
        Ok(Scaffold)
    }
}

impl Extractor for Scaffold {
    fn fields() -> Vec<Field> {
        vec![
            Field::new(
                "{{name}}.argc",
                FieldType::UInt64,
                "How many arguments the process's command line has (syscall events)",
            ),
            Field::new(
                "{{name}}.size",
                FieldType::UInt64,
                "The event payload's size in bytes",
            ),
        ]
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        // Parsed only when asked for: the host sends the fields the loaded rules use.
        let argc = if requests.iter().any(|r| r.field == ARGC) {
            event
                .syscall()
                .and_then(|s| s.thread.cmdline)
                .map(|cmdline| cmdline.split_whitespace().count().saturating_sub(1) as u64)
        } else {
            None
        };
        for r in requests {
            out.push(match r.field {
                ARGC => argc.map(Value::UInt),
                SIZE => Some(Value::UInt(event.data.len() as u64)),
                other => return Err(format!("no field with index {other}")),
            });
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_extractor!(Scaffold);
