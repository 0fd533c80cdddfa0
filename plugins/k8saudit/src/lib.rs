//! `k8saudit`: Kubernetes audit events as a Lanner event source (`k8s_audit`).
//!
//! `open(PATH)` reads the file at PATH (inside a directory granted to the plugin): one JSON
//! record per line, each an audit `Event` or an `EventList` whose `items` are events (what
//! the API server's log backend writes, or what a webhook receiver stores). It ends at the
//! end of the file. `open(follow:PATH)` follows the file as it grows instead, as `tail -F`
//! does: at its end the stream is idle, a line is read once it is complete, and a file that
//! shrinks (truncated) or is replaced (rotated) is read again from its start.
//! `open(http://IP:PORT/PATH)` receives the events the API server's webhook backend posts
//! (see [`webhook`]; IP:PORT must be in the plugin's `grants.listen`). Each event's
//! payload is the record's JSON, so the `json` plugin reads it too; its time is the record's
//! `stageTimestamp` (or `requestReceivedTimestamp`). Lines that are not JSON are logged and
//! skipped. Fields follow the names of Falco's k8saudit plugin.

use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{
    Batch, Event, EventStream, Extractor, Field, FieldType, Info, Level, Plugin, Request, Source, Value, log,
};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};

mod audit;
mod webhook;

/// The event source name rules use.
const SOURCE: &str = "k8s_audit";

struct K8sAudit {
    webhook: webhook::Settings,
}

/// The plugin's configuration: the webhook's bounds (see the README).
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Config {
    max_body_bytes: Option<u64>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_connections: Option<u64>,
    max_connections_per_peer: Option<u64>,
    token: Option<String>,
    token_file: Option<String>,
}

const SCHEMA: &str = r#"{"type": "object", "additionalProperties": false, "properties": {
  "max_body_bytes": {"type": "integer", "minimum": 1024},
  "header_timeout_ms": {"type": "integer", "minimum": 1},
  "body_timeout_ms": {"type": "integer", "minimum": 1},
  "idle_timeout_ms": {"type": "integer", "minimum": 1},
  "max_connections": {"type": "integer", "minimum": 1},
  "max_connections_per_peer": {"type": "integer", "minimum": 1},
  "token": {"type": "string", "minLength": 1},
  "token_file": {"type": "string", "minLength": 1}
}}"#;

impl Config {
    fn settings(self) -> Result<webhook::Settings, String> {
        use std::time::Duration;
        let d = webhook::Settings::default();
        let ms = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_millis);
        let token = match (self.token, self.token_file) {
            (Some(_), Some(_)) => return Err("give token or token_file, not both".into()),
            (Some(t), None) => Some(t.into_bytes()),
            (None, Some(f)) => {
                let t = std::fs::read_to_string(&f).map_err(|e| format!("token_file {f}: {e}"))?;
                let t = t.trim();
                if t.is_empty() {
                    return Err(format!("token_file {f} is empty"));
                }
                Some(t.as_bytes().to_vec())
            }
            (None, None) => None,
        };
        let count = |v: Option<u64>, d: usize| v.map_or(d, |v| usize::try_from(v).unwrap_or(usize::MAX));
        Ok(webhook::Settings {
            max_body: count(self.max_body_bytes, d.max_body),
            header_timeout: ms(self.header_timeout_ms, d.header_timeout),
            body_timeout: ms(self.body_timeout_ms, d.body_timeout),
            idle_timeout: ms(self.idle_timeout_ms, d.idle_timeout),
            max_conns: count(self.max_connections, d.max_conns),
            max_per_peer: count(self.max_connections_per_peer, d.max_per_peer),
            token,
        })
    }
}

impl Plugin for K8sAudit {
    fn info() -> Info {
        Info::new(
            "k8saudit",
            "0.2.0",
            "Kubernetes audit events: a file of JSON records, read or followed, or a webhook",
        )
        .with_schema(SCHEMA)
    }

    fn init(config: &str) -> Result<Self, String> {
        let config: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            json::from_str(config).map_err(|e| format!("configuration: {e}"))?
        };
        Ok(K8sAudit { webhook: config.settings()? })
    }
}

