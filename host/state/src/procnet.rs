//! Sockets opened before capture started. Their descriptors in `/proc/PID/fd` name only an
//! inode (`socket:[N]`); the network namespace's socket tables (`/proc/PID/net/tcp`, `udp`,
//! `raw`, their IPv6 twins, and `unix`) give that inode its addresses, as Falco's scan of
//! `/proc` does. So a connection that was open when Lanner started has its tuple, and
//! `fd.lip`, `fd.rport` and the inbound and outbound rules work on it as on a new one.
//!
//! Falco's reading, kept here: a TCP/UDP/raw entry with a remote address is a connection
//! written local -> remote; one without (all zeros) is a server socket with its local address
//! only; a unix entry has its path, when bound.

use crate::table::{Fd, FdKind, L4, Sock};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

/// What a socket table says about one inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcSocket {
    /// An IPv4 or IPv6 socket.
    Inet {
        /// Its transport (the table it is in).
        l4: L4,
        /// Its local address.
        local: SocketAddr,
        /// Its peer, when connected.
        remote: Option<SocketAddr>,
    },
    /// A unix socket.
    Unix {
        /// Its path; empty when it has none.
        path: String,
    },
}

impl ProcSocket {
    /// The descriptor this socket is, named as Falco names it; `raw` is the `/proc` link.
    pub fn to_fd(&self, raw: Arc<str>) -> Fd {
        let sock = |l4, local, remote: Option<SocketAddr>, unix_path| Sock {
            l4,
            local,
            remote,
            unix_path,
            connected: remote.is_some(),
            // Without a peer an inet socket can only be a server's (Falco's SERVSOCK).
            is_server: local.is_some() && remote.is_none(),
            name_changed: false,
        };
        let (kind, sock, name) = match self {
            ProcSocket::Inet { l4, local, remote } => {
                // IPv4-mapped IPv6 ends are IPv4, as Falco reads them.
                let (local, remote) = match (unmap(*local), remote.map(unmap)) {
                    (l, Some(r)) if l.is_ipv4() == r.is_ipv4() => (l, Some(r)),
                    (l, None) => (l, None),
                    _ => (*local, *remote),
                };
                let kind = if local.is_ipv4() { FdKind::Ipv4 } else { FdKind::Ipv6 };
                // A server socket is named by its address alone; a connection by its tuple.
                let name = remote.is_none().then(|| format!("{}:{}", local.ip(), local.port()));
                (kind, sock(*l4, Some(local), remote, None), name)
            }
            ProcSocket::Unix { path } => (
                FdKind::Unix,
                sock(L4::Unknown, None, None, (!path.is_empty()).then(|| path.clone())),
                Some(path.clone()),
            ),
        };
        let mut fd = Fd::socket(kind, 0, Some(sock));
        fd.nameraw = raw;
        match name {
            Some(n) => fd.name = Arc::from(n),
            None => fd.rename_socket(),
        }
        fd
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// The socket tables of each network namespace met while reading `/proc`, read once per
/// namespace and only when a process of it has a socket.
#[derive(Debug, Default)]
pub struct NetTables {
    by_ns: HashMap<u64, HashMap<u64, ProcSocket>>,
}

impl NetTables {
    /// The socket of inode `ino` for process `pid`, from its namespace's tables.
    pub fn socket(&mut self, proc_root: &Path, pid: u32, ino: u64) -> Option<&ProcSocket> {
        let dir = proc_root.join(pid.to_string());
        let ns =
            std::fs::read_link(dir.join("ns/net")).ok().and_then(|l| inode_of(&l.to_string_lossy(), "net:"));
        // Without a namespace link (old kernels, or a process gone) the tables are read anyway,
        // under a key of their own.
        let key = ns.unwrap_or(u64::MAX - u64::from(pid));
        self.by_ns.entry(key).or_insert_with(|| read_tables(&dir.join("net"))).get(&ino)
    }
}

/// The inode in a link such as `socket:[1234]` or `net:[4026531840]`.
pub fn inode_of(link: &str, prefix: &str) -> Option<u64> {
    link.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// Every socket of the tables in `net_dir` (a `/proc/PID/net`), by inode.
pub fn read_tables(net_dir: &Path) -> HashMap<u64, ProcSocket> {
    let mut out = HashMap::new();
    let read = |name: &str| std::fs::read_to_string(net_dir.join(name)).unwrap_or_default();
    for (file, l4) in [("tcp", L4::Tcp), ("udp", L4::Udp), ("raw", L4::Raw)] {
        parse_inet(&read(file), false, l4, &mut out);
        parse_inet(&read(&format!("{file}6")), true, l4, &mut out);
    }
    parse_unix(&read("unix"), &mut out);
    out
}

/// Parses a `tcp`/`udp`/`raw` table (IPv6 when `v6`) into `out`; lines that do not parse
/// (the header) are skipped.
pub fn parse_inet(text: &str, v6: bool, l4: L4, out: &mut HashMap<u64, ProcSocket>) {
    for line in text.lines() {
        let mut cols = line.split_whitespace();
        // sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
        let (Some(_), Some(local), Some(remote)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let Some(ino) = cols.nth(6).and_then(|i| i.parse::<u64>().ok()) else { continue };
        let (Some(local), Some(remote)) = (address(local, v6), address(remote, v6)) else { continue };
        if ino == 0 {
            continue;
        }
        let remote = (!remote.ip().is_unspecified()).then_some(remote);
        out.insert(ino, ProcSocket::Inet { l4, local, remote });
    }
}

/// Parses the `unix` table into `out`.
pub fn parse_unix(text: &str, out: &mut HashMap<u64, ProcSocket>) {
    for line in text.lines() {
        // Num: RefCount Protocol Flags Type St Inode [Path]
        let mut cols = line.split_whitespace();
        let Some(num) = cols.next() else { continue };
        if !num.ends_with(':') {
            continue;
        }
        let Some(ino) = cols.nth(5).and_then(|i| i.parse::<u64>().ok()) else { continue };
        let path = cols.next().unwrap_or("").to_string();
        out.insert(ino, ProcSocket::Unix { path });
    }
}

/// A table address: hex IP (as the kernel's words, each in host byte order) and hex port.
fn address(text: &str, v6: bool) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    if v6 {
        if ip.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (w, chunk) in ip.as_bytes().chunks(8).enumerate() {
            let word = u32::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
            bytes[w * 4..w * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        Some(SocketAddr::new(Ipv6Addr::from(bytes).into(), port))
    } else {
        if ip.len() != 8 {
            return None;
        }
        let word = u32::from_str_radix(ip, 16).ok()?;
        Some(SocketAddr::new(Ipv4Addr::from(word.to_ne_bytes()).into(), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_give_connections_servers_and_unix_paths() {
        let mut out = HashMap::new();
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1
";
        parse_inet(tcp, false, L4::Tcp, &mut out);
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 100 0 0 10 0
";
        parse_inet(tcp6, true, L4::Tcp, &mut out);
        parse_unix(
            "Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 1004 /run/x.sock
0000000000000000: 00000003 00000000 00000000 0001 03 1005
",
            &mut out,
        );
        let fd = |ino| out[&ino].to_fd(Arc::from("socket:[x]"));
        let server = fd(1001);
        assert_eq!((server.kind, &*server.name), (FdKind::Ipv4, "127.0.0.1:8080"));
        assert!(server.sock.as_ref().unwrap().is_server);
        let conn = fd(1002);
        assert_eq!(&*conn.name, "127.0.0.1:50000->127.0.0.1:8080");
        assert!(conn.sock.as_ref().unwrap().connected && !conn.sock.as_ref().unwrap().is_server);
        let v6 = fd(1003);
        assert_eq!((v6.kind, &*v6.name), (FdKind::Ipv6, "::1:22"));
        assert_eq!(&*fd(1004).name, "/run/x.sock");
        assert_eq!((fd(1005).kind, &*fd(1005).name), (FdKind::Unix, ""));
        assert_eq!(inode_of("socket:[1234]", "socket:"), Some(1234));
    }
}
