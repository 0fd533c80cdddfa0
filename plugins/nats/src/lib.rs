//! `nats`: publishes each alert to NATS, or to a JetStream stream, waiting for the stream's
//! acknowledgement before the alert counts as delivered.
//!
//! The plugin speaks the NATS client protocol itself (INFO, CONNECT, PING/PONG, SUB, HPUB,
//! MSG/HMSG, +OK/-ERR) over `wasi:sockets` TCP, which the host allows only for the
//! `host:port` destinations of the output's `grants.tcp`. The Rust NATS clients are built
//! on tokio's networking or on background threads, neither of which wasm32-wasip2 offers
//! in full; the protocol is a few lines of text, and JetStream's publish is a request whose
//! answer comes to a reply subject.
//!
//! Delivery is at least once with no duplicates in the stream: every message carries a
//! `Nats-Msg-Id` that names the alert itself (the node, the alert's time in nanoseconds and
//! a hash of its rule, priority, source, output and fields), so whoever sends it again (this
//! plugin on the next server, the host's retry of the batch, a restarted plugin instance, a
//! restarted Lanner) sends the same id, and JetStream's duplicate window drops the copy. A
//! counter kept by the plugin would not survive its own restart by the runtime (after a trap
//! or a timeout the host retries the batch with a fresh instance), and one restarted from
//! zero would give new alerts ids already in the window, which JetStream would silently drop.
//!
//! A batch is published pipelined on one connection and then acknowledged one by one; what
//! is not acknowledged within `timeout_ms` is sent again, on the next server when the
//! connection failed, until `retry_ms` has passed. Only then does the plugin report the
//! failure, always retryable: the host keeps the batch queued and retries it with backoff
//! (counted as failed attempts, and as dropped once its retry budget is spent). A server
//! refusing the credentials is named in the error as such.

use lanner_plugin_sdk::format::alert_json;
use lanner_plugin_sdk::json::{self, Value as Json};
use lanner_plugin_sdk::{Alert, FieldValue, Info, Level, Plugin, Sink, log};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["servers"],
  "properties": {
    "servers": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "nats://host:port (or tls://host:port), each granted in grants.tcp; tried in turn"},
    "subject": {"type": "string", "description": "subject template; <hostname>, <priority>, <rule>, <source> are replaced, lower case and subject-safe (default lanner.alerts.<hostname>.<priority>)"},
    "stream": {"type": "string", "description": "a JetStream stream: publish to it and wait for its acknowledgement"},
    "credentials": {
      "type": "object",
      "properties": {
        "token": {"type": "string"},
        "token_file": {"type": "string"},
        "user": {"type": "string"},
        "password": {"type": "string"},
        "nkey_seed": {"type": "string"},
        "nkey_seed_file": {"type": "string"}
      },
      "additionalProperties": false
    },
    "tls": {
      "type": "object",
      "properties": {
        "ca_file": {"type": "string", "description": "PEM file of the CAs to trust instead of webpki-roots, in a directory granted to the plugin"},
        "server_name": {"type": "string", "description": "the name the certificate must hold, default the host of each server"}
      },
      "additionalProperties": false
    },
    "node": {"type": "string", "description": "this node's name in Nats-Msg-Id, default the alert's hostname"},
    "timeout_ms": {"type": "integer", "minimum": 1, "description": "connect, answer and acknowledgement wait (default 5000)"},
    "retry_ms": {"type": "integer", "minimum": 0, "description": "how long one delivery keeps trying the servers before reporting the failure (default 10000)"}
  },
  "additionalProperties": false
}"#;

/// A server of `servers`.
#[derive(Debug, Clone)]
struct Server {
    /// `host:port`, as connected to and as named in errors.
    addr: String,
    host: String,
    /// `tls://`: TLS even when the server does not require it.
    tls: bool,
}

enum Credentials {
    None,
    Token(String),
    UserPassword(String, String),
    NKey { pair: ring::signature::Ed25519KeyPair, public: String },
}

/// A piece of the subject template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Hostname,
    Priority,
    Rule,
    Source,
}

/// The connection beneath a session: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Why an exchange with a server failed.
#[derive(Debug)]
enum Failure {
    /// The server refused the credentials: trying again soon cannot help.
    Auth(String),
    /// The connection is unusable (refused, closed, timed out, protocol error).
    Conn(String),
}

impl Failure {
    fn text(&self) -> &str {
        match self {
            Failure::Auth(s) | Failure::Conn(s) => s,
        }
    }
}

