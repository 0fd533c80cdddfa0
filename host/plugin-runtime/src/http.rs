//! The host-side check of a plugin's outbound HTTP (`wasi:http`).
//!
//! A request goes out only when its host is in the plugin's allow-list and none of the
//! addresses the name resolves to is link-local or a cloud metadata service; those are denied
//! whatever the allow-list says, and so is loopback unless the allowed host is itself a
//! loopback address or `localhost`. The name is resolved once per request, and the
//! connection is made to the addresses checked: a name whose DNS answer changes between the
//! check and the connect (DNS rebinding) cannot lead it elsewhere. A denied request reaches
//! the plugin as `error-code::http-request-denied`, and is logged and counted with the
//! plugin's name.

use crate::config::HttpTls;
use http::Uri;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Host names that always name a metadata service.
const METADATA_NAMES: &[&str] =
    &["metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"];

/// Whether an address is never reachable by plugins: link-local (which holds the
/// 169.254.169.254 metadata service of most clouds), known metadata addresses, unspecified.
pub fn is_always_denied(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => denied_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return denied_v4(v4);
            }
            let seg = v6.segments();
            v6.is_unspecified()
                || (seg[0] & 0xffc0) == 0xfe80
                // AWS's IPv6 metadata endpoint.
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

/// Whether `host` (as a grant or a URI names it) is the local machine by its own name:
/// only then may its addresses be loopback ones.
pub fn names_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a plugin may reach `ip` when it asked for `host`: never an always-denied address;
/// a loopback address only when `host` names loopback itself (a public name answered with
/// 127.0.0.1 is a rebinding to the node's own services).
pub fn permitted(host: &str, ip: IpAddr) -> bool {
    let loopback = match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    };
    !is_always_denied(ip) && (!loopback || names_loopback(host))
}

fn denied_v4(v4: Ipv4Addr) -> bool {
    v4.is_link_local()
        || v4.is_unspecified()
        // Alibaba Cloud's metadata service.
        || v4 == Ipv4Addr::new(100, 100, 100, 200)
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The URI names no host.
    #[error("the request names no host")]
    NoHost,
    /// The host is not in the allow-list.
    #[error("{0} is not in the plugin's HTTP allow-list")]
    NotAllowed(String),
    /// The host is, or resolves to, a link-local or metadata address.
    #[error("{0} is a link-local or cloud metadata address")]
    Metadata(String),
    /// A name other than a loopback one resolves to a loopback address.
    #[error("{0} resolves to a loopback address, and only a loopback grant may reach one")]
    Loopback(String),
}

/// Resolves `host:port` once and checks every address: the request goes to these, and only
/// these. `Err(None)` when the name does not resolve.
async fn resolve_checked(host: &str, port: u16) -> Result<Vec<SocketAddr>, Option<Denied>> {
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&authority).await.map_err(|_| None)?.collect();
    if addrs.is_empty() {
        return Err(None);
    }
    for a in &addrs {
        if is_always_denied(a.ip()) {
            return Err(Some(Denied::Metadata(format!("{authority} ({})", a.ip()))));
        }
        if !permitted(host, a.ip()) {
            return Err(Some(Denied::Loopback(format!("{authority} ({})", a.ip()))));
        }
    }
    Ok(addrs)
}

/// A byte stream, plain or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

