//! Events as they sit in event blocks, and their parameters decoded by the table's types.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::block::{Cursor, EVENT_HEADER_LEN, EVENT_HEADER_LEN_V1, EventBlockShape};
use crate::error::ErrorKind;
use crate::table::{Direction, EventInfo, ParamType, event_info};

/// Socket families as libs encodes them in sockaddr and tuple parameters.
pub const PPM_AF_UNIX: u8 = 1;
pub const PPM_AF_INET: u8 = 2;
pub const PPM_AF_INET6: u8 = 10;

/// One event: header fields and its parameters' raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since the epoch.
    pub ts: u64,
    /// Thread id (host namespace).
    pub tid: u64,
    /// Event code (see [`crate::table`]).
    pub code: u16,
    /// The cpu the event was recorded on.
    pub cpu: u16,
    /// Flags of EVF blocks, 0 otherwise.
    pub dump_flags: u32,
    data: Vec<u8>,
    /// (start, len) of each parameter in `data`.
    spans: Vec<(u32, u32)>,
}

impl Event {
    /// Builds an event from parameter values in wire form (for writers and tests).
    pub fn new(ts: u64, tid: u64, code: u16, cpu: u16, params: &[&[u8]]) -> Self {
        let mut data = Vec::new();
        let mut spans = Vec::with_capacity(params.len());
        for p in params {
            spans.push((data.len() as u32, p.len() as u32));
            data.extend_from_slice(p);
        }
        Event { ts, tid, code, cpu, dump_flags: 0, data, spans }
    }

    /// Decodes the body of an event block of the given shape.
    pub fn decode(body: &[u8], shape: EventBlockShape) -> Result<Self, ErrorKind> {
        let mut c = Cursor::new(body);
        let cpu = c.u16("event cpu id")?;
        let dump_flags = if shape.has_flags { c.u32("event flags")? } else { 0 };
        let start = c.pos();
        let ts = c.u64("event timestamp")?;
        let tid = c.u64("event thread id")?;
        let len = c.u32("event length")? as usize;
        let code = c.u16("event type")?;
        let hdr_len = if shape.has_nparams { EVENT_HEADER_LEN } else { EVENT_HEADER_LEN_V1 };
        let declared = if shape.has_nparams { Some(c.u32("event parameter count")?) } else { None };
        if len < hdr_len {
            return Err(ErrorKind::BadEvent(format!(
                "event length {len} is shorter than its {hdr_len}-byte header"
            )));
        }
        if len > body.len() - start {
            return Err(ErrorKind::BadEvent(format!(
                "event length {len} exceeds the {} bytes of its block",
                body.len() - start
            )));
        }
        let payload = &body[start + hdr_len..start + len];
        let info = event_info(code);
        let large = shape.large && info.is_some_and(|i| i.large_payload());
        let width = if large { 4 } else { 2 };
        let nparams = match declared {
            Some(n) => n as usize,
            None => infer_nparams(payload, info.map_or(0, |i| i.params.len())).ok_or_else(|| {
                ErrorKind::BadEvent(format!(
                    "type {code}: no parameter count matches its {} bytes",
                    payload.len()
                ))
            })?,
        };
        let lens_len = nparams.checked_mul(width).filter(|&l| l <= payload.len()).ok_or_else(|| {
            ErrorKind::BadEvent(format!(
                "type {code}: {nparams} parameter lengths do not fit in {} bytes",
                payload.len()
            ))
        })?;
        let (lens, values) = payload.split_at(lens_len);
        let mut spans = Vec::with_capacity(nparams);
        let mut at = 0usize;
        for i in 0..nparams {
            let l = if large {
                u32::from_le_bytes(lens[i * 4..i * 4 + 4].try_into().unwrap()) as usize
            } else {
                u16::from_le_bytes(lens[i * 2..i * 2 + 2].try_into().unwrap()) as usize
            };
            if l > values.len() - at {
                return Err(ErrorKind::BadEvent(format!(
                    "type {code}: parameter {i} of {l} bytes overruns the event"
                )));
            }
            spans.push((at as u32, l as u32));
            at += l;
        }
        Ok(Event { ts, tid, code, cpu, dump_flags, data: values[..at].to_vec(), spans })
    }

