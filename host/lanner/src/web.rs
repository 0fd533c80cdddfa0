//! The HTTP endpoint. Liveness (`/healthz/live`, and `/healthz` for older probes) fails
//! only when the event loop has stopped turning, so that a restart can help; readiness
//! (`/healthz/ready`) fails when capture is blind (quiet too long, or dropping too much),
//! which a restart does not cure: a drop storm must not make the kubelet kill the agent
//! and lose what it still sees. `/metrics` and `/plugins` (the daemon's own plugins: state,
//! counts, why one was disabled, as JSON) can require a bearer token, and the whole endpoint
//! can be served over TLS (rustls), since both name rules, plugins and outputs.
//!
//! A port already taken is an error for the caller: answering probes from another process's
//! port would tell the kubelet and Prometheus about that process instead.

use crate::metrics::Metrics;
use anyhow::{Context, Result, bail};
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long the event loop may go without turning before liveness fails. The loop turns at
/// least every 200 ms when idle; a minute is a stuck loop, not a busy one.
pub const MAX_LOOP_STALL_SECS: f64 = 60.0;

/// How long a client has to finish its TLS handshake, and how many may be in progress at
/// once: a client that opens connections and says nothing must not hold the endpoint.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HANDSHAKES: usize = 64;

/// What the endpoint serves and how.
pub struct WebOptions {
    pub addr: SocketAddr,
    /// Readiness limits (see [`Metrics::health`]).
    pub max_gap_secs: f64,
    pub max_drop_ratio: f64,
    /// The bearer token `/metrics` and `/plugins` require, when set.
    pub token: Option<String>,
    /// Served over TLS with this configuration, when set.
    pub tls: Option<Arc<ServerConfig>>,
    /// The alert console's routes (`/console`, behind their own token), when enabled.
    pub console: Option<axum::Router>,
}

/// The address `webserver.listen_address` and `webserver.listen_port` name (an IPv6
/// address with or without brackets).
pub fn listen_addr(address: &str, port: u16) -> Result<SocketAddr> {
    let host = address.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = host.parse().map_err(|e| {
        anyhow::anyhow!(
            "webserver.listen_address {address:?}: not an IP address ({e}); use 127.0.0.1, 0.0.0.0 or ::"
        )
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// A TLS server configuration from a PEM certificate chain and a PEM private key.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("webserver.tls.cert_file {}: {e}", cert.display()))?;
    if certs.is_empty() {
        bail!("webserver.tls.cert_file {}: no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("webserver.tls.key_file {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("webserver.tls: protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("webserver.tls: the certificate and the key do not go together")?;
    Ok(Arc::new(cfg))
}

/// The bearer token in `path` (surrounding white space ignored; an empty file is refused,
/// since it would let anyone in).
pub fn read_token(path: &Path) -> Result<String> {
    let t = std::fs::read_to_string(path)
        .with_context(|| format!("webserver.metrics_token_file {}", path.display()))?;
    let t = t.trim();
    if t.is_empty() {
        bail!("webserver.metrics_token_file {}: empty", path.display());
    }
    Ok(t.to_string())
}

/// Whether `header` (an `Authorization` value) carries `token`. The comparison takes the
/// same time wherever the first difference is.
fn authorized(header: Option<&[u8]>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
        return false;
    };
    let want = token.as_bytes();
    if given.len() != want.len() {
        return false;
    }
    given.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Why the endpoint cannot listen, and what the operator can do about it.
fn bind_error(addr: SocketAddr, e: &std::io::Error) -> anyhow::Error {
    let cause = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!("the port is already in use by another process ({e})"),
        std::io::ErrorKind::AddrNotAvailable => format!("no interface of this host has that address ({e})"),
        std::io::ErrorKind::PermissionDenied => format!("not allowed to listen there ({e})"),
        _ => e.to_string(),
    };
    anyhow::anyhow!(
        "webserver: cannot listen on {addr}: {cause}. Choose another port with webserver.listen_port \
         (or -o webserver.listen_port=PORT), or turn the webserver off with webserver.enabled: false \
         (or -o webserver.enabled=false)"
    )
}

/// The 401 answer when a token is required and `headers` do not carry it.
fn refuse(headers: &axum::http::HeaderMap, token: Option<&str>) -> Option<axum::response::Response> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let t = token?;
    if authorized(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()), t) {
        return None;
    }
    Some(
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a bearer token is required\n")
            .into_response(),
    )
}

/// Connections that finished their TLS handshake, for axum.
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accepting task is gone: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// Accepts TCP connections and runs their handshakes, each in a task of its own with a
/// deadline, handing the finished ones to `tx`.
async fn accept_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    tx: tokio::sync::mpsc::Sender<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("webserver: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "webserver: {MAX_HANDSHAKES} TLS handshakes in progress; connection closed");
            continue;
        };
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, "webserver: TLS handshake: {e}"),
                Err(_) => tracing::debug!(%peer, "webserver: TLS handshake timed out"),
            }
        });
    }
}

