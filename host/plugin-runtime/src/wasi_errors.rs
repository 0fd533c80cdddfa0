//! A plugin's error text made actionable: the error numbers its language's runtime printed
//! (`(os error 44)` from Rust, `[Errno 44]` from Python) are wasi-libc's, not Linux's (44 is
//! `ECHRNG` on Linux), so they are replaced by the WASI name of the code; and an open that
//! failed for a path outside every granted directory says which grant is missing.
//!
//! The host never sees such an open: wasi-libc, inside the plugin, finds no preopened
//! directory for the path and fails it with `no-entry` (or `not-capable`) before any WASI
//! call. So the host reads the path from the plugin's own message, when it has one, and
//! compares it with the plugin's grants.

use crate::config::{DirMode, Grants};
use std::borrow::Cow;

/// The WASI name of a wasi-libc error number: `wasi:filesystem`'s and `wasi:sockets`' error
/// codes where one exists, else WASI preview 1's errno name.
pub fn wasi_error_name(errno: u32) -> Option<&'static str> {
    Some(match errno {
        1 => "2big",
        2 => "access",
        3 => "address-in-use",
        4 => "address-not-bindable",
        5 => "afnosupport",
        6 => "would-block",
        7 => "already",
        8 => "bad-descriptor",
        9 => "badmsg",
        10 => "busy",
        11 => "canceled",
        12 => "child",
        13 => "connection-aborted",
        14 => "connection-refused",
        15 => "connection-reset",
        16 => "deadlock",
        17 => "destaddrreq",
        18 => "dom",
        19 => "quota",
        20 => "exist",
        21 => "fault",
        22 => "file-too-large",
        23 => "remote-unreachable",
        24 => "idrm",
        25 => "illegal-byte-sequence",
        26 => "in-progress",
        27 => "interrupted",
        28 => "invalid",
        29 => "io",
        30 => "isconn",
        31 => "is-directory",
        32 => "loop",
        33 => "mfile",
        34 => "too-many-links",
        35 => "message-size",
        36 => "multihop",
        37 => "name-too-long",
        38 => "netdown",
        39 => "netreset",
        40 => "remote-unreachable",
        41 => "nfile",
        42 => "nobufs",
        43 => "no-device",
        44 => "no-entry",
        45 => "noexec",
        46 => "no-lock",
        47 => "nolink",
        48 => "insufficient-memory",
        49 => "nomsg",
        50 => "noprotoopt",
        51 => "insufficient-space",
        52 => "nosys",
        53 => "notconn",
        54 => "not-directory",
        55 => "not-empty",
        56 => "not-recoverable",
        57 => "notsock",
        58 => "unsupported",
        59 => "no-tty",
        60 => "no-such-device",
        61 => "overflow",
        62 => "ownerdead",
        63 => "not-permitted",
        64 => "pipe",
        65 => "proto",
        66 => "protonosupport",
        67 => "prototype",
        68 => "range",
        69 => "read-only",
        70 => "invalid-seek",
        71 => "srch",
        72 => "stale",
        73 => "timeout",
        74 => "text-file-busy",
        75 => "cross-device",
        76 => "not-capable",
        _ => return None,
    })
}

/// The forms language runtimes print an error number in: Rust's `(os error N)` and
/// Python's `[Errno N]`, with what replaces them.
const FORMS: [(&str, &str, &str, &str); 2] =
    [("(os error ", ")", "(WASI error ", ")"), ("[Errno ", "]", "[WASI error ", "]")];

/// `message` with every error number named as WASI names it, and, when an open failed for
/// lack of a grant, which grant is missing. `plugin` names the plugin's NAME.yaml.
pub(crate) fn explain<'m>(message: &'m str, plugin: &str, grants: &Grants) -> Cow<'m, str> {
    let mut out = String::new();
    let mut codes: Vec<&str> = Vec::new();
    let mut rest = message;
    'scan: while !rest.is_empty() {
        let mut first: Option<(usize, usize)> = None;
        for (fi, (open, ..)) in FORMS.iter().enumerate() {
            if let Some(at) = rest.find(open)
                && first.is_none_or(|(a, _)| at < a)
            {
                first = Some((at, fi));
            }
        }
        let Some((at, fi)) = first else { break };
        let (open, close, new_open, new_close) = FORMS[fi];
        let after = &rest[at + open.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let name = after[..digits]
            .parse()
            .ok()
            .filter(|_| after[digits..].starts_with(close))
            .and_then(wasi_error_name);
        match name {
            Some(name) => {
                out.push_str(&rest[..at]);
                out.push_str(new_open);
                out.push_str(name);
                out.push_str(new_close);
                codes.push(name);
                rest = &after[digits + close.len()..];
            }
            None => {
                out.push_str(&rest[..at + open.len()]);
                rest = &rest[at + open.len()..];
                continue 'scan;
            }
        }
    }
    if codes.is_empty() {
        return Cow::Borrowed(message);
    }
    out.push_str(rest);
    if let Some(hint) = grant_hint(&out, &codes, plugin, grants) {
        out.push_str("; ");
        out.push_str(&hint);
    }
    Cow::Owned(out)
}

