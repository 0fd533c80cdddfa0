//! The built-in fields of the `syscall` event source: what a rule may ask of a kernel event,
//! its process, thread, user, file descriptor, container and pod.
//!
//! Names, types and argument rules follow Falco's (libsinsp and its container plugin), so rules
//! written for Falco load unchanged and `list-fields` reads the same. This table only declares
//! the fields; capture and the process state answer them. Each description says what the value
//! is, with an example where one helps.
use crate::{ArgSpec, FieldType};
use ArgSpec as A;
use FieldType as T;

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

/// A required key, in brackets or after a dot: `k8s.pod.label[app]`, `k8s.pod.label.app`.
const KEY_DOTTED: ArgSpec = ArgSpec { kind: crate::ArgKind::Key, required: true, dotted: true };

/// A required index or key, in brackets only: `container.mount[0]`, `container.mount[/etc]`.
const INDEX_OR_KEY: ArgSpec = ArgSpec { kind: crate::ArgKind::IndexOrKey, required: true, dotted: false };

const fn f(name: &'static str, ftype: FieldType, arg: ArgSpec, desc: &'static str) -> StaticField {
    StaticField { name, ftype, arg, desc }
}

/// Every field of the syscall source.
#[rustfmt::skip]
pub const FIELDS: &[StaticField] = &[
    // evt: the event itself, its time, type, arguments and result.
    f("evt.num", T::UInt64, A::NONE, "Sequence number of the event, counted from the start of capture."),
    f("evt.time", T::String, A::NONE, "Time of day of the event with nanoseconds, e.g. 14:52:10.123456789."),
    f("evt.time.s", T::String, A::NONE, "Time of day of the event to the second, e.g. 14:52:10."),
    f("evt.time.iso8601", T::String, A::NONE, "Event time in ISO 8601 form, in UTC with nanoseconds, e.g. 2024-05-01T14:52:10.123456789Z."),
    f("evt.datetime", T::String, A::NONE, "Date and time of day of the event with nanoseconds, e.g. 2024-05-01 14:52:10.123456789."),
    f("evt.datetime.s", T::String, A::NONE, "Date and time of day of the event to the second, e.g. 2024-05-01 14:52:10."),
    f("evt.rawtime", T::AbsTime, A::NONE, "Event time as nanoseconds since the Unix epoch."),
    f("evt.rawtime.s", T::AbsTime, A::NONE, "Whole seconds of the event time since the Unix epoch."),
    f("evt.rawtime.ns", T::AbsTime, A::NONE, "Sub-second part of the event time, in nanoseconds (0 to 999999999)."),
    f("evt.reltime", T::RelTime, A::NONE, "Nanoseconds from the start of capture to this event."),
    f("evt.reltime.s", T::RelTime, A::NONE, "Whole seconds from the start of capture to this event."),
    f("evt.reltime.ns", T::RelTime, A::NONE, "Sub-second part of evt.reltime, in nanoseconds."),
    f("evt.deltatime", T::RelTime, A::NONE, "Nanoseconds between the previous event and this one."),
    f("evt.deltatime.s", T::RelTime, A::NONE, "Whole seconds between the previous event and this one."),
    f("evt.deltatime.ns", T::RelTime, A::NONE, "Sub-second part of evt.deltatime, in nanoseconds."),
    f("evt.latency", T::RelTime, A::NONE, "Nanoseconds the syscall took, from its enter event to its exit event (deprecated in Falco)."),
    f("evt.latency.s", T::RelTime, A::NONE, "Whole seconds of evt.latency (deprecated in Falco)."),
    f("evt.latency.ns", T::RelTime, A::NONE, "Sub-second part of evt.latency, in nanoseconds (deprecated in Falco)."),
    f("evt.latency.human", T::String, A::NONE, "evt.latency written for people, e.g. 10.3ms (deprecated in Falco)."),
    f("evt.type", T::String, A::NONE, "Name of the event type, for syscalls the syscall's name, e.g. openat, execve or connect."),
    f("evt.type.is", T::UInt32, KEY_DOTTED, "1 if the event is of the type named after the dot, e.g. evt.type.is.open, otherwise 0."),
    f("syscall.type", T::String, A::NONE, "Name of the syscall for syscall events, e.g. openat; unset for other events such as procexit."),
    f("evt.category", T::String, A::NONE, "Category of the event type, e.g. file, net, memory, process or ipc."),
    f("evt.dir", T::String, A::NONE, "Direction of the event: > for a syscall's enter event, < for its exit event."),
    f("evt.cpu", T::Int64, A::NONE, "Number of the CPU the event happened on."),
    f("evt.args", T::String, A::NONE, "Every argument of the event in one text, e.g. fd=3(<f>/etc/passwd) dirfd=-100(AT_FDCWD) name=/etc/passwd."),
    f("evt.arg", T::String, A::ARG, "One argument of the event as text, by name or position (evt.arg.flags, evt.arg[0]); fds, flags and errors are shown readably."),
    f("evt.rawarg", T::Int64, A::ARG, "One argument of the event as its raw value rather than text, e.g. evt.rawarg.res or evt.rawarg.flags."),
    f("evt.info", T::String, A::NONE, "The same text as evt.args."),
    f("evt.buffer", T::Bytes, A::NONE, "The data buffer of events that carry one, such as read, write, sendto or recvfrom."),
    f("evt.buflen", T::UInt64, A::NONE, "Length in bytes of the data buffer of events that carry one."),
    f("evt.res", T::String, A::NONE, "Result of the event as text: SUCCESS, or the error's name when it failed, e.g. ENOENT."),
    f("evt.rawres", T::Int64, A::NONE, "Result of the event as a number, e.g. 3 for a new fd or -2 for ENOENT; use it for range comparisons."),
    f("evt.failed", T::Bool, A::NONE, "True if the event returned an error."),
    f("evt.is_io", T::Bool, A::NONE, "True for events that read from or write to an fd, such as read, write, sendto or recvmsg."),
    f("evt.is_io_read", T::Bool, A::NONE, "True for events that read from an fd, such as read, recv or recvfrom."),
    f("evt.is_io_write", T::Bool, A::NONE, "True for events that write to an fd, such as write, send or sendto."),
    f("evt.io_dir", T::String, A::NONE, "Direction of an I/O event: r when it reads from an fd, w when it writes to one."),
    f("evt.is_wait", T::Bool, A::NONE, "True for events that make the thread wait, such as nanosleep, select or poll."),
    f("evt.wait_latency", T::RelTime, A::NONE, "For waiting events, the nanoseconds spent waiting before the event returned (deprecated in Falco)."),
    f("evt.is_syslog", T::Bool, A::NONE, "True for writes to /dev/log, the syslog socket."),
    f("evt.is_open_read", T::Bool, A::NONE, "True for open, openat, openat2 and open_by_handle_at events that opened the path for reading."),
    f("evt.is_open_write", T::Bool, A::NONE, "True for open, openat, openat2 and open_by_handle_at events that opened the path for writing."),
    f("evt.is_open_exec", T::Bool, A::NONE, "True for open-family and creat events that create a file with execute permission."),
    f("evt.is_open_create", T::Bool, A::NONE, "True for open-family and creat events that ask to create the file (O_CREAT)."),
    f("evt.count", T::UInt32, A::NONE, "Always 1, so that summing it counts events."),
    f("evt.count.error", T::UInt32, A::NONE, "1 if the event returned an error, otherwise 0."),
    f("evt.count.error.file", T::UInt32, A::NONE, "1 if the event is a file operation that returned an error, otherwise 0."),
    f("evt.count.error.net", T::UInt32, A::NONE, "1 if the event is a network operation that returned an error, otherwise 0."),
    f("evt.count.error.memory", T::UInt32, A::NONE, "1 if the event is a memory operation that returned an error, otherwise 0."),
    f("evt.count.error.other", T::UInt32, A::NONE, "1 if the event returned an error and is not a file, network or memory operation, otherwise 0."),
    f("evt.count.exit", T::UInt32, A::NONE, "1 for exit events, otherwise 0."),
    f("evt.is_async", T::Bool, A::NONE, "True for asynchronous events that capture adds itself, such as a container appearing, rather than syscalls."),
    f("evt.asynctype", T::String, A::NONE, "For asynchronous events, their kind, e.g. container."),
    f("evt.pluginname", T::String, A::NONE, "For events of a plugin's event source, the name of the plugin that produced the event."),
    f("evt.plugininfo", T::String, A::NONE, "For events of a plugin's event source, the plugin's one-line summary of the event."),
    f("evt.source", T::String, A::NONE, "Name of the event source that produced the event, syscall for kernel events."),
    f("evt.hostname", T::String, A::NONE, "Hostname of the machine that captured the event, unless configuration sets another name, such as a Kubernetes node's."),

    // proc: the process that caused the event, its ancestors, session and process group.
    f("proc.pid", T::Int64, A::NONE, "Id of the process that caused the event, in the host's PID namespace."),
    f("proc.ppid", T::Int64, A::NONE, "Id of the parent of the process, in the host's PID namespace."),
    f("proc.apid", T::Int64, A::OPT_INDEX, "Pid of an ancestor: proc.apid[1] is the parent's, proc.apid[2] the grandparent's; without an index a filter matches any ancestor."),
    f("proc.vpid", T::Int64, A::NONE, "Id of the process as seen in its own PID namespace, e.g. 1 for a container's first process."),
    f("proc.pvpid", T::Int64, A::NONE, "Id of the parent process as seen in its own PID namespace."),
    f("proc.name", T::String, A::NONE, "Name the kernel keeps for the process (comm, at most 15 characters), e.g. bash; it can differ from the executable's name."),
    f("proc.pname", T::String, A::NONE, "Name (comm) of the parent process."),
    f("proc.aname", T::String, A::OPT_INDEX, "Name of an ancestor: proc.aname[1] is the parent's, proc.aname[2] the grandparent's; without an index a filter matches any ancestor."),
    f("proc.exe", T::String, A::NONE, "First command-line argument (argv[0]), the program as it was invoked, e.g. /bin/sh or sh."),
    f("proc.pexe", T::String, A::NONE, "First command-line argument (argv[0]) of the parent process."),
    f("proc.aexe", T::String, A::OPT_INDEX, "argv[0] of an ancestor: proc.aexe[1] is the parent's; without an index a filter matches any ancestor."),
    f("proc.exepath", T::String, A::NONE, "Full path of the process's executable file with symlinks resolved, e.g. /usr/bin/bash."),
    f("proc.pexepath", T::String, A::NONE, "Full path of the parent process's executable file."),
    f("proc.aexepath", T::String, A::OPT_INDEX, "Executable path of an ancestor: proc.aexepath[1] is the parent's; without an index a filter matches any ancestor."),
    f("proc.args", T::String, A::OPT_INDEX, "Command-line arguments after argv[0], joined by spaces, e.g. -c ls; proc.args[0] is the first of them alone."),
    f("proc.aargs", T::String, A::OPT_INDEX, "Arguments of an ancestor: proc.aargs[1] are the parent's; without an index a filter matches any ancestor."),
    f("proc.cmdline", T::String, A::NONE, "Process name followed by its arguments (proc.name and proc.args), e.g. bash -c ls."),
    f("proc.pcmdline", T::String, A::NONE, "Command line (name and arguments) of the parent process."),
    f("proc.acmdline", T::String, A::OPT_INDEX, "Command line of an ancestor: proc.acmdline[1] is the parent's; without an index a filter matches any ancestor."),
    f("proc.cmdnargs", T::UInt64, A::NONE, "Number of command-line arguments in proc.args."),
    f("proc.cmdlenargs", T::UInt64, A::NONE, "Total number of characters in the command-line arguments, not counting the spaces between them."),
    f("proc.exeline", T::String, A::NONE, "argv[0] followed by the arguments (proc.exe and proc.args), e.g. /bin/sh -c ls."),
    f("proc.env", T::String, A::OPT_KEY, "Environment of the process as NAME=value pairs joined by spaces; proc.env[NAME] is one variable's value."),
    f("proc.cwd", T::String, A::NONE, "Current working directory of the process, e.g. /root/."),
    f("proc.loginshellid", T::Int64, A::NONE, "Pid of the eldest shell among the process's ancestors, which tells user sessions apart."),
    f("proc.tty", T::UInt32, A::NONE, "Controlling terminal of the process as a device number, 0 when it has none."),
    f("proc.sid", T::Int64, A::NONE, "Session id of the process."),
    f("proc.sname", T::String, A::NONE, "Name of the process's session leader: the process whose pid is proc.sid, or the eldest ancestor in the same session."),
    f("proc.sid.exe", T::String, A::NONE, "argv[0] of the process's session leader."),
    f("proc.sid.exepath", T::String, A::NONE, "Executable path of the process's session leader."),
    f("proc.vpgid", T::Int64, A::NONE, "Process group id of the process, as seen in its own PID namespace."),
    f("proc.vpgid.name", T::String, A::NONE, "Name of the process group leader: the process whose vpid is proc.vpgid, or the eldest ancestor in the same group."),
    f("proc.vpgid.exe", T::String, A::NONE, "argv[0] of the process group leader (see proc.vpgid.name)."),
    f("proc.vpgid.exepath", T::String, A::NONE, "Executable path of the process group leader (see proc.vpgid.name)."),
    f("proc.pgid", T::Int64, A::NONE, "Process group id of the process, in the host's PID namespace."),
    f("proc.pgid.name", T::String, A::NONE, "Name of the process group leader in the host's PID namespace: the process whose pid is proc.pgid, or the eldest ancestor in the group."),
    f("proc.pgid.exe", T::String, A::NONE, "argv[0] of the host process group leader (see proc.pgid.name)."),
    f("proc.pgid.exepath", T::String, A::NONE, "Executable path of the host process group leader (see proc.pgid.name)."),
    f("proc.is_sid_leader", T::Bool, A::NONE, "True if the process leads its session (proc.sid equals proc.vpid)."),
    f("proc.is_vpgid_leader", T::Bool, A::NONE, "True if the process leads its process group (proc.vpgid equals proc.vpid), as a command typed at a shell does and one run by a script does not."),
    f("proc.is_pgid_leader", T::Bool, A::NONE, "True if the process leads its process group in the host's PID namespace (proc.pgid equals proc.pid)."),
    f("proc.duration", T::RelTime, A::NONE, "Nanoseconds since the process started."),
    f("proc.ppid.duration", T::RelTime, A::NONE, "Nanoseconds since the parent process started."),
    f("proc.pid.ts", T::RelTime, A::NONE, "Start time of the process, in nanoseconds since the Unix epoch."),
    f("proc.ppid.ts", T::RelTime, A::NONE, "Start time of the parent process, in nanoseconds since the Unix epoch."),
    f("proc.is_exe_writable", T::Bool, A::NONE, "True if the user that started the process may write to its executable file."),
    f("proc.is_exe_upper_layer", T::Bool, A::NONE, "True if the executable is in the upper, writable layer of an overlay file system, e.g. a file added to a running container."),
    f("proc.is_exe_lower_layer", T::Bool, A::NONE, "True if the executable is in a lower, read-only layer of an overlay file system, e.g. one shipped in the container image."),
    f("proc.is_exe_from_memfd", T::Bool, A::NONE, "True if the executable was run from a memfd, an anonymous in-memory file, as fileless malware does."),
    f("proc.exe_ino", T::Int64, A::NONE, "Inode number of the executable file; compare it with fd.ino."),
    f("proc.exe_ino.ctime", T::AbsTime, A::NONE, "Last status change time (ctime) of the executable file, in nanoseconds since the Unix epoch."),
    f("proc.exe_ino.mtime", T::AbsTime, A::NONE, "Last modification time (mtime) of the executable file, in nanoseconds since the Unix epoch."),
    f("proc.exe_ino.ctime_duration_proc_start", T::AbsTime, A::NONE, "Nanoseconds from the executable file's last status change (ctime) to the start of the process; small for freshly dropped binaries."),
    f("proc.exe_ino.ctime_duration_pidns_start", T::AbsTime, A::NONE, "Nanoseconds from the start of the process's PID namespace to the executable's ctime, when the namespace started first."),
    f("proc.pidns_init_start_ts", T::UInt64, A::NONE, "Start time of the process's PID namespace, e.g. its container's, in nanoseconds since the Unix epoch."),
    f("proc.nthreads", T::UInt64, A::NONE, "Number of live threads of the process, the main thread included."),
    f("proc.nchilds", T::UInt64, A::NONE, "Number of live threads of the process other than the main thread."),
    f("proc.fdopencount", T::UInt64, A::NONE, "Number of file descriptors the process has open."),
    f("proc.fdlimit", T::Int64, A::NONE, "Largest number of file descriptors the process may have open."),
    f("proc.vmsize", T::UInt64, A::NONE, "Total virtual memory of the process, in kilobytes."),
    f("proc.vmrss", T::UInt64, A::NONE, "Resident (in RAM, not swapped) memory of the process, in kilobytes."),
    f("proc.vmswap", T::UInt64, A::NONE, "Swapped-out memory of the process, in kilobytes."),
    f("proc.stdin.type", T::String, A::NONE, "Kind of the process's fd 0 (standard input), as fd.type gives it, e.g. pipe, file or ipv4."),
    f("proc.stdout.type", T::String, A::NONE, "Kind of the process's fd 1 (standard output), as fd.type gives it."),
    f("proc.stderr.type", T::String, A::NONE, "Kind of the process's fd 2 (standard error), as fd.type gives it."),
    f("proc.stdin.name", T::String, A::NONE, "Name of the process's fd 0 (standard input), as fd.name gives it, e.g. /dev/pts/0 or a connection tuple."),
    f("proc.stdout.name", T::String, A::NONE, "Name of the process's fd 1 (standard output), as fd.name gives it."),
    f("proc.stderr.name", T::String, A::NONE, "Name of the process's fd 2 (standard error), as fd.name gives it."),
    f("proc.is_container_healthcheck", T::Bool, A::NONE, "True if the process runs a container's health check (deprecated in Falco)."),
    f("proc.is_container_liveness_probe", T::Bool, A::NONE, "True if the process runs a Kubernetes liveness probe of its container (deprecated in Falco)."),
    f("proc.is_container_readiness_probe", T::Bool, A::NONE, "True if the process runs a Kubernetes readiness probe of its container (deprecated in Falco)."),

    // thread: the thread that caused the event.
    f("thread.tid", T::Int64, A::NONE, "Id of the thread that caused the event, in the host's PID namespace."),
    f("thread.vtid", T::Int64, A::NONE, "Id of the thread as seen in its own PID namespace."),
    f("thread.ismain", T::Bool, A::NONE, "True if the thread is its process's main thread (its tid equals the pid)."),
    f("thread.exectime", T::RelTime, A::NONE, "CPU time, in nanoseconds, that the thread just switched out had run; set on context switch events only."),
    f("thread.totexectime", T::RelTime, A::NONE, "CPU time, in nanoseconds, the thread has used since capture started; set on context switch events only."),
    f("thread.cgroups", T::String, A::NONE, "Every cgroup of the thread in one text, one controller=path pair after another."),
    f("thread.cgroup", T::String, KEY_DOTTED, "Cgroup of the thread for one controller, e.g. thread.cgroup.cpuacct."),
    f("thread.cap_effective", T::String, A::NONE, "Effective capabilities of the thread as names, e.g. CAP_CHOWN CAP_NET_RAW."),
    f("thread.cap_permitted", T::String, A::NONE, "Permitted capabilities of the thread as names."),
    f("thread.cap_inheritable", T::String, A::NONE, "Inheritable capabilities of the thread as names."),
    f("thread.vmsize", T::UInt64, A::NONE, "For the main thread, the process's total virtual memory in kilobytes; 0 for other threads."),
    f("thread.vmrss", T::UInt64, A::NONE, "For the main thread, the process's resident memory in kilobytes; 0 for other threads."),
    f("thread.pfmajor", T::UInt64, A::NONE, "Number of major page faults of the thread since it started."),
    f("thread.pfminor", T::UInt64, A::NONE, "Number of minor page faults of the thread since it started."),

    // user and group: who the thread runs as.
    f("user.uid", T::UInt32, A::NONE, "Id of the user the thread runs as, e.g. 0 for root."),
    f("user.name", T::String, A::NONE, "Name of the user the thread runs as, e.g. root."),
    f("user.homedir", T::String, A::NONE, "Home directory of that user, e.g. /root."),
    f("user.shell", T::String, A::NONE, "Login shell of that user, e.g. /bin/bash."),
    f("user.loginuid", T::Int64, A::NONE, "Audit login user id (auid): the user who logged in, kept across su and sudo; -1 when unset."),
    f("user.loginname", T::String, A::NONE, "Name of the audit login user (auid)."),
    f("group.gid", T::UInt32, A::NONE, "Id of the group the thread runs as, e.g. 0."),
    f("group.name", T::String, A::NONE, "Name of the group the thread runs as, e.g. root."),

    // fd: the file descriptor the event uses, a file or a socket.
    f("fd.num", T::Int64, A::NONE, "Number of the file descriptor, e.g. 3."),
    f("fd.type", T::String, A::NONE, "Kind of fd: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, memfd and so on."),
    f("fd.typechar", T::String, A::NONE, "Kind of fd as one character: f file, 4 IPv4, 6 IPv6, u unix, p pipe, e eventfd, s signalfd, l eventpoll, i inotify, m memfd, o other."),
    f("fd.types", T::StringList, A::OPT_INDEX, "Kinds of every fd the process has open, as a list; fd.types[N] is the kind of fd N alone."),
    f("fd.name", T::String, A::NONE, "Full name of the fd: a file's absolute path, or a socket's connection tuple, e.g. 10.0.0.1:4321->10.0.0.2:80."),
    f("fd.nameraw", T::String, A::NONE, "For file fds, the path as the syscall was given it, not made absolute, e.g. ../etc/passwd."),
    f("fd.directory", T::String, A::NONE, "For file fds, the directory that holds the file, e.g. /etc."),
    f("fd.filename", T::String, A::NONE, "For file fds, the file's name without its directory, e.g. passwd."),
    f("fd.containername", T::String, A::NONE, "Container id followed by fd.name, naming the fd across containers."),
    f("fd.containerdirectory", T::String, A::NONE, "Container id followed by fd.directory, naming the directory across containers."),
    f("fd.uid", T::String, A::NONE, "Identifier of the fd unique on the host, made of the thread id and the fd number."),
    f("fd.ip", T::IpAddr, A::NONE, "Matches either IP address of a socket, client or server (filters only)."),
    f("fd.cip", T::IpAddr, A::NONE, "Client IP address of a socket."),
    f("fd.sip", T::IpAddr, A::NONE, "Server IP address of a socket."),
    f("fd.lip", T::IpAddr, A::NONE, "Local IP address of a socket."),
    f("fd.rip", T::IpAddr, A::NONE, "Remote IP address of a socket."),
    f("fd.net", T::IpNet, A::NONE, "Matches either IP address of a socket against a network, e.g. fd.net = 10.0.0.0/8 (filters only)."),
    f("fd.cnet", T::IpNet, A::NONE, "Matches the client IP address of a socket against a network (filters only)."),
    f("fd.snet", T::IpNet, A::NONE, "Matches the server IP address of a socket against a network (filters only)."),
    f("fd.lnet", T::IpNet, A::NONE, "Matches the local IP address of a socket against a network (filters only)."),
    f("fd.rnet", T::IpNet, A::NONE, "Matches the remote IP address of a socket against a network (filters only)."),
    f("fd.port", T::Port, A::NONE, "Matches either port of a TCP or UDP socket, client or server (filters only)."),
    f("fd.cport", T::Port, A::NONE, "Client port of a TCP or UDP socket."),
    f("fd.sport", T::Port, A::NONE, "Server port of a TCP or UDP socket, e.g. 443."),
    f("fd.lport", T::Port, A::NONE, "Local port of a TCP or UDP socket."),
    f("fd.rport", T::Port, A::NONE, "Remote port of a TCP or UDP socket."),
    f("fd.cproto", T::String, A::NONE, "Service name of the client port, from the services database, e.g. http for 80."),
    f("fd.sproto", T::String, A::NONE, "Service name of the server port, e.g. ssh for 22."),
    f("fd.lproto", T::String, A::NONE, "Service name of the local port."),
    f("fd.rproto", T::String, A::NONE, "Service name of the remote port."),
    f("fd.cip.name", T::String, A::NONE, "Domain name of the client IP address: a comparison with a name holds when that name resolves to the address."),
    f("fd.sip.name", T::String, A::NONE, "Domain name of the server IP address, e.g. fd.sip.name = example.com holds when example.com resolves to it."),
    f("fd.lip.name", T::String, A::NONE, "Domain name of the local IP address, compared the same way as fd.sip.name."),
    f("fd.rip.name", T::String, A::NONE, "Domain name of the remote IP address, compared the same way as fd.sip.name."),
    f("fd.l4proto", T::String, A::NONE, "Transport protocol of a socket: tcp, udp, icmp or raw."),
    f("fd.sockfamily", T::String, A::NONE, "Family of a socket: ip or unix."),
    f("fd.is_server", T::Bool, A::NONE, "True if the process owning the fd is the server end of the connection."),
    f("fd.connected", T::Bool, A::NONE, "For TCP and UDP sockets, true once the socket is connected."),
    f("fd.name_changed", T::Bool, A::NONE, "True when the event changed the name of its fd, as when a UDP socket's connection tuple changes."),
    f("fd.dev", T::Int64, A::NONE, "Device number (major and minor together) of the device that holds the file."),
    f("fd.dev.major", T::Int64, A::NONE, "Major number of the device that holds the file."),
    f("fd.dev.minor", T::Int64, A::NONE, "Minor number of the device that holds the file."),
    f("fd.ino", T::Int64, A::NONE, "Inode number of the file."),
    f("fd.is_upper_layer", T::Bool, A::NONE, "True if the file is in the upper, writable layer of an overlay file system."),
    f("fd.is_lower_layer", T::Bool, A::NONE, "True if the file is in a lower, read-only layer of an overlay file system."),

    // fs: the file system paths a file syscall works on, whatever its arguments are called.
    f("fs.path.name", T::String, A::NONE, "Path a file syscall works on, made absolute with the thread's working directory when needed, e.g. /etc/shadow."),
    f("fs.path.nameraw", T::String, A::NONE, "Path a file syscall works on, exactly as the syscall was given it."),
    f("fs.path.source", T::String, A::NONE, "For syscalls with a source and a target, such as rename or link, the absolute source path."),
    f("fs.path.sourceraw", T::String, A::NONE, "For syscalls with a source and a target, the source path exactly as given."),
    f("fs.path.target", T::String, A::NONE, "For syscalls with a source and a target, such as rename or symlink, the absolute target path."),
    f("fs.path.targetraw", T::String, A::NONE, "For syscalls with a source and a target, the target path exactly as given."),

    // container: the container the process runs in, from the cgroup and the container runtime.
    f("container.id", T::String, A::NONE, "Short container id (its first 12 characters, e.g. 3ad7b26ded6d), read from the cgroup; host for processes outside containers."),
    f("container.full_id", T::String, A::NONE, "Full 64-character container id, as the container runtime reports it."),
    f("container.name", T::String, A::NONE, "Name of the container, e.g. nginx; host for processes outside containers."),
    f("container.image", T::String, A::NONE, "Image of the container as named, e.g. docker.io/library/nginx:1.25."),
    f("container.image.id", T::String, A::NONE, "Id of the container's image, e.g. 6f7e2741b66b."),
    f("container.image.repository", T::String, A::NONE, "Repository part of the image name, without tag or digest, e.g. docker.io/library/nginx."),
    f("container.image.tag", T::String, A::NONE, "Tag of the container's image, e.g. latest or 1.25."),
    f("container.image.digest", T::String, A::NONE, "Registry digest of the container's image, e.g. sha256:d977378f890d."),
    f("container.type", T::String, A::NONE, "Container runtime that runs the container, e.g. docker, containerd, cri-o or podman."),
    f("container.privileged", T::Bool, A::NONE, "True if the container runs privileged."),
    f("container.mounts", T::String, A::NONE, "Every mount of the container joined by spaces, each as source:dest:mode:rdwr:propagation."),
    f("container.mount", T::String, INDEX_OR_KEY, "One mount, by position (container.mount[0]) or by source path or glob (container.mount[/var/run/*]), as source:dest:mode:rdwr:propagation."),
    f("container.mount.source", T::String, INDEX_OR_KEY, "Source of one mount, by position or by destination path or glob, e.g. container.mount.source[/host/proc]."),
    f("container.mount.dest", T::String, INDEX_OR_KEY, "Destination of one mount, by position or by source path or glob, e.g. container.mount.dest[/var/run/docker.sock]."),
    f("container.mount.mode", T::String, INDEX_OR_KEY, "Mode of one mount, by position or by source path or glob, e.g. ro."),
    f("container.mount.rdwr", T::String, INDEX_OR_KEY, "Whether one mount, by position or by source path or glob, is writable: true or false."),
    f("container.mount.propagation", T::String, INDEX_OR_KEY, "Propagation of one mount, by position or by source path or glob, e.g. rprivate."),
    f("container.healthcheck", T::String, A::NONE, "Health check command of the container, if it has one (deprecated in Falco)."),
    f("container.liveness_probe", T::String, A::NONE, "Kubernetes liveness probe command of the container, if it has one (deprecated in Falco)."),
    f("container.readiness_probe", T::String, A::NONE, "Kubernetes readiness probe command of the container, if it has one (deprecated in Falco)."),
    f("container.start_ts", T::AbsTime, A::NONE, "Start time of the container, taken from the start of its PID namespace, in nanoseconds since the Unix epoch."),
    f("container.duration", T::RelTime, A::NONE, "Nanoseconds since the container started (since container.start_ts)."),
    f("container.ip", T::String, A::NONE, "Main IPv4 address of the container, as the container runtime reports it, e.g. 10.244.0.12."),
    f("container.cni.json", T::String, A::NONE, "CNI result of the container's pod as JSON text, listing the addresses of each network interface."),
    f("container.host_pid", T::Bool, A::NONE, "True if the container shares the host's PID namespace."),
    f("container.host_network", T::Bool, A::NONE, "True if the container shares the host's network namespace."),
    f("container.host_ipc", T::Bool, A::NONE, "True if the container shares the host's IPC namespace."),
    f("container.label", T::String, KEY_DOTTED, "Value of one container label, e.g. container.label[com.example.team] or container.label.team."),
    f("container.labels", T::String, A::NONE, "Every container label as key:value pairs joined by commas, e.g. app:web, team:infra."),

    // k8s: the Kubernetes pod the container belongs to, from the container runtime.
    f("k8s.ns.name", T::String, A::NONE, "Kubernetes namespace of the pod, e.g. kube-system."),
    f("k8s.pod.name", T::String, A::NONE, "Name of the Kubernetes pod, e.g. web-5d8f7c9b6-x2x4q."),
    f("k8s.pod.uid", T::String, A::NONE, "UID Kubernetes gave the pod when it was created, e.g. 3e41dc6b-08a8-44db-bc2a-3724b18ab19a."),
    f("k8s.pod.id", T::String, A::NONE, "Older name of k8s.pod.uid, kept for existing rules."),
    f("k8s.pod.sandbox_id", T::String, A::NONE, "Short id (first 12 characters) of the pod's sandbox, e.g. 63060edc2d3a; it differs from the pod UID."),
    f("k8s.pod.full_sandbox_id", T::String, A::NONE, "Full 64-character id of the pod's sandbox."),
    f("k8s.pod.label", T::String, KEY_DOTTED, "Value of one pod label, e.g. k8s.pod.label[app.kubernetes.io/name] or k8s.pod.label.app."),
    f("k8s.pod.labels", T::String, A::NONE, "Every pod label as key:value pairs joined by commas, e.g. app:web, tier:frontend."),
    f("k8s.pod.ip", T::String, A::NONE, "Main IPv4 address of the pod, shared by all of its containers, e.g. 10.244.0.12."),
    f("k8s.pod.cni.json", T::String, A::NONE, "CNI result of the pod as JSON text, listing the addresses of each network interface."),
];

