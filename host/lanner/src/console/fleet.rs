//! `lanner console --nats URL --stream NAME`: the same console for a whole fleet, fed from the
//! JetStream stream the `nats` sink writes (every node's alerts, as JSON). It asks the stream
//! for an ephemeral push consumer (from a start time, or from the start), shows what comes,
//! and keeps only the page's ring in memory; when the connection fails it connects again and
//! goes on after the last message it saw.
//!
//! The NATS client is the text protocol's few verbs (CONNECT, SUB, PUB, MSG/HMSG, PING) on a
//! plain TCP connection: the console needs no more, and no client crate in the tree speaks
//! it.

use super::Hub;
use crate::metrics::Metrics;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `lanner console`'s arguments.
#[derive(clap::Args, Debug)]
pub struct FleetArgs {
    /// The NATS server (`nats://host:port`, or `host:port`; port 4222 by default).
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// The JetStream stream the `nats` sink writes.
    #[arg(long, value_name = "NAME")]
    pub stream: String,
    /// Replay from this time (RFC 3339, e.g. 2026-12-06T04:00:00Z), then live; the whole
    /// stream when absent.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only this host's alerts.
    #[arg(long, value_name = "HOSTNAME")]
    pub host: Option<String>,
    /// Where the console listens.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8766")]
    pub listen: std::net::SocketAddr,
    /// Alerts kept for the page.
    #[arg(long, default_value_t = 10_000)]
    pub max_alerts: usize,
    /// The token's file (else LANNER_CONSOLE_TOKEN, else a new one, logged once).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

/// `host:port` of a `nats://` URL.
fn server_addr(url: &str) -> Result<String> {
    let rest = url.strip_prefix("nats://").unwrap_or(url);
    if url.starts_with("tls://") {
        bail!("--nats {url}: TLS is not supported by the console yet; use nats:// on a trusted network");
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        bail!("--nats {url}: expected nats://host:port (no credentials, no path)");
    }
    Ok(if rest.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        rest.to_string()
    } else {
        format!("{rest}:4222")
    })
}