/// What to change in NAME.yaml, when the codes say a file could not be reached.
fn grant_hint(message: &str, codes: &[&str], plugin: &str, grants: &Grants) -> Option<String> {
    let missing = codes.iter().any(|c| matches!(*c, "no-entry" | "not-capable" | "access"));
    let refused = codes.iter().any(|c| matches!(*c, "not-permitted" | "read-only"));
    if !missing && !refused {
        return None;
    }
    let granted: Vec<String> = grants.dirs.iter().map(|d| d.guest_path()).collect();
    let granted_text = if granted.is_empty() { "none".to_string() } else { granted.join(", ") };
    let paths = absolute_paths(message);
    if missing {
        if let Some(p) = paths.iter().find(|p| !granted.iter().any(|g| covers(g, p))) {
            return Some(format!(
                "no grant covers {p}: add a directory holding it to grants.dirs in {plugin}.yaml (granted: {granted_text})"
            ));
        }
        if paths.is_empty() && granted.is_empty() {
            return Some(format!(
                "plugin {plugin} has no directory granted: a file it opens must be under one of grants.dirs in {plugin}.yaml"
            ));
        }
    }
    if refused {
        for p in &paths {
            if let Some(d) = grants.dirs.iter().find(|d| d.mode == DirMode::Ro && covers(&d.guest_path(), p))
            {
                return Some(format!(
                    "{} is granted read-only: set mode: rw on its entry in grants.dirs of {plugin}.yaml to write there",
                    d.guest_path()
                ));
            }
        }
    }
    None
}

/// Whether the guest directory `dir` holds `path`.
fn covers(dir: &str, path: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// The absolute paths a message quotes: words starting with `/`, without surrounding quotes
/// and punctuation.
fn absolute_paths(message: &str) -> Vec<&str> {
    message
        .split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | ')' | '[' | ']' | ','))
        .map(|w| w.trim_end_matches([':', ';', '.']))
        .filter(|w| w.starts_with('/') && w.len() > 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DirGrant;

    fn grants(dirs: &[(&str, DirMode)]) -> Grants {
        Grants {
            dirs: dirs
                .iter()
                .map(|(g, mode)| DirGrant { host: "/var/x".into(), guest: Some(g.to_string()), mode: *mode })
                .collect(),
            ..Grants::default()
        }
    }

    #[test]
    fn error_numbers_get_their_wasi_names() {
        let g = grants(&[("/logs", DirMode::Ro)]);
        assert_eq!(
            explain("connect: Connection refused (os error 14)", "p", &g),
            "connect: Connection refused (WASI error connection-refused)"
        );
        assert_eq!(
            explain("[Errno 28] Invalid argument and (os error 8)", "p", &g),
            "[WASI error invalid] Invalid argument and (WASI error bad-descriptor)"
        );
        // Not an error number: left as it is.
        assert_eq!(explain("(os error x) [Errno 999]", "p", &g), "(os error x) [Errno 999]");
        assert!(matches!(explain("nothing here", "p", &g), Cow::Borrowed(_)));
    }

    #[test]
    fn a_path_outside_the_grants_names_the_missing_grant() {
        let g = grants(&[("/logs", DirMode::Ro)]);
        assert_eq!(
            explain("reading /etc/x: No such file or directory (os error 44)", "tail", &g),
            "reading /etc/x: No such file or directory (WASI error no-entry); no grant covers /etc/x: add a directory holding it to grants.dirs in tail.yaml (granted: /logs)"
        );
        // Python quotes the path; a granted path that is missing is only named.
        assert_eq!(
            explain("[Errno 44] No such file or directory: '/logs/a.log'", "tail", &g),
            "[WASI error no-entry] No such file or directory: '/logs/a.log'"
        );
        assert!(
            explain("No such file or directory (os error 44)", "tail", &Grants::default())
                .ends_with("plugin tail has no directory granted: a file it opens must be under one of grants.dirs in tail.yaml")
        );
        assert!(explain("writing /logs/out: Operation not permitted (os error 63)", "tail", &g).ends_with(
            "/logs is granted read-only: set mode: rw on its entry in grants.dirs of tail.yaml to write there"
        ));
    }
}
