//! `email`: sends alerts over SMTP, one message per alert or a digest per interval.
//!
//! The plugin reaches the SMTP server through `wasi:sockets` TCP, allowed by the host only
//! for the `host:port` destinations in the plugin's `grants.tcp` (never link-local or
//! metadata addresses). It speaks plain SMTP (EHLO, optional AUTH PLAIN or LOGIN, MAIL,
//! RCPT, DATA); STARTTLS is not implemented yet: `starttls: true` is rejected at `init`, so
//! use a relay on loopback or a trusted network.
//!
//! User-controlled text cannot inject headers or end the message early: the subject (which
//! carries priority and rule) has control characters replaced and is RFC 2047-encoded when
//! not plain ASCII; addresses are checked at `init`; the body's line ends are normalized to
//! CRLF and lines starting with `.` are dot-stuffed.
//!
//! A failure to connect, a 4xx answer or a broken session is retryable (the host retries);
//! a 5xx answer is permanent. The password is never logged nor put in an error.

use lanner_plugin_sdk::format::rfc3339;
use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Alert, Info, Plugin, Sink};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["server", "from", "to"],
  "properties": {
    "server": {"type": "string", "description": "host:port of the SMTP server (granted in grants.tcp)"},
    "from": {"type": "string"},
    "to": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "helo": {"type": "string"},
    "username": {"type": "string"},
    "password": {"type": "string"},
    "auth": {"enum": ["plain", "login"]},
    "starttls": {"type": "boolean"},
    "mode": {"enum": ["each", "digest"]},
    "digest_interval_s": {"type": "integer", "minimum": 1},
    "digest_max_alerts": {"type": "integer", "minimum": 1},
    "subject_prefix": {"type": "string"},
    "timeout_ms": {"type": "integer", "minimum": 1}
  },
  "additionalProperties": false
}"#;

struct Email {
    server: String,
    from: String,
    to: Vec<String>,
    helo: String,
    auth: Option<(String, String, bool)>,
    digest: Option<Duration>,
    digest_max: usize,
    prefix: String,
    timeout: Duration,
    pending: Vec<Alert>,
    overflow: usize,
    last_digest: SystemTime,
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An address for the envelope and headers: no control characters, angle brackets, commas
/// or spaces, and one `@`.
fn check_address(a: &str) -> Result<(), String> {
    let bad =
        a.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'));
    if bad || a.matches('@').count() != 1 {
        return Err(format!("invalid email address {a:?}"));
    }
    Ok(())
}

/// A header value from user-controlled text: control characters (CR, LF...) become spaces,
/// and a value that is not plain printable ASCII is RFC 2047-encoded (UTF-8, base64).
pub fn header_text(s: &str) -> String {
    let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.bytes().all(|b| (0x20..0x7f).contains(&b)) && !clean.contains("=?") {
        return clean;
    }
    // Encoded words of at most 45 bytes of text, on folded lines; never split a character.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in clean.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

/// The message body for DATA: CRLF line ends, dot-stuffed, ending with CRLF.
pub fn data_body(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

fn rfc2822_date(time_ns: u64) -> String {
    let t = rfc3339(time_ns); // YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ
    let secs = time_ns / 1_000_000_000;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((secs / 86_400) % 7) as usize];
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month: usize = t[5..7].parse().unwrap_or(1);
    format!("{weekday}, {} {} {} {} +0000", &t[8..10], months[month - 1], &t[0..4], &t[11..19])
}

fn alert_text(a: &Alert) -> String {
    let mut s = format!(
        "{}\n\nrule:     {}\npriority: {}\ntime:     {}\nhostname: {}\nsource:   {}\n",
        a.output,
        a.rule,
        a.priority,
        rfc3339(a.time_ns),
        a.hostname,
        a.source
    );
    if !a.tags.is_empty() {
        s.push_str(&format!("tags:     {}\n", a.tags.join(", ")));
    }
    if !a.output_fields.is_empty() {
        s.push_str("\nfields:\n");
        for (k, v) in &a.output_fields {
            s.push_str(&format!("  {k}: {v}\n"));
        }
    }
    s
}

/// An SMTP session.
struct Session {
    /// Replies are read through the buffer, commands written to the stream beneath it
    /// (`try_clone` is not available on wasm32-wasip2).
    reader: BufReader<TcpStream>,
}

/// A failed exchange: retryable unless the server answered 5xx.
fn smtp_err(code: u16, what: &str, text: &str) -> String {
    let text: String = text.chars().take(200).collect();
    if code >= 500 {
        format!("permanent: SMTP {what}: {code} {text}")
    } else {
        format!("SMTP {what}: {code} {text}")
    }
}

impl Session {
    fn reply(&mut self, what: &str) -> Result<(u16, String), String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).map_err(|e| format!("SMTP {what}: {e}"))?;
            if n == 0 {
                return Err(format!("SMTP {what}: connection closed"));
            }
            all.push_str(line.trim_end());
            all.push(' ');
            let code: u16 =
                line.get(..3).and_then(|c| c.parse().ok()).ok_or(format!("SMTP {what}: bad reply"))?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, all));
            }
        }
    }

    fn expect(&mut self, what: &str, ok: u16) -> Result<String, String> {
        let (code, text) = self.reply(what)?;
        if code != ok {
            return Err(smtp_err(code, what, &text));
        }
        Ok(text)
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let s = self.reader.get_mut();
        s.write_all(line.as_bytes()).and_then(|()| s.write_all(b"\r\n")).map_err(|e| format!("SMTP: {e}"))
    }

    fn cmd(&mut self, line: &str, what: &str, ok: u16) -> Result<String, String> {
        self.send(line)?;
        self.expect(what, ok)
    }
}

