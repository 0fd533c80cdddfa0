//! Kernel struct member offsets, read from the running kernel's BTF (`/sys/kernel/btf/vmlinux`).
//!
//! aya reads BTF too, but keeps its type and member lookups private; this is a small reader of
//! the BTF type section (kernel `Documentation/bpf/btf.rst`) that answers one question: at
//! which byte offset, and with which size, does `struct S` have member `m` (looking through
//! anonymous struct and union members, as C does)?

use std::path::Path;

use lanner_probe_common::{OFFSET_NONE, ProbeConfig};

use crate::CaptureError;

/// Where the kernel publishes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const BTF_MAGIC: u16 = 0xeb9f;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

#[derive(Debug)]
struct Member {
    name_off: u32,
    type_id: u32,
    bit_offset: u32,
    bitfield_size: u32,
}

#[derive(Debug)]
struct Type {
    name_off: u32,
    kind: u8,
    /// `size` for sized kinds, the referenced type for the others.
    size_or_type: u32,
    /// For arrays: element type and count.
    array: Option<(u32, u32)>,
    /// For structs and unions.
    members: Vec<Member>,
}

/// A member's place in its struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset from the start of the outermost struct.
    pub offset: u32,
    /// Size in bytes of the member's type.
    pub size: u32,
}

/// A parsed BTF blob: its types (id 0 is `void`) and its string section.
#[derive(Debug)]
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
}