/// Runs the fleet console until the process is stopped.
pub fn run(args: FleetArgs) -> Result<ExitCode> {
    // The fleet console has no configuration file: RUST_LOG, else info, on stderr.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let addr = server_addr(&args.nats)?;
    if args.max_alerts == 0 {
        bail!("--max-alerts 0 would keep no alert for the page");
    }
    let cfg = super::ConsoleConfig {
        enabled: true,
        max_alerts: args.max_alerts,
        token: String::new(),
        token_file: args.token_file.clone().unwrap_or_default(),
    };
    // The file, when given, wins over the environment.
    let env = if args.token_file.is_some() { None } else { std::env::var(super::TOKEN_ENV).ok() };
    let (token, _, _) = super::resolve_token(&cfg, env)?;
    let metrics = Arc::new(Metrics::new());
    let hub = super::install(args.max_alerts, metrics.clone());
    let router = super::router(hub.clone(), token.clone(), false);
    let opts = crate::web::WebOptions {
        addr: args.listen,
        max_gap_secs: f64::INFINITY,
        max_drop_ratio: 1.0,
        token: None,
        tls: None,
        console: Some(router),
    };
    let bound = crate::web::serve(metrics, opts)?;
    tracing::info!("fleet console: {}", super::url(bound, false, &token));
    let since = args.since.as_deref().map(parse_rfc3339_ms).transpose()?;
    let mut last_seq: Option<u64> = None;
    loop {
        match follow(&addr, &args, since, &mut last_seq, &hub) {
            Ok(()) => tracing::warn!(server = %addr, "NATS connection closed; connecting again"),
            Err(e) => tracing::warn!(server = %addr, "NATS: {e:#}; connecting again in 1 s"),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Result<u64> {
    lanner_event::parse_rfc3339(s)
        .map(|ns| ns / 1_000_000)
        .ok_or_else(|| anyhow::anyhow!("{s:?}: expected an RFC 3339 time, e.g. 2026-12-06T04:00:00Z"))
}

/// One connection: the consumer, then every message until the connection fails.
fn follow(
    addr: &str,
    args: &FleetArgs,
    since: Option<u64>,
    last_seq: &mut Option<u64>,
    hub: &Hub,
) -> Result<()> {
    let tcp = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = tcp.try_clone()?;
    let mut r = BufReader::new(tcp);
    let mut line = String::new();
    r.read_line(&mut line)?;
    if !line.starts_with("INFO ") {
        bail!("{addr} is not a NATS server (it said {:?})", line.trim_end());
    }
    let nonce = super::generate_token()?;
    let inbox = format!("_INBOX.lanner_console.{}", &nonce[..16]);
    let api_inbox = format!("{inbox}.api");
    let deliver = format!("{inbox}.alerts");
    let mut config = serde_json::json!({
        "deliver_subject": deliver,
        "ack_policy": "none",
        "replay_policy": "instant",
        "inactive_threshold": 60_000_000_000u64,
    });
    match (*last_seq, since) {
        (Some(seq), _) => {
            config["deliver_policy"] = "by_start_sequence".into();
            config["opt_start_seq"] = (seq + 1).into();
        }
        (None, Some(ms)) => {
            config["deliver_policy"] = "by_start_time".into();
            config["opt_start_time"] = lanner_event::format_rfc3339(ms * 1_000_000).into();
        }
        (None, None) => config["deliver_policy"] = "all".into(),
    }
    let request = serde_json::json!({ "stream_name": args.stream, "config": config }).to_string();
    let connect = r#"{"verbose":false,"pedantic":false,"lang":"rust","name":"lanner-console","protocol":1,"headers":true,"no_responders":true}"#;
    write!(w, "CONNECT {connect}\r\nSUB {api_inbox} 1\r\nSUB {deliver} 2\r\n")?;
    write!(w, "PUB $JS.API.CONSUMER.CREATE.{} {api_inbox} {}\r\n{request}\r\n", args.stream, request.len())?;
    w.flush()?;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let head = line.trim_end();
        let parts: Vec<&str> = head.split(' ').collect();
        match parts[0] {
            "PING" => w.write_all(b"PONG\r\n")?,
            "PONG" | "+OK" | "INFO" => {}
            "-ERR" => bail!("the server refused: {}", head.trim_start_matches("-ERR ")),
            "MSG" | "HMSG" => {
                let headers = parts[0] == "HMSG";
                let n = parts.len();
                let total: usize = parts[n - 1].parse().context("a message's size")?;
                let hdr_len: usize =
                    if headers { parts[n - 2].parse().context("a header size")? } else { 0 };
                let reply = if n == if headers { 6 } else { 5 } { Some(parts[3]) } else { None };
                let mut body = vec![0u8; total + 2];
                r.read_exact(&mut body)?;
                let payload = &body[hdr_len.min(total)..total];
                let hdrs = String::from_utf8_lossy(&body[..hdr_len.min(total)]);
                if parts[1] == api_inbox {
                    let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                    if let Some(e) = v.get("error") {
                        bail!("stream {}: the consumer was refused: {e}", args.stream);
                    }
                    tracing::info!(stream = %args.stream, "following the stream");
                    continue;
                }
                // A status message (heartbeat, flow control): no alert.
                if hdrs.starts_with("NATS/1.0 1") {
                    continue;
                }
                if let Some(seq) = reply.and_then(stream_seq) {
                    *last_seq = Some(seq);
                }
                match serde_json::from_slice::<serde_json::Value>(payload) {
                    Ok(alert) => {
                        let host = alert.get("hostname").and_then(|h| h.as_str()).unwrap_or("");
                        if args.host.as_deref().is_none_or(|h| h == host) {
                            hub.publish_json(alert);
                        }
                    }
                    Err(e) => tracing::warn!(subject = parts[1], "a message that is not a JSON alert: {e}"),
                }
            }
            _ => tracing::debug!("NATS: {head}"),
        }
    }
}

/// The stream sequence of a JetStream delivery, from its reply subject
/// (`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`;
/// newer servers put a domain and an account hash before the stream and a token after).
fn stream_seq(reply: &str) -> Option<u64> {
    let f: Vec<&str> = reply.split('.').collect();
    if f.len() < 9 || f[0] != "$JS" || f[1] != "ACK" {
        return None;
    }
    let at = if f.len() == 9 { 5 } else { 7 };
    f.get(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_and_server_addresses() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_rfc3339_ms("2023-11-14T22:13:20.5Z").unwrap(), 1_700_000_000_500);
        assert_eq!(parse_rfc3339_ms("2026-12-06T04:33:39.728213558Z").unwrap(), 1_796_531_619_728);
        assert!(parse_rfc3339_ms("yesterday").is_err());
        assert_eq!(server_addr("nats://n1:4223").unwrap(), "n1:4223");
        assert_eq!(server_addr("n1").unwrap(), "n1:4222");
        assert!(server_addr("nats://u:p@n1").is_err());
        assert_eq!(stream_seq("$JS.ACK.LANNER.abc.1.42.42.1700000000000000000.0"), Some(42));
        assert_eq!(stream_seq("$JS.ACK.dom.acc.LANNER.abc.1.43.43.1700000000000000000.0.tok"), Some(43));
        assert_eq!(stream_seq("_INBOX.x"), None);
    }
}