impl Email {
    fn connect(&self) -> Result<Session, String> {
        let stream = TcpStream::connect(&self.server)
            .map_err(|e| format!("cannot connect to SMTP server {}: {e}", self.server))?;
        let _ = stream.set_read_timeout(Some(self.timeout));
        let _ = stream.set_write_timeout(Some(self.timeout));
        let mut s = Session { reader: BufReader::new(stream) };
        s.expect("greeting", 220)?;
        s.cmd(&format!("EHLO {}", self.helo), "EHLO", 250)?;
        if let Some((user, pass, plain)) = &self.auth {
            if *plain {
                let token = base64(format!("\0{user}\0{pass}").as_bytes());
                s.cmd(&format!("AUTH PLAIN {token}"), "AUTH", 235)?;
            } else {
                s.cmd("AUTH LOGIN", "AUTH", 334)?;
                s.cmd(&base64(user.as_bytes()), "AUTH", 334)?;
                s.cmd(&base64(pass.as_bytes()), "AUTH", 235)?;
            }
        }
        Ok(s)
    }

    fn message(&self, s: &mut Session, subject: &str, time_ns: u64, body: &str) -> Result<(), String> {
        s.cmd(&format!("MAIL FROM:<{}>", self.from), "MAIL FROM", 250)?;
        for to in &self.to {
            s.cmd(&format!("RCPT TO:<{to}>"), "RCPT TO", 250)?;
        }
        s.cmd("DATA", "DATA", 354)?;
        let mut msg = format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nX-Mailer: lanner\r\n\r\n",
            self.from,
            self.to.join(", "),
            header_text(subject),
            rfc2822_date(time_ns)
        );
        msg.push_str(&data_body(body));
        msg.push_str(".\r\n");
        s.reader.get_mut().write_all(msg.as_bytes()).map_err(|e| format!("SMTP DATA: {e}"))?;
        s.expect("message", 250)?;
        Ok(())
    }

    fn send_each(&self, alerts: &[Alert]) -> Result<(), String> {
        let mut s = self.connect()?;
        for a in alerts {
            let subject = format!("{}{} {}", self.prefix, a.priority, a.rule);
            self.message(&mut s, &subject, a.time_ns, &alert_text(a))?;
        }
        let _ = s.cmd("QUIT", "QUIT", 221);
        Ok(())
    }

    fn send_digest(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let n = self.pending.len() + self.overflow;
        let worst = self
            .pending
            .iter()
            .min_by_key(|a| priority_rank(&a.priority))
            .map(|a| (a.priority.clone(), a.rule.clone()))
            .unwrap_or_default();
        let subject = format!("{}{n} alerts, highest {} {}", self.prefix, worst.0, worst.1);
        let mut body = format!("{n} alerts\n");
        for a in &self.pending {
            body.push_str("\n----------------------------------------\n");
            body.push_str(&alert_text(a));
        }
        if self.overflow > 0 {
            body.push_str(&format!("\n... and {} more alerts not listed\n", self.overflow));
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        let mut s = self.connect()?;
        self.message(&mut s, &subject, now, &body)?;
        let _ = s.cmd("QUIT", "QUIT", 221);
        self.pending.clear();
        self.overflow = 0;
        self.last_digest = SystemTime::now();
        Ok(())
    }
}

