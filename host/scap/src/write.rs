//! Writing scap capture files: a section header, the machine, user, process and fd tables
//! as they were when the capture started, then events.
//!
//! The block versions are the ones sysdig 0.29 (libscap of March 2022) reads and newer
//! libscap still reads: process list v9, fd list v2, user list v2, event blocks v2 (and
//! their large form when a parameter is longer than 64 KiB). Strings in the tables are cut
//! to the lengths that libscap refuses beyond, so a long command line never makes the file
//! unreadable. Events are written with the parameters their event code has in that libscap;
//! newer readers take missing trailing parameters as absent.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use crate::block::{
    EV_BLOCK_TYPE_V2, FDL_BLOCK_TYPE_V2, MI_BLOCK_TYPE, PL_BLOCK_TYPE_V9, SHB_BLOCK_TYPE, UL_BLOCK_TYPE_V2,
    section_header_body, write_block,
};
use crate::event::{PPM_AF_INET, PPM_AF_INET6, PPM_AF_UNIX, SockAddr};
use crate::tables::{FdInfo, FdTarget, GroupInfo, MachineInfo, ThreadInfo, UserInfo, fd_type};

/// libscap's bounds on table strings (`SCAP_MAX_PATH_SIZE`, `SCAP_MAX_ARGS_SIZE`, ...): a
/// longer one makes it reject the whole file.
const MAX_PATH: usize = 1024;
const MAX_ARGS: usize = 4096;
const MAX_ENV: usize = 4096;
const MAX_CGROUPS: usize = 4096;
/// User and group names and home directories must be shorter than this.
const MAX_CREDENTIAL: usize = 255;
/// Parameter lengths are 16 bits in the event blocks written here: longer values are cut.
const MAX_PARAM: usize = u16::MAX as usize;

/// Converts kernel `open` flags to scap's `PPM_O_*` bits (what the `flags` parameters of
/// the open family and the fd list hold).
pub fn open_flags(flags: u32) -> u32 {
    let f = flags as i32;
    let mut out = match f & libc_o::ACCMODE {
        libc_o::WRONLY => 1 << 1,
        libc_o::RDWR => (1 << 0) | (1 << 1),
        _ => 1 << 0,
    };
    let table: [(i32, u32); 12] = [
        (libc_o::CREAT, 1 << 2),
        (libc_o::APPEND, 1 << 3),
        (libc_o::DSYNC, 1 << 4),
        (libc_o::EXCL, 1 << 5),
        (libc_o::NONBLOCK, 1 << 6),
        (libc_o::SYNC, 1 << 7),
        (libc_o::TRUNC, 1 << 8),
        (libc_o::DIRECT, 1 << 9),
        (libc_o::DIRECTORY, 1 << 10),
        (libc_o::LARGEFILE, 1 << 11),
        (libc_o::CLOEXEC, 1 << 12),
        (libc_o::TMPFILE, 1 << 13),
    ];
    for (k, p) in table {
        // O_SYNC includes O_DSYNC's bit and O_TMPFILE O_DIRECTORY's: the whole mask must match.
        if f & k == k {
            out |= p;
        }
    }
    out
}

/// The x86_64 Linux `open` flag values (fixed by the ABI; the `libc` crate is not a
/// dependency of this crate).
mod libc_o {
    pub const ACCMODE: i32 = 0o3;
    pub const WRONLY: i32 = 0o1;
    pub const RDWR: i32 = 0o2;
    pub const CREAT: i32 = 0o100;
    pub const EXCL: i32 = 0o200;
    pub const TRUNC: i32 = 0o1000;
    pub const APPEND: i32 = 0o2000;
    pub const NONBLOCK: i32 = 0o4000;
    pub const DSYNC: i32 = 0o10000;
    pub const DIRECT: i32 = 0o40000;
    pub const LARGEFILE: i32 = 0o100000;
    pub const DIRECTORY: i32 = 0o200000;
    pub const CLOEXEC: i32 = 0o2000000;
    pub const SYNC: i32 = 0o4010000;
    pub const TMPFILE: i32 = 0o20200000;
}