/// What the server sent.
enum Op {
    Pong,
    Err(String),
    /// MSG or HMSG: the subject, the header block (HMSG) and the payload.
    Msg {
        subject: String,
        headers: Vec<u8>,
        payload: Vec<u8>,
    },
}

/// An open, authenticated connection.
struct Session {
    /// Server ops are read through the buffer, our own written to the stream beneath it
    /// (`try_clone` is not available on wasm32-wasip2).
    reader: BufReader<Stream>,
    server: usize,
    max_payload: usize,
    /// The reply subjects' prefix for JetStream acknowledgements (`_INBOX.<random>.`).
    inbox: String,
}

struct Nats {
    servers: Vec<Server>,
    /// The server tried first: the one that last worked.
    current: usize,
    subject: Vec<Part>,
    stream: Option<String>,
    credentials: Credentials,
    /// TLS for every server (`tls` given), or for `tls://` servers and servers requiring it.
    tls_config: Option<Arc<ClientConfig>>,
    tls_required: bool,
    tls_server_name: Option<String>,
    node: Option<String>,
    timeout: Duration,
    retry: Duration,
    session: Option<Session>,
    /// The next reply subject's number, unique over the plugin's life.
    next_reply: u64,
    /// Alerts sent again that the stream already held (dropped there by their id).
    duplicates: u64,
    /// Servers whose last attempt failed: a failure is logged when a server goes down, a
    /// recovery when it is used again, not every retry.
    down: Vec<bool>,
}

/// 64 random bits: the standard library's hash keys come from WASI's random source.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x6c61_6e6e_6572);
    h.finish()
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike the standard hasher.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// One token of a subject from any text: lower case, ASCII letters, digits, `-` and `_`
/// kept, every run of anything else (dots, spaces, wildcards `*` and `>`, non-ASCII) one
/// `_`; never empty.
pub fn subject_token(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() { "_".to_string() } else { trimmed.to_string() }
}

/// Parses a subject template: `<hostname>`, `<priority>`, `<rule>`, `<source>` and literal
/// text, which must itself be a valid subject piece (no spaces, no wildcards, no empty
/// token).
fn parse_template(t: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(start) = rest.find('<') {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_ascii_lowercase()));
        }
        let end = rest[start..].find('>').ok_or_else(|| format!("subject {t:?}: a '<' without its '>'"))?;
        let name = &rest[start + 1..start + end];
        parts.push(match name {
            "hostname" => Part::Hostname,
            "priority" => Part::Priority,
            "rule" => Part::Rule,
            "source" => Part::Source,
            other => {
                return Err(format!(
                    "subject {t:?}: unknown placeholder <{other}> (hostname, priority, rule, source)"
                ));
            }
        });
        rest = &rest[start + end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_ascii_lowercase()));
    }
    for p in &parts {
        if let Part::Text(s) = p
            && s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>' || !c.is_ascii())
        {
            return Err(format!("subject {t:?}: {s:?} holds a space, a wildcard or a non-ASCII character"));
        }
    }
    // Placeholders always give a token: the literal text alone decides the dots.
    let sample = render(&parts, "h", "p", "r", "s");
    if sample.split('.').any(str::is_empty) {
        return Err(format!("subject {t:?}: an empty token (a leading, trailing or doubled '.')"));
    }
    Ok(parts)
}

fn render(parts: &[Part], hostname: &str, priority: &str, rule: &str, source: &str) -> String {
    let mut s = String::new();
    for p in parts {
        match p {
            Part::Text(t) => s.push_str(t),
            Part::Hostname => s.push_str(&subject_token(hostname)),
            Part::Priority => s.push_str(&subject_token(priority)),
            Part::Rule => s.push_str(&subject_token(rule)),
            Part::Source => s.push_str(&subject_token(source)),
        }
    }
    s
}

