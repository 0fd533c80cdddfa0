//! A hostile extractor. `{"mode": M}` in its configuration picks what `extract` does:
//!
//! - `loop`: spins forever.
//! - `memory`: allocates until it cannot.
//! - `trap`: hits `unreachable`.
//! - `shadow`: reads `/etc/shadow` and returns its first line as `hostile.out`.
//! - `http`: `GET` the URL given as `url` and returns the status, or the error, as `hostile.out`.
//! - `huge`: returns a string of `mb` MiB (default 48).
//! - `wrong-count`: returns one value too few.
//! - `tcp-read`: connects to `url` (`host:port`, granted) and reads until the peer answers,
//!   then returns `read N bytes`.
//! - `sleep`: sleeps in WASI for `ms` milliseconds (default 5000), then returns `slept`.
//! - `views`: returns one string list of `count` strings (default 4Mi) that all point at the
//!   same buffer of `mb` MiB (default 32): little guest memory, but copied one by one they
//!   would be `count` x `mb` MiB on the host.
//! - `panic`: panics with a message naming the payload's length (the SDK's panic hook sends
//!   it to the host's log before the trap).
//! - `open`: reads the file named by `url`, its error told by the SDK's `errors::io_error`.
//! - `ok`: returns `fine`.
//!
//! - `env`: returns the environment variable named by `url` (granted or not).

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Event, Extractor, Field, FieldType, Info, Plugin, Request, Value};

struct Hostile {
    mode: String,
    url: String,
    ms: u64,
    count: usize,
    mb: usize,
    huge_mb: usize,
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
            count: cfg.get("count").and_then(Json::as_u64).unwrap_or(4 << 20) as usize,
            mb: cfg.get("mb").and_then(Json::as_u64).unwrap_or(32) as usize,
            huge_mb: cfg.get("mb").and_then(Json::as_u64).unwrap_or(48) as usize,
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
        if self.mode == "views" {
            out.extend(requests.iter().map(|_| Some(Value::StrList(views(self.count, self.mb)))));
            return Ok(());
        }
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
            "tcp-read" => {
                use std::io::Read;
                let mut s = std::net::TcpStream::connect(&self.url).map_err(|e| format!("connect: {e}"))?;
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
                format!("read {n} bytes")
            }
            "open" => std::fs::read_to_string(&self.url)
                .map_err(|e| lanner_plugin_sdk::errors::io_error(&self.url, &e))?,
            "shadow" => match std::fs::read_to_string("/etc/shadow") {
                Ok(s) => s.lines().next().unwrap_or("").to_string(),
                Err(e) => return Err(format!("cannot read /etc/shadow: {e}")),
            },
            "http" => match lanner_plugin_sdk::http::get(&self.url) {
                Ok(r) => format!("status {}", r.status),
                Err(e) => return Err(e),
            },
            "env" => std::env::var(&self.url).map_err(|e| format!("{}: {e}", self.url))?,
            "huge" => "x".repeat(self.huge_mb << 20),
            "wrong-count" => return Ok(()),
            "panic" => panic!("hostile panics on purpose over a payload of {} bytes", _event.data.len()),
            _ => "fine".to_string(),
        };
        out.extend(requests.iter().map(|_| Some(Value::Str(v.clone()))));
        Ok(())
    }
}

/// `count` strings over one leaked buffer of `mb` MiB. Hostile on purpose: the strings alias
/// each other, so the guest frees the buffer many times if the host ever lets the call
/// finish; a host that bounds what it copies fails the call before that.
fn views(count: usize, mb: usize) -> Vec<String> {
    let buf: &'static mut [u8] = Vec::leak(vec![b'v'; mb << 20]);
    (0..count)
        // SAFETY: none, by design (see above); the bytes are ASCII, so each view is UTF-8.
        .map(|_| unsafe { String::from_raw_parts(buf.as_mut_ptr(), buf.len(), buf.len()) })
        .collect()
}

lanner_plugin_sdk::export_extractor!(Hostile);
