//! `email`: sends alerts over SMTP, one message per alert or a digest per interval.
//!
//! The plugin reaches the SMTP server through `wasi:sockets` TCP, allowed by the host only
//! for the `host:port` destinations in the plugin's `grants.tcp` (never link-local or
//! metadata addresses). It speaks SMTP (EHLO, optional AUTH PLAIN or LOGIN, MAIL, RCPT,
//! DATA) inside TLS, made in the guest by rustls (ring provider): `tls: starttls` (the
//! default, except on port 465) upgrades the connection with STARTTLS before anything else
//! and fails, never falling back to plain text, when the server does not offer it;
//! `tls: tls` (the default on port 465) is implicit TLS ("smtps"); `tls: none` is plain
//! SMTP, for a relay on loopback or a trusted network. The server's certificate is always
//! verified, against webpki-roots or the CAs of `ca_file` (a PEM file in a directory granted
//! to the plugin), for the server's host or `tls_server_name`; there is no option to skip
//! the verification.
//!
//! User-controlled text cannot inject headers or end the message early: the subject (which
//! carries priority and rule) has control characters replaced and is RFC 2047-encoded when
//! not plain ASCII; addresses are checked at `init`; the body's line ends are normalized to
//! CRLF and lines starting with `.` are dot-stuffed.
//!
//! A failure to connect, a 4xx answer or a broken session is retryable (the host retries);
//! a 5xx answer, a certificate that does not verify or a server without STARTTLS when it is
//! required are permanent. The password is never logged nor put in an error.

use lanner_plugin_sdk::format::rfc3339;
use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Alert, Info, Level, Plugin, Sink, log};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
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
    "tls": {"enum": ["starttls", "tls", "none"], "description": "starttls (default; tls on port 465): STARTTLS required; tls: implicit TLS; none: plain SMTP"},
    "starttls": {"type": "boolean", "description": "older key: true is tls: starttls, false is tls: none"},
    "ca_file": {"type": "string", "description": "PEM file of the CAs to trust instead of webpki-roots, in a directory granted to the plugin"},
    "tls_server_name": {"type": "string", "description": "the name the certificate must hold (and SNI), default the host of server"},
    "mode": {"enum": ["each", "digest"]},
    "digest_interval_s": {"type": "integer", "minimum": 1},
    "digest_max_alerts": {"type": "integer", "minimum": 1},
    "subject_prefix": {"type": "string"},
    "timeout_ms": {"type": "integer", "minimum": 1}
  },
  "additionalProperties": false
}"#;

/// How the session is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    /// Plain SMTP.
    None,
    /// Plain connection upgraded by STARTTLS before EHLO's answer is trusted, AUTH or MAIL.
    StartTls,
    /// TLS from the first byte (port 465, "smtps").
    Implicit,
}

struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

struct Email {
    server: String,
    mode: TlsMode,
    tls: Option<Tls>,
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
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
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

/// The connection beneath a session: plain TCP, or TLS over it.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// Runs the TLS handshake on `tcp`. A certificate that does not verify (or a server that
/// refuses ours) is permanent: trying again cannot help; other failures are retryable.
fn handshake(tls: &Tls, server: &str, mut tcp: TcpStream) -> Result<Conn, String> {
    let mut conn = ClientConnection::new(tls.config.clone(), tls.name.clone())
        .map_err(|e| format!("permanent: TLS with {server}: {e}"))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            let rustls_err = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
            return Err(match rustls_err {
                Some(
                    r @ (rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::PeerIncompatible(_)
                    | rustls::Error::AlertReceived(_)),
                ) => format!("permanent: TLS handshake with {server}: {r}"),
                _ => format!("TLS handshake with {server}: {e}"),
            });
        }
    }
    Ok(Conn::Tls(Box::new(StreamOwned::new(conn, tcp))))
}

