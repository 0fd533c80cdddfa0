//! Audit events posted to a webhook, as the API server's webhook backend sends them:
//! `open(http://IP:PORT/PATH)` listens on IP:PORT (which must be in the plugin's
//! `grants.listen`) and takes `POST PATH` requests whose body is an audit `Event` or
//! `EventList`. Answers: 200 once the request's events were handed to the host, or 400 (not
//! JSON), 401 (no or wrong bearer token, when one is configured), 404 (another path), 405
//! (not POST), 408 (head or body too slow), 411 (no Content-Length), 413 (too large).
//!
//! A call must return within its time limit, so nothing here blocks: the listener and the
//! connections are non-blocking, and each `next` answers the requests whose events the host
//! took, then accepts, reads and parses what is ready, checks every connection's timeouts,
//! and returns what is queued (or idle). Requests of one connection are handled in order
//! (keep-alive); a connection waits for its answer before its next request is read.
//!
//! Bounds ([`Settings`]): a body limit (413 before the body is read), header, body and idle
//! timeouts, a per-peer and a global connection limit (the longest idle connection is closed
//! for a new one), the body bytes buffered across connections (at most one body limit), the
//! event bytes queued (at most one body limit), and each returned batch (at most one body
//! limit of event data).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lanner_plugin_sdk::{Batch, Event, Level, log};

/// Turns a request's body into events, or says why it cannot.
pub type Take = fn(&[u8], &mut VecDeque<Event>) -> Result<(), String>;

/// The largest request head.
const MAX_HEAD: usize = 64 << 10;

/// The webhook's bounds, from the plugin's configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The largest request body taken (and the most event bytes queued or returned at once).
    pub max_body: usize,
    /// From a request's first byte to its complete head.
    pub header_timeout: Duration,
    /// From a request's complete head to its complete body.
    pub body_timeout: Duration,
    /// A connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_conns: usize,
    /// Connections open at once from one peer address.
    pub max_per_peer: usize,
    /// The bearer token requests must carry, if any.
    pub token: Option<Vec<u8>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_body: 8 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_conns: 256,
            max_per_peer: 16,
            token: None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// No request in progress (since `since`).
    Idle,
    /// A request's head is arriving (since `since`).
    Head,
    /// A request's body is arriving (since `since`).
    Body,
    /// Its events are queued: answered 200 once the host took the events up to this count.
    Awaiting(u64),
    /// Answered and closing (since `since`): closed once the answer is written.
    Closing,
}

struct Conn {
    stream: TcpStream,
    peer: IpAddr,
    input: Vec<u8>,
    output: Vec<u8>,
    state: State,
    since: Instant,
    /// Body bytes of the buffering budget held by this connection.
    reserved: usize,
    /// The request being answered asked to close the connection.
    close_after: bool,
    /// Nothing more to do with it.
    done: bool,
}

/// The listening webhook, with the events not yet handed to the host.
pub struct Webhook {
    listener: TcpListener,
    addr: String,
    path: String,
    settings: Settings,
    conns: Vec<Conn>,
    /// Body bytes reserved by the connections.
    reserved: usize,
    pending: VecDeque<Event>,
    pending_bytes: usize,
    /// Events ever queued.
    queued: u64,
    /// Events ever put in a returned batch.
    handed: u64,
    take: Take,
}

/// A request's head, once complete.
enum Head {
    /// Wait for more bytes.
    Incomplete,
    /// Answer this and close.
    Refuse(u16, String),
    /// A request of `total` bytes (head and body), with what it asks.
    Request { head_len: usize, total: usize, close: bool, route: Route },
}

enum Route {
    Post,
    NotFound,
    NotPost,
}