/// Field names with their JSON pointers into the audit event.
const TEXT_FIELDS: &[(&str, &str, &str)] = &[
    ("ka.auditid", "/auditID", "The audit event's id"),
    ("ka.stage", "/stage", "The stage of the request (RequestReceived, ResponseComplete, ...)"),
    ("ka.verb", "/verb", "The action (get, list, create, delete, ...)"),
    ("ka.uri", "/requestURI", "The request URI"),
    ("ka.user.name", "/user/username", "The user who made the request"),
    ("ka.target.resource", "/objectRef/resource", "The resource acted on (pods, secrets, ...)"),
    ("ka.target.subresource", "/objectRef/subresource", "The subresource (exec, log, ...)"),
    ("ka.target.namespace", "/objectRef/namespace", "The namespace of the object"),
    ("ka.target.name", "/objectRef/name", "The name of the object"),
    ("ka.useragent", "/userAgent", "The client's user agent"),
];
const GROUPS: u32 = TEXT_FIELDS.len() as u32;
const CODE: u32 = GROUPS + 1;
const PRIVILEGED: u32 = GROUPS + 2;
const SOURCEIPS: u32 = GROUPS + 3;

impl Extractor for K8sAudit {
    fn fields() -> Vec<Field> {
        let mut f: Vec<Field> =
            TEXT_FIELDS.iter().map(|(n, _, d)| Field::new(n, FieldType::String, d)).collect();
        f.push(Field::new("ka.user.groups", FieldType::StringList, "The groups of the user"));
        f.push(Field::new("ka.response.code", FieldType::UInt64, "The HTTP status of the response"));
        f.push(Field::new(
            "ka.req.pod.containers.privileged",
            FieldType::Bool,
            "Whether any container of the pod in the request is privileged",
        ));
        f.push(Field::new("ka.sourceips", FieldType::StringList, "The client addresses"));
        f
    }

    fn event_sources() -> Vec<String> {
        vec![SOURCE.to_string()]
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        if let Ok(a) = json::from_slice::<audit::Audit>(&event.data) {
            let list = |l: Option<&Vec<std::borrow::Cow<str>>>| {
                l.map(|l| Value::StrList(l.iter().map(|s| s.to_string()).collect()))
            };
            for r in requests {
                out.push(match r.field {
                    i if i < GROUPS => a.text(i as usize).map(|s| Value::Str(s.into())),
                    GROUPS => list(a.user.as_ref().and_then(|u| u.groups.as_ref())),
                    CODE => a.response_status.as_ref().and_then(|s| s.code).map(Value::UInt),
                    PRIVILEGED => a.privileged().map(Value::Bool),
                    SOURCEIPS => list(a.source_ips.as_ref()),
                    other => return Err(format!("no field with index {other}")),
                });
            }
            return Ok(());
        }
        // Members of unexpected types: read as a tree, as far as it goes.
        let Ok(doc) = json::from_slice::<Json>(&event.data) else {
            out.extend(requests.iter().map(|_| None));
            return Ok(());
        };
        for r in requests {
            let v = match r.field {
                i if i < GROUPS => doc
                    .pointer(TEXT_FIELDS[i as usize].1)
                    .and_then(Json::as_str)
                    .map(|s| Value::Str(s.into())),
                GROUPS => strings(doc.pointer("/user/groups")),
                CODE => doc.pointer("/responseStatus/code").and_then(Json::as_u64).map(Value::UInt),
                PRIVILEGED => {
                    doc.pointer("/requestObject/spec/containers").and_then(Json::as_array).map(|cs| {
                        Value::Bool(cs.iter().any(|c| {
                            c.pointer("/securityContext/privileged").and_then(Json::as_bool).unwrap_or(false)
                        }))
                    })
                }
                SOURCEIPS => strings(doc.pointer("/sourceIPs")),
                other => return Err(format!("no field with index {other}")),
            };
            out.push(v);
        }
        Ok(())
    }
}