fn priority_rank(p: &str) -> u8 {
    match p.to_ascii_lowercase().as_str() {
        "emergency" => 0,
        "alert" => 1,
        "critical" => 2,
        "error" => 3,
        "warning" => 4,
        "notice" => 5,
        "informational" | "info" => 6,
        _ => 7,
    }
}

impl Plugin for Email {
    fn info() -> Info {
        Info::new("email", "0.1.0", "Alerts sent by email over SMTP, one per alert or as a digest")
            .with_schema(SCHEMA)
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| e.to_string())?;
        let s = |k: &str| cfg.get(k).and_then(Json::as_str).map(str::to_string);
        if cfg.get("starttls").and_then(Json::as_bool).unwrap_or(false) {
            return Err("starttls is not supported yet: use a relay reachable without TLS".into());
        }
        let server = s("server").ok_or("server is required")?;
        let from = s("from").ok_or("from is required")?;
        check_address(&from)?;
        let to: Vec<String> = cfg
            .get("to")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        for t in &to {
            check_address(t)?;
        }
        let helo = s("helo").unwrap_or_else(|| "lanner".into());
        if helo.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("invalid helo".into());
        }
        let auth = match (s("username"), s("password")) {
            (Some(u), Some(p)) => {
                if u.chars().chain(p.chars()).any(|c| c == '\r' || c == '\n' || c == '\0') {
                    return Err("username and password cannot hold line breaks".into());
                }
                Some((u, p, s("auth").as_deref() != Some("login")))
            }
            (None, None) => None,
            _ => return Err("username and password go together".into()),
        };
        let digest = (s("mode").as_deref() == Some("digest"))
            .then(|| Duration::from_secs(cfg.get("digest_interval_s").and_then(Json::as_u64).unwrap_or(300)));
        Ok(Email {
            server,
            from,
            to,
            helo,
            auth,
            digest,
            digest_max: cfg.get("digest_max_alerts").and_then(Json::as_u64).unwrap_or(1000) as usize,
            prefix: s("subject_prefix").unwrap_or_else(|| "[Lanner] ".into()),
            timeout: Duration::from_millis(cfg.get("timeout_ms").and_then(Json::as_u64).unwrap_or(10_000)),
            pending: Vec::new(),
            overflow: 0,
            last_digest: SystemTime::now(),
        })
    }
}

impl Sink for Email {
    fn deliver(&mut self, alerts: Vec<Alert>) -> Result<(), String> {
        match self.digest {
            None => self.send_each(&alerts),
            Some(interval) => {
                for a in alerts {
                    if self.pending.len() < self.digest_max {
                        self.pending.push(a);
                    } else {
                        self.overflow += 1;
                    }
                }
                let due = self.last_digest.elapsed().map(|e| e >= interval).unwrap_or(true);
                // The alerts are held here now: a failed digest is tried again at the next
                // delivery rather than reported, which would make the host resend them.
                if due && let Err(e) = self.send_digest() {
                    lanner_plugin_sdk::log(
                        lanner_plugin_sdk::Level::Warn,
                        &format!("digest not sent yet: {e}"),
                    );
                }
                Ok(())
            }
        }
    }
}

lanner_plugin_sdk::export_sink!(Email);
