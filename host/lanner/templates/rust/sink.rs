//! {{name}}: a Lanner sink. It appends each alert it receives to a file, one line per alert
//! (`TIME PRIORITY RULE: OUTPUT`, newlines in the output written as `\n`). The file is named
//! by its configuration (`{"path": "/out/alerts.log"}`), a path inside a folder granted with
//! `grants.dirs`, `mode: rw`.

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Alert, Info, Plugin, Sink};
use std::io::Write;

struct Scaffold {
    path: String,
}

impl Plugin for Scaffold {
    fn info() -> Info {
        Info::new("{{name}}", "0.1.0", "{{description}}").with_schema(
            r#"{"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": false}"#,
        )
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| format!("configuration: {e}"))?;
        let path = cfg
            .get("path")
            .and_then(Json::as_str)
            .ok_or("configuration: no path")?;
        Ok(Scaffold {
            path: path.to_string(),
        })
    }
}

impl Sink for Scaffold {
    fn deliver(&mut self, alerts: Vec<Alert>) -> Result<(), String> {
        let mut text = String::new();
        for a in &alerts {
            let output = a.output.replace('\\', "\\\\").replace('\n', "\\n");
            text.push_str(&format!(
                "{} {} {}: {}\n",
                a.time_ns, a.priority, a.rule, output
            ));
        }
        // Opened per batch: a file removed or rotated in between is made again.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("opening {}: {e}", self.path))?;
        f.write_all(text.as_bytes())
            .map_err(|e| format!("writing {}: {e}", self.path))
    }
}

lanner_plugin_sdk::export_sink!(Scaffold);