    /// Encodes the event (header, u16 or u32 lengths, values) as libs lays it out in a v2
    /// event block body after the cpu id.
    pub fn encode(&self) -> Vec<u8> {
        let large = self.info().is_some_and(|i| i.large_payload());
        let width = if large { 4 } else { 2 };
        let len = EVENT_HEADER_LEN + self.spans.len() * width + self.data.len();
        let mut b = Vec::with_capacity(len);
        b.extend_from_slice(&self.ts.to_le_bytes());
        b.extend_from_slice(&self.tid.to_le_bytes());
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b.extend_from_slice(&self.code.to_le_bytes());
        b.extend_from_slice(&(self.spans.len() as u32).to_le_bytes());
        for &(_, l) in &self.spans {
            if large {
                b.extend_from_slice(&l.to_le_bytes());
            } else {
                b.extend_from_slice(&(l as u16).to_le_bytes());
            }
        }
        b.extend_from_slice(&self.data);
        b
    }

    /// The table entry, `None` for a code newer than this table.
    pub fn info(&self) -> Option<&'static EventInfo> {
        event_info(self.code)
    }

    /// The event name, `None` for unknown codes.
    pub fn name(&self) -> Option<&'static str> {
        self.info().map(|i| i.name)
    }

    pub fn direction(&self) -> Direction {
        Direction::of(self.code)
    }

    /// How many parameters the event carries.
    pub fn nparams(&self) -> usize {
        self.spans.len()
    }

    /// The raw bytes of parameter `i`.
    pub fn raw(&self, i: usize) -> Option<&[u8]> {
        let &(s, l) = self.spans.get(i)?;
        Some(&self.data[s as usize..(s + l) as usize])
    }

    /// Parameter `i` decoded by its table type.
    pub fn param(&self, i: usize) -> Option<Param<'_>> {
        let raw = self.raw(i)?;
        let ty = self.info().and_then(|e| e.params.get(i)).map_or(ParamType::Bytebuf, |p| p.ty);
        Some(Param::decode(ty, raw))
    }

    /// The parameter named `name` (per the table), decoded.
    pub fn param_named(&self, name: &str) -> Option<Param<'_>> {
        let i = self.info()?.param_index(name)?;
        self.param(i)
    }

    /// Name and decoded value of every parameter present.
    pub fn params(&self) -> impl Iterator<Item = (&'static str, Param<'_>)> + '_ {
        let info = self.info();
        (0..self.nparams()).map(move |i| {
            let name = info.and_then(|e| e.params.get(i)).map_or("?", |p| p.name);
            (name, self.param(i).unwrap())
        })
    }
}

/// Old event blocks have no parameter count: like libs, take the largest count up to the
/// table's whose lengths add up to exactly the payload.
fn infer_nparams(payload: &[u8], max: usize) -> Option<usize> {
    (0..=max).rev().find(|&n| {
        if n * 2 > payload.len() {
            return false;
        }
        let total: usize =
            (0..n).map(|i| u16::from_le_bytes([payload[i * 2], payload[i * 2 + 1]]) as usize).sum();
        n * 2 + total == payload.len()
    })
}

/// A socket address parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockAddr {
    Inet(SocketAddr),
    Unix(Vec<u8>),
    Other(u8),
}

/// A socket tuple parameter: both ends of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockTuple {
    Inet { src: SocketAddr, dst: SocketAddr },
    Unix { src: u64, dst: u64, path: Vec<u8> },
    Other(u8),
}