type Sent = (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

/// Sends `request` over a connection to one of `addrs`, which were checked: nothing is
/// resolved again here. TLS (for `https`) is `tls_config`'s: by default the certificate is
/// verified against the URI's host with the Mozilla roots, as wasmtime's own sender does.
async fn send_pinned(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    addrs: &[SocketAddr],
    tls_config: &Arc<rustls::ClientConfig>,
) -> Result<Sent, Error> {
    use http_body_util::BodyExt;
    let uri = request.uri().clone();
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.trim_start_matches('[').trim_end_matches(']');
    let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let opt = |f: fn(&RequestOptions) -> Option<Duration>| {
        options.as_ref().and_then(f).unwrap_or(Duration::from_secs(600))
    };
    let (connect_timeout, first_byte_timeout) = (opt(|o| o.connect_timeout), opt(|o| o.first_byte_timeout));
    let tcp = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(addrs))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Connect)?;
    let stream: Box<dyn Stream> = if tls {
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        let connector = tokio_rustls::TlsConnector::from(tls_config.clone());
        let stream = tokio::time::timeout(connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // Not through a proxy: the request line carries the path only (the Host header, set by
    // wasi:http, names the host).
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    // The connection must be driven while the response is awaited.
    let mut conn = Box::pin(conn);
    let mut conn_result = None;
    let mut send = Box::pin(tokio::time::timeout(first_byte_timeout, sender.send_request(request)));
    let response = std::future::poll_fn(|cx| {
        use std::task::Poll;
        if let Poll::Ready(r) = send.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        if conn_result.is_none()
            && let Poll::Ready(r) = conn.as_mut().poll(cx)
        {
            conn_result = Some(r);
            return send.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await
    .map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    let io = async move {
        match conn_result {
            Some(r) => r.map_err(Error::from),
            None => conn.await.map_err(Error::from),
        }
    };
    Ok((response, Box::new(io)))
}

/// The TLS client configuration of a plugin's `https` requests, from its `http_tls` grant.
/// Read once when the plugin is instantiated: a CA or key file that cannot be used is an
/// error then, not a failure of every delivery later.
pub fn tls_client_config(tls: &HttpTls) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if tls.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else if tls.ca_files.is_empty() && tls.ca_dirs.is_empty() {
        builder.with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() })
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for f in &tls.ca_files {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(f)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| format!("CA file {}: {e}", f.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("CA file {}: no CA certificate in it", f.display()));
            }
        }
        for d in &tls.ca_dirs {
            let entries = std::fs::read_dir(d).map_err(|e| format!("CA folder {}: {e}", d.display()))?;
            let mut added = 0;
            for e in entries.flatten() {
                // Files that are not PEM certificates (hash links' targets are) are passed over,
                // as OpenSSL's CA folders hold other things too.
                let Ok(bytes) = std::fs::read(e.path()) else { continue };
                let certs = CertificateDer::pem_slice_iter(&bytes).filter_map(Result::ok);
                added += roots.add_parsable_certificates(certs).0;
            }
            if added == 0 {
                return Err(format!("CA folder {}: no CA certificate in it", d.display()));
            }
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&tls.client_cert, &tls.client_key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
            if chain.is_empty() {
                return Err(format!("client certificate {}: no certificate in it", cert.display()));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("client key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate {} and its key: {e}", cert.display()))?
        }
        _ => return Err("a client certificate needs its key, and a key its certificate".into()),
    };
    Ok(Arc::new(config))
}

/// Accepts any server certificate (`http_tls.insecure`), still checking that the server
/// holds the key of the certificate it shows.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks a request's host against the allow-list, before resolution; returns the host and
/// port to connect to.
pub fn check_uri(uri: &Uri, allow: &[String]) -> Result<(String, u16), Denied> {
    let host = uri.host().ok_or(Denied::NoHost)?.trim_start_matches('[').trim_end_matches(']');
    let host = host.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
    if METADATA_NAMES.contains(&host.trim_end_matches('.')) {
        return Err(Denied::Metadata(host));
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && is_always_denied(ip)
    {
        return Err(Denied::Metadata(host));
    }
    let allowed = allow.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        match a.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() && !h.contains(':') => {
                h == host && p.parse::<u16>() == Ok(port)
            }
            _ => a == host,
        }
    });
    if !allowed {
        return Err(Denied::NotAllowed(host));
    }
    Ok((host, port))
}