/// Converts kernel clone flags to scap's `PPM_CL_*` bits.
pub fn clone_flags(flags: u64) -> u32 {
    const TABLE: [(u64, u32); 22] = [
        (0x0000_0400, 1 << 0),  // CLONE_FILES
        (0x0000_0200, 1 << 1),  // CLONE_FS
        (0x8000_0000, 1 << 2),  // CLONE_IO
        (0x0800_0000, 1 << 3),  // CLONE_NEWIPC
        (0x4000_0000, 1 << 4),  // CLONE_NEWNET
        (0x0002_0000, 1 << 5),  // CLONE_NEWNS
        (0x2000_0000, 1 << 6),  // CLONE_NEWPID
        (0x0400_0000, 1 << 7),  // CLONE_NEWUTS
        (0x0000_8000, 1 << 8),  // CLONE_PARENT
        (0x0010_0000, 1 << 9),  // CLONE_PARENT_SETTID
        (0x0000_2000, 1 << 10), // CLONE_PTRACE
        (0x0000_0800, 1 << 11), // CLONE_SIGHAND
        (0x0004_0000, 1 << 12), // CLONE_SYSVSEM
        (0x0001_0000, 1 << 13), // CLONE_THREAD
        (0x0080_0000, 1 << 14), // CLONE_UNTRACED
        (0x0000_0100, 1 << 15), // CLONE_VM
        (0x1000_0000, 1 << 20), // CLONE_NEWUSER
        (0x0020_0000, 1 << 23), // CLONE_CHILD_CLEARTID
        (0x0100_0000, 1 << 24), // CLONE_CHILD_SETTID
        (0x0008_0000, 1 << 25), // CLONE_SETTLS
        (0x0000_4000, 1 << 27), // CLONE_VFORK
        (0x0200_0000, 1 << 28), // CLONE_NEWCGROUP (the bit CLONE_STOPPED had)
    ];
    TABLE.iter().filter(|(k, _)| flags & k == *k).fold(0, |acc, (_, p)| acc | p)
}

/// An event's parameters, appended in the order its event code lists them.
#[derive(Debug, Default)]
pub struct Params {
    lens: Vec<u32>,
    data: Vec<u8>,
}

