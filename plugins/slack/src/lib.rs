//! `slack`: posts each alert to a Slack incoming webhook through `wasi:http`: a headline with
//! priority and rule, the output, and a field list (rule, priority, time, host, source, tags
//! and the output's fields). Every user-controlled string is escaped for Slack's markup
//! (`&`, `<`, `>`), so `<!channel>` or `<url|text>` in an alert are shown, never acted on.
//! The webhook URL is a secret: it is never logged nor put in an error.

use lanner_plugin_sdk::format::rfc3339;
use lanner_plugin_sdk::json::{self, Value as Json, json};
use lanner_plugin_sdk::{Alert, Info, Plugin, Sink};

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["webhook_url"],
  "properties": {
    "webhook_url": {"type": "string", "pattern": "^https?://"},
    "channel": {"type": "string"},
    "username": {"type": "string"},
    "timeout_ms": {"type": "integer", "minimum": 1}
  },
  "additionalProperties": false
}"#;

struct Slack {
    url: String,
    channel: Option<String>,
    username: String,
    timeout_ms: u64,
}

/// Slack's escaping of message text: `&`, `<` and `>` as entities.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn color(priority: &str) -> &'static str {
    match priority.to_ascii_lowercase().as_str() {
        "emergency" | "alert" | "critical" | "error" => "#e01e5a",
        "warning" => "#ecb22e",
        "notice" | "informational" | "info" => "#36c5f0",
        _ => "#cccccc",
    }
}

fn payload(a: &Alert, channel: Option<&str>, username: &str) -> Json {
    let mut fields = vec![
        json!({"title": "rule", "value": esc(&a.rule), "short": true}),
        json!({"title": "priority", "value": esc(&a.priority), "short": true}),
        json!({"title": "time", "value": rfc3339(a.time_ns), "short": true}),
        json!({"title": "hostname", "value": esc(&a.hostname), "short": true}),
        json!({"title": "source", "value": esc(&a.source), "short": true}),
    ];
    if !a.tags.is_empty() {
        fields.push(json!({"title": "tags", "value": esc(&a.tags.join(", ")), "short": true}));
    }
    for (k, v) in &a.output_fields {
        fields.push(json!({"title": esc(k), "value": esc(v), "short": true}));
    }
    let headline = format!("{} | {}", esc(&a.priority), esc(&a.rule));
    let mut p = json!({
        "username": username,
        "text": headline,
        "attachments": [{
            "fallback": esc(&a.output),
            "color": color(&a.priority),
            "text": esc(&a.output),
            "fields": fields,
            "footer": "lanner",
            "ts": a.time_ns / 1_000_000_000,
        }],
    });
    if let Some(c) = channel {
        p["channel"] = Json::String(c.to_string());
    }
    p
}

impl Plugin for Slack {
    fn info() -> Info {
        Info::new("slack", "0.1.0", "Alerts posted to a Slack incoming webhook").with_schema(SCHEMA)
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| e.to_string())?;
        let url = cfg.get("webhook_url").and_then(Json::as_str).ok_or("webhook_url is required")?.to_string();
        let channel = cfg.get("channel").and_then(Json::as_str).map(str::to_string);
        let username = cfg.get("username").and_then(Json::as_str).unwrap_or("Lanner").to_string();
        let timeout_ms = cfg.get("timeout_ms").and_then(Json::as_u64).unwrap_or(5000);
        Ok(Slack { url, channel, username, timeout_ms })
    }
}

impl Sink for Slack {
    fn deliver(&mut self, alerts: Vec<Alert>) -> Result<(), String> {
        let headers = [("content-type", "application/json")];
        for a in &alerts {
            let body = json::to_vec(&payload(a, self.channel.as_deref(), &self.username))
                .map_err(|e| e.to_string())?;
            let resp = lanner_plugin_sdk::http::post(&self.url, &headers, &body, self.timeout_ms)?;
            match resp.status {
                200..=299 => {}
                408 | 429 | 500..=599 => return Err(format!("slack answered {}", resp.status)),
                s => return Err(format!("permanent: slack answered {s}")),
            }
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_sink!(Slack);
