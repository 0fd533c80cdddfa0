//! Outbound TCP for plugins granted it (`grants.tcp`), as the email sink needs for SMTP.
//!
//! `grants.tcp` lists `host:port` destinations. They are resolved when the plugin's store is
//! made; `wasi:sockets` then lets the plugin connect to exactly those addresses and ports,
//! never to a link-local or metadata address (also when a granted name resolves to one),
//! and never listen or use UDP. Name lookup inside the plugin is on only when it has a TCP
//! grant (it can then connect by name: the name must resolve to a granted address). A plugin
//! without the grant has no sockets at all.

use crate::http::is_always_denied;
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
        out.extend(addrs.filter(|a| !is_always_denied(a.ip())));
    }
    Ok(out)
}

/// Sets up `wasi:sockets` on `b` for the granted destinations (nothing when none).
pub fn install(b: &mut WasiCtxBuilder, plugin: &Arc<str>, grants: &[String]) -> Result<(), String> {
    if grants.is_empty() {
        return Ok(());
    }
    let allowed = Arc::new(resolve(grants)?);
    let plugin = plugin.clone();
    b.allow_tcp(true).allow_ip_name_lookup(true);
    b.socket_addr_check(move |addr, usage| {
        let ok = match usage {
            // The implicit bind before a connect is to the wildcard address.
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
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
