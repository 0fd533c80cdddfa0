//! `filesink`: appends `RULE|PRIORITY|SOURCE|OUTPUT` lines to the file named by `path` in its
//! configuration (inside a directory granted read-write); with `"trap": true` every delivery
//! traps instead (a sink that fails for the host to disable).

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Alert, Info, Plugin, Sink};
use std::io::Write;

struct FileSink {
    path: String,
    trap: bool,
}

impl Plugin for FileSink {
    fn info() -> Info {
        Info::new("filesink", "0.1.0", "Alerts appended to a file").with_schema(
            r#"{"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}, "trap": {"type": "boolean"}}, "additionalProperties": false}"#,
        )
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| e.to_string())?;
        let path = cfg.get("path").and_then(Json::as_str).ok_or("path is required")?.to_string();
        let trap = cfg.get("trap").and_then(Json::as_bool).unwrap_or(false);
        Ok(FileSink { path, trap })
    }
}

impl Sink for FileSink {
    fn deliver(&mut self, alerts: Vec<Alert>) -> Result<(), String> {
        if self.trap {
            std::process::abort();
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("cannot open {}: {e}", self.path))?;
        for a in alerts {
            writeln!(f, "{}|{}|{}|{}", a.rule, a.priority, a.source, a.output).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_sink!(FileSink);