fn parse_error(what: impl Into<String>) -> CaptureError {
    CaptureError::BtfParse(what.into())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, CaptureError> {
        let bytes = self
            .data
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| parse_error(format!("type section truncated at byte {}", self.pos)))?;
        self.pos += 4;
        Ok(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn skip(&mut self, n: usize) -> Result<(), CaptureError> {
        if self.pos + n > self.data.len() {
            return Err(parse_error(format!("type section truncated at byte {}", self.pos)));
        }
        self.pos += n;
        Ok(())
    }
}

fn header_u32(data: &[u8], at: usize) -> Result<u32, CaptureError> {
    let b = data.get(at..at + 4).ok_or_else(|| parse_error("header truncated"))?;
    Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

impl Btf {
    /// Reads and parses the BTF file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, CaptureError> {
        let data = std::fs::read(path)
            .map_err(|source| CaptureError::BtfRead { path: path.display().to_string(), source })?;
        Self::parse(&data)
    }

    /// Parses a raw BTF blob (as found in `/sys/kernel/btf/vmlinux`), in the machine's byte
    /// order.
    pub fn parse(data: &[u8]) -> Result<Self, CaptureError> {
        let magic = data.get(0..2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
        if magic != Some(BTF_MAGIC) {
            return Err(parse_error("bad magic (not BTF, or another byte order)"));
        }
        let hdr_len = header_u32(data, 4)? as usize;
        let type_off = header_u32(data, 8)? as usize;
        let type_len = header_u32(data, 12)? as usize;
        let str_off = header_u32(data, 16)? as usize;
        let str_len = header_u32(data, 20)? as usize;
        let types_data = data
            .get(hdr_len + type_off..hdr_len + type_off + type_len)
            .ok_or_else(|| parse_error("type section out of bounds"))?;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .ok_or_else(|| parse_error("string section out of bounds"))?
            .to_vec();

        let mut types =
            vec![Type { name_off: 0, kind: 0, size_or_type: 0, array: None, members: Vec::new() }];
        let mut r = Reader { data: types_data, pos: 0 };
        while r.pos < types_data.len() {
            let name_off = r.u32()?;
            let info = r.u32()?;
            let size_or_type = r.u32()?;
            let vlen = (info & 0xffff) as usize;
            let kind = ((info >> 24) & 0x1f) as u8;
            let kind_flag = info >> 31 == 1;
            let mut ty = Type { name_off, kind, size_or_type, array: None, members: Vec::new() };
            match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => r.skip(4)?,
                KIND_ARRAY => {
                    let elem = r.u32()?;
                    let _index_type = r.u32()?;
                    let nelems = r.u32()?;
                    ty.array = Some((elem, nelems));
                }
                KIND_STRUCT | KIND_UNION => {
                    ty.members.reserve(vlen);
                    for _ in 0..vlen {
                        let name_off = r.u32()?;
                        let type_id = r.u32()?;
                        let offset = r.u32()?;
                        let (bit_offset, bitfield_size) =
                            if kind_flag { (offset & 0x00ff_ffff, offset >> 24) } else { (offset, 0) };
                        ty.members.push(Member { name_off, type_id, bit_offset, bitfield_size });
                    }
                }
                KIND_ENUM | KIND_FUNC_PROTO => r.skip(8 * vlen)?,
                KIND_DATASEC | KIND_ENUM64 => r.skip(12 * vlen)?,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
                | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => {}
                other => {
                    return Err(parse_error(format!("unknown type kind {other} at type {}", types.len())));
                }
            }
            types.push(ty);
        }
        Ok(Self { types, strings })
    }

    fn name(&self, off: u32) -> &[u8] {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        &rest[..end]
    }

    fn ty(&self, id: u32) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn strip(&self, mut id: u32) -> u32 {
        for _ in 0..64 {
            match self.ty(id) {
                Some(t)
                    if matches!(
                        t.kind,
                        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = t.size_or_type;
                }
                _ => break,
            }
        }
        id
    }

    /// The size in bytes of type `id`.
    fn size_of(&self, id: u32) -> Option<u32> {
        let t = self.ty(self.strip(id))?;
        match t.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => {
                Some(t.size_or_type)
            }
            KIND_PTR => Some(8),
            KIND_ARRAY => {
                let (elem, n) = t.array?;
                self.size_of(elem)?.checked_mul(n)
            }
            _ => None,
        }
    }

    /// The id of the (complete) struct named `name`.
    fn struct_id(&self, name: &str) -> Option<u32> {
        self.types
            .iter()
            .position(|t| t.kind == KIND_STRUCT && self.name(t.name_off) == name.as_bytes())
            .map(|i| i as u32)
    }

    /// Finds member `name` in struct or union `id`, looking into anonymous members. Returns
    /// the bit offset and the member.
    fn find_member(&self, id: u32, name: &str, depth: u32) -> Option<(u32, &Member)> {
        if depth > 8 {
            return None;
        }
        let t = self.ty(self.strip(id))?;
        for m in &t.members {
            if m.name_off != 0 && self.name(m.name_off) == name.as_bytes() {
                return Some((m.bit_offset, m));
            }
        }
        for m in &t.members {
            if m.name_off == 0
                && let Some((inner, found)) = self.find_member(m.type_id, name, depth + 1)
            {
                return Some((m.bit_offset + inner, found));
            }
        }
        None
    }

    /// The offset and size of `path` (members separated by dots, e.g. `thread_info.status`)
    /// in `struct ty`.
    pub fn field(&self, ty: &str, path: &str) -> Result<Field, CaptureError> {
        let missing = || CaptureError::BtfMember { ty: ty.to_string(), member: path.to_string() };
        let mut id = self.struct_id(ty).ok_or_else(|| CaptureError::BtfType(ty.to_string()))?;
        let mut bits = 0u32;
        let mut size = 0;
        for part in path.split('.') {
            let (off, m) = self.find_member(id, part, 0).ok_or_else(missing)?;
            if m.bitfield_size != 0 || off % 8 != 0 {
                return Err(CaptureError::BtfBitfield { ty: ty.to_string(), member: path.to_string() });
            }
            bits += off;
            id = m.type_id;
            size = self.size_of(id).ok_or_else(missing)?;
        }
        Ok(Field { offset: bits / 8, size })
    }

    /// Like [`Btf::field`], checking the member's size.
    pub fn field_sized(&self, ty: &str, path: &str, size: u32) -> Result<u32, CaptureError> {
        let f = self.field(ty, path)?;
        if f.size != size {
            return Err(CaptureError::BtfSize {
                ty: ty.to_string(),
                member: path.to_string(),
                size: f.size,
                expected: size,
            });
        }
        Ok(f.offset)
    }

    /// The size of `struct name`.
    pub fn struct_size(&self, name: &str) -> Result<u32, CaptureError> {
        let id = self.struct_id(name).ok_or_else(|| CaptureError::BtfType(name.to_string()))?;
        self.size_of(id).ok_or_else(|| CaptureError::BtfType(name.to_string()))
    }

    /// The offset of the first of `paths` that `struct ty` has (members renamed across kernel
    /// versions), whatever its size; the error names the last.
    fn first_of(&self, ty: &str, paths: &[&str]) -> Result<u32, CaptureError> {
        let mut last = Err(CaptureError::BtfType(ty.to_string()));
        for path in paths {
            last = self.field(ty, path).map(|f| f.offset);
            if last.is_ok() {
                break;
            }
        }
        last
    }

    /// Like [`Btf::field_sized`], for a member some kernels do not have (configuration
    /// dependent): [`OFFSET_NONE`] when it is absent.
    fn optional(&self, ty: &str, path: &str, size: u32) -> Result<u32, CaptureError> {
        match self.field_sized(ty, path, size) {
            Err(CaptureError::BtfMember { .. }) => Ok(OFFSET_NONE),
            other => other,
        }
    }

    /// The probe configuration for this kernel: every offset the probe reads. `ignore_tgid`
    /// is left 0.
    pub fn probe_config(&self) -> Result<ProbeConfig, CaptureError> {
        const PTR: u32 = 8;
        let task = "task_struct";
        let regs = "pt_regs";
        let mut c = ProbeConfig::EMPTY;
        c.task_real_parent = self.field_sized(task, "real_parent", PTR)?;
        c.task_tgid = self.field_sized(task, "tgid", 4)?;
        c.task_pid = self.field_sized(task, "pid", 4)?;
        // Only with CONFIG_AUDIT.
        c.task_loginuid = self.optional(task, "loginuid", 4)?;
        c.task_cred = self.field_sized(task, "cred", PTR)?;
        c.task_signal = self.field_sized(task, "signal", PTR)?;
        c.task_mm = self.field_sized(task, "mm", PTR)?;
        // x86 with CONFIG_THREAD_INFO_IN_TASK; absent elsewhere.
        c.task_ti_status = self.optional(task, "thread_info.status", 4)?;
        // kernel_cap_t: a u64 since 6.3, two u32 before; 8 bytes either way.
        c.cred_cap_effective = self.field_sized("cred", "cap_effective", 8)?;
        c.cred_cap_permitted = self.field_sized("cred", "cap_permitted", 8)?;
        c.signal_tty = self.field_sized("signal_struct", "tty", PTR)?;
        c.tty_index = self.field_sized("tty_struct", "index", 4)?;
        c.tty_driver = self.field_sized("tty_struct", "driver", PTR)?;
        c.driver_major = self.field_sized("tty_driver", "major", 4)?;
        c.driver_minor_start = self.field_sized("tty_driver", "minor_start", 4)?;
        c.mm_arg_start = self.field_sized("mm_struct", "arg_start", 8)?;
        c.mm_arg_end = self.field_sized("mm_struct", "arg_end", 8)?;
        c.mm_env_start = self.field_sized("mm_struct", "env_start", 8)?;
        c.mm_env_end = self.field_sized("mm_struct", "env_end", 8)?;
        c.bprm_filename = self.field_sized("linux_binprm", "filename", PTR)?;
        c.bprm_file = self.field_sized("linux_binprm", "file", PTR)?;
        // Pid namespace numbers: `struct pid` ends with one `struct upid` per level.
        c.task_thread_pid = self.field_sized(task, "thread_pid", PTR)?;
        c.signal_pids = self.field("signal_struct", "pids")?.offset;
        c.pid_level = self.field_sized("pid", "level", 4)?;
        c.pid_numbers = self.field("pid", "numbers")?.offset;
        if self.struct_size("upid")? != lanner_probe_common::UPID_LEN || self.field("upid", "nr")?.offset != 0
        {
            return Err(CaptureError::BtfParse(format!(
                "struct upid is not an int then a pointer ({} bytes)",
                lanner_probe_common::UPID_LEN
            )));
        }
        c.cred_fsuid = self.field_sized("cred", "fsuid", 4)?;
        c.cred_fsgid = self.field_sized("cred", "fsgid", 4)?;
        // The executable's inode, as Falco's probe reads it at exec.
        c.file_inode = self.field_sized("file", "f_inode", PTR)?;
        c.file_dentry = self.field_sized("file", "f_path.dentry", PTR)?;
        c.file_private_data = self.field_sized("file", "private_data", PTR)?;
        c.dentry_inode = self.field_sized("dentry", "d_inode", PTR)?;
        c.dentry_sb = self.field_sized("dentry", "d_sb", PTR)?;
        c.sb_magic = self.field_sized("super_block", "s_magic", 8)?;
        c.sb_flags = self.field_sized("super_block", "s_flags", 8)?;
        c.inode_ino = self.field_sized("inode", "i_ino", 8)?;
        c.inode_mode = self.field_sized("inode", "i_mode", 2)?;
        c.inode_uid = self.field_sized("inode", "i_uid", 4)?;
        c.inode_gid = self.field_sized("inode", "i_gid", 4)?;
        c.inode_flags = self.field_sized("inode", "i_flags", 4)?;
        c.inode_sb = self.field_sized("inode", "i_sb", PTR)?;
        // 6.11 split the times into seconds and nanoseconds; 6.6 renamed i_ctime to __i_ctime.
        c.inode_ctime_sec = self.first_of("inode", &["i_ctime_sec", "__i_ctime.tv_sec", "i_ctime.tv_sec"])?;
        c.inode_ctime_nsec =
            self.first_of("inode", &["i_ctime_nsec", "__i_ctime.tv_nsec", "i_ctime.tv_nsec"])?;
        c.inode_mtime_sec = self.first_of("inode", &["i_mtime_sec", "__i_mtime.tv_sec", "i_mtime.tv_sec"])?;
        c.inode_mtime_nsec =
            self.first_of("inode", &["i_mtime_nsec", "__i_mtime.tv_nsec", "i_mtime.tv_nsec"])?;
        c.inode_size = self.struct_size("inode")?;
        // A socket fd's kernel addresses.
        c.task_files = self.field_sized(task, "files", PTR)?;
        c.files_fdt = self.field_sized("files_struct", "fdt", PTR)?;
        c.fdt_fd = self.field_sized("fdtable", "fd", PTR)?;
        c.fdt_max_fds = self.field_sized("fdtable", "max_fds", 4)?;
        c.socket_sk = self.field_sized("socket", "sk", PTR)?;
        let sk = "sock";
        c.sk_family = self.field_sized(sk, "__sk_common.skc_family", 2)?;
        c.sk_num = self.field_sized(sk, "__sk_common.skc_num", 2)?;
        c.sk_dport = self.field_sized(sk, "__sk_common.skc_dport", 2)?;
        c.sk_rcv_saddr = self.field_sized(sk, "__sk_common.skc_rcv_saddr", 4)?;
        c.sk_daddr = self.field_sized(sk, "__sk_common.skc_daddr", 4)?;
        // Only with CONFIG_IPV6.
        c.sk_v6_rcv_saddr = self.optional(sk, "__sk_common.skc_v6_rcv_saddr", 16)?;
        c.sk_v6_daddr = self.optional(sk, "__sk_common.skc_v6_daddr", 16)?;
        // x86_64 syscall arguments: rdi, rsi, rdx, r10, r8, r9.
        for (slot, reg) in c.regs_args.iter_mut().zip(["di", "si", "dx", "r10", "r8", "r9"]) {
            *slot = self.field_sized(regs, reg, 8)?;
        }
        c.regs_orig_ax = self.field_sized(regs, "orig_ax", 8)?;
        // ia32 syscall arguments: ebx, ecx, edx, esi, edi, ebp (their 64-bit registers).
        for (slot, reg) in c.regs_compat_args.iter_mut().zip(["bx", "cx", "dx", "si", "di", "bp"]) {
            *slot = self.field_sized(regs, reg, 8)?;
        }
        // io_uring requests (kernels without io_uring, or another layout: not read).
        let maybe = |ty: &str, path: &str, size: u32| self.field_sized(ty, path, size).unwrap_or(OFFSET_NONE);
        c.io_req_opcode = maybe("io_kiocb", "opcode", 1);
        c.io_req_fd = maybe("io_kiocb", "cqe.fd", 4);
        c.io_open_filename = maybe("io_open", "filename", 8);
        c.io_open_dfd = maybe("io_open", "dfd", 4);
        c.io_open_how = maybe("io_open", "how", 24);
        c.filename_name = maybe("filename", "name", 8);
        c.io_connect_addr = maybe("io_connect", "addr", 8);
        c.io_connect_addr_len = maybe("io_connect", "addr_len", 4);
        // The probe copies PT_REGS_LEN bytes of pt_regs and indexes them by word.
        for &off in c.regs_args.iter().chain(&c.regs_compat_args) {
            if off % 8 != 0 || off as usize + 8 > lanner_probe_common::PT_REGS_LEN {
                return Err(CaptureError::BtfParse(format!(
                    "{regs}: argument register at offset {off} lies outside the {} bytes the probe copies",
                    lanner_probe_common::PT_REGS_LEN
                )));
            }
        }
        Ok(c)
    }
}

