//! `file`: appends alerts to a file inside a directory granted read-write, as Falco's
//! `file_output`: Falco's text line or the JSON alert, one per line; with `keep_alive` the
//! file stays open between batches and is reopened when it was rotated (the path is gone or
//! no longer the file held open), otherwise it is opened and closed for every batch.
//! User-controlled text cannot forge a line: control characters are escaped in text lines,
//! and JSON strings escape them by construction.

use lanner_plugin_sdk::format::{alert_json, text_line};
use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Alert, Info, Plugin, Sink};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["filename"],
  "properties": {
    "filename": {"type": "string", "minLength": 1, "description": "Path as the plugin sees it (inside a granted directory)"},
    "keep_alive": {"type": "boolean", "description": "Keep the file open between batches (reopened after rotation)"},
    "format": {"enum": ["text", "json"], "description": "Falco's text line or the JSON alert (default json)"}
  },
  "additionalProperties": false
}"#;

struct FileSink {
    filename: String,
    keep_alive: bool,
    json: bool,
    open: Option<File>,
}

impl Plugin for FileSink {
    fn info() -> Info {
        Info::new("file", "0.1.0", "Alerts appended to a file as text or JSON lines").with_schema(SCHEMA)
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| e.to_string())?;
        let filename = cfg.get("filename").and_then(Json::as_str).ok_or("filename is required")?.to_string();
        let keep_alive = cfg.get("keep_alive").and_then(Json::as_bool).unwrap_or(false);
        let json = cfg.get("format").and_then(Json::as_str).unwrap_or("json") == "json";
        Ok(FileSink { filename, keep_alive, json, open: None })
    }
}

impl FileSink {
    fn open_file(&self) -> Result<File, String> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filename)
            .map_err(|e| format!("cannot open {}: {e}", self.filename))
    }

    /// The file held open is still the one at the path: the path exists and has the length
    /// of the open file (we are its only writer; a rotated path is missing or a new file).
    fn still_current(&self, f: &File) -> bool {
        match (std::fs::metadata(&self.filename), f.metadata()) {
            (Ok(p), Ok(h)) => p.len() == h.len(),
            _ => false,
        }
    }

    fn render(&self, alerts: &[Alert]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(alerts.len() * 256);
        for a in alerts {
            if self.json {
                // serde_json escapes every control character inside strings.
                json::to_writer(&mut buf, &alert_json(a)).expect("serializing to memory");
            } else {
                buf.extend_from_slice(text_line(a).as_bytes());
            }
            buf.push(b'\n');
        }
        buf
    }
}

impl Sink for FileSink {
    fn deliver(&mut self, alerts: Vec<Alert>) -> Result<(), String> {
        let buf = self.render(&alerts);
        let mut file = match self.open.take() {
            Some(f) if self.still_current(&f) => f,
            _ => self.open_file()?,
        };
        let written = {
            let mut w = BufWriter::with_capacity(64 * 1024, &mut file);
            w.write_all(&buf).and_then(|()| w.flush())
        };
        written.map_err(|e| format!("writing {}: {e}", self.filename))?;
        if self.keep_alive {
            self.open = Some(file);
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_sink!(FileSink);
