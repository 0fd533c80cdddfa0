//! Decoding the probe's records (layout in `lanner_probe_common`) into [`RawEvent`]s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use lanner_probe_common::{
    EXEC_INFO_LEN, HEADER_LEN, ITEM_HEADER_LEN, RecordHeader, SOCK_TUPLE_LEN, flags, item, kind,
};

use crate::record::{Captured, ExecInfo, RawEvent, RecordKind, SockAddr, SockTuple};

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a header.
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    /// The header's length disagrees with the record's.
    #[error("record header says {said} bytes, the ring buffer gave {got}")]
    Length {
        /// `RecordHeader::len`.
        said: usize,
        /// The ring buffer entry's length.
        got: usize,
    },
    /// An item runs past the record's end.
    #[error("item {0} runs past the end of the record")]
    Item(usize),
    /// An unknown record kind.
    #[error("unknown record kind {0}")]
    Kind(u16),
}

const AF_UNIX: u16 = libc::AF_UNIX as u16;
const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;

/// Decodes a raw socket address (`struct sockaddr_*` bytes as the process passed them).
pub fn decode_sockaddr(b: &[u8]) -> Option<SockAddr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
    let be16 = |at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    match family {
        AF_INET => {
            let port = be16(2)?;
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SockAddr::Inet(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))))
        }
        AF_INET6 => {
            let port = be16(2)?;
            let flowinfo = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = b.get(24..28).map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
            Some(SockAddr::Inet(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flowinfo, scope))))
        }
        AF_UNIX => {
            let path = b.get(2..).unwrap_or_default();
            // A pathname ends at its NUL; an abstract name (leading NUL) is all its bytes.
            let path = if path.first() == Some(&0) {
                path
            } else {
                &path[..path.iter().position(|&c| c == 0).unwrap_or(path.len())]
            };
            Some(SockAddr::Unix(path.to_vec()))
        }
        other => Some(SockAddr::Other(other)),
    }
}

/// Decodes a socket tuple item (`lanner_probe_common::SockTuple`); `None` for another family.
fn decode_tuple(b: &[u8]) -> Option<SockTuple> {
    if b.len() < SOCK_TUPLE_LEN {
        return None;
    }
    // SAFETY: at least SOCK_TUPLE_LEN bytes of plain integers; read_unaligned has no alignment
    // requirement.
    let t: lanner_probe_common::SockTuple = unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
    let ip = |a: [u8; 16]| -> Option<IpAddr> {
        match t.family {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
            AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(a))),
            _ => None,
        }
    };
    let local = SocketAddr::new(ip(t.laddr)?, t.lport);
    let remote = ip(t.raddr).map(|a| SocketAddr::new(a, t.rport)).filter(|r| r.port() != 0);
    Some(SockTuple { local, remote })
}