/// The probe configuration for the running kernel, from [`VMLINUX_BTF`].
pub fn running_kernel_config() -> Result<ProbeConfig, CaptureError> {
    Btf::from_file(Path::new(VMLINUX_BTF))?.probe_config()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_resolve_on_this_kernel() {
        let btf = Btf::from_file(Path::new(VMLINUX_BTF)).expect("this kernel publishes BTF");
        let c = btf.probe_config().expect("every offset the probe needs resolves");
        // pt_regs is the x86_64 ABI: fixed since forever.
        assert_eq!(c.regs_args, [112, 104, 96, 56, 72, 64]);
        assert_eq!(c.regs_orig_ax, 120);
        assert_eq!(c.regs_compat_args, [40, 88, 96, 104, 112, 32]);
        for (name, off) in [
            ("task_struct.real_parent", c.task_real_parent),
            ("task_struct.tgid", c.task_tgid),
            ("task_struct.pid", c.task_pid),
            ("task_struct.cred", c.task_cred),
            ("task_struct.signal", c.task_signal),
            ("task_struct.mm", c.task_mm),
            ("mm_struct.arg_start", c.mm_arg_start),
            ("linux_binprm.filename", c.bprm_filename),
        ] {
            assert_ne!(off, OFFSET_NONE, "{name}");
        }
        assert_eq!(c.task_pid + 4, c.task_tgid, "pid and tgid are adjacent in task_struct");
        assert_eq!(c.mm_arg_start + 8, c.mm_arg_end);
        assert_eq!(c.mm_env_start + 8, c.mm_env_end);
        assert_eq!(c.cred_cap_effective, c.cred_cap_permitted + 8);
    }

    #[test]
    fn missing_members_are_named() {
        let btf = Btf::from_file(Path::new(VMLINUX_BTF)).expect("this kernel publishes BTF");
        let err = btf.field("task_struct", "no_such_member").unwrap_err();
        assert_eq!(err.to_string(), "BTF: struct task_struct has no member no_such_member");
        let err = btf.field("no_such_struct", "x").unwrap_err();
        assert_eq!(err.to_string(), "BTF: no struct no_such_struct");
        let err = btf.field_sized("task_struct", "pid", 8).unwrap_err();
        assert_eq!(err.to_string(), "BTF: task_struct.pid is 4 bytes, the probe expects 8");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(matches!(Btf::parse(b"not btf at all"), Err(CaptureError::BtfParse(_))));
        assert!(matches!(Btf::parse(&[]), Err(CaptureError::BtfParse(_))));
    }
}