#[cfg(test)]
mod tests {
    use super::FIELDS;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_dotted() {
        let mut seen = HashSet::new();
        for field in FIELDS {
            assert!(seen.insert(field.name), "{} is listed twice", field.name);
            assert!(field.name.contains('.') && !field.name.ends_with('.'), "bad name {}", field.name);
            assert!(!field.desc.is_empty(), "{} has no description", field.name);
        }
    }
}

/// The name of Falco's plugin whose fields the container part of [`FIELDS`] declares.
pub const CONTAINER_PLUGIN: &str = "container";

/// Whether a built-in field is one of the container plugin's, which give way to the plugin's
/// own declarations while it is loaded: every `container.*` field but `container.id` (the
/// process state reads it from the cgroup, with or without the plugin, as Falco's kernel side
/// does), and the `k8s.*` fields taken from the container's labels. They are the last entries
/// of [`FIELDS`] (a test holds it), so that leaving them out keeps every other field's id:
/// the process state maps fields by the ids of the full table.
pub fn gives_way_to_container_plugin(name: &str) -> bool {
    (name.starts_with("container.") && name != "container.id") || name.starts_with("k8s.")
}

/// A registry of the syscall fields without those `leave_out` names: the built-in declarations
/// a loaded plugin replaces with its own. Only fields for which
/// [`gives_way_to_container_plugin`] holds may be left out (the others' ids would shift).
pub fn registry_without(leave_out: impl Fn(&str) -> bool) -> crate::FieldRegistry {
    let mut reg = crate::FieldRegistry::new();
    for def in FIELDS.iter().filter(|d| !leave_out(d.name)) {
        reg.add(crate::FieldDef {
            name: std::borrow::Cow::Borrowed(def.name),
            ftype: def.ftype,
            arg: def.arg,
            desc: std::borrow::Cow::Borrowed(def.desc),
            provider: std::borrow::Cow::Borrowed(crate::SYSCALL_SOURCE),
        })
        .expect("the built-in syscall field table has unique names");
    }
    reg
}

