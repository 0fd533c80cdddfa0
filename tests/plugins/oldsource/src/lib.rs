//! A source plugin of the first interface, `lanner:plugin@0.1.0`, written against its
//! bindings directly (the SDK builds later versions): `open(N)` gives a stream of N events,
//! `old-1` to `old-N` as payloads, three at most per batch, then an empty batch, which in 0.1.0
//! ends the stream. One field, `old.payload`.

wit_bindgen::generate!({ path: "../../../wit", world: "source" });

use exports::lanner::plugin::{event_source, field_extractor, plugin};
use lanner::plugin::types::{ArgKind, Event, FieldDecl, FieldRequest, FieldType, PluginInfo, Value};
use std::cell::Cell;

struct OldSource;

impl plugin::Guest for OldSource {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "oldsource".into(),
            version: "0.1.0".into(),
            api_version: "0.1.0".into(),
            description: "A 0.1.0 source of numbered events".into(),
            config_schema: String::new(),
        }
    }

    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }
}

impl field_extractor::Guest for OldSource {
    fn fields() -> Vec<FieldDecl> {
        vec![FieldDecl {
            name: "old.payload".into(),
            type_: FieldType::String,
            arg: ArgKind::None,
            description: "The event's payload".into(),
        }]
    }

    fn event_sources() -> Vec<String> {
        vec!["old".into()]
    }

    fn extract(events: Vec<Event>, requests: Vec<FieldRequest>) -> Result<Vec<Option<Value>>, String> {
        Ok(events
            .iter()
            .flat_map(|e| {
                requests.iter().map(|_| Some(Value::Str(String::from_utf8_lossy(&e.data).into_owned())))
            })
            .collect())
    }
}

struct Stream {
    next: Cell<u32>,
    last: u32,
}

impl event_source::GuestEventStream for Stream {
    fn next_batch(&self, max: u32) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        while out.len() < max.min(3) as usize && self.next.get() <= self.last {
            let i = self.next.get();
            out.push(Event {
                source: "old".into(),
                timestamp_ns: u64::from(i),
                data: format!("old-{i}").into_bytes(),
            });
            self.next.set(i + 1);
        }
        Ok(out)
    }
}

impl event_source::Guest for OldSource {
    type EventStream = Stream;

    fn source_name() -> String {
        "old".into()
    }

    fn open(params: String) -> Result<event_source::EventStream, String> {
        let last = params.parse().map_err(|e| format!("open: a number of events, not {params:?}: {e}"))?;
        Ok(event_source::EventStream::new(Stream { next: Cell::new(1), last }))
    }
}

export!(OldSource);