impl Params {
    /// No parameters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many so far.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    fn push(&mut self, bytes: &[u8]) -> &mut Self {
        let bytes = &bytes[..bytes.len().min(MAX_PARAM)];
        self.lens.push(bytes.len() as u32);
        self.data.extend_from_slice(bytes);
        self
    }

    /// A 64-bit signed value (`PT_INT64`, `PT_ERRNO`, `PT_FD`, `PT_PID`).
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.push(&v.to_le_bytes())
    }

    /// A 64-bit unsigned value.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.push(&v.to_le_bytes())
    }

    /// A 32-bit value (`PT_UINT32`, `PT_INT32`, `PT_FLAGS32`, `PT_MODE`, `PT_UID`).
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.push(&v.to_le_bytes())
    }

    /// A 16-bit value.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.push(&v.to_le_bytes())
    }

    /// An 8-bit value (`PT_UINT8`, `PT_SIGTYPE`, `PT_FLAGS8`).
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.push(&[v])
    }

    /// A string (`PT_CHARBUF`, `PT_FSPATH`, `PT_FSRELPATH`): written NUL-terminated, cut at
    /// an embedded NUL.
    pub fn str(&mut self, s: &[u8]) -> &mut Self {
        let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len()).min(MAX_PARAM - 1)];
        self.lens.push(s.len() as u32 + 1);
        self.data.extend_from_slice(s);
        self.data.push(0);
        self
    }

    /// Raw bytes (`PT_BYTEBUF`).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.push(b)
    }

    /// A list of strings as one buffer, each NUL-terminated (args, env, cgroups).
    pub fn str_list<S: AsRef<str>>(&mut self, items: &[S]) -> &mut Self {
        let mut b = Vec::new();
        for s in items {
            b.extend_from_slice(s.as_ref().as_bytes());
            b.push(0);
        }
        self.push(&b)
    }

    /// An empty parameter (the value was not captured).
    pub fn empty(&mut self) -> &mut Self {
        self.push(&[])
    }

    /// A socket address (`PT_SOCKADDR`).
    pub fn sockaddr(&mut self, a: &SockAddr) -> &mut Self {
        let mut b = Vec::new();
        match a {
            SockAddr::Inet(SocketAddr::V4(v4)) => {
                b.push(PPM_AF_INET);
                b.extend_from_slice(&v4.ip().octets());
                b.extend_from_slice(&v4.port().to_le_bytes());
            }
            SockAddr::Inet(SocketAddr::V6(v6)) => {
                b.push(PPM_AF_INET6);
                b.extend_from_slice(&v6.ip().octets());
                b.extend_from_slice(&v6.port().to_le_bytes());
            }
            SockAddr::Unix(path) => {
                b.push(PPM_AF_UNIX);
                b.extend_from_slice(&path[..path.len().min(MAX_UNIX_PATH)]);
                b.push(0);
            }
            SockAddr::Other(family) => b.push(*family),
        }
        self.push(&b)
    }

    /// A connection's ends (`PT_SOCKTUPLE`): `source` is this process's end for a client,
    /// the peer's for a server, as the drivers write it.
    pub fn tuple(&mut self, source: SocketAddr, dest: SocketAddr) -> &mut Self {
        let mut b = Vec::new();
        match (source.ip(), dest.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                b.push(PPM_AF_INET);
                b.extend_from_slice(&s.octets());
                b.extend_from_slice(&source.port().to_le_bytes());
                b.extend_from_slice(&d.octets());
                b.extend_from_slice(&dest.port().to_le_bytes());
            }
            (s, d) => {
                b.push(PPM_AF_INET6);
                b.extend_from_slice(&v6(s));
                b.extend_from_slice(&source.port().to_le_bytes());
                b.extend_from_slice(&v6(d));
                b.extend_from_slice(&dest.port().to_le_bytes());
            }
        }
        self.push(&b)
    }

    /// A unix socket's ends (`PT_SOCKTUPLE`): kernel addresses (0 when unknown) and the path.
    pub fn unix_tuple(&mut self, source: u64, dest: u64, path: &[u8]) -> &mut Self {
        let mut b = vec![PPM_AF_UNIX];
        b.extend_from_slice(&source.to_le_bytes());
        b.extend_from_slice(&dest.to_le_bytes());
        b.extend_from_slice(&path[..path.len().min(MAX_UNIX_PATH)]);
        b.push(0);
        self.push(&b)
    }
}

/// The longest `sun_path`.
const MAX_UNIX_PATH: usize = 108;

/// The header of an event (`ppm_evt_hdr`): timestamp, thread, length, type, parameter count.
const EVT_HEADER: usize = 8 + 8 + 4 + 2 + 4;

/// Writes a scap file.
pub struct Writer<W: Write> {
    out: W,
    block: Vec<u8>,
    events: u64,
}

impl<W: Write> Writer<W> {
    /// Starts a file: the section header and the machine info (in the 180-byte form older
    /// readers take whole: they check the block's length after it).
    pub fn new(mut out: W, machine: &MachineInfo) -> io::Result<Self> {
        write_block(&mut out, SHB_BLOCK_TYPE, &section_header_body())?;
        let mut mi = Vec::with_capacity(180);
        mi.extend_from_slice(&machine.num_cpus.to_le_bytes());
        mi.extend_from_slice(&machine.memory_size_bytes.to_le_bytes());
        mi.extend_from_slice(&machine.max_pid.to_le_bytes());
        let mut host = [0u8; 128];
        let h = machine.hostname.as_bytes();
        let n = h.len().min(127);
        host[..n].copy_from_slice(&h[..n]);
        mi.extend_from_slice(&host);
        mi.extend_from_slice(&[0u8; 32]);
        write_block(&mut out, MI_BLOCK_TYPE, &mi)?;
        Ok(Self { out, block: Vec::with_capacity(1 << 16), events: 0 })
    }

