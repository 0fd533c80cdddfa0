//! Path normalization, so that rules see the file a syscall really touched: `..` and `.`
//! resolved, slashes collapsed, relative paths joined to the process's cwd or the dirfd's
//! path, and `/proc/self/root/` and `/proc/<pid>/root/` prefixes removed. The raw path is
//! kept apart (`fd.nameraw`). Symbolic links are not followed: the event does not say
//! where they point, and reading the file system later would race with the attacker.

/// Joins `path` to `base` when it is relative, then normalizes.
pub fn resolve(base: Option<&str>, path: &str) -> String {
    if path.starts_with('/') {
        return normalize(path);
    }
    match base {
        Some(b) if b.starts_with('/') => normalize(&format!("{b}/{path}")),
        _ => normalize_relative(path),
    }
}

/// Normalizes an absolute path lexically.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    // `/proc/self/root/...`, `/proc/thread-self/root/...` and `/proc/<pid>/root/...` name
    // the same file as `/...` for a process in the host's mount namespace.
    if parts.len() >= 3
        && parts[0] == "proc"
        && parts[2] == "root"
        && (parts[1] == "self" || parts[1] == "thread-self" || parts[1].bytes().all(|b| b.is_ascii_digit()))
    {
        parts.drain(..3);
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn normalize_relative(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The directory part of a normalized path (`/etc` for `/etc/shadow`, `/` for `/etc`).
pub fn dirname(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// The last component (`shadow` for `/etc/shadow`).
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evasions_are_undone() {
        assert_eq!(resolve(None, "/proc/self/root/etc/shadow"), "/etc/shadow");
        assert_eq!(resolve(None, "/proc/1234/root/etc//shadow"), "/etc/shadow");
        assert_eq!(resolve(Some("/tmp/x"), "../../etc//shadow"), "/etc/shadow");
        assert_eq!(resolve(Some("/"), "./etc/./shadow"), "/etc/shadow");
        assert_eq!(resolve(None, "/../../etc/shadow"), "/etc/shadow");
        assert_eq!(resolve(Some("/root/"), "x"), "/root/x");
        assert_eq!(resolve(None, "rel/../a"), "a");
        assert_eq!(resolve(None, "/proc/self/status"), "/proc/self/status");
        assert_eq!(resolve(None, "/"), "/");
        assert_eq!(dirname("/etc/shadow"), "/etc");
        assert_eq!(dirname("/etc"), "/");
        assert_eq!(basename("/etc/shadow"), "shadow");
    }
}
