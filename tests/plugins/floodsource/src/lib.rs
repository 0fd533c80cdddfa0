//! A source that floods: every stream answers each call with as many events as asked, at once,
//! forever. Its field `flood.slow` costs `us_per_event` microseconds of sleep per event
//! (configuration, default 1000): rules that read it fall behind the source, as rules behind
//! a busy webhook or a fast log would.

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{
    Batch, Event, EventStream, Extractor, Field, FieldType, Info, Plugin, Request, Source, Value,
};

struct Flood {
    us_per_event: u64,
}

struct Stream {
    next: u64,
}

impl Plugin for Flood {
    fn info() -> Info {
        Info::new("floodsource", "0.1.0", "Never runs dry; a slow field")
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json =
            if config.is_empty() { Json::Null } else { json::from_str(config).map_err(|e| e.to_string())? };
        Ok(Flood { us_per_event: cfg.get("us_per_event").and_then(Json::as_u64).unwrap_or(1000) })
    }
}

impl Extractor for Flood {
    fn fields() -> Vec<Field> {
        vec![Field::new("flood.slow", FieldType::String, "The event's payload, slowly")]
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        std::thread::sleep(std::time::Duration::from_micros(self.us_per_event));
        let text = String::from_utf8_lossy(&event.data).into_owned();
        out.extend(requests.iter().map(|_| Some(Value::Str(text.clone()))));
        Ok(())
    }
}

impl EventStream for Stream {
    fn next(&mut self, max: u32) -> Result<Batch, String> {
        let events = (0..max.max(1))
            .map(|_| {
                self.next += 1;
                Event {
                    source: String::new(),
                    timestamp_ns: self.next,
                    data: format!("flood {}", self.next).into_bytes(),
                }
            })
            .collect();
        Ok(Batch::Events(events))
    }
}

impl Source for Flood {
    type Stream = Stream;

    fn source_name() -> String {
        "flood".into()
    }

    fn open(&mut self, _params: &str) -> Result<Stream, String> {
        Ok(Stream { next: 0 })
    }
}

lanner_plugin_sdk::export_source!(Flood);