/// A header value from user-controlled text: control characters (CR, LF...) become spaces,
/// so a rule name cannot end the header block or add a header.
fn header_value(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// `nats://host:port`, `tls://host:port` or `host:port` (port 4222 when left out).
fn parse_server(s: &str) -> Result<Server, String> {
    let (tls, rest) = if let Some(r) = s.strip_prefix("tls://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("nats://") {
        (false, r)
    } else if s.contains("://") {
        return Err(format!("server {s:?}: the scheme must be nats:// or tls://"));
    } else {
        (false, s)
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('@') || rest.contains('/') {
        return Err(format!("server {s:?}: give credentials under credentials, not in the URL"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| format!("server {s:?}: bad port {p:?}"))?)
        }
        _ => (rest, 4222),
    };
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if bare.is_empty() {
        return Err(format!("server {s:?}: no host"));
    }
    Ok(Server { addr: format!("{host}:{port}"), host: bare.to_string(), tls })
}

/// The nkey seed (`SU...`, base32) as an Ed25519 key pair and its public key (`U...`).
fn nkey_from_seed(seed: &str) -> Result<(ring::signature::Ed25519KeyPair, String), String> {
    use ring::signature::KeyPair;
    let raw = base32_decode(seed.trim()).ok_or("nkey seed: not base32")?;
    if raw.len() != 36 {
        return Err("nkey seed: wrong length (expected a user seed, SU...)".into());
    }
    let (body, crc) = raw.split_at(34);
    if crc16(body).to_le_bytes() != [crc[0], crc[1]] {
        return Err("nkey seed: checksum mismatch".into());
    }
    // Two prefix bytes: the seed marker (18 << 3) and the key type, user (20 << 3).
    let seed_prefix = body[0] & 0xf8;
    let kind = ((body[0] & 0x07) << 5) | ((body[1] & 0xf8) >> 3);
    if seed_prefix != 18 << 3 || kind != 20 << 3 {
        return Err("nkey seed: not a user seed (SU...)".into());
    }
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&body[2..34])
        .map_err(|_| "nkey seed: not an Ed25519 seed")?;
    let mut public = vec![20 << 3];
    public.extend_from_slice(pair.public_key().as_ref());
    let crc = crc16(&public);
    public.extend_from_slice(&crc.to_le_bytes());
    Ok((pair, base32_encode(&public)))
}

/// CRC-16/XMODEM, the checksum of nkeys.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for b in data {
        crc ^= u16::from(*b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B32.iter().position(|&b| b == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in data {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(B32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The TLS client configuration: the CAs of `ca_file` (PEM, read through the plugin's
/// granted directories) when given, else webpki-roots.
fn tls_config(ca_file: Option<&str>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                format!("tls.ca_file {path}: {e} (is its directory granted to the plugin in grants.dirs?)")
            })?;
            let mut n = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("tls.ca_file {path}: {e}"))?;
                roots.add(cert).map_err(|e| format!("tls.ca_file {path}: {e}"))?;
                n += 1;
            }
            if n == 0 {
                return Err(format!("tls.ca_file {path}: no PEM certificate"));
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

fn read_secret(path: &str, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{what} {path}: {e} (is its directory granted to the plugin in grants.dirs?)"))
}

fn credentials(cfg: Option<&Json>) -> Result<Credentials, String> {
    let Some(c) = cfg else { return Ok(Credentials::None) };
    let s = |k: &str| c.get(k).and_then(Json::as_str).map(str::to_string);
    let token = match (s("token"), s("token_file")) {
        (Some(_), Some(_)) => return Err("credentials: token and token_file: give one".into()),
        (Some(t), None) => Some(t),
        (None, Some(f)) => Some(read_secret(&f, "credentials.token_file")?),
        (None, None) => None,
    };
    let seed = match (s("nkey_seed"), s("nkey_seed_file")) {
        (Some(_), Some(_)) => return Err("credentials: nkey_seed and nkey_seed_file: give one".into()),
        (Some(t), None) => Some(t),
        (None, Some(f)) => Some(read_secret(&f, "credentials.nkey_seed_file")?),
        (None, None) => None,
    };
    let user = match (s("user"), s("password")) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        _ => return Err("credentials: user and password go together".into()),
    };
    match (token, user, seed) {
        (None, None, None) => Ok(Credentials::None),
        (Some(t), None, None) => Ok(Credentials::Token(t)),
        (None, Some((u, p)), None) => Ok(Credentials::UserPassword(u, p)),
        (None, None, Some(seed)) => {
            let (pair, public) = nkey_from_seed(&seed)?;
            Ok(Credentials::NKey { pair, public })
        }
        _ => Err("credentials: give one of token, user and password, or nkey_seed".into()),
    }
}

/// An `-ERR` that means the credentials were refused.
fn is_auth_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("authorization violation") || t.contains("authentication") || t.contains("user authentication")
}

impl Session {
    fn stream(&mut self) -> &mut Stream {
        self.reader.get_mut()
    }

    fn write(&mut self, data: &[u8], addr: &str) -> Result<(), Failure> {
        self.stream().write_all(data).map_err(|e| Failure::Conn(format!("{addr}: write: {e}")))
    }

    fn flush(&mut self, addr: &str) -> Result<(), Failure> {
        self.stream().flush().map_err(|e| Failure::Conn(format!("{addr}: write: {e}")))
    }

    /// The next op that matters, answering the server's PINGs and skipping `+OK` and INFO
    /// updates on the way.
    fn read_op(&mut self, addr: &str) -> Result<Op, Failure> {
        let io = |e: std::io::Error| {
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
                Failure::Conn(format!("{addr}: no answer in time"))
            } else {
                Failure::Conn(format!("{addr}: read: {e}"))
            }
        };
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).map_err(io)?;
            if n == 0 {
                return Err(Failure::Conn(format!("{addr}: connection closed by the server")));
            }
            let line = line.trim_end();
            let (verb, args) = line.split_once(' ').unwrap_or((line, ""));
            match verb.to_ascii_uppercase().as_str() {
                "PING" => {
                    self.write(b"PONG\r\n", addr)?;
                    self.flush(addr)?;
                }
                "PONG" => return Ok(Op::Pong),
                "+OK" | "INFO" => {}
                "-ERR" => return Ok(Op::Err(args.trim().trim_matches('\'').to_string())),
                "MSG" | "HMSG" => {
                    let f: Vec<&str> = args.split_whitespace().collect();
                    let bad = || Failure::Conn(format!("{addr}: malformed {verb}"));
                    let hmsg = verb.eq_ignore_ascii_case("HMSG");
                    let (hlen, total) = if hmsg {
                        let t: usize = f.last().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
                        let h: usize =
                            f.get(f.len().wrapping_sub(2)).and_then(|x| x.parse().ok()).ok_or_else(bad)?;
                        (h, t)
                    } else {
                        (0, f.last().and_then(|x| x.parse().ok()).ok_or_else(bad)?)
                    };
                    if hlen > total || f.len() < 3 {
                        return Err(bad());
                    }
                    let mut body = vec![0; total + 2];
                    self.reader.read_exact(&mut body).map_err(io)?;
                    body.truncate(total);
                    let payload = body.split_off(hlen);
                    return Ok(Op::Msg { subject: f[0].to_string(), headers: body, payload });
                }
                _ => return Err(Failure::Conn(format!("{addr}: unexpected {verb:?} from the server"))),
            }
        }
    }
}