/// An SMTP session.
struct Session {
    /// Replies are read through the buffer, commands written to the stream beneath it
    /// (`try_clone` is not available on wasm32-wasip2).
    reader: BufReader<Conn>,
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
    /// One reply: its code and its lines' text (after `NNN-` or `NNN `).
    fn reply_lines(&mut self, what: &str) -> Result<(u16, Vec<String>), String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).map_err(|e| format!("SMTP {what}: {e}"))?;
            if n == 0 {
                return Err(format!("SMTP {what}: connection closed"));
            }
            let code: u16 =
                line.get(..3).and_then(|c| c.parse().ok()).ok_or(format!("SMTP {what}: bad reply"))?;
            lines.push(line.get(4..).unwrap_or("").trim_end().to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, lines));
            }
        }
    }

    fn expect_lines(&mut self, what: &str, ok: u16) -> Result<Vec<String>, String> {
        let (code, lines) = self.reply_lines(what)?;
        if code != ok {
            return Err(smtp_err(code, what, &lines.join(" ")));
        }
        Ok(lines)
    }

    fn expect(&mut self, what: &str, ok: u16) -> Result<(), String> {
        self.expect_lines(what, ok).map(drop)
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let s = self.reader.get_mut();
        s.write_all(line.as_bytes())
            .and_then(|()| s.write_all(b"\r\n"))
            .and_then(|()| s.flush())
            .map_err(|e| format!("SMTP: {e}"))
    }

    fn cmd(&mut self, line: &str, what: &str, ok: u16) -> Result<(), String> {
        self.send(line)?;
        self.expect(what, ok)
    }

    /// EHLO, returning the extensions the server offers (upper case keywords and arguments).
    fn ehlo(&mut self, helo: &str) -> Result<Vec<String>, String> {
        self.send(&format!("EHLO {helo}"))?;
        let lines = self.expect_lines("EHLO", 250)?;
        Ok(lines.iter().skip(1).map(|l| l.to_ascii_uppercase()).collect())
    }

    /// QUIT, then TLS's close_notify: errors no longer matter once the messages are accepted.
    fn quit(mut self) {
        let _ = self.cmd("QUIT", "QUIT", 221);
        if let Conn::Tls(t) = self.reader.get_mut() {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
    }
}

impl Email {
    fn connect(&self) -> Result<Session, String> {
        let tcp = TcpStream::connect(&self.server)
            .map_err(|e| format!("cannot connect to SMTP server {}: {e}", self.server))?;
        let _ = tcp.set_read_timeout(Some(self.timeout));
        let _ = tcp.set_write_timeout(Some(self.timeout));
        let conn = match (&self.tls, self.mode) {
            (Some(tls), TlsMode::Implicit) => handshake(tls, &self.server, tcp)?,
            _ => Conn::Plain(tcp),
        };
        let mut s = Session { reader: BufReader::new(conn) };
        s.expect("greeting", 220)?;
        let ext = s.ehlo(&self.helo)?;
        if let (Some(tls), TlsMode::StartTls) = (&self.tls, self.mode) {
            if !ext.iter().any(|e| e == "STARTTLS") {
                // Never fall back to plain text: nothing else is said in clear.
                let _ = s.cmd("QUIT", "QUIT", 221);
                return Err(format!(
                    "permanent: SMTP server {} does not offer STARTTLS (tls: starttls): nothing sent",
                    self.server
                ));
            }
            s.cmd("STARTTLS", "STARTTLS", 220)?;
            // Anything the server sent after its 220 and before the handshake would be
            // trusted as if it came inside TLS (command injection): refuse it.
            if !s.reader.buffer().is_empty() {
                return Err(format!("permanent: SMTP server {} sent data after STARTTLS's 220", self.server));
            }
            let Conn::Plain(tcp) = s.reader.into_inner() else { unreachable!("STARTTLS on a plain session") };
            s = Session { reader: BufReader::new(handshake(tls, &self.server, tcp)?) };
            // The extensions offered before TLS are forgotten (RFC 3207, 4.2).
            s.ehlo(&self.helo)?;
        }
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
        let w = s.reader.get_mut();
        w.write_all(msg.as_bytes()).and_then(|()| w.flush()).map_err(|e| format!("SMTP DATA: {e}"))?;
        s.expect("message", 250)?;
        Ok(())
    }

