//! Audit events posted to a webhook, as the API server's webhook backend sends them:
//! `open(http://IP:PORT/PATH)` listens on IP:PORT (which must be in the plugin's
//! `grants.listen`) and takes `POST PATH` requests whose body is an audit `Event` or
//! `EventList`. Each request is answered once its events are queued: 200, or 400 (not JSON),
//! 404 (another path), 405 (not POST), 411 (no Content-Length), 413 (too large).
//!
//! A call must return within its CPU time limit, so nothing here blocks: the listener and
//! the connections are non-blocking, and each `next` accepts, reads and answers what is
//! ready, then reports idle. Requests of one connection are handled in order (keep-alive).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use lanner_plugin_sdk::{Event, Level, log};

/// Turns a request's body into events, or says why it cannot.
pub type Take = fn(&[u8], &mut VecDeque<Event>) -> Result<(), String>;

/// The largest request body taken; the API server batches events well below it.
const MAX_BODY: usize = 16 << 20;
/// The largest request head.
const MAX_HEAD: usize = 64 << 10;
/// Connections open at once; more are closed at once.
const MAX_CONNS: usize = 64;
/// Events queued for the host beyond which connections are not read (the API server then
/// waits for its answer: back-pressure instead of memory).
const MAX_QUEUED: usize = 4096;

struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Close once the output is written.
    closing: bool,
    /// Nothing more to do with it.
    done: bool,
}

/// The listening webhook.
pub struct Webhook {
    listener: TcpListener,
    addr: String,
    path: String,
    conns: Vec<Conn>,
}

/// What a request asked for, once complete.
enum Request {
    /// Wait for more bytes.
    Incomplete,
    /// Answer with this status (and close when `close`), consuming `used` bytes.
    Done { status: u16, reason: String, close: bool, used: usize },
}

impl Webhook {
    /// Listens at `http://IP:PORT/PATH` (the path defaults to `/`).
    pub fn open(url: &str) -> Result<Webhook, String> {
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
        Ok(Webhook { listener, addr: addr.to_string(), path: path.to_string(), conns: Vec::new() })
    }

    /// Accepts, reads and answers what is ready; the events of complete requests go to
    /// `queue` through `take`.
    pub fn poll(&mut self, queue: &mut VecDeque<Event>, take: Take) {
        self.accept();
        for c in &mut self.conns {
            if queue.len() < MAX_QUEUED && !c.closing {
                c.read();
            }
            while !c.closing && queue.len() < MAX_QUEUED {
                match parse(&c.input, &self.path, queue, take) {
                    Request::Incomplete => break,
                    Request::Done { status, reason, close, used } => {
                        c.input.drain(..used);
                        c.respond(status, &reason, close);
                    }
                }
            }
            c.write();
        }
        self.conns.retain(|c| !c.done);
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.conns.len() >= MAX_CONNS {
                        log(
                            Level::Warn,
                            &format!("{}: {MAX_CONNS} connections open, one refused", self.addr),
                        );
                        continue;
                    }
                    if let Err(e) = stream.set_nonblocking(true) {
                        log(Level::Warn, &format!("{}: {e}", self.addr));
                        continue;
                    }
                    self.conns.push(Conn {
                        stream,
                        input: Vec::new(),
                        output: Vec::new(),
                        closing: false,
                        done: false,
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    log(Level::Warn, &format!("{}: accept: {e}", self.addr));
                    return;
                }
            }
        }
    }
}

impl Conn {
    fn read(&mut self) {
        let mut buf = [0u8; 16 << 10];
        while self.input.len() < MAX_HEAD + MAX_BODY {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    // The client closed its side: answer nothing more.
                    self.closing = true;
                    self.done = self.output.is_empty();
                    return;
                }
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.done = true;
                    return;
                }
            }
        }
    }

    fn respond(&mut self, status: u16, reason: &str, close: bool) {
        let text = match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            411 => "Length Required",
            413 => "Content Too Large",
            _ => "Error",
        };
        let body = if reason.is_empty() { String::new() } else { format!("{reason}\n") };
        let connection = if close { "close" } else { "keep-alive" };
        self.output.extend_from_slice(
            format!(
                "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        if close {
            self.closing = true;
        }
    }

    fn write(&mut self) {
        while !self.output.is_empty() {
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
        if self.output.is_empty() && self.closing {
            self.done = true;
        }
    }
}

/// Parses one request at the start of `input`; its events go to `queue`.
fn parse(input: &[u8], path: &str, queue: &mut VecDeque<Event>, take: Take) -> Request {
    let done = |status: u16, reason: &str, close: bool, used: usize| Request::Done {
        status,
        reason: reason.to_string(),
        close,
        used,
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() < MAX_HEAD => return Request::Incomplete,
        Ok(httparse::Status::Partial) => return done(413, "request head too large", true, input.len()),
        Err(e) => return done(400, &format!("malformed request: {e}"), true, input.len()),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let close =
        req.version == Some(0) || header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
    if header("transfer-encoding").is_some() {
        return done(411, "send the body with a Content-Length", true, input.len());
    }
    let length = match header("content-length").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return done(400, "bad Content-Length", true, input.len()),
    };
    if length > MAX_BODY {
        return done(413, &format!("body over {MAX_BODY} bytes"), true, input.len());
    }
    let total = head_len + length;
    if input.len() < total {
        return Request::Incomplete;
    }
    let target = req.path.unwrap_or("/");
    let target = target.split('?').next().unwrap_or(target);
    if target != path {
        return done(404, "", close, total);
    }
    if req.method != Some("POST") {
        return done(405, "POST audit events", close, total);
    }
    match take(&input[head_len..total], queue) {
        Ok(()) => done(200, "", close, total),
        Err(e) => done(400, &e, close, total),
    }
}
