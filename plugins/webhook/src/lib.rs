//! `webhook`: POSTs each alert as the JSON object falcosidekick accepts (always with
//! `output_fields`) to a URL, with optional headers. A 5xx, 408 or 429 answer or a transport
//! failure is retryable (the host retries with backoff); another non-2xx answer is permanent.
//! Error messages never hold the URL (it may carry a token). Each request carries
//! `Content-Length`; with `chunked: true` the body goes out chunked instead. Field values
//! keep their JSON types, as in Lanner's JSON output.

use lanner_plugin_sdk::format::alert_json;
use lanner_plugin_sdk::http;
use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Alert, Info, Plugin, Sink};

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["url"],
  "properties": {
    "url": {"type": "string", "pattern": "^https?://"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "timeout_ms": {"type": "integer", "minimum": 1},
    "chunked": {"type": "boolean", "description": "Send the body chunked instead of with a Content-Length (default false)"}
  },
  "additionalProperties": false
}"#;

struct Webhook {
    url: String,
    headers: Vec<(String, String)>,
    timeout_ms: u64,
    chunked: bool,
}

impl Plugin for Webhook {
    fn info() -> Info {
        Info::new("webhook", "0.1.0", "Alerts POSTed as falcosidekick-compatible JSON").with_schema(SCHEMA)
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| e.to_string())?;
        let url = cfg.get("url").and_then(Json::as_str).ok_or("url is required")?.to_string();
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(h) = cfg.get("headers").and_then(Json::as_object) {
            for (k, v) in h {
                let v = v.as_str().unwrap_or_default();
                if k.chars().chain(v.chars()).any(|c| c == '\r' || c == '\n') {
                    return Err(format!("header {k} holds a line break"));
                }
                // The body's framing is the plugin's (and `chunked`'s) to set: a header saying
                // otherwise would be dropped or make every request fail.
                if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(format!(
                        "header {k} cannot be set: the plugin frames the body (see `chunked`)"
                    ));
                }
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
                headers.push((k.clone(), v.to_string()));
            }
        }
        let timeout_ms = cfg.get("timeout_ms").and_then(Json::as_u64).unwrap_or(5000);
        let chunked = cfg.get("chunked").and_then(Json::as_bool).unwrap_or(false);
        Ok(Webhook { url, headers, timeout_ms, chunked })
    }
}

impl Sink for Webhook {
    fn deliver(&mut self, alerts: Vec<Alert>) -> Result<(), String> {
        let headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for a in &alerts {
            let body = json::to_vec(&alert_json(a)).map_err(|e| e.to_string())?;
            let send = if self.chunked { http::post_chunked } else { http::post };
            let resp = send(&self.url, &headers, &body, self.timeout_ms)?;
            match resp.status {
                200..=299 => {}
                408 | 429 | 500..=599 => return Err(format!("webhook answered {}", resp.status)),
                s => return Err(format!("permanent: webhook answered {s}")),
            }
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_sink!(Webhook);
