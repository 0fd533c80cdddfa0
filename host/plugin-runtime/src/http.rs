//! The host-side check of a plugin's outbound HTTP (`wasi:http`).
//!
//! A request goes out only when its host is in the plugin's allow-list and none of the
//! addresses the name resolves to is link-local or a cloud metadata service; those are denied
//! whatever the allow-list says. A denied request reaches the plugin as
//! `error-code::http-request-denied`, and is logged and counted with the plugin's name.

use http::Uri;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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
}

/// Checks a request's host against the allow-list, before resolution; returns the
/// `host:port` to connect to.
pub fn check_uri(uri: &Uri, allow: &[String]) -> Result<String, Denied> {
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
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    Ok(authority)
}

/// The `wasi:http` hooks of one plugin.
pub(crate) struct HttpPolicy {
    pub(crate) plugin: Arc<str>,
    pub(crate) allow: Arc<[String]>,
    pub(crate) timeout: Duration,
    pub(crate) denied: Arc<AtomicU64>,
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
        let deny = move |why: Denied| {
            denied.fetch_add(1, Ordering::Relaxed);
            log::warn!("plugin {plugin}: HTTP request denied: {why}");
            Error::HttpRequestDenied
        };
        Box::new(async move {
            let authority = verdict.map_err(&deny)?;
            let addrs = tokio::net::lookup_host(&authority)
                .await
                .map_err(|_| Error::DnsError { rcode: None, info_code: None })?;
            for a in addrs {
                if is_always_denied(a.ip()) {
                    return Err(deny(Denied::Metadata(format!("{authority} ({})", a.ip()))));
                }
            }
            let send = wasmtime_wasi_http::default_send_request(request, options);
            let (res, io) =
                tokio::time::timeout(timeout, send).await.map_err(|_| Error::ConnectionTimeout)??;
            let res = res.map(http_body_util::BodyExt::boxed_unsync);
            Ok((res, Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>))
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
        assert_eq!(check_uri(&uri("https://Example.COM/x"), &allow), Ok("example.com:443".into()));
        assert_eq!(check_uri(&uri("https://api.internal:8443/"), &allow), Ok("api.internal:8443".into()));
        assert!(matches!(check_uri(&uri("https://api.internal:9000/"), &allow), Err(Denied::NotAllowed(_))));
        assert!(matches!(check_uri(&uri("http://evil.example.net/"), &allow), Err(Denied::NotAllowed(_))));
        assert!(matches!(
            check_uri(&uri("http://example.com.evil.net/"), &allow),
            Err(Denied::NotAllowed(_))
        ));
        assert!(matches!(check_uri(&uri("http://127.0.0.1/"), &[]), Err(Denied::NotAllowed(_))));
    }
}