    /// Writes the user list (one block of users and groups).
    pub fn write_users(&mut self, users: &[UserInfo], groups: &[GroupInfo]) -> io::Result<()> {
        let mut b = std::mem::take(&mut self.block);
        b.clear();
        for u in users {
            let entry_start = b.len();
            b.extend_from_slice(&0u32.to_le_bytes());
            b.push(0); // USERBLOCK_TYPE_USER
            b.extend_from_slice(&u.uid.to_le_bytes());
            b.extend_from_slice(&u.gid.to_le_bytes());
            put_str16(&mut b, u.name.as_bytes(), MAX_CREDENTIAL);
            put_str16(&mut b, u.homedir.as_bytes(), MAX_CREDENTIAL);
            put_str16(&mut b, u.shell.as_bytes(), MAX_CREDENTIAL);
            set_len(&mut b, entry_start);
        }
        for g in groups {
            let entry_start = b.len();
            b.extend_from_slice(&0u32.to_le_bytes());
            b.push(1); // USERBLOCK_TYPE_GROUP
            b.extend_from_slice(&g.gid.to_le_bytes());
            put_str16(&mut b, g.name.as_bytes(), MAX_CREDENTIAL);
            set_len(&mut b, entry_start);
        }
        let r = write_block(&mut self.out, UL_BLOCK_TYPE_V2, &b);
        self.block = b;
        r
    }

    /// Writes the process list (version 9): one entry per thread. Their `fds` are not
    /// written here: see [`Writer::write_fds`].
    pub fn write_threads(&mut self, threads: &[ThreadInfo]) -> io::Result<()> {
        let mut b = std::mem::take(&mut self.block);
        b.clear();
        for t in threads {
            let entry_start = b.len();
            b.extend_from_slice(&0u32.to_le_bytes());
            for v in [t.tid, t.pid, t.ptid, t.sid as u64, t.vpgid as u64] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            put_str16(&mut b, t.comm.as_bytes(), MAX_PATH);
            put_str16(&mut b, t.exe.as_bytes(), MAX_PATH);
            put_str16(&mut b, t.exepath.as_bytes(), MAX_PATH);
            put_str16(&mut b, &nul_list(&t.args, MAX_ARGS), MAX_ARGS);
            put_str16(&mut b, t.cwd.as_bytes(), MAX_PATH);
            b.extend_from_slice(&t.fdlimit.to_le_bytes());
            b.extend_from_slice(&t.flags.to_le_bytes());
            b.extend_from_slice(&t.uid.to_le_bytes());
            b.extend_from_slice(&t.gid.to_le_bytes());
            for v in [t.vmsize_kb, t.vmrss_kb, t.vmswap_kb] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(&t.pfmajor.to_le_bytes());
            b.extend_from_slice(&t.pfminor.to_le_bytes());
            put_str16(&mut b, &nul_list(&t.env, MAX_ENV), MAX_ENV);
            b.extend_from_slice(&t.vtid.to_le_bytes());
            b.extend_from_slice(&t.vpid.to_le_bytes());
            put_str16(&mut b, &nul_list(&t.cgroups, MAX_CGROUPS), MAX_CGROUPS);
            put_str16(&mut b, t.root.as_bytes(), MAX_PATH);
            b.extend_from_slice(&t.loginuid.to_le_bytes());
            b.push(u8::from(t.exe_writable));
            set_len(&mut b, entry_start);
        }
        let r = write_block(&mut self.out, PL_BLOCK_TYPE_V9, &b);
        self.block = b;
        r
    }