fn strings(v: Option<&Json>) -> Option<Value> {
    let a = v?.as_array()?;
    Some(Value::StrList(a.iter().filter_map(|s| s.as_str().map(String::from)).collect()))
}

/// Nanoseconds since the epoch of an RFC 3339 UTC time (`2024-01-02T03:04:05.123456Z`).
fn parse_time(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) =
        (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut nanos = 0u64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let mut n: u64 = frac[..digits.min(9)].parse().ok()?;
        for _ in digits.min(9)..9 {
            n *= 10;
        }
        nanos = n;
        rest = &frac[digits..];
    }
    if rest != "Z" {
        return None;
    }
    // Days from civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs).ok().map(|s| s * 1_000_000_000 + nanos)
}

/// The time of an event from its `stageTimestamp`, else its `requestReceivedTimestamp`.
fn time_of(stage: Option<&str>, received: Option<&str>) -> u64 {
    [stage, received].into_iter().flatten().find_map(parse_time).unwrap_or(0)
}

fn event(data: &[u8], timestamp_ns: u64) -> Event {
    Event { source: SOURCE.into(), timestamp_ns, data: data.to_vec() }
}

/// The events of one record (a line of the log, or a posted body): an `EventList`'s items, or
/// the record itself, each with its own JSON text as the payload. An error says why the text
/// is not a record.
fn records(text: &[u8], out: &mut VecDeque<Event>) -> Result<(), String> {
    let text = text.trim_ascii();
    match json::from_slice::<audit::Record>(text) {
        Ok(r) if r.kind.as_deref() == Some("EventList") => {
            for item in r.items.unwrap_or_default() {
                let t = json::from_str::<audit::Times>(item.get()).unwrap_or_default();
                out.push_back(event(
                    item.get().as_bytes(),
                    time_of(t.stage.as_deref(), t.received.as_deref()),
                ));
            }
            Ok(())
        }
        Ok(r) => {
            out.push_back(event(text, time_of(r.stage.as_deref(), r.received.as_deref())));
            Ok(())
        }
        // Members of unexpected types: read as a tree.
        Err(_) => match json::from_slice::<Json>(text) {
            Ok(Json::Object(mut o)) => {
                let time = |o: &json::Map<String, Json>| {
                    time_of(
                        o.get("stageTimestamp").and_then(Json::as_str),
                        o.get("requestReceivedTimestamp").and_then(Json::as_str),
                    )
                };
                if o.get("kind").and_then(Json::as_str) == Some("EventList") {
                    if let Some(Json::Array(items)) = o.remove("items") {
                        for item in items {
                            let ts = item.as_object().map_or(0, time);
                            out.push_back(event(item.to_string().as_bytes(), ts));
                        }
                    }
                } else {
                    out.push_back(event(text, time(&o)));
                }
                Ok(())
            }
            Ok(_) => Err("not a JSON object".into()),
            Err(e) => Err(format!("not JSON ({e})")),
        },
    }
}

/// An open stream: a file, or a webhook.
enum AuditStream {
    File(FileStream),
    Webhook(webhook::Webhook),
}

impl EventStream for AuditStream {
    fn next(&mut self, max: u32) -> Result<Batch, String> {
        match self {
            AuditStream::File(f) => f.next(max),
            AuditStream::Webhook(hook) => Ok(hook.next(max)),
        }
    }
}

struct FileStream {
    path: String,
    follow: bool,
    reader: BufReader<File>,
    /// Bytes read from the open file.
    pos: u64,
    /// The start of a line not yet complete (following: the writer is in the middle of it).
    partial: Vec<u8>,
    pending: VecDeque<Event>,
    line_no: usize,
}

fn open_file(path: &str) -> Result<BufReader<File>, String> {
    File::open(path).map(BufReader::new).map_err(|e| format!("cannot open {path}: {e}"))
}

impl FileStream {
    fn take_line(&mut self, line: &[u8]) {
        self.line_no += 1;
        if line.trim_ascii().is_empty() {
            return;
        }
        if let Err(e) = records(line, &mut self.pending) {
            log(Level::Warn, &format!("line {}: {e}, skipped", self.line_no));
        }
    }

