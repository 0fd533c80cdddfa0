//! Path normalization, so that rules see the file a syscall really touched: `..` and `.`
//! resolved, slashes collapsed, relative paths joined to the process's cwd or the dirfd's
//! path, and `/proc/self/root/` and `/proc/<pid>/root/` prefixes removed. The raw path is
//! kept apart (`fd.nameraw`). Symbolic links are not followed: the event does not say
//! where they point, and reading the file system later would race with the attacker.

use rustc_hash::FxHashSet;
use std::sync::Arc;

/// Paths in use, each kept once: fds naming the same file share one string. Bounded in
/// entries and bytes: when full, the strings no fd holds any more are let go, and if that is
/// not enough the set starts over (the fds keep their strings; new opens of the same paths
/// are then shared anew).
#[derive(Debug)]
pub struct Interner {
    set: FxHashSet<Arc<str>>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    /// Times the set was full with every string in use, and started over.
    pub resets: u64,
}

/// Paths interned at most (most paths are short; a few thousand 4 KiB ones fill the bytes).
pub const MAX_INTERNED: usize = 65_536;

/// Bytes of interned paths at most.
pub const MAX_INTERNED_BYTES: usize = 16 << 20;

impl Default for Interner {
    fn default() -> Self {
        Interner::new(MAX_INTERNED, MAX_INTERNED_BYTES)
    }
}

impl Interner {
    /// An empty set holding at most `max_entries` strings of `max_bytes` in all.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Interner { set: FxHashSet::default(), bytes: 0, max_entries, max_bytes, resets: 0 }
    }

    /// The shared copy of `s`.
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        if self.set.len() >= self.max_entries || self.bytes + s.len() > self.max_bytes {
            self.set.retain(|a| Arc::strong_count(a) > 1);
            self.bytes = self.set.iter().map(|a| a.len()).sum();
            if self.set.len() >= self.max_entries / 2 || self.bytes + s.len() > self.max_bytes / 2 {
                self.set.clear();
                self.bytes = 0;
                self.resets += 1;
            }
        }
        let a: Arc<str> = Arc::from(s);
        self.bytes += a.len();
        self.set.insert(a.clone());
        a
    }

    /// Strings held now.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

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

    #[test]
    fn interned_paths_are_shared_and_bounded() {
        let mut i = Interner::new(4, 1 << 20);
        let a = i.intern("/etc/passwd");
        let b = i.intern("/etc/passwd");
        assert!(Arc::ptr_eq(&a, &b));
        // Full: strings no longer held elsewhere go first; the held ones stay shared.
        drop(b);
        for n in 0..3 {
            i.intern(&format!("/tmp/{n}"));
        }
        let c = i.intern("/tmp/new");
        assert!(i.len() <= 4);
        assert!(Arc::ptr_eq(&a, &i.intern("/etc/passwd")));
        assert_eq!(&*c, "/tmp/new");
        // Every string in use and the set full: it starts over, and says so.
        let held: Vec<Arc<str>> = (0..8).map(|n| i.intern(&format!("/held/{n}"))).collect();
        assert!(i.resets > 0 && i.len() <= 4, "{} entries, {} resets", i.len(), i.resets);
        assert_eq!(&*held[7], "/held/7");
        // Bytes bound the set too.
        let mut i = Interner::new(1000, 8192);
        let long = "x".repeat(4000);
        let held: Vec<Arc<str>> = (0..4).map(|n| i.intern(&format!("{long}{n}"))).collect();
        assert!(i.bytes <= 8192 && i.resets > 0);
        drop(held);
    }
}