    /// Writes the fd list (version 2) of one process, `tid` its main thread. Fd types
    /// newer than sysdig 0.29 knows (bpf, userfaultfd, io_uring, memfd, pidfd) are written
    /// as "unsupported" with their names: that reader rejects the whole file otherwise.
    pub fn write_fds(&mut self, tid: u64, fds: &[FdInfo]) -> io::Result<()> {
        let mut b = std::mem::take(&mut self.block);
        b.clear();
        b.extend_from_slice(&tid.to_le_bytes());
        for f in fds {
            let entry_start = b.len();
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&f.fd.to_le_bytes());
            b.extend_from_slice(&f.ino.to_le_bytes());
            match &f.target {
                FdTarget::File { open_flags, name, dev } => {
                    b.push(fd_type::FILE_V2);
                    b.extend_from_slice(&open_flags.to_le_bytes());
                    put_str16(&mut b, name.as_bytes(), MAX_PATH);
                    b.extend_from_slice(&dev.to_le_bytes());
                }
                FdTarget::Ipv4Sock { src, dst, l4proto } | FdTarget::Ipv6Sock { src, dst, l4proto } => {
                    match (src.ip(), dst.ip()) {
                        (IpAddr::V4(s), IpAddr::V4(d)) => {
                            b.push(fd_type::IPV4_SOCK);
                            b.extend_from_slice(&s.octets());
                            b.extend_from_slice(&d.octets());
                        }
                        (s, d) => {
                            b.push(fd_type::IPV6_SOCK);
                            b.extend_from_slice(&v6(s));
                            b.extend_from_slice(&v6(d));
                        }
                    }
                    b.extend_from_slice(&src.port().to_le_bytes());
                    b.extend_from_slice(&dst.port().to_le_bytes());
                    b.push(*l4proto);
                }
                FdTarget::Ipv4Server { addr, l4proto } | FdTarget::Ipv6Server { addr, l4proto } => {
                    match addr.ip() {
                        IpAddr::V4(a) => {
                            b.push(fd_type::IPV4_SERVSOCK);
                            b.extend_from_slice(&a.octets());
                        }
                        a => {
                            b.push(fd_type::IPV6_SERVSOCK);
                            b.extend_from_slice(&v6(a));
                        }
                    }
                    b.extend_from_slice(&addr.port().to_le_bytes());
                    b.push(*l4proto);
                }
                FdTarget::Unix { source, dest, path } => {
                    b.push(fd_type::UNIX_SOCK);
                    b.extend_from_slice(&source.to_le_bytes());
                    b.extend_from_slice(&dest.to_le_bytes());
                    put_str16(&mut b, path.as_bytes(), MAX_PATH);
                }
                FdTarget::Named { name } => {
                    let known = matches!(f.fd_type, fd_type::FILE..=fd_type::NETLINK)
                        && !matches!(
                            f.fd_type,
                            fd_type::IPV4_SOCK
                                | fd_type::IPV6_SOCK
                                | fd_type::IPV4_SERVSOCK
                                | fd_type::IPV6_SERVSOCK
                                | fd_type::UNIX_SOCK
                        );
                    b.push(if known { f.fd_type } else { fd_type::UNSUPPORTED });
                    put_str16(&mut b, name.as_bytes(), MAX_PATH);
                }
                FdTarget::Unsupported => {
                    b.push(fd_type::UNSUPPORTED);
                    put_str16(&mut b, b"", MAX_PATH);
                }
            }
            set_len(&mut b, entry_start);
        }
        let r = write_block(&mut self.out, FDL_BLOCK_TYPE_V2, &b);
        self.block = b;
        r
    }

    /// Writes one event: `code` is its scap event type, `params` in that type's order.
    pub fn write_event(
        &mut self,
        cpu: u16,
        ts_ns: u64,
        tid: u64,
        code: u16,
        params: &Params,
    ) -> io::Result<()> {
        let evt_len = EVT_HEADER + params.lens.len() * 2 + params.data.len();
        let b = &mut self.block;
        b.clear();
        b.extend_from_slice(&cpu.to_le_bytes());
        b.extend_from_slice(&ts_ns.to_le_bytes());
        b.extend_from_slice(&tid.to_le_bytes());
        b.extend_from_slice(&(evt_len as u32).to_le_bytes());
        b.extend_from_slice(&code.to_le_bytes());
        b.extend_from_slice(&(params.lens.len() as u32).to_le_bytes());
        for &l in &params.lens {
            b.extend_from_slice(&(l as u16).to_le_bytes());
        }
        b.extend_from_slice(&params.data);
        write_block(&mut self.out, EV_BLOCK_TYPE_V2, b)?;
        self.events += 1;
        Ok(())
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Checks an event against the event table: a known code, no more parameters than it has,
/// and each fixed-width parameter of its width (or empty). Writers run it in their tests:
/// a mistake here would make every reader misparse the event, silently.
pub fn check_event(code: u16, params: &Params) -> Result<(), String> {
    let info =
        crate::table::event_info(code).ok_or_else(|| format!("event code {code} is not in the table"))?;
    if params.lens.len() > info.params.len() {
        return Err(format!(
            "{}: {} parameters, the table has {}",
            info.ident,
            params.lens.len(),
            info.params.len()
        ));
    }
    for (i, (&len, p)) in params.lens.iter().zip(info.params).enumerate() {
        if let Some(w) = crate::table::fixed_width(p.ty)
            && len != 0
            && len as usize != w
        {
            return Err(format!("{} parameter {i} ({}): {len} bytes, its type has {w}", info.ident, p.name));
        }
    }
    Ok(())
}

/// An address as IPv6 (IPv4 mapped).
fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Appends a string with its 16-bit length, cut to `max` bytes.
fn put_str16(b: &mut Vec<u8>, s: &[u8], max: usize) {
    let s = &s[..s.len().min(max)];
    b.extend_from_slice(&(s.len() as u16).to_le_bytes());
    b.extend_from_slice(s);
}

/// Strings each NUL-terminated, cut to whole strings within `max` bytes.
fn nul_list(items: &[String], max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for s in items {
        if out.len() + s.len() + 1 > max {
            break;
        }
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    out
}

/// Fills in a table entry's leading 32-bit length (the entry's size, length included).
fn set_len(b: &mut [u8], entry_start: usize) {
    let len = (b.len() - entry_start) as u32;
    b[entry_start..entry_start + 4].copy_from_slice(&len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_follow_scap() {
        // O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC
        assert_eq!(open_flags(0o1 | 0o100 | 0o1000 | 0o2000000), (1 << 1) | (1 << 2) | (1 << 8) | (1 << 12));
        assert_eq!(open_flags(0), 1);
        // O_SYNC carries O_DSYNC's bit: both are set, as the kernel means both.
        assert_eq!(open_flags(0o4010000), 1 | (1 << 4) | (1 << 7));
        // O_DSYNC alone is not O_SYNC.
        assert_eq!(open_flags(0o10000), 1 | (1 << 4));
    }

    #[test]
    fn what_is_written_reads_back() {
        let machine = MachineInfo {
            num_cpus: 2,
            memory_size_bytes: 1 << 30,
            max_pid: 4_194_304,
            hostname: "h".into(),
            ..Default::default()
        };
        let mut w = Writer::new(Vec::new(), &machine).unwrap();
        let users = vec![UserInfo {
            uid: 0,
            gid: 0,
            name: "root".into(),
            homedir: "/root".into(),
            shell: "/bin/sh".into(),
        }];
        let groups = vec![GroupInfo { gid: 0, name: "root".into() }];
        w.write_users(&users, &groups).unwrap();
        let t = ThreadInfo {
            tid: 42,
            pid: 42,
            ptid: 1,
            sid: 42,
            vpgid: 42,
            comm: "cat".into(),
            exe: "cat".into(),
            exepath: "/usr/bin/cat".into(),
            args: vec!["a b".into(), "c".into()],
            cwd: "/tmp".into(),
            env: vec!["A=1".into()],
            vtid: 42,
            vpid: 42,
            root: "/".into(),
            loginuid: 1000,
            exe_writable: true,
            ..ThreadInfo::default()
        };
        w.write_threads(std::slice::from_ref(&t)).unwrap();
        let fds = vec![
            FdInfo {
                fd: 3,
                ino: 0,
                fd_type: fd_type::FILE_V2,
                target: FdTarget::File { open_flags: 1, name: "/etc/passwd".into(), dev: 0 },
            },
            FdInfo {
                fd: 4,
                ino: 0,
                fd_type: fd_type::IPV4_SOCK,
                target: FdTarget::Ipv4Sock {
                    src: "127.0.0.1:5000".parse().unwrap(),
                    dst: "127.0.0.1:80".parse().unwrap(),
                    l4proto: 2,
                },
            },
            FdInfo {
                fd: 5,
                ino: 0,
                fd_type: fd_type::IPV6_SERVSOCK,
                target: FdTarget::Ipv6Server { addr: "[::1]:8080".parse().unwrap(), l4proto: 2 },
            },
            FdInfo {
                fd: 6,
                ino: 0,
                fd_type: fd_type::UNIX_SOCK,
                target: FdTarget::Unix { source: 1, dest: 2, path: "/run/s".into() },
            },
            FdInfo {
                fd: 7,
                ino: 0,
                fd_type: fd_type::FIFO,
                target: FdTarget::Named { name: "pipe:[1]".into() },
            },
        ];
        w.write_fds(42, &fds).unwrap();
        let mut p = Params::new();
        p.i64(3).i64(-100).str(b"/tmp/x").u32(open_flags(0)).u32(0).u32(0);
        let code = crate::table::event_by_ident("SYSCALL_OPENAT_2_X").unwrap().code;
        check_event(code, &p).unwrap();
        w.write_event(1, 10, 42, code, &p).unwrap();
        let bytes = w.finish().unwrap();

        let mut r = crate::reader::ScapReader::new(&bytes[..]).unwrap();
        let tables = r.tables().clone();
        assert_eq!(tables.machine.as_ref().unwrap().hostname, "h");
        assert_eq!(tables.machine.as_ref().unwrap().num_cpus, 2);
        assert_eq!(tables.users, users);
        assert_eq!(tables.groups, groups);
        let back = &tables.threads[&42];
        assert_eq!(
            (back.comm.as_str(), back.exepath.as_str(), &back.args, &back.env),
            ("cat", "/usr/bin/cat", &t.args, &t.env)
        );
        assert_eq!((back.loginuid, back.exe_writable, back.cwd.as_str()), (1000, true, "/tmp"));
        assert_eq!(back.fds, fds);
        let ev = r.next_event().unwrap().unwrap();
        assert_eq!((ev.ts, ev.tid, ev.cpu, ev.code, ev.nparams()), (10, 42, 1, code, 6));
        assert_eq!(
            ev.param_named("name").and_then(|p| p.as_bytes().map(<[u8]>::to_vec)),
            Some(b"/tmp/x".to_vec())
        );
        assert!(r.next_event().unwrap().is_none());
    }

    #[test]
    fn mistakes_against_the_table_are_caught() {
        let code = crate::table::event_by_ident("SYSCALL_CLOSE_E").unwrap().code;
        let mut p = Params::new();
        p.u32(3);
        assert!(check_event(code, &p).unwrap_err().contains("4 bytes, its type has 8"));
        let mut p = Params::new();
        p.i64(3).i64(4);
        assert!(check_event(code, &p).is_err());
        assert!(check_event(u16::MAX, &Params::new()).is_err());
    }

    #[test]
    fn table_strings_are_cut_to_what_readers_take() {
        let mut w = Writer::new(Vec::new(), &MachineInfo::default()).unwrap();
        let t = ThreadInfo {
            tid: 1,
            pid: 1,
            comm: "x".repeat(5000),
            args: vec!["y".repeat(3000), "z".repeat(3000)],
            ..ThreadInfo::default()
        };
        w.write_threads(&[t]).unwrap();
        let mut p = Params::new();
        p.i64(0);
        w.write_event(0, 0, 1, crate::table::event_by_ident("SYSCALL_CLOSE_E").unwrap().code, &p).unwrap();
        let bytes = w.finish().unwrap();
        let r = crate::reader::ScapReader::new(&bytes[..]).unwrap();
        let back = &r.tables().threads[&1];
        assert_eq!(back.comm.len(), MAX_PATH);
        // Whole arguments only: the second would pass the bound.
        assert_eq!(back.args, vec!["y".repeat(3000)]);
    }
}