/// The `wasi:http` hooks of one plugin.
pub(crate) struct HttpPolicy {
    pub(crate) plugin: Arc<str>,
    pub(crate) allow: Arc<[String]>,
    pub(crate) timeout: Duration,
    pub(crate) denied: Arc<AtomicU64>,
    pub(crate) tls: Arc<rustls::ClientConfig>,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let verdict = check_uri(request.uri(), &self.allow);
        let plugin = self.plugin.clone();
        let denied = self.denied.clone();
        let timeout = self.timeout;
        let tls = self.tls.clone();
        let deny = move |why: Denied| {
            denied.fetch_add(1, Ordering::Relaxed);
            log::warn!("plugin {plugin}: HTTP request denied: {why}");
            Error::HttpRequestDenied
        };
        Box::new(async move {
            let (host, port) = verdict.map_err(&deny)?;
            let addrs = resolve_checked(&host, port).await.map_err(|why| match why {
                Some(why) => deny(why),
                None => Error::DnsError { rcode: None, info_code: None },
            })?;
            let send = send_pinned(request, options, &addrs, &tls);
            tokio::time::timeout(timeout, send).await.map_err(|_| Error::ConnectionTimeout)?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn metadata_and_link_local_are_always_denied() {
        let all = vec![
            "169.254.169.254".to_string(),
            "metadata.google.internal".to_string(),
            "fe80::1".to_string(),
        ];
        assert!(matches!(
            check_uri(&uri("http://169.254.169.254/latest/meta-data/"), &all),
            Err(Denied::Metadata(_))
        ));
        assert!(matches!(
            check_uri(&uri("http://metadata.google.internal/"), &all),
            Err(Denied::Metadata(_))
        ));
        assert!(matches!(check_uri(&uri("http://[fe80::1]/"), &all), Err(Denied::Metadata(_))));
        assert!(is_always_denied("::ffff:169.254.169.254".parse().unwrap()));
        assert!(is_always_denied("fd00:ec2::254".parse().unwrap()));
        assert!(is_always_denied("100.100.100.200".parse().unwrap()));
        assert!(!is_always_denied("93.184.215.14".parse().unwrap()));
        assert!(!is_always_denied("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn allow_list_matches_host_and_port() {
        let allow = vec!["example.com".to_string(), "api.internal:8443".to_string()];
        assert_eq!(check_uri(&uri("https://Example.COM/x"), &allow), Ok(("example.com".into(), 443)));
        assert_eq!(check_uri(&uri("https://api.internal:8443/"), &allow), Ok(("api.internal".into(), 8443)));
        assert!(matches!(check_uri(&uri("https://api.internal:9000/"), &allow), Err(Denied::NotAllowed(_))));
        assert!(matches!(check_uri(&uri("http://evil.example.net/"), &allow), Err(Denied::NotAllowed(_))));
        assert!(matches!(
            check_uri(&uri("http://example.com.evil.net/"), &allow),
            Err(Denied::NotAllowed(_))
        ));
        assert!(matches!(check_uri(&uri("http://127.0.0.1/"), &[]), Err(Denied::NotAllowed(_))));
    }

    #[test]
    fn loopback_only_for_loopback_names_and_never_metadata() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(permitted("localhost", lo));
        assert!(permitted("127.0.0.1", lo));
        assert!(permitted("[::1]", "::1".parse().unwrap()));
        assert!(permitted("app.localhost", lo));
        // A public name answered with loopback (rebinding to the node's own services).
        assert!(!permitted("collector.example.com", lo));
        assert!(!permitted("collector.example.com", "::1".parse().unwrap()));
        assert!(!permitted("collector.example.com", "::ffff:127.0.0.1".parse().unwrap()));
        assert!(permitted("collector.example.com", "93.184.215.14".parse().unwrap()));
        for meta in ["169.254.169.254", "169.254.0.1", "fe80::1", "100.100.100.200", "fd00:ec2::254"] {
            assert!(!permitted("collector.example.com", meta.parse().unwrap()), "{meta}");
            assert!(!permitted("localhost", meta.parse().unwrap()), "{meta}");
        }
    }

    /// The request goes to the checked address and is never resolved again: its host here
    /// does not resolve at all (`.invalid`), and the local server still gets it.
    #[test]
    fn the_connection_goes_to_the_checked_address_without_resolving_again() {
        use http_body_util::BodyExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\npinned").unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let body = rt.block_on(async {
            assert!(resolve_checked("rebind.invalid", addr.port()).await.is_err(), "does not resolve");
            let empty =
                http_body_util::Empty::<hyper::body::Bytes>::new().map_err(|e| match e {}).boxed_unsync();
            let req = http::Request::get(format!("http://rebind.invalid:{}/x", addr.port()))
                .header(http::header::HOST, "rebind.invalid")
                .body(empty)
                .unwrap();
            let tls = tls_client_config(&HttpTls::default()).unwrap();
            let (res, io) = send_pinned(req, None, &[addr], &tls).await.unwrap();
            assert_eq!(res.status(), 200);
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            Box::into_pin(io).await.unwrap();
            bytes
        });
        assert_eq!(&body[..], b"pinned");
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /x HTTP/1.1\r\n"), "{request}");
        assert!(request.to_ascii_lowercase().contains("host: rebind.invalid"), "{request}");
    }
}
