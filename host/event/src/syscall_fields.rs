//! TEMPORARY STUB (being replaced by the full table).
use crate::{ArgSpec, FieldType};

/// One built-in field.
#[derive(Debug, Clone, Copy)]
pub struct StaticField {
    /// The field's name.
    pub name: &'static str,
    /// Its type.
    pub ftype: FieldType,
    /// Its argument rules.
    pub arg: ArgSpec,
    /// What it means.
    pub desc: &'static str,
}

const fn f(name: &'static str, ftype: FieldType, arg: ArgSpec, desc: &'static str) -> StaticField {
    StaticField { name, ftype, arg, desc }
}

/// Every field of the syscall source.
pub const FIELDS: &[StaticField] = &[
    f("evt.type", FieldType::String, ArgSpec::NONE, "x"),
    f("evt.num", FieldType::UInt64, ArgSpec::NONE, "x"),
    f("evt.time", FieldType::String, ArgSpec::NONE, "x"),
    f("evt.rawtime", FieldType::AbsTime, ArgSpec::NONE, "x"),
    f("evt.dir", FieldType::String, ArgSpec::NONE, "x"),
    f("evt.source", FieldType::String, ArgSpec::NONE, "x"),
    f("evt.res", FieldType::String, ArgSpec::NONE, "x"),
    f("evt.rawres", FieldType::Int64, ArgSpec::NONE, "x"),
    f("evt.args", FieldType::String, ArgSpec::NONE, "x"),
    f("evt.arg", FieldType::String, ArgSpec::ARG, "x"),
    f("evt.is_open_read", FieldType::Bool, ArgSpec::NONE, "x"),
    f("evt.is_open_write", FieldType::Bool, ArgSpec::NONE, "x"),
    f("evt.plugininfo", FieldType::String, ArgSpec::NONE, "x"),
    f("evt.buffer", FieldType::Bytes, ArgSpec::NONE, "x"),
    f("proc.name", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.pname", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.cmdline", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.pcmdline", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.args", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.exe", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.pexe", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.exepath", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.pexepath", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.aname", FieldType::String, ArgSpec::OPT_INDEX, "x"),
    f("proc.apid", FieldType::Int64, ArgSpec::OPT_INDEX, "x"),
    f("proc.aexe", FieldType::String, ArgSpec::OPT_INDEX, "x"),
    f("proc.aexepath", FieldType::String, ArgSpec::OPT_INDEX, "x"),
    f("proc.env", FieldType::String, ArgSpec::OPT_KEY, "x"),
    f("proc.tty", FieldType::UInt32, ArgSpec::NONE, "x"),
    f("proc.cwd", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.sname", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.duration", FieldType::RelTime, ArgSpec::NONE, "x"),
    f("proc.ppid.duration", FieldType::RelTime, ArgSpec::NONE, "x"),
    f("proc.is_exe_from_memfd", FieldType::Bool, ArgSpec::NONE, "x"),
    f("proc.is_exe_upper_layer", FieldType::Bool, ArgSpec::NONE, "x"),
    f("proc.is_vpgid_leader", FieldType::Bool, ArgSpec::NONE, "x"),
    f("proc.vpgid.name", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.vpgid.exe", FieldType::String, ArgSpec::NONE, "x"),
    f("proc.exe_ino.ctime", FieldType::AbsTime, ArgSpec::NONE, "x"),
    f("proc.exe_ino.mtime", FieldType::AbsTime, ArgSpec::NONE, "x"),
    f("proc.exe_ino.ctime_duration_proc_start", FieldType::RelTime, ArgSpec::NONE, "x"),
    f("thread.cap_effective", FieldType::String, ArgSpec::NONE, "x"),
    f("user.name", FieldType::String, ArgSpec::NONE, "x"),
    f("user.uid", FieldType::UInt32, ArgSpec::NONE, "x"),
    f("user.loginuid", FieldType::Int64, ArgSpec::NONE, "x"),
    f("user.loginname", FieldType::String, ArgSpec::NONE, "x"),
    f("group.name", FieldType::String, ArgSpec::NONE, "x"),
    f("group.gid", FieldType::UInt32, ArgSpec::NONE, "x"),
    f("fd.num", FieldType::Int64, ArgSpec::NONE, "x"),
    f("fd.name", FieldType::FsPath, ArgSpec::NONE, "x"),
    f("fd.nameraw", FieldType::FsPath, ArgSpec::NONE, "x"),
    f("fd.directory", FieldType::FsPath, ArgSpec::NONE, "x"),
    f("fd.filename", FieldType::String, ArgSpec::NONE, "x"),
    f("fd.type", FieldType::String, ArgSpec::NONE, "x"),
    f("fd.typechar", FieldType::String, ArgSpec::NONE, "x"),
    f("fd.l4proto", FieldType::String, ArgSpec::NONE, "x"),
    f("fd.ip", FieldType::IpAddr, ArgSpec::NONE, "x"),
    f("fd.sip", FieldType::IpAddr, ArgSpec::NONE, "x"),
    f("fd.sip.name", FieldType::String, ArgSpec::NONE, "x"),
    f("fd.net", FieldType::IpNet, ArgSpec::NONE, "x"),
    f("fd.snet", FieldType::IpNet, ArgSpec::NONE, "x"),
    f("fd.sport", FieldType::Port, ArgSpec::NONE, "x"),
    f("fd.lport", FieldType::Port, ArgSpec::NONE, "x"),
    f("fd.rport", FieldType::Port, ArgSpec::NONE, "x"),
    f("fd.connected", FieldType::Bool, ArgSpec::NONE, "x"),
    f("fd.name_changed", FieldType::Bool, ArgSpec::NONE, "x"),
    f("container.id", FieldType::String, ArgSpec::NONE, "x"),
    f("container.image.repository", FieldType::String, ArgSpec::NONE, "x"),
    f("container.privileged", FieldType::Bool, ArgSpec::NONE, "x"),
    f("container.start_ts", FieldType::AbsTime, ArgSpec::NONE, "x"),
    f("k8s.ns.name", FieldType::String, ArgSpec::NONE, "x"),
];