/// A parameter decoded by its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Param<'a> {
    /// Zero bytes: the producer had no value.
    Empty,
    Int(i64),
    Uint(u64),
    Double(f64),
    /// charbuf and paths, without the trailing NUL.
    Str(&'a [u8]),
    /// Raw buffers (data, args and env as NUL-separated strings).
    Bytes(&'a [u8]),
    SockAddr(SockAddr),
    SockTuple(SockTuple),
    FdList(Vec<(i64, u16)>),
    Ip(IpAddr),
    /// A value whose size does not fit its type.
    Malformed(&'a [u8]),
}

impl<'a> Param<'a> {
    /// Decodes `raw` as type `ty`.
    pub fn decode(ty: ParamType, raw: &'a [u8]) -> Self {
        use ParamType::*;
        if raw.is_empty() {
            return Param::Empty;
        }
        let signed = matches!(ty, Int8 | Int16 | Int32 | Int64 | Errno | Fd | Pid | Fd32 | Pid32);
        match ty {
            Charbuf | Fspath | Fsrelpath => Param::Str(raw.strip_suffix(&[0]).unwrap_or(raw)),
            Bytebuf | Charbufarray | CharbufPairArray | Dyn | None => Param::Bytes(raw),
            Double => match <[u8; 8]>::try_from(raw) {
                Ok(b) => Param::Double(f64::from_le_bytes(b)),
                Err(_) => Param::Malformed(raw),
            },
            Sockaddr => decode_sockaddr(raw).map_or(Param::Malformed(raw), Param::SockAddr),
            Socktuple => decode_socktuple(raw).map_or(Param::Malformed(raw), Param::SockTuple),
            Fdlist => decode_fdlist(raw).map_or(Param::Malformed(raw), Param::FdList),
            Ipv4addr if raw.len() == 4 => {
                Param::Ip(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(raw).unwrap())))
            }
            Ipv6addr if raw.len() == 16 => {
                Param::Ip(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(raw).unwrap())))
            }
            Ipaddr => match raw.len() {
                4 => Param::Ip(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(raw).unwrap()))),
                16 => Param::Ip(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(raw).unwrap()))),
                _ => Param::Malformed(raw),
            },
            Ipv4net | Ipv6net | Ipnet => Param::Bytes(raw),
            _ => match int_le(raw, signed) {
                Some(v) if signed => Param::Int(v as i64),
                Some(v) => Param::Uint(v),
                Option::None => Param::Malformed(raw),
            },
        }
    }

    /// The value as a signed integer, for numeric parameters.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Param::Int(v) => Some(v),
            Param::Uint(v) => Some(v as i64),
            _ => None,
        }
    }

    /// The value as an unsigned integer, for numeric parameters.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Param::Int(v) => Some(v as u64),
            Param::Uint(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes of a string or buffer parameter.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Param::Str(b) | Param::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// A little-endian integer of 1, 2, 4 or 8 bytes, sign-extended when `signed`.
fn int_le(raw: &[u8], signed: bool) -> Option<u64> {
    Some(match raw.len() {
        1 if signed => raw[0] as i8 as i64 as u64,
        1 => raw[0] as u64,
        2 if signed => i16::from_le_bytes(raw.try_into().ok()?) as i64 as u64,
        2 => u16::from_le_bytes(raw.try_into().ok()?) as u64,
        4 if signed => i32::from_le_bytes(raw.try_into().ok()?) as i64 as u64,
        4 => u32::from_le_bytes(raw.try_into().ok()?) as u64,
        8 => u64::from_le_bytes(raw.try_into().ok()?),
        _ => return None,
    })
}

fn v4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

fn v6(b: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).unwrap())
}

