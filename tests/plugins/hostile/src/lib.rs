//! A hostile extractor. `{"mode": M}` in its configuration picks what `extract` does:
//!
//! - `loop`: spins forever.
//! - `memory`: allocates until it cannot.
//! - `trap`: hits `unreachable`.
//! - `shadow`: reads `/etc/shadow` and returns its first line as `hostile.out`.
//! - `http`: `GET` the URL given as `url` and returns the status, or the error, as `hostile.out`.
//! - `huge`: returns a 48 MiB string.
//! - `wrong-count`: returns one value too few.
//! - `sleep`: sleeps in WASI for `ms` milliseconds (default 5000), then returns `slept`.
//! - `ok`: returns `fine`.
//!
//! - `env`: returns the environment variable named by `url` (granted or not).

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Event, Extractor, Field, FieldType, Info, Plugin, Request, Value};

struct Hostile {
    mode: String,
    url: String,
    ms: u64,
}

impl Plugin for Hostile {
    fn info() -> Info {
        Info::new("hostile", "0.1.0", "Misbehaves on purpose")
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| e.to_string())?;
        Ok(Hostile {
            mode: cfg.get("mode").and_then(Json::as_str).unwrap_or("ok").to_string(),
            url: cfg.get("url").and_then(Json::as_str).unwrap_or("").to_string(),
            ms: cfg.get("ms").and_then(Json::as_u64).unwrap_or(5000),
        })
    }
}

impl Extractor for Hostile {
    fn fields() -> Vec<Field> {
        vec![Field::new("hostile.out", FieldType::String, "What the misbehaviour produced")]
    }

    fn extract(
        &mut self,
        _event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        let v = match self.mode.as_str() {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => std::process::abort(),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_millis(self.ms));
                "slept".to_string()
            }
            "shadow" => match std::fs::read_to_string("/etc/shadow") {
                Ok(s) => s.lines().next().unwrap_or("").to_string(),
                Err(e) => return Err(format!("cannot read /etc/shadow: {e}")),
            },
            "http" => match lanner_plugin_sdk::http::get(&self.url) {
                Ok(r) => format!("status {}", r.status),
                Err(e) => return Err(e),
            },
            "env" => std::env::var(&self.url).map_err(|e| format!("{}: {e}", self.url))?,
            "huge" => "x".repeat(48 << 20),
            "wrong-count" => return Ok(()),
            _ => "fine".to_string(),
        };
        out.extend(requests.iter().map(|_| Some(Value::Str(v.clone()))));
        Ok(())
    }
}

lanner_plugin_sdk::export_extractor!(Hostile);
