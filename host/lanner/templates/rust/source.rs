//! {{name}}: a Lanner source. Its open parameters are messages separated by commas
//! (`hello,world`); the stream gives one event per message, whose payload is the message,
//! then ends. Rules read them with `source: {{name}}` and the field
//!
//! - `{{name}}.message`: the event's message.

use lanner_plugin_sdk::{
    Batch, Event, EventStream, Extractor, Field, FieldType, Info, Plugin, Request, Source, Value,
};
use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

const MESSAGE: u32 = 0;

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
        Ok(Scaffold)
    }
}

impl Extractor for Scaffold {
    fn fields() -> Vec<Field> {
        vec![Field::new(
            "{{name}}.message",
            FieldType::String,
            "The event's message",
        )]
    }

    /// Only its own events: an empty list would mean every source, syscall events included.
    fn event_sources() -> Vec<String> {
        vec!["{{name}}".into()]
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        for r in requests {
            out.push(match r.field {
                MESSAGE => Some(Value::Str(
                    String::from_utf8_lossy(&event.data).into_owned(),
                )),
                other => return Err(format!("no field with index {other}")),
            });
        }
        Ok(())
    }
}

impl Source for Scaffold {
    type Stream = Messages;

    fn source_name() -> String {
        "{{name}}".into()
    }

    fn open(&mut self, params: &str) -> Result<Messages, String> {
        let messages: VecDeque<String> = params
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect();
        if messages.is_empty() {
            return Err(format!(
                "open parameters {params:?}: give messages separated by commas, such as hello,world"
            ));
        }
        Ok(Messages(messages))
    }
}

/// The messages not read yet.
struct Messages(VecDeque<String>);

impl EventStream for Messages {
    fn next(&mut self, max: u32) -> Result<Batch, String> {
        if self.0.is_empty() {
            return Ok(Batch::Ended);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = self.0.len().min(max as usize);
        let events = self
            .0
            .drain(..n)
            .map(|m| Event {
                source: "{{name}}".into(),
                timestamp_ns: now,
                data: m.into_bytes(),
            })
            .collect();
        Ok(Batch::Events(events))
    }
}

lanner_plugin_sdk::export_source!(Scaffold);