    fn send_each(&self, alerts: &[Alert]) -> Result<(), String> {
        let mut s = self.connect()?;
        for a in alerts {
            let subject = format!("{}{} {}", self.prefix, a.priority, a.rule);
            self.message(&mut s, &subject, a.time_ns, &alert_text(a))?;
        }
        s.quit();
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
        s.quit();
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

/// `host:port` (`[v6]:port` for an IPv6 address) split into the host (brackets removed)
/// and the port.
fn split_server(server: &str) -> Result<(&str, u16), String> {
    let bad = || format!("server must be host:port, not {server:?}");
    let (host, port) = server.rsplit_once(':').ok_or_else(bad)?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

/// The session's protection from `tls`, the older `starttls` key, and the port: STARTTLS
/// unless said otherwise, implicit TLS on port 465.
fn tls_mode(tls: Option<&str>, starttls: Option<bool>, port: u16) -> Result<TlsMode, String> {
    let from_tls = match tls {
        None => None,
        Some("starttls") => Some(TlsMode::StartTls),
        Some("tls") => Some(TlsMode::Implicit),
        Some("none") => Some(TlsMode::None),
        Some(other) => return Err(format!("tls must be starttls, tls or none, not {other:?}")),
    };
    let from_starttls = starttls.map(|b| if b { TlsMode::StartTls } else { TlsMode::None });
    match (from_tls, from_starttls) {
        (Some(a), Some(b)) if a != b => Err("tls and starttls disagree: set tls only".into()),
        (Some(m), _) | (None, Some(m)) => Ok(m),
        (None, None) if port == 465 => Ok(TlsMode::Implicit),
        (None, None) => Ok(TlsMode::StartTls),
    }
}

/// The TLS client configuration: the CAs of `ca_file` (PEM, read through the plugin's
/// granted directories) when given, else webpki-roots; TLS 1.2 and 1.3 with ring.
fn tls_config(ca_file: Option<&str>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                format!("ca_file {path}: {e} (is its directory granted to the plugin in grants.dirs?)")
            })?;
            let mut n = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("ca_file {path}: {e}"))?;
                roots.add(cert).map_err(|e| format!("ca_file {path}: {e}"))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!("ca_file {path}: no PEM certificate"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Plugin for Email {
    fn info() -> Info {
        Info::new("email", "0.1.0", "Alerts sent by email over SMTP, one per alert or as a digest")
            .with_schema(SCHEMA)
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| e.to_string())?;
        let s = |k: &str| cfg.get(k).and_then(Json::as_str).map(str::to_string);
        let server = s("server").ok_or("server is required")?;
        let (host, port) = split_server(&server)?;
        let mode = tls_mode(s("tls").as_deref(), cfg.get("starttls").and_then(Json::as_bool), port)?;
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
        let tls = match mode {
            TlsMode::None => {
                if s("ca_file").is_some() || s("tls_server_name").is_some() {
                    return Err("ca_file and tls_server_name need tls: starttls or tls".into());
                }
                if auth.is_some() {
                    log(
                        Level::Warn,
                        &format!("tls: none: the SMTP password is sent to {server} in clear text"),
                    );
                }
                None
            }
            _ => {
                let name = s("tls_server_name").unwrap_or_else(|| host.to_string());
                let name = ServerName::try_from(name.clone())
                    .map_err(|_| format!("invalid TLS server name {name:?}"))?;
                Some(Tls { config: tls_config(s("ca_file").as_deref())?, name })
            }
        };
        let digest = (s("mode").as_deref() == Some("digest"))
            .then(|| Duration::from_secs(cfg.get("digest_interval_s").and_then(Json::as_u64).unwrap_or(300)));
        Ok(Email {
            server,
            mode,
            tls,
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
                    log(Level::Warn, &format!("digest not sent yet: {e}"));
                }
                Ok(())
            }
        }
    }
}

lanner_plugin_sdk::export_sink!(Email);