impl Webhook {
    /// Listens at `http://IP:PORT/PATH` (the path defaults to `/`).
    pub fn open(url: &str, settings: Settings, take: Take) -> Result<Webhook, String> {
        let rest =
            url.strip_prefix("http://").ok_or_else(|| format!("{url}: expected http://IP:PORT/PATH"))?;
        let (addr, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let listener = TcpListener::bind(addr)
            .map_err(|e| format!("cannot listen on {addr}: {e} (the plugin needs it in grants.listen)"))?;
        listener.set_nonblocking(true).map_err(|e| format!("{addr}: {e}"))?;
        log(Level::Info, &format!("listening on {addr} for audit events posted to {path}"));
        Ok(Webhook {
            listener,
            addr: addr.to_string(),
            path: path.to_string(),
            settings,
            conns: Vec::new(),
            reserved: 0,
            pending: VecDeque::new(),
            pending_bytes: 0,
            queued: 0,
            handed: 0,
            take,
        })
    }

    /// Up to `max` events. The events returned by the previous call were taken by the host
    /// (it calls again only once it has them), so their requests are answered 200 first.
    pub fn next(&mut self, max: u32) -> Batch {
        let now = Instant::now();
        let handed = self.handed;
        for c in &mut self.conns {
            if let State::Awaiting(until) = c.state
                && until <= handed
            {
                c.respond(200, "", false, now);
            }
        }
        self.accept(now);
        for i in 0..self.conns.len() {
            self.serve(i, now);
        }
        let reserved = &mut self.reserved;
        self.conns.retain(|c| {
            if c.done {
                *reserved -= c.reserved;
            }
            !c.done
        });
        // A batch of at most `max` events and one body limit of data (at least one event,
        // which is never over the limit).
        let (mut n, mut bytes) = (0, 0);
        for e in self.pending.iter().take(max.max(1) as usize) {
            if n > 0 && bytes + e.data.len() > self.settings.max_body {
                break;
            }
            bytes += e.data.len();
            n += 1;
        }
        if n == 0 {
            return Batch::Idle;
        }
        self.pending_bytes -= bytes;
        self.handed += n as u64;
        Batch::Events(self.pending.drain(..n).collect())
    }

    fn accept(&mut self, now: Instant) {
        let mut refused = 0;
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let peer = peer.ip();
                    let from_peer = self.conns.iter().filter(|c| !c.done && c.peer == peer).count();
                    if from_peer >= self.settings.max_per_peer && !self.close_idlest(|c| c.peer == peer) {
                        refused += 1;
                        continue;
                    }
                    let open = self.conns.iter().filter(|c| !c.done).count();
                    if open >= self.settings.max_conns && !self.close_idlest(|_| true) {
                        refused += 1;
                        continue;
                    }
                    self.conns.push(Conn {
                        stream,
                        peer,
                        input: Vec::new(),
                        output: Vec::new(),
                        state: State::Idle,
                        since: now,
                        reserved: 0,
                        close_after: false,
                        done: false,
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    log(Level::Warn, &format!("{}: accept: {e}", self.addr));
                    break;
                }
            }
        }
        if refused > 0 {
            log(
                Level::Warn,
                &format!(
                    "{}: {refused} connections refused (per-peer or global connection limit, none idle)",
                    self.addr
                ),
            );
        }
    }

    /// Closes the connection idle the longest among those `which` selects; false when none is
    /// idle.
    fn close_idlest(&mut self, which: impl Fn(&Conn) -> bool) -> bool {
        let idlest = self
            .conns
            .iter_mut()
            .filter(|c| !c.done && c.state == State::Idle && c.output.is_empty() && which(c))
            .min_by_key(|c| c.since);
        match idlest {
            Some(c) => {
                c.done = true;
                true
            }
            None => false,
        }
    }

    /// Times out, reads, parses and writes connection `i`.
    fn serve(&mut self, i: usize, now: Instant) {
        let s = &self.settings;
        let c = &mut self.conns[i];
        if c.done {
            return;
        }
        let waited = now.saturating_duration_since(c.since);
        match c.state {
            State::Idle if waited >= s.idle_timeout => c.done = true,
            State::Head if waited >= s.header_timeout => {
                c.respond(408, "request head not received in time", true, now)
            }
            State::Body if waited >= s.body_timeout => {
                c.respond(408, "request body not received in time", true, now)
            }
            // A client that does not read its answer.
            State::Closing if waited >= s.header_timeout => c.done = true,
            _ => {}
        }
        loop {
            if c.done || matches!(c.state, State::Awaiting(_) | State::Closing) {
                break;
            }
            // Read up to the end of the head, or of the body the connection reserved.
            let limit = if c.reserved > 0 { c.reserved } else { MAX_HEAD };
            if c.read(limit, now) {
                break;
            }
            let head = parse_head(&c.input, &self.path, s);
            match head {
                Head::Incomplete => {
                    if c.input.len() >= MAX_HEAD {
                        c.respond(431, "request head too large", true, now);
                    }
                    break;
                }
                Head::Refuse(status, reason) => {
                    c.respond(status, &reason, true, now);
                    break;
                }
                Head::Request { head_len, total, close, route } => {
                    if c.input.len() < total {
                        if c.state != State::Body {
                            c.state = State::Body;
                            c.since = now;
                        }
                        // Buffer the body only within the budget: at most one body limit
                        // across connections; others wait (their body timeout runs).
                        if c.reserved == 0 {
                            if self.reserved > 0 && self.reserved + total > s.max_body + MAX_HEAD {
                                break;
                            }
                            c.input.reserve_exact(total - c.input.len());
                            c.reserved = total;
                            self.reserved += total;
                            continue;
                        }
                        break;
                    }
                    match route {
                        Route::NotFound => c.respond(404, "", close, now),
                        Route::NotPost => c.respond(405, "POST audit events", close, now),
                        Route::Post => {
                            // Parsed once the queue has room for it.
                            let body_len = total - head_len;
                            if self.pending_bytes > 0 && self.pending_bytes + body_len > s.max_body {
                                // Complete: the wait is the host's, not the client's.
                                c.since = now;
                                break;
                            }
                            let before = self.pending.len();
                            match (self.take)(&c.input[head_len..total], &mut self.pending) {
                                Ok(()) => {
                                    let new = self.pending.range(before..);
                                    if new.clone().any(|e| e.data.len() > s.max_body) {
                                        self.pending.truncate(before);
                                        c.respond(
                                            413,
                                            &format!("an event over {} bytes", s.max_body),
                                            close,
                                            now,
                                        );
                                    } else {
                                        let bytes: usize = new.map(|e| e.data.len()).sum();
                                        self.pending_bytes += bytes;
                                        self.queued += (self.pending.len() - before) as u64;
                                        c.state = State::Awaiting(self.queued);
                                        c.close_after = close;
                                    }
                                }
                                Err(e) => c.respond(400, &e, close, now),
                            }
                        }
                    }
                    c.input.drain(..total);
                    if c.state == State::Head && c.input.is_empty() {
                        c.state = State::Idle;
                    }
                    self.reserved -= c.reserved;
                    c.reserved = 0;
                    if c.input.len() < c.input.capacity() / 4 {
                        c.input.shrink_to(MAX_HEAD);
                    }
                }
            }
        }
        c.write();
    }
}