#[cfg(test)]
mod container_tests {
    use super::*;

    #[test]
    fn the_container_family_gives_way_but_container_id_stays() {
        assert!(gives_way_to_container_plugin("container.name"));
        assert!(gives_way_to_container_plugin("container.mount.dest"));
        assert!(gives_way_to_container_plugin("k8s.ns.name"));
        assert!(!gives_way_to_container_plugin("container.id"));
        assert!(!gives_way_to_container_plugin("proc.name"));
        let full = crate::FieldRegistry::with_syscall_fields();
        let reg = registry_without(|n| n == "container.name");
        assert_eq!(reg.len() + 1, full.len());
        assert!(reg.get("container.name").is_none() && reg.get("container.id").is_some());
        // Leaving the whole family out keeps the id of every other field.
        let reg = registry_without(gives_way_to_container_plugin);
        for (id, def) in reg.iter() {
            assert_eq!(full.get(&def.name), Some(id), "{} moved", def.name);
        }
    }

    #[test]
    fn the_container_family_is_the_tail_of_the_table() {
        let first = FIELDS.iter().position(|f| gives_way_to_container_plugin(f.name)).unwrap();
        let tail: Vec<&str> = FIELDS[first..].iter().map(|f| f.name).collect();
        assert!(tail.iter().all(|n| gives_way_to_container_plugin(n)), "{tail:?}");
    }
}