/// A JetStream publish's answer: `Ok` once stored (`true` when the stream already held a
/// message of that id: a copy sent again after a failure), else why not.
fn ack_result(headers: &[u8], payload: &[u8], stream: &str) -> Result<bool, String> {
    if payload.is_empty() {
        let status = String::from_utf8_lossy(headers);
        if status.starts_with("NATS/1.0 503") {
            return Err(format!(
                "no stream answered (503 no responders): is stream {stream} created over the subject, and is it up?"
            ));
        }
        return Err(format!("answer without a body: {}", status.lines().next().unwrap_or("")));
    }
    let v: Json =
        json::from_slice(payload).map_err(|e| format!("an acknowledgement that is not JSON: {e}"))?;
    if let Some(err) = v.get("error") {
        let code = err.get("code").and_then(Json::as_u64).unwrap_or(0);
        let text = err.get("description").and_then(Json::as_str).unwrap_or("");
        return Err(format!("JetStream refused the message: {code} {text}"));
    }
    match v.get("stream").and_then(Json::as_str) {
        Some(s) if s == stream => Ok(v.get("duplicate").and_then(Json::as_bool).unwrap_or(false)),
        Some(s) => Err(format!("stream {s} acknowledged, not {stream}")),
        None => Err("an acknowledgement without a stream".into()),
    }
}

