//! I/O errors as a plugin's author and its operator can act on them.
//!
//! Rust's `std::io::Error` prints wasi-libc's error number, `(os error 44)`, which is not
//! Linux's (44 is `ECHRNG` there) and names nothing a reader can look up. And a file outside
//! every directory granted to the plugin never reaches the host: wasi-libc, in the plugin,
//! finds no preopened directory for the path and fails the open itself. [`io_error`] says
//! both: the WASI name of the code and, for such a path, that no grant covers it, with the
//! directories that are granted.
//!
//! ```ignore
//! let text = std::fs::read_to_string(path).map_err(|e| lanner_plugin_sdk::errors::io_error(path, &e))?;
//! // "/etc/x: No such file or directory (WASI error no-entry); no grant covers /etc/x: add a
//! //  directory holding it to grants.dirs in the plugin's NAME.yaml (granted: /logs)"
//! ```

/// The WASI name of a wasi-libc error number: `wasi:filesystem`'s and `wasi:sockets`' error
/// codes where one exists, else WASI preview 1's errno name.
pub fn wasi_name(errno: i32) -> Option<&'static str> {
    const NAMES: [&str; 77] = [
        "success",
        "2big",
        "access",
        "address-in-use",
        "address-not-bindable",
        "afnosupport",
        "would-block",
        "already",
        "bad-descriptor",
        "badmsg",
        "busy",
        "canceled",
        "child",
        "connection-aborted",
        "connection-refused",
        "connection-reset",
        "deadlock",
        "destaddrreq",
        "dom",
        "quota",
        "exist",
        "fault",
        "file-too-large",
        "remote-unreachable",
        "idrm",
        "illegal-byte-sequence",
        "in-progress",
        "interrupted",
        "invalid",
        "io",
        "isconn",
        "is-directory",
        "loop",
        "mfile",
        "too-many-links",
        "message-size",
        "multihop",
        "name-too-long",
        "netdown",
        "netreset",
        "remote-unreachable",
        "nfile",
        "nobufs",
        "no-device",
        "no-entry",
        "noexec",
        "no-lock",
        "nolink",
        "insufficient-memory",
        "nomsg",
        "noprotoopt",
        "insufficient-space",
        "nosys",
        "notconn",
        "not-directory",
        "not-empty",
        "not-recoverable",
        "notsock",
        "unsupported",
        "no-tty",
        "no-such-device",
        "overflow",
        "ownerdead",
        "not-permitted",
        "pipe",
        "proto",
        "protonosupport",
        "prototype",
        "range",
        "read-only",
        "invalid-seek",
        "srch",
        "stale",
        "timeout",
        "text-file-busy",
        "cross-device",
        "not-capable",
    ];
    usize::try_from(errno).ok().filter(|&n| n > 0).and_then(|n| NAMES.get(n).copied())
}

/// An I/O error's text with the WASI name of its code instead of wasi-libc's number.
pub fn describe(e: &std::io::Error) -> String {
    let Some(name) = e.raw_os_error().and_then(wasi_name) else { return e.to_string() };
    let text = e.to_string();
    // std prints "DESCRIPTION (os error N)": the description stays, the number goes.
    let description = text.rsplit_once(" (os error ").map_or(text.as_str(), |(d, _)| d);
    format!("{description} (WASI error {name})")
}

/// The guest paths of the directories granted to this plugin (its preopens).
pub fn granted_dirs() -> Vec<String> {
    wasip2::filesystem::preopens::get_directories().into_iter().map(|(_, path)| path).collect()
}

fn covers(dir: &str, path: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.is_empty() || dir == "." || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// An error opening or reading `path`, for the log or an error value: the path, the error
/// with its WASI name and, when no granted directory holds the path, which grant is missing.
pub fn io_error(path: &str, e: &std::io::Error) -> String {
    let mut text = format!("{path}: {}", describe(e));
    let missing = matches!(e.raw_os_error().and_then(wasi_name), Some("no-entry" | "not-capable" | "access"));
    if missing && path.starts_with('/') {
        let granted = granted_dirs();
        if !granted.iter().any(|g| covers(g, path)) {
            let list = if granted.is_empty() { "none".to_string() } else { granted.join(", ") };
            text.push_str(&format!(
                "; no grant covers {path}: add a directory holding it to grants.dirs in the plugin's NAME.yaml (granted: {list})"
            ));
        }
    }
    text
}
