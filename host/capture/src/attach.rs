//! How the syscall programs reach the kernel: the raw `sys_enter`/`sys_exit` tracepoints,
//! which run a program for every syscall on the node, or the per-syscall tracepoints
//! (`syscalls:sys_enter_NAME`), which run one only for the syscalls a rule or a state table
//! needs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::syscalls;

/// How the probe's syscall programs are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachMode {
    /// `raw_syscalls:sys_enter`/`sys_exit`: every syscall on the node runs the probe, which
    /// filters with a map lookup.
    Raw,
    /// The per-syscall tracepoints of the watched syscalls only, 32-bit syscalls through
    /// fentry/fexit on `ia32_sys_call`; raw tracepoints only for what has no per-syscall
    /// tracepoint (and for 32-bit syscalls when `ia32_sys_call` cannot be traced).
    PerSyscall,
    /// As `PerSyscall`, but when `ia32_sys_call` cannot be traced, 32-bit syscalls are not
    /// captured at all (said at start) rather than through the raw tracepoints: for nodes
    /// known to run no 32-bit code, where the raw tracepoints' cost buys nothing.
    PerSyscallNoCompat,
    /// Per syscall when the kernel has the per-syscall tracepoints and lets 32-bit syscalls
    /// be traced without the raw tracepoints; raw otherwise (the reason is logged).
    #[default]
    Auto,
}

impl AttachMode {
    /// The name the configuration uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::PerSyscall => "per_syscall",
            Self::PerSyscallNoCompat => "per_syscall_no_compat",
            Self::Auto => "auto",
        }
    }
}

impl std::fmt::Display for AttachMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AttachMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "raw" => Ok(Self::Raw),
            "per_syscall" => Ok(Self::PerSyscall),
            "per_syscall_no_compat" => Ok(Self::PerSyscallNoCompat),
            "auto" => Ok(Self::Auto),
            other => Err(format!(
                "unknown attach mode {other:?}: expected raw, per_syscall, per_syscall_no_compat or auto"
            )),
        }
    }
}

/// Where tracefs is mounted, mounting it at `/sys/kernel/tracing` when it is nowhere: the
/// per-syscall tracepoints are found (and attached, by id) through it.
pub(crate) fn tracefs() -> Result<PathBuf, String> {
    let candidates = [Path::new("/sys/kernel/tracing"), Path::new("/sys/kernel/debug/tracing")];
    let mounted = |p: &Path| p.join("events").is_dir();
    if let Some(p) = candidates.iter().find(|p| mounted(p)) {
        return Ok(p.to_path_buf());
    }
    let target = candidates[0];
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (source, dir, fstype) = (c("nodev"), c("/sys/kernel/tracing"), c("tracefs"));
    // SAFETY: NUL-terminated strings, no data.
    let rc = unsafe { libc::mount(source.as_ptr(), dir.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(format!(
            "tracefs is not mounted and mounting it at {} failed: {}",
            target.display(),
            std::io::Error::last_os_error()
        ));
    }
    tracing::info!(path = %target.display(), "mounted tracefs to find the per-syscall tracepoints");
    if mounted(target) {
        Ok(target.to_path_buf())
    } else {
        Err(format!("tracefs mounted at {} has no events directory", target.display()))
    }
}

/// The name of x86_64 syscall `nr`'s per-syscall tracepoints (`sys_enter_NAME`,
/// `sys_exit_NAME`) where it differs from the syscall's name: the kernel names the event
/// after its `SYSCALL_DEFINE`, and a few x86_64 entries point to a differently named one.
pub(crate) fn event_name(name: &str) -> &str {
    match name {
        "stat" => "newstat",
        "fstat" => "newfstat",
        "lstat" => "newlstat",
        "uname" => "newuname",
        "umount2" => "umount",
        "sendfile" => "sendfile64",
        other => other,
    }
}

/// The per-syscall event name of syscall `nr` (`NAME` in `syscalls:sys_enter_NAME`), when it
/// is a real syscall and this kernel has the event.
pub(crate) fn syscall_event(tracefs: &Path, nr: u32) -> Option<String> {
    if nr == lanner_probe_common::IO_URING_SUBMIT_NR {
        return None;
    }
    let name = event_name(syscalls::name(nr)?);
    let dir = tracefs.join("events/syscalls");
    (dir.join(format!("sys_enter_{name}")).is_dir() && dir.join(format!("sys_exit_{name}")).is_dir())
        .then(|| name.to_string())
}

/// The x86_64 syscalls this kernel was built without, by name: their `__x64_sys_NAME` entry
/// is the weak stub the kernel's `COND_SYSCALL` leaves when the code behind it is configured
/// out (`init_module` without module support, `kexec_load`, ...). Such a syscall only ever
/// returns ENOSYS and has no per-syscall tracepoint; raw tracepoints would make every syscall
/// on the node pay to see it fail.
pub(crate) fn unimplemented_syscalls() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/kallsyms").map(|t| weak_syscall_stubs(&t)).unwrap_or_default()
}

/// The syscall names of the weak `__x64_sys_*` symbols in a `/proc/kallsyms` text.
fn weak_syscall_stubs(kallsyms: &str) -> BTreeSet<String> {
    kallsyms
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, sym) = (f.next()?, f.next()?, f.next()?);
            matches!(kind, "W" | "w").then_some(())?;
            sym.strip_prefix("__x64_sys_").map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for m in [AttachMode::Raw, AttachMode::PerSyscall, AttachMode::PerSyscallNoCompat, AttachMode::Auto] {
            assert_eq!(m.as_str().parse::<AttachMode>().unwrap(), m);
        }
        assert_eq!(
            "fast".parse::<AttachMode>().unwrap_err(),
            "unknown attach mode \"fast\": expected raw, per_syscall, per_syscall_no_compat or auto"
        );
    }

    #[test]
    fn weak_syscall_entries_are_the_unimplemented_ones() {
        let text = "ffffffff81398ba0 W __x64_sys_init_module\n\
                    ffffffff816d86b0 T __x64_sys_openat\n\
                    0000000000000000 w __x64_sys_kexec_load\n\
                    ffffffff81398ba0 W __ia32_sys_init_module\n\
                    ffffffff81000000 t some_function [some_module]\n";
        let stubs = weak_syscall_stubs(text);
        assert_eq!(stubs.into_iter().collect::<Vec<_>>(), ["init_module", "kexec_load"]);
    }

    #[test]
    fn event_names_follow_the_kernel() {
        assert_eq!(event_name("stat"), "newstat");
        assert_eq!(event_name("openat"), "openat");
    }
}