impl Nats {
    /// Connects to `servers[index]`: INFO, TLS when asked or required, CONNECT with the
    /// credentials, then a PING whose PONG (or -ERR) tells whether they were accepted.
    fn connect(&self, index: usize) -> Result<Session, Failure> {
        let server = &self.servers[index];
        let addr = &server.addr;
        let tcp =
            TcpStream::connect(addr.as_str()).map_err(|e| Failure::Conn(format!("{addr}: connect: {e}")))?;
        let _ = tcp.set_read_timeout(Some(self.timeout));
        let _ = tcp.set_write_timeout(Some(self.timeout));
        let _ = tcp.set_nodelay(true);
        // INFO comes in clear (NATS 2.9 starts TLS after it).
        let mut plain = BufReader::new(tcp);
        let mut line = String::new();
        plain.read_line(&mut line).map_err(|e| Failure::Conn(format!("{addr}: reading INFO: {e}")))?;
        let info_text = line
            .strip_prefix("INFO ")
            .ok_or_else(|| Failure::Conn(format!("{addr}: not a NATS server (no INFO)")))?;
        let info: Json =
            json::from_str(info_text.trim()).map_err(|e| Failure::Conn(format!("{addr}: INFO: {e}")))?;
        let flag = |k: &str| info.get(k).and_then(Json::as_bool).unwrap_or(false);
        if !plain.buffer().is_empty() {
            return Err(Failure::Conn(format!("{addr}: data after INFO before CONNECT")));
        }
        let tcp = plain.into_inner();
        let want_tls = self.tls_required || server.tls;
        let stream = if want_tls || flag("tls_required") {
            if !(flag("tls_required") || flag("tls_available")) {
                return Err(Failure::Conn(format!(
                    "{addr}: the server does not offer TLS, which tls asks for: nothing sent"
                )));
            }
            let config = match &self.tls_config {
                Some(c) => c.clone(),
                None => tls_config(None).map_err(Failure::Conn)?,
            };
            let name = self.tls_server_name.clone().unwrap_or_else(|| server.host.clone());
            let name = ServerName::try_from(name)
                .map_err(|_| Failure::Conn(format!("{addr}: invalid TLS server name")))?;
            let mut conn = ClientConnection::new(config, name)
                .map_err(|e| Failure::Conn(format!("{addr}: TLS: {e}")))?;
            let mut tcp = tcp;
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp)
                    .map_err(|e| Failure::Conn(format!("{addr}: TLS handshake: {e}")))?;
            }
            Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        if !flag("headers") {
            return Err(Failure::Conn(format!(
                "{addr}: the server does not support headers (NATS 2.2 or later needed)"
            )));
        }
        let mut connect = json::json!({
            "verbose": false,
            "pedantic": false,
            "tls_required": want_tls,
            "name": "lanner-nats-sink",
            "lang": "rust-wasi",
            "version": "0.1.0",
            "protocol": 1,
            "headers": true,
            "no_responders": true,
        });
        match &self.credentials {
            Credentials::None => {}
            Credentials::Token(t) => connect["auth_token"] = t.clone().into(),
            Credentials::UserPassword(u, p) => {
                connect["user"] = u.clone().into();
                connect["pass"] = p.clone().into();
            }
            Credentials::NKey { pair, public } => {
                use base64::Engine as _;
                let nonce = info.get("nonce").and_then(Json::as_str).unwrap_or("");
                let sig = pair.sign(nonce.as_bytes());
                connect["nkey"] = public.clone().into();
                connect["sig"] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig.as_ref()).into();
            }
        }
        let mut session = Session {
            reader: BufReader::with_capacity(64 << 10, stream),
            server: index,
            max_payload: info.get("max_payload").and_then(Json::as_u64).unwrap_or(1 << 20) as usize,
            inbox: format!("_INBOX.{:016x}.", random_u64()),
        };
        let hello = format!("CONNECT {connect}\r\nPING\r\n");
        session.write(hello.as_bytes(), addr)?;
        session.flush(addr)?;
        match session.read_op(addr)? {
            Op::Pong => {}
            Op::Err(e) if is_auth_error(&e) => {
                return Err(Failure::Auth(format!("{addr}: the server refused the credentials: {e}")));
            }
            Op::Err(e) => return Err(Failure::Conn(format!("{addr}: CONNECT refused: {e}"))),
            Op::Msg { .. } => return Err(Failure::Conn(format!("{addr}: a message before CONNECT's PONG"))),
        }
        if self.stream.is_some() {
            let sub = format!("SUB {}* 1\r\n", session.inbox);
            session.write(sub.as_bytes(), addr)?;
            session.flush(addr)?;
        }
        Ok(session)
    }

    /// The alert's `Nats-Msg-Id`: the node, the alert's time and a hash of what it says.
    fn msg_id(&self, a: &Alert) -> String {
        let node = self.node.as_deref().unwrap_or(&a.hostname);
        let mut parts: Vec<&[u8]> =
            vec![a.rule.as_bytes(), a.priority.as_bytes(), a.source.as_bytes(), a.output.as_bytes()];
        let fields: Vec<String> = a.output_fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.extend(fields.iter().map(|f| f.as_bytes()));
        let node: String =
            node.chars().map(|c| if c.is_control() || c.is_whitespace() { '_' } else { c }).collect();
        format!("{node}-{}-{:016x}", a.time_ns, fnv1a(&parts))
    }

    /// The message for an alert: its header block and JSON body, the body's text cut down
    /// (and said so in a header) when both would exceed the server's `max_payload`.
    fn message(&self, a: &Alert, id: &str, max_payload: usize) -> (Vec<u8>, Vec<u8>) {
        let headers = |truncated: Option<usize>| {
            let mut h = format!(
                "NATS/1.0\r\nNats-Msg-Id: {}\r\nLanner-Rule: {}\r\nLanner-Priority: {}\r\nLanner-Hostname: {}\r\nLanner-Source: {}\r\n",
                header_value(id),
                header_value(&a.rule),
                header_value(&a.priority),
                header_value(&a.hostname),
                header_value(&a.source)
            );
            if let Some(s) = &self.stream {
                h.push_str(&format!("Nats-Expected-Stream: {s}\r\n"));
            }
            if let Some(n) = truncated {
                h.push_str(&format!("Lanner-Truncated: {n}\r\n"));
            }
            h.push_str("\r\n");
            h.into_bytes()
        };
        let body = json::to_vec(&alert_json(a)).unwrap_or_default();
        let h = headers(None);
        if h.len() + body.len() <= max_payload {
            return (h, body);
        }
        let original = body.len();
        let h = headers(Some(original));
        let mut cut = a.clone();
        let mut body = body;
        // Cut the longest text (the output or a string field) until it fits; a few rounds
        // at most, as each removes what is over and a margin for JSON escaping.
        for _ in 0..16 {
            let over = (h.len() + body.len()).saturating_sub(max_payload);
            if over == 0 {
                break;
            }
            let mut len = cut.output.len();
            let mut longest: Option<&mut String> = Some(&mut cut.output);
            for (_, v) in cut.typed_fields.iter_mut() {
                if let Some(FieldValue::Str(s)) = v
                    && s.len() > len
                {
                    len = s.len();
                    longest = Some(s);
                }
            }
            let Some(s) = longest else { break };
            let note = " [truncated by the nats sink: over the server's max_payload]";
            // At most half of it per round, so that an output and a field both huge are
            // both cut rather than the first one emptied.
            let mut keep = s.len().saturating_sub(over + 256 + note.len()).max(s.len() / 2);
            while keep > 0 && !s.is_char_boundary(keep) {
                keep -= 1;
            }
            s.truncate(keep);
            s.push_str(note);
            body = json::to_vec(&alert_json(&cut)).unwrap_or_default();
        }
        log(
            Level::Warn,
            &format!(
                "alert of rule {:?} is {original} bytes, over the server's max_payload of {max_payload}: its longest text was cut (header Lanner-Truncated)",
                a.rule
            ),
        );
        (h, body)
    }

    /// Publishes `pending` alerts on `session` and collects their acknowledgements (a PONG
    /// for core NATS), marking each alert stored in `done` as its acknowledgement comes, so
    /// that a connection failing half way leaves only the rest to send again. An individual
    /// refusal leaves the alert pending and is kept as the last error.
    fn publish(
        &mut self,
        session: &mut Session,
        alerts: &[Alert],
        ids: &[String],
        pending: &[usize],
        done: &mut [bool],
        last_error: &mut Option<String>,
    ) -> Result<(), Failure> {
        let addr = self.servers[session.server].addr.clone();
        let mut out = Vec::with_capacity(64 << 10);
        let mut waiting: HashMap<String, usize> = HashMap::new();
        for &i in pending {
            let a = &alerts[i];
            let subject = render(&self.subject, &a.hostname, &a.priority, &a.rule, &a.source);
            let (h, body) = self.message(a, &ids[i], session.max_payload);
            if self.stream.is_some() {
                let reply = format!("{}{}", session.inbox, self.next_reply);
                self.next_reply += 1;
                out.extend_from_slice(
                    format!("HPUB {subject} {reply} {} {}\r\n", h.len(), h.len() + body.len()).as_bytes(),
                );
                waiting.insert(reply, i);
            } else {
                out.extend_from_slice(
                    format!("HPUB {subject} {} {}\r\n", h.len(), h.len() + body.len()).as_bytes(),
                );
            }
            out.extend_from_slice(&h);
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\r\n");
            if out.len() >= 256 << 10 {
                session.write(&out, &addr)?;
                out.clear();
            }
        }
        if self.stream.is_none() {
            // Core NATS acknowledges nothing: the PONG after the messages says the server
            // has read them (and found them valid).
            out.extend_from_slice(b"PING\r\n");
        }
        session.write(&out, &addr)?;
        session.flush(&addr)?;
        let deadline = Instant::now() + self.timeout;
        let stream = self.stream.clone();
        loop {
            if stream.is_some() && waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Failure::Conn(format!(
                    "{addr}: {} of {} acknowledgements missing after {} ms",
                    waiting.len(),
                    pending.len(),
                    self.timeout.as_millis()
                )));
            }
            match session.read_op(&addr)? {
                Op::Pong if stream.is_none() => {
                    for &i in pending {
                        done[i] = true;
                    }
                    return Ok(());
                }
                Op::Pong => {}
                Op::Err(e) => return Err(Failure::Conn(format!("{addr}: {e}"))),
                Op::Msg { subject, headers, payload } => {
                    let (Some(i), Some(s)) = (waiting.remove(&subject), stream.as_deref()) else { continue };
                    match ack_result(&headers, &payload, s) {
                        Ok(duplicate) => {
                            self.duplicates += u64::from(duplicate);
                            done[i] = true;
                        }
                        Err(e) => *last_error = Some(format!("{addr}: {e}")),
                    }
                }
            }
        }
    }
}