/// Decodes one record; `boot_to_wall_ns` is added to its boot-time timestamp.
pub fn decode(bytes: &[u8], boot_to_wall_ns: i64) -> Result<RawEvent, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::Short(bytes.len()));
    }
    // SAFETY: at least HEADER_LEN bytes; RecordHeader is plain integers, any bit pattern valid;
    // read_unaligned has no alignment requirement.
    let h: RecordHeader = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
    let len = h.len as usize;
    if len < HEADER_LEN || len > bytes.len() {
        return Err(DecodeError::Length { said: len, got: bytes.len() });
    }
    let record_kind = match h.kind {
        kind::SYSCALL => RecordKind::Syscall { nr: h.nr },
        kind::EXEC => RecordKind::Exec,
        kind::FORK => RecordKind::Fork { child_tgid: h.child_tgid, child_tid: h.child_tid },
        kind::EXIT => RecordKind::Exit,
        other => return Err(DecodeError::Kind(other)),
    };
    let mut strings = Vec::new();
    let mut sockaddr = None;
    let (mut exec, mut tuple, mut captured) = (None, None, None);
    let mut at = HEADER_LEN;
    for i in 0..usize::from(h.n_items) {
        let ih = bytes.get(at..at + ITEM_HEADER_LEN).ok_or(DecodeError::Item(i))?;
        let item_len = usize::from(u16::from_ne_bytes([ih[0], ih[1]]));
        let (item_kind, item_flags) = (ih[2], ih[3]);
        at += ITEM_HEADER_LEN;
        let data = bytes.get(at..at + item_len).ok_or(DecodeError::Item(i))?;
        at += item_len;
        match item_kind {
            item::STRING => {
                let mut data = data;
                let truncated = item_flags & flags::TRUNCATED != 0;
                // argv and the environment are NUL-separated buffers ending with a NUL.
                if h.kind == kind::EXEC && !truncated && data.last() == Some(&0) {
                    data = &data[..data.len() - 1];
                }
                strings.push(Captured { bytes: data.to_vec(), truncated });
            }
            item::SOCKADDR => sockaddr = decode_sockaddr(data),
            item::EXEC_INFO if data.len() >= EXEC_INFO_LEN => {
                // SAFETY: EXEC_INFO_LEN bytes of plain integers, any bit pattern valid.
                exec = Some(unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<ExecInfo>()) });
            }
            item::SOCK_TUPLE => tuple = decode_tuple(data),
            item::DATA | item::STRUCT => {
                captured =
                    Some(Captured { bytes: data.to_vec(), truncated: item_flags & flags::TRUNCATED != 0 })
            }
            _ => {}
        }
    }
    let comm_end = h.comm.iter().position(|&c| c == 0).unwrap_or(h.comm.len());
    Ok(RawEvent {
        ts_ns: h.ts_boot_ns.saturating_add_signed(boot_to_wall_ns),
        cpu: h.cpu,
        tgid: h.tgid,
        tid: h.tid,
        ppid: h.ppid,
        uid: h.uid,
        gid: h.gid,
        loginuid: h.loginuid,
        cap_effective: h.cap_effective,
        cap_permitted: h.cap_permitted,
        tty: h.tty,
        comm: String::from_utf8_lossy(&h.comm[..comm_end]).into_owned(),
        cgroup_id: h.cgroup_id,
        kind: record_kind,
        ret: h.ret,
        args: h.args,
        strings,
        sockaddr,
        vtid: h.vtid,
        exec,
        tuple,
        data: captured,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_probe_common::COMM_LEN;

    fn header(kind: u16, n_items: u16) -> RecordHeader {
        let mut comm = [0u8; COMM_LEN];
        comm[..3].copy_from_slice(b"cat");
        RecordHeader {
            ts_boot_ns: 1_000,
            cgroup_id: 7,
            cap_effective: 1,
            cap_permitted: 2,
            ret: -2,
            args: [1, 2, 3, 4, 5, 6],
            len: 0,
            kind,
            n_items,
            nr: 257,
            cpu: 1,
            tgid: 10,
            tid: 11,
            ppid: 9,
            uid: 0,
            gid: 0,
            loginuid: u32::MAX,
            tty: 0,
            child_tgid: 0,
            child_tid: 0,
            vtid: 0,
            comm,
        }
    }

    fn record(mut h: RecordHeader, items: &[(u8, u8, &[u8])]) -> Vec<u8> {
        let mut payload = Vec::new();
        for (k, f, data) in items {
            payload.extend_from_slice(&(data.len() as u16).to_ne_bytes());
            payload.extend_from_slice(&[*k, *f]);
            payload.extend_from_slice(data);
        }
        h.len = (HEADER_LEN + payload.len()) as u32;
        let mut out = vec![0u8; HEADER_LEN];
        // SAFETY: HEADER_LEN bytes; write_unaligned has no alignment requirement.
        unsafe { std::ptr::write_unaligned(out.as_mut_ptr().cast(), h) };
        out.extend_from_slice(&payload);
        // The ring buffer pads entries to 8 bytes.
        out.resize(out.len().next_multiple_of(8), 0);
        out
    }

    #[test]
    fn syscall_record_with_string() {
        let bytes = record(header(kind::SYSCALL, 1), &[(item::STRING, 0, b"/etc/shadow")]);
        let ev = decode(&bytes, 5).unwrap();
        assert_eq!(ev.ts_ns, 1_005);
        assert_eq!(ev.kind, RecordKind::Syscall { nr: 257 });
        assert_eq!(ev.comm, "cat");
        assert_eq!(ev.ret, -2);
        assert_eq!(ev.args, [1, 2, 3, 4, 5, 6]);
        assert_eq!(ev.strings, vec![Captured { bytes: b"/etc/shadow".to_vec(), truncated: false }]);
        assert_eq!(ev.sockaddr, None);
    }

    #[test]
    fn exec_buffers_lose_their_final_nul() {
        let bytes = record(
            header(kind::EXEC, 3),
            &[
                (item::STRING, 0, b"/bin/ls"),
                (item::STRING, 0, b"ls\0-l\0"),
                (item::STRING, flags::TRUNCATED, b"A=1\0B"),
            ],
        );
        let ev = decode(&bytes, 0).unwrap();
        assert_eq!(ev.kind, RecordKind::Exec);
        assert_eq!(ev.strings[1].bytes, b"ls\0-l");
        assert_eq!(ev.strings[2], Captured { bytes: b"A=1\0B".to_vec(), truncated: true });
    }

    #[test]
    fn sockaddrs() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&AF_INET.to_ne_bytes());
        v4[2..4].copy_from_slice(&8080u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(decode_sockaddr(&v4), Some(SockAddr::Inet("127.0.0.1:8080".parse().unwrap())));

        let mut v6 = vec![0u8; 28];
        v6[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
        v6[2..4].copy_from_slice(&443u16.to_be_bytes());
        v6[23] = 1;
        assert_eq!(decode_sockaddr(&v6), Some(SockAddr::Inet("[::1]:443".parse().unwrap())));

        let mut un = AF_UNIX.to_ne_bytes().to_vec();
        un.extend_from_slice(b"/run/x.sock\0\0\0");
        assert_eq!(decode_sockaddr(&un), Some(SockAddr::Unix(b"/run/x.sock".to_vec())));
        let mut abs = AF_UNIX.to_ne_bytes().to_vec();
        abs.extend_from_slice(b"\0hidden");
        assert_eq!(decode_sockaddr(&abs), Some(SockAddr::Unix(b"\0hidden".to_vec())));

        assert_eq!(decode_sockaddr(&16u16.to_ne_bytes()), Some(SockAddr::Other(16)));
        assert_eq!(decode_sockaddr(&[2]), None);
        assert_eq!(decode_sockaddr(&v4[..6]), None, "a cut IPv4 address is not decoded");

        let bytes = record(header(kind::SYSCALL, 1), &[(item::SOCKADDR, 0, &v4)]);
        let ev = decode(&bytes, 0).unwrap();
        assert_eq!(ev.sockaddr, Some(SockAddr::Inet("127.0.0.1:8080".parse().unwrap())));
        assert!(ev.strings.is_empty());
    }

    #[test]
    fn fork_and_bad_records() {
        let mut h = header(kind::FORK, 0);
        h.child_tgid = 20;
        h.child_tid = 21;
        let ev = decode(&record(h, &[]), 0).unwrap();
        assert_eq!(ev.kind, RecordKind::Fork { child_tgid: 20, child_tid: 21 });

        assert_eq!(decode(&[0; 10], 0), Err(DecodeError::Short(10)));
        let mut bytes = record(header(kind::SYSCALL, 2), &[(item::STRING, 0, b"x")]);
        bytes.truncate(HEADER_LEN + 5);
        assert_eq!(decode(&bytes, 0), Err(DecodeError::Item(1)));
        assert_eq!(decode(&record(header(99, 0), &[]), 0), Err(DecodeError::Kind(99)));
        let mut long = record(header(kind::EXIT, 0), &[]);
        long.truncate(HEADER_LEN);
        long[88..92].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(decode(&long, 0), Err(DecodeError::Length { said: 1000, got: HEADER_LEN }));
    }
}