impl Conn {
    /// Reads what is ready, up to `limit` bytes buffered; true when the connection is over.
    fn read(&mut self, limit: usize, now: Instant) -> bool {
        let mut buf = [0u8; 16 << 10];
        while self.input.len() < limit {
            let room = (limit - self.input.len()).min(buf.len());
            match self.stream.read(&mut buf[..room]) {
                Ok(0) => {
                    // The client closed its side: answer nothing more.
                    self.done = true;
                    return true;
                }
                Ok(n) => {
                    if self.state == State::Idle {
                        self.state = State::Head;
                        self.since = now;
                    }
                    self.input.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.done = true;
                    return true;
                }
            }
        }
        false
    }

    fn respond(&mut self, status: u16, reason: &str, close: bool, now: Instant) {
        let close = close || self.close_after;
        let text = match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            411 => "Length Required",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            _ => "Error",
        };
        let body = if reason.is_empty() { String::new() } else { format!("{reason}\n") };
        let connection = if close { "close" } else { "keep-alive" };
        let auth = if status == 401 { "WWW-Authenticate: Bearer\r\n" } else { "" };
        self.output.extend_from_slice(
            format!(
                "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{auth}Connection: {connection}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        self.close_after = false;
        self.since = now;
        self.state = if close {
            State::Closing
        } else if self.input.is_empty() {
            State::Idle
        } else {
            State::Head
        };
    }

    fn write(&mut self) {
        while !self.output.is_empty() && !self.done {
            match self.stream.write(&self.output) {
                Ok(0) => break,
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.done = true;
                    return;
                }
            }
        }
        if self.output.is_empty() && self.state == State::Closing {
            self.done = true;
        }
    }
}

/// Whether `given` is `expected`, in time independent of where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ e);
    }
    diff == 0
}

/// Parses the head of the request at the start of `input`.
fn parse_head(input: &[u8], path: &str, s: &Settings) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Incomplete,
        Err(e) => return Head::Refuse(400, format!("malformed request: {e}")),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    if let Some(token) = &s.token {
        let given = header("authorization")
            .and_then(|a| a.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")).map(|_| &a[7..]))
            .unwrap_or("");
        if !same_secret(given.trim().as_bytes(), token) {
            return Head::Refuse(401, "a valid bearer token is required".into());
        }
    }
    let close =
        req.version == Some(0) || header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
    if header("transfer-encoding").is_some() {
        return Head::Refuse(411, "send the body with a Content-Length".into());
    }
    let length = match header("content-length").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Head::Refuse(400, "bad Content-Length".into()),
    };
    if length > s.max_body {
        return Head::Refuse(413, format!("body over {} bytes", s.max_body));
    }
    let target = req.path.unwrap_or("/");
    let target = target.split('?').next().unwrap_or(target);
    let route = if target != path {
        Route::NotFound
    } else if req.method != Some("POST") {
        Route::NotPost
    } else {
        Route::Post
    };
    Head::Request { head_len, total: head_len + length, close, route }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"abcd", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }
}