    /// At the end of a followed file: whether there is more to read. What was written to the
    /// open file is read first, even after it was renamed away. Then the file at the path is
    /// read from its start when it is no longer the one open (shorter than what was read:
    /// truncated; longer or more recent than the open file: replaced). Reading past a file's end does not see
    /// what is written later (the WASI stream behind the file is done), so growth is followed
    /// by seeking to where reading stopped.
    fn refresh(&mut self) -> Result<bool, String> {
        let open = || self.reader.get_ref().metadata().map_err(|e| format!("{}: {e}", self.path));
        if open()?.len() > self.pos {
            self.reader.seek(SeekFrom::Start(self.pos)).map_err(|e| format!("{}: {e}", self.path))?;
            return Ok(true);
        }
        let Ok(at_path) = std::fs::metadata(&self.path) else {
            // Between a rotation's rename and the new file's creation.
            return Ok(false);
        };
        // The open file's state after the path's: if they are one file, it is then at least as
        // large and as recent, so a write in between is not taken for a replacement. (WASI
        // gives no inode to compare; a replacement of the same size is told by its time.)
        let open = open()?;
        let newer = match (at_path.modified(), open.modified()) {
            (Ok(p), Ok(o)) => p > o,
            _ => false,
        };
        if at_path.len() < self.pos || at_path.len() > open.len() || newer {
            self.reader = open_file(&self.path)?;
            self.pos = 0;
            if !self.partial.is_empty() {
                log(Level::Warn, &format!("{}: an incomplete last line was lost", self.path));
                self.partial.clear();
            }
            log(Level::Info, &format!("{}: truncated or rotated, reading it from the start", self.path));
            return Ok(true);
        }
        Ok(false)
    }

    /// Reads lines until `max` events are pending or the file's end; true at the end.
    fn read_lines(&mut self, max: usize) -> Result<bool, String> {
        while self.pending.len() < max {
            let mut line = std::mem::take(&mut self.partial);
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{}: line {}: {e}", self.path, self.line_no + 1))?;
            self.pos += n as u64;
            if !line.ends_with(b"\n") {
                if self.follow {
                    // Complete it later.
                    self.partial = line;
                } else if !line.is_empty() {
                    // The last line of the file, without its newline.
                    self.take_line(&line);
                }
                return Ok(true);
            }
            self.take_line(&line);
        }
        Ok(false)
    }
}

impl FileStream {
    fn next(&mut self, max: u32) -> Result<Batch, String> {
        let max = max.max(1) as usize;
        let at_end = self.read_lines(max)?;
        if at_end && self.follow && self.pending.is_empty() && self.refresh()? {
            self.read_lines(max)?;
        }
        if !self.pending.is_empty() {
            let n = self.pending.len().min(max);
            return Ok(Batch::Events(self.pending.drain(..n).collect()));
        }
        Ok(if self.follow { Batch::Idle } else { Batch::Ended })
    }
}

impl Source for K8sAudit {
    type Stream = AuditStream;

    fn source_name() -> String {
        SOURCE.into()
    }

    fn open(&mut self, params: &str) -> Result<AuditStream, String> {
        if params.starts_with("http://") {
            let hook = webhook::Webhook::open(params, self.webhook.clone(), records)?;
            return Ok(AuditStream::Webhook(hook));
        }
        let (follow, path) = match params.strip_prefix("follow:") {
            Some(path) => (true, path),
            None => (false, params),
        };
        Ok(AuditStream::File(FileStream {
            path: path.to_string(),
            follow,
            reader: open_file(path)?,
            pos: 0,
            partial: Vec::new(),
            pending: VecDeque::new(),
            line_no: 0,
        }))
    }
}

lanner_plugin_sdk::export_source!(K8sAudit);

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.123456789Z"), Some(1_700_000_000_123_456_789));
        assert_eq!(parse_time("2023-11-14 22:13:20Z"), None);
        assert_eq!(parse_time("2023-11-14T22:13:20+01:00"), None);
    }
}
