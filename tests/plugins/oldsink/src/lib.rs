//! A sink of the 0.5.0 sink world (which reuses 0.1.0's `alert-sink`, field values as text),
//! written against its bindings directly since the SDK builds the 0.6.0 world: each alert is
//! appended to the file named by its configuration as `RULE|name=value|name=value...`, so a
//! test can see the host still hands such a sink every value, as text.

wit_bindgen::generate!({
    path: ["../../../wit", "../../../wit/v0.2.0", "../../../wit/v0.3.0", "../../../wit/v0.4.0", "../../../wit/v0.5.0"],
    world: "lanner:plugin/sink@0.5.0",
    generate_all,
});

use exports::lanner::plugin0_1_0::{alert_sink, plugin};
use lanner::plugin0_1_0::types::{Alert, PluginInfo};
use std::cell::RefCell;
use std::io::Write;

struct OldSink;

struct Slot(RefCell<Option<String>>);
// SAFETY: a wasm32-wasip2 component runs on one thread.
unsafe impl Sync for Slot {}
static PATH: Slot = Slot(RefCell::new(None));

impl plugin::Guest for OldSink {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "oldsink".into(),
            version: "0.1.0".into(),
            api_version: "0.5.0".into(),
            description: "A 0.5.0 sink writing field values as text".into(),
            config_schema:
                r#"{"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}}"#
                    .into(),
        }
    }

    fn init(config: String) -> Result<(), String> {
        // {"path":"..."}: the host validated it against the schema.
        let path = config.split('"').nth(3).ok_or("path is required")?.to_string();
        *PATH.0.borrow_mut() = Some(path);
        Ok(())
    }
}

impl alert_sink::Guest for OldSink {
    fn deliver(alerts: Vec<Alert>) -> Result<(), String> {
        let path = PATH.0.borrow().clone().ok_or("not initialized")?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {path}: {e}"))?;
        for a in alerts {
            let fields: Vec<String> = a.output_fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(f, "{}|{}", a.rule, fields.join("|")).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

export!(OldSink);
