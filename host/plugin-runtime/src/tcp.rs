//! TCP for plugins granted it: outbound (`grants.tcp`), as the email sink needs for SMTP, and
//! listening (`grants.listen`), as a source receiving a webhook (Kubernetes audit events
//! posted by the API server) needs.
//!
//! `grants.tcp` lists `host:port` destinations. They are resolved when the plugin's store is
//! made; `wasi:sockets` then lets the plugin connect to exactly those addresses and ports,
//! checked again at every connect, never to a link-local or metadata address (also when a
//! granted name resolves to one), and to a loopback address only when the grant names
//! loopback itself (`localhost`, `127.0.0.1`, `[::1]`): a granted public name answered with
//! 127.0.0.1 would otherwise reach the node's own services. What the plugin resolves itself
//! changes nothing: it connects only to the addresses resolved here.
//! `grants.listen` lists `IP:port` addresses the plugin may bind and listen on (and accept
//! connections there); nothing else is bound. UDP is never allowed. Name lookup inside the
//! plugin is on only when it has an outbound grant (it can then connect by name: the name
//! must resolve to a granted address). A plugin without either grant has no sockets at all.

use crate::http::{is_always_denied, permitted};
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

/// Resolves `host:port` grants to the socket addresses they allow, leaving out any address
/// that is always denied. An error names a grant without a port or that does not resolve.
pub fn resolve(grants: &[String]) -> Result<HashSet<SocketAddr>, String> {
    let mut out = HashSet::new();
    for g in grants {
        let addrs = g.to_socket_addrs().map_err(|e| format!("tcp {g}: {e} (expected host:port)"))?;
        let host = g.rsplit_once(':').map_or(g.as_str(), |(h, _)| h);
        for a in addrs {
            if permitted(host, a.ip()) {
                out.insert(a);
            } else {
                log::warn!(
                    "tcp {g}: {} left out (link-local, metadata, or loopback for a name that is not)",
                    a.ip()
                );
            }
        }
    }
    Ok(out)
}

/// Parses `IP:port` listen grants.
pub fn listen_addrs(grants: &[String]) -> Result<HashSet<SocketAddr>, String> {
    grants
        .iter()
        .map(|g| g.parse::<SocketAddr>().map_err(|e| format!("listen {g}: {e} (expected IP:port)")))
        .collect()
}

/// Sets up `wasi:sockets` on `b` for the granted destinations and listen addresses (nothing
/// when there are none).
pub fn install(
    b: &mut WasiCtxBuilder,
    plugin: &Arc<str>,
    grants: &[String],
    listen: &[String],
) -> Result<(), String> {
    if grants.is_empty() && listen.is_empty() {
        return Ok(());
    }
    let allowed = Arc::new(resolve(grants)?);
    let listen = Arc::new(listen_addrs(listen)?);
    let outbound = !grants.is_empty();
    let plugin = plugin.clone();
    b.allow_tcp(true).allow_ip_name_lookup(outbound);
    b.socket_addr_check(move |addr, usage| {
        let ok = match usage {
            // The implicit bind before a connect is to the wildcard address, port 0.
            SocketAddrUse::TcpBind if outbound && addr.ip().is_unspecified() && addr.port() == 0 => true,
            SocketAddrUse::TcpBind | SocketAddrUse::TcpListen => listen.contains(&addr),
            SocketAddrUse::TcpAccept => !listen.is_empty(),
            SocketAddrUse::TcpConnect => !is_always_denied(addr.ip()) && allowed.contains(&addr),
            _ => false,
        };
        if !ok {
            log::warn!("plugin {plugin}: socket use {usage:?} of {addr} denied");
        }
        Box::pin(async move { ok })
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn grants_keep_loopback_only_when_they_name_it_and_never_metadata() {
        let lo = resolve(&["localhost:2525".into(), "127.0.0.1:2526".into()]).unwrap();
        assert!(lo.contains(&"127.0.0.1:2525".parse().unwrap()), "{lo:?}");
        assert!(lo.contains(&"127.0.0.1:2526".parse().unwrap()), "{lo:?}");
        let meta =
            resolve(&["169.254.169.254:80".into(), "[fe80::1]:80".into(), "100.100.100.200:80".into()])
                .unwrap();
        assert!(meta.is_empty(), "{meta:?}");
    }
}