impl Plugin for Nats {
    fn info() -> Info {
        Info::new(
            "nats",
            "0.1.0",
            "Alerts published to NATS, or to a JetStream stream with its acknowledgement awaited",
        )
        .with_schema(SCHEMA)
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = json::from_str(config).map_err(|e| e.to_string())?;
        let servers = cfg
            .get("servers")
            .and_then(Json::as_array)
            .ok_or("servers is required")?
            .iter()
            .map(|s| {
                s.as_str()
                    .ok_or_else(|| "servers: a list of nats://host:port".to_string())
                    .and_then(parse_server)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if servers.is_empty() {
            return Err("servers is empty".into());
        }
        let subject = parse_template(
            cfg.get("subject").and_then(Json::as_str).unwrap_or("lanner.alerts.<hostname>.<priority>"),
        )?;
        let stream = cfg.get("stream").and_then(Json::as_str).map(str::to_string);
        if let Some(s) = &stream
            && (s.is_empty()
                || s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>')))
        {
            return Err(format!("stream {s:?}: not a valid stream name"));
        }
        let credentials = credentials(cfg.get("credentials"))?;
        let tls = cfg.get("tls");
        let ca_file = tls.and_then(|t| t.get("ca_file")).and_then(Json::as_str);
        let tls_required = tls.is_some();
        let tls_config =
            if tls_required || servers.iter().any(|s| s.tls) { Some(tls_config(ca_file)?) } else { None };
        let tls_server_name =
            tls.and_then(|t| t.get("server_name")).and_then(Json::as_str).map(str::to_string);
        if !tls_required && !matches!(credentials, Credentials::None | Credentials::NKey { .. }) {
            log(
                Level::Warn,
                "credentials without tls: the token or password is sent in clear unless a server requires TLS",
            );
        }
        let ms = |k: &str, d: u64| Duration::from_millis(cfg.get(k).and_then(Json::as_u64).unwrap_or(d));
        Ok(Nats {
            servers,
            current: 0,
            subject,
            stream,
            credentials,
            tls_config,
            tls_required,
            tls_server_name,
            node: cfg.get("node").and_then(Json::as_str).map(str::to_string),
            timeout: ms("timeout_ms", 5000),
            retry: ms("retry_ms", 10_000),
            session: None,
            next_reply: 0,
            duplicates: 0,
            down: Vec::new(),
        })
    }
}

impl Nats {
    fn mark_down(&mut self, i: usize, f: &Failure) {
        if !std::mem::replace(&mut self.down[i], true) {
            let next = if self.servers.len() > 1 { "; trying the next server" } else { "" };
            log(Level::Warn, &format!("NATS: {}{next}", f.text()));
        }
    }
}

impl Sink for Nats {
    fn deliver(&mut self, alerts: Vec<Alert>) -> Result<(), String> {
        if alerts.is_empty() {
            return Ok(());
        }
        self.down.resize(self.servers.len(), false);
        // The same alert twice in a batch (same time, rule and text) keeps both: the second
        // gets `-1`, the same on every retry of the batch.
        let mut seen: HashMap<String, u32> = HashMap::new();
        let ids: Vec<String> = alerts
            .iter()
            .map(|a| {
                let id = self.msg_id(a);
                let n = seen.entry(id.clone()).or_insert(0);
                *n += 1;
                if *n == 1 { id } else { format!("{id}-{}", *n - 1) }
            })
            .collect();
        let mut pending: Vec<usize> = (0..alerts.len()).collect();
        let mut done = vec![false; alerts.len()];
        let start = Instant::now();
        let mut pause = Duration::from_millis(50);
        // The last failure of each server in this delivery, for the error.
        let mut failures: Vec<Option<Failure>> = (0..self.servers.len()).map(|_| None).collect();
        let mut refusal: Option<String> = None;
        loop {
            let mut session = match self.session.take() {
                Some(s) => Some(s),
                None => {
                    // One round over the servers, from the one that last worked.
                    let n = self.servers.len();
                    let mut found = None;
                    for k in 0..n {
                        let i = (self.current + k) % n;
                        match self.connect(i) {
                            Ok(s) => {
                                self.current = i;
                                if std::mem::take(&mut self.down[i]) {
                                    log(
                                        Level::Info,
                                        &format!("connected to NATS server {} again", self.servers[i].addr),
                                    );
                                }
                                found = Some(s);
                                break;
                            }
                            Err(f) => {
                                self.mark_down(i, &f);
                                failures[i] = Some(f);
                            }
                        }
                    }
                    found
                }
            };
            if let Some(s) = session.as_mut() {
                let result = self.publish(s, &alerts, &ids, &pending, &mut done, &mut refusal);
                pending.retain(|&i| !done[i]);
                match result {
                    Ok(()) => self.session = session,
                    Err(f) => {
                        // The connection is dropped; the next attempt starts with the next server.
                        self.mark_down(s.server, &f);
                        failures[s.server] = Some(f);
                        self.current = (s.server + 1) % self.servers.len();
                    }
                }
            }
            if pending.is_empty() {
                if self.duplicates > 0 {
                    log(
                        Level::Info,
                        &format!(
                            "{} alerts were already in stream {} (sent before, by a retry or before a restart): JetStream kept one copy of each (Nats-Msg-Id)",
                            self.duplicates,
                            self.stream.as_deref().unwrap_or("")
                        ),
                    );
                    self.duplicates = 0;
                }
                return Ok(());
            }
            let all_refused = failures.iter().all(|f| matches!(f, Some(Failure::Auth(_))));
            if all_refused || start.elapsed() >= self.retry {
                let mut why: Vec<String> = failures.iter().flatten().map(|f| f.text().to_string()).collect();
                why.extend(refusal);
                let head = if all_refused {
                    "every NATS server refused the credentials (check credentials)".to_string()
                } else {
                    format!("no NATS server took the alerts within {} ms", self.retry.as_millis())
                };
                return Err(format!(
                    "{head}: {} of {} alerts not delivered: {}",
                    pending.len(),
                    alerts.len(),
                    why.join("; ")
                ));
            }
            std::thread::sleep(pause.min(self.retry.saturating_sub(start.elapsed())));
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

lanner_plugin_sdk::export_sink!(Nats);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_rule_names_make_one_subject_token_each() {
        assert_eq!(subject_token("Read sensitive file (untrusted) > *.*"), "read_sensitive_file_untrusted");
        assert_eq!(subject_token("..."), "_");
        assert_eq!(subject_token("Ünïcode Rule"), "n_code_rule");
        let t = parse_template("lanner.alerts.<hostname>.<priority>").unwrap();
        assert_eq!(
            render(&t, "Node-1.example.com", "Warning", "r", "s"),
            "lanner.alerts.node-1_example_com.warning"
        );
        assert!(parse_template("lanner..<rule>").is_err());
        assert!(parse_template("lanner.>").is_err());
        assert!(parse_template("lanner.<nope>").is_err());
    }

    #[test]
    fn base32_round_trips_and_crc16_is_xmodem() {
        let data = [0u8, 1, 2, 250, 251, 252, 253];
        assert_eq!(base32_decode(&base32_encode(&data)).unwrap(), data);
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }
}