/// Serves the endpoint from a thread of its own, until the process ends. Returns the
/// address bound (the port may be 0 in the configuration).
pub fn serve(metrics: Arc<Metrics>, opts: WebOptions) -> Result<SocketAddr> {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::{Router, routing::get};
    let listener = std::net::TcpListener::bind(opts.addr).map_err(|e| bind_error(opts.addr, &e))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let WebOptions { max_gap_secs, max_drop_ratio, token, tls, console, .. } = opts;
    let verdict = |r: Result<(), String>| match r {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    };
    let (m_live, m_ready, m_metrics) = (metrics.clone(), metrics.clone(), metrics);
    let live = move || {
        let m = m_live.clone();
        async move { verdict(m.liveness(MAX_LOOP_STALL_SECS)) }
    };
    let ready = move || {
        let m = m_ready.clone();
        async move { verdict(m.health(max_gap_secs, max_drop_ratio)) }
    };
    let token = token.map(Arc::new);
    let m_plugins = m_metrics.clone();
    let (t_metrics, t_plugins) = (token.clone(), token);
    let app = Router::new()
        .route("/healthz", get(live.clone()))
        .route("/healthz/live", get(live))
        .route("/healthz/ready", get(ready))
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let (m, token) = (m_metrics.clone(), t_metrics.clone());
                async move {
                    if let Some(refused) = refuse(&headers, token.as_deref().map(String::as_str)) {
                        return refused;
                    }
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.encode(),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/plugins",
            get(move |headers: HeaderMap| {
                let (m, token) = (m_plugins.clone(), t_plugins.clone());
                async move {
                    if let Some(refused) = refuse(&headers, token.as_deref().map(String::as_str)) {
                        return refused;
                    }
                    let body = serde_json::json!({ "plugins": m.plugin_status() });
                    ([(header::CONTENT_TYPE, "application/json")], format!("{body:#}\n")).into_response()
                }
            }),
        );
    let app = match console {
        Some(c) => app.merge(c),
        None => app,
    };
    std::thread::Builder::new().name("lanner-web".into()).spawn(move || {
        rt.block_on(async move {
            let l = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => return tracing::error!(error = %e, "webserver: listener"),
            };
            let served = match tls {
                None => axum::serve(l, app).await,
                Some(cfg) => {
                    let (tx, rx) = tokio::sync::mpsc::channel(MAX_HANDSHAKES);
                    tokio::spawn(accept_tls(l, tokio_rustls::TlsAcceptor::from(cfg), tx));
                    axum::serve(TlsListener { rx, addr: bound }, app).await
                }
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "webserver stopped");
            }
        })
    })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::{authorized, bind_error, listen_addr};

    #[test]
    fn listen_addresses_are_ip_addresses_with_or_without_brackets() {
        assert_eq!(listen_addr("127.0.0.1", 8765).unwrap().to_string(), "127.0.0.1:8765");
        assert_eq!(listen_addr("::", 9).unwrap().to_string(), "[::]:9");
        assert_eq!(listen_addr("[::1]", 9).unwrap().to_string(), "[::1]:9");
        let e = listen_addr("localhost", 9).unwrap_err().to_string();
        assert!(e.starts_with("webserver.listen_address \"localhost\": not an IP address"), "{e}");
    }

    #[test]
    fn a_taken_port_is_told_with_its_address_cause_and_remedy() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = std::net::TcpListener::bind(addr).unwrap_err();
        let msg = bind_error(addr, &e).to_string();
        assert!(
            msg.starts_with(&format!("webserver: cannot listen on {addr}: the port is already in use")),
            "{msg}"
        );
        assert!(msg.contains("webserver.listen_port") && msg.contains("webserver.enabled: false"), "{msg}");
    }

    #[test]
    fn only_the_exact_bearer_token_is_let_in() {
        assert!(authorized(Some(b"Bearer s3cret"), "s3cret"));
        assert!(!authorized(Some(b"Bearer s3cres"), "s3cret"));
        assert!(!authorized(Some(b"Bearer s3cret2"), "s3cret"));
        assert!(!authorized(Some(b"Basic s3cret"), "s3cret"));
        assert!(!authorized(Some(b"s3cret"), "s3cret"));
        assert!(!authorized(None, "s3cret"));
    }
}