fn port(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

/// An IPv4-mapped IPv6 address stays in its v6 form: libs prints what the kernel had.
fn decode_sockaddr(raw: &[u8]) -> Option<SockAddr> {
    let (&family, rest) = raw.split_first()?;
    Some(match family {
        PPM_AF_INET if rest.len() >= 6 => {
            SockAddr::Inet(SocketAddr::new(IpAddr::V4(v4(rest)), port(&rest[4..])))
        }
        PPM_AF_INET6 if rest.len() >= 18 => {
            SockAddr::Inet(SocketAddr::new(IpAddr::V6(v6(rest)), port(&rest[16..])))
        }
        PPM_AF_UNIX => {
            let path = rest.split(|&b| b == 0).next().unwrap_or(&[]);
            // An abstract socket's name starts with a NUL; keep it as libs does not.
            let path = if rest.first() == Some(&0) { rest.strip_suffix(&[0]).unwrap_or(rest) } else { path };
            SockAddr::Unix(path.to_vec())
        }
        PPM_AF_INET | PPM_AF_INET6 => return None,
        f => SockAddr::Other(f),
    })
}

fn decode_socktuple(raw: &[u8]) -> Option<SockTuple> {
    let (&family, rest) = raw.split_first()?;
    Some(match family {
        PPM_AF_INET if rest.len() >= 12 => SockTuple::Inet {
            src: SocketAddr::new(IpAddr::V4(v4(rest)), port(&rest[4..])),
            dst: SocketAddr::new(IpAddr::V4(v4(&rest[6..])), port(&rest[10..])),
        },
        PPM_AF_INET6 if rest.len() >= 36 => SockTuple::Inet {
            src: SocketAddr::new(IpAddr::V6(v6(rest)), port(&rest[16..])),
            dst: SocketAddr::new(IpAddr::V6(v6(&rest[18..])), port(&rest[34..])),
        },
        PPM_AF_UNIX if rest.len() >= 16 => {
            let src = u64::from_le_bytes(rest[0..8].try_into().unwrap());
            let dst = u64::from_le_bytes(rest[8..16].try_into().unwrap());
            let path = &rest[16..];
            let path = path.split(|&b| b == 0).next().unwrap_or(&[]);
            SockTuple::Unix { src, dst, path: path.to_vec() }
        }
        PPM_AF_INET | PPM_AF_INET6 | PPM_AF_UNIX => return None,
        f => SockTuple::Other(f),
    })
}

fn decode_fdlist(raw: &[u8]) -> Option<Vec<(i64, u16)>> {
    let n = u16::from_le_bytes([*raw.first()?, *raw.get(1)?]) as usize;
    let body = &raw[2..];
    if body.len() < n * 10 {
        return None;
    }
    Some(
        (0..n)
            .map(|i| {
                let e = &body[i * 10..i * 10 + 10];
                (i64::from_le_bytes(e[0..8].try_into().unwrap()), u16::from_le_bytes([e[8], e[9]]))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::event_block_shape;
    use crate::table::event_by_ident;

    fn v2_body(ev: &Event) -> Vec<u8> {
        let mut b = ev.cpu.to_le_bytes().to_vec();
        b.extend(ev.encode());
        b
    }

    #[test]
    fn encoded_event_decodes_to_the_same_typed_params() {
        let open_x = event_by_ident("SYSCALL_OPEN_X").unwrap();
        let ev =
            Event::new(7, 42, open_x.code, 1, &[&3i64.to_le_bytes(), b"/etc/passwd\0", &1u32.to_le_bytes()]);
        let shape = event_block_shape(crate::block::EV_BLOCK_TYPE_V2).unwrap();
        let back = Event::decode(&v2_body(&ev), shape).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.param_named("fd"), Some(Param::Int(3)));
        assert_eq!(back.param_named("name"), Some(Param::Str(b"/etc/passwd")));
        assert_eq!(back.param_named("flags"), Some(Param::Uint(1)));
        assert_eq!(back.param_named("mode"), None, "absent parameters stay absent");
    }

    #[test]
    fn v1_event_parameter_count_is_inferred_from_lengths() {
        let ev = Event::new(1, 2, 3, 0, &[&5i64.to_le_bytes(), b"ab\0"]);
        let v2 = v2_body(&ev);
        // Drop the nparams field and shorten len by 4, as a v1 producer wrote it.
        let mut v1 = v2[..2 + 22].to_vec();
        let len = u32::from_le_bytes(v1[2 + 16..2 + 20].try_into().unwrap()) - 4;
        v1[2 + 16..2 + 20].copy_from_slice(&len.to_le_bytes());
        v1.extend_from_slice(&v2[2 + 26..]);
        let shape = event_block_shape(crate::block::EV_BLOCK_TYPE).unwrap();
        let back = Event::decode(&v1, shape).unwrap();
        assert_eq!(back.nparams(), 2);
        assert_eq!(back.param(1), Some(Param::Str(b"ab")));
    }

    #[test]
    fn overrunning_parameter_is_an_error_not_a_panic() {
        let ev = Event::new(1, 2, 3, 0, &[&5i64.to_le_bytes()]);
        let mut body = v2_body(&ev);
        // Claim the parameter is 200 bytes long.
        body[2 + 26] = 200;
        let shape = event_block_shape(crate::block::EV_BLOCK_TYPE_V2).unwrap();
        assert!(matches!(Event::decode(&body, shape), Err(ErrorKind::BadEvent(_))));
    }

    #[test]
    fn tuples_and_addresses_decode() {
        let mut t = vec![PPM_AF_INET];
        t.extend([127, 0, 0, 1]);
        t.extend(40000u16.to_le_bytes());
        t.extend([10, 0, 0, 2]);
        t.extend(80u16.to_le_bytes());
        assert_eq!(
            Param::decode(ParamType::Socktuple, &t),
            Param::SockTuple(SockTuple::Inet {
                src: "127.0.0.1:40000".parse().unwrap(),
                dst: "10.0.0.2:80".parse().unwrap()
            })
        );
        let mut a = vec![PPM_AF_UNIX];
        a.extend(b"/run/x.sock\0");
        assert_eq!(
            Param::decode(ParamType::Sockaddr, &a),
            Param::SockAddr(SockAddr::Unix(b"/run/x.sock".to_vec()))
        );
        assert_eq!(Param::decode(ParamType::Errno, &(-2i64).to_le_bytes()), Param::Int(-2));
        assert_eq!(Param::decode(ParamType::Fd32, &(-1i32).to_le_bytes()), Param::Int(-1));
        assert_eq!(Param::decode(ParamType::Uint32, &[1, 2, 3]), Param::Malformed(&[1, 2, 3]));
    }
}
