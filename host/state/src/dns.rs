//! Host names for `fd.sip.name`, `fd.cip.name`, `fd.rip.name` and `fd.lip.name`, Falco's way
//! (libsinsp's `sinsp_dns_manager`): the names rules compare these fields with are resolved,
//! and an address's field holds every watched name that resolves to it, so
//! `fd.sip.name = example.com` holds when the server address is one of example.com's.
//!
//! Falco resolves a name the first time a comparison needs it, on the event path. Here the
//! names are given up front (the loaded rules' constants) and resolved on a thread of their
//! own, so an event never waits on DNS: until a name's first resolution has finished, its
//! comparisons do not hold. As in Falco, each name is resolved again after 10 s, and the wait
//! doubles (up to 320 s) while its addresses stay the same, back to 10 s when they change.

use lanner_event::Value;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The fields answered from resolved names.
pub const FIELDS: [&str; 4] = ["fd.sip.name", "fd.cip.name", "fd.rip.name", "fd.lip.name"];

/// The first wait before a name is resolved again (Falco's `base_refresh_timeout`).
pub const BASE_REFRESH: Duration = Duration::from_secs(10);

/// The longest wait between two resolutions of an unchanged name (`max_refresh_timeout`).
pub const MAX_REFRESH: Duration = Duration::from_secs(320);

/// Names watched at most (the rules' constants; a rules file with more is cut, and said).
pub const MAX_NAMES: usize = 4096;

/// Addresses kept per name at most.
pub const MAX_ADDRESSES_PER_NAME: usize = 64;

/// Watched names and their addresses; resolving happens on a background thread, started by
/// the first [`Dns::watch`] with names and stopped when this is dropped.
pub struct Dns {
    shared: Arc<Shared>,
    refresh: (Duration, Duration),
}

#[derive(Default)]
struct Shared {
    /// Every address of a watched name, with the names that resolve to it.
    by_ip: RwLock<HashMap<IpAddr, Vec<Arc<str>>>>,
    wanted: Mutex<Wanted>,
    wake: Condvar,
    stop: AtomicBool,
}

#[derive(Default)]
struct Wanted {
    names: Vec<String>,
    /// Bumped on every change of `names`, so the resolver notices.
    generation: u64,
    running: bool,
    /// How many names have been resolved at least once since the last change.
    resolved: usize,
}

impl Default for Dns {
    fn default() -> Self {
        Self::with_refresh(BASE_REFRESH, MAX_REFRESH)
    }
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Dns").field("names", &w.names).field("resolved", &w.resolved).finish()
    }
}

impl Dns {
    /// A resolver that refreshes after `base`, doubling the wait up to `max` while a name's
    /// addresses stay the same.
    pub fn with_refresh(base: Duration, max: Duration) -> Self {
        Dns { shared: Arc::default(), refresh: (base, max.max(base)) }
    }

    /// Watches these names from now on (the previous ones are forgotten); they are resolved
    /// in the background.
    pub fn watch(&self, names: impl IntoIterator<Item = String>) {
        let mut names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
        names.sort();
        names.dedup();
        if names.len() > MAX_NAMES {
            tracing::warn!(
                "the rules compare fd.*ip.name with {} host names: only the first {MAX_NAMES} (in name order) are resolved",
                names.len()
            );
            names.truncate(MAX_NAMES);
        }
        let mut w = self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner());
        if w.names == names {
            return;
        }
        w.names = names;
        w.generation += 1;
        w.resolved = 0;
        if !w.running && !w.names.is_empty() {
            w.running = true;
            let shared = self.shared.clone();
            let refresh = self.refresh;
            let spawned = std::thread::Builder::new()
                .name("lanner-dns".into())
                .spawn(move || resolve_loop(&shared, refresh.0, refresh.1));
            if let Err(e) = spawned {
                w.running = false;
                tracing::error!("host names in the rules will not be resolved: cannot start a thread: {e}");
            }
        }
        drop(w);
        self.shared.wake.notify_all();
    }

    /// The watched names.
    pub fn names(&self) -> Vec<String> {
        self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner()).names.clone()
    }

    /// How many of the watched names have been resolved (successfully or not) at least once.
    pub fn resolved(&self) -> usize {
        self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner()).resolved
    }

    /// Names watched and addresses known now.
    pub fn sizes(&self) -> (usize, usize) {
        let names = self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner()).names.len();
        let addresses = self.shared.by_ip.read().unwrap_or_else(|e| e.into_inner()).len();
        (names, addresses)
    }

    /// The watched names that resolve to this address. Addresses compare as they are: as in
    /// Falco, an IPv4 socket matches IPv4 results and an IPv6 socket IPv6 results.
    pub fn names_of(&self, ip: IpAddr) -> Vec<Arc<str>> {
        let by_ip = self.shared.by_ip.read().unwrap_or_else(|e| e.into_inner());
        by_ip.get(&ip).cloned().unwrap_or_default()
    }

    /// The field's value for an address: the one name, a list of several (a comparison holds
    /// when any of them matches), or nothing when no watched name resolves to it.
    pub fn value(&self, ip: IpAddr) -> Option<Value<'static>> {
        let mut names = self.names_of(ip);
        match names.len() {
            0 => None,
            1 => names.pop().map(|n| Value::Str(Cow::Owned(n.to_string()))),
            _ => {
                Some(Value::List(names.into_iter().map(|n| Value::Str(Cow::Owned(n.to_string()))).collect()))
            }
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
    }
}

/// One name's resolution state.
struct Entry {
    addrs: HashSet<IpAddr>,
    next: Instant,
    wait: Duration,
}

fn resolve_loop(shared: &Shared, base: Duration, max: Duration) {
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut seen_generation = u64::MAX;
    loop {
        let (names, generation) = {
            let w = shared.wanted.lock().unwrap_or_else(|e| e.into_inner());
            (w.names.clone(), w.generation)
        };
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        // A new set of names drops the addresses of the names no longer watched.
        let mut changed = generation != seen_generation;
        if changed {
            entries.retain(|n, _| names.contains(n));
            seen_generation = generation;
        }
        for name in &names {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let now = Instant::now();
            if entries.get(name).is_some_and(|e| e.next > now) {
                continue;
            }
            let addrs = lookup(name);
            match entries.get_mut(name) {
                None => {
                    if addrs.is_empty() {
                        tracing::warn!(
                            "host name {name:?} compared with fd.*ip.name in the rules does not resolve: those comparisons cannot hold until it does"
                        );
                    } else {
                        tracing::info!(name = %name, addresses = ?addrs, "resolved a host name used by the rules");
                    }
                    changed = true;
                    entries.insert(name.clone(), Entry { addrs, next: Instant::now() + base, wait: base });
                }
                Some(e) if e.addrs != addrs => {
                    tracing::info!(name = %name, addresses = ?addrs, "a host name used by the rules resolves to new addresses");
                    changed = true;
                    e.addrs = addrs;
                    e.wait = base;
                    e.next = Instant::now() + base;
                }
                Some(e) => {
                    e.wait = (e.wait * 2).min(max);
                    e.next = Instant::now() + e.wait;
                }
            }
        }
        if changed {
            let mut by_ip: HashMap<IpAddr, Vec<Arc<str>>> = HashMap::new();
            for name in &names {
                let Some(e) = entries.get(name) else { continue };
                let name: Arc<str> = Arc::from(name.as_str());
                for ip in &e.addrs {
                    by_ip.entry(*ip).or_default().push(name.clone());
                }
            }
            let old = std::mem::replace(&mut *shared.by_ip.write().unwrap_or_else(|e| e.into_inner()), by_ip);
            drop(old);
        }
        let mut w = shared.wanted.lock().unwrap_or_else(|e| e.into_inner());
        if w.generation == generation {
            w.resolved = names.iter().filter(|n| entries.contains_key(*n)).count();
            let next = entries.values().map(|e| e.next).min();
            let wait =
                next.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()));
            if !wait.is_zero() && !shared.stop.load(Ordering::Relaxed) {
                // Woken early by a change of names or by the owner going away.
                let _ = shared.wake.wait_timeout_while(w, wait, |w| {
                    w.generation == generation && !shared.stop.load(Ordering::Relaxed)
                });
            }
        }
    }
}

/// Every address of a name (the system's resolver: /etc/hosts, DNS), empty when it does not
/// resolve.
fn lookup(name: &str) -> HashSet<IpAddr> {
    match (name, 0u16).to_socket_addrs() {
        Ok(addrs) => addrs.map(|a| a.ip()).take(MAX_ADDRESSES_PER_NAME).collect(),
        Err(_) => HashSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_resolved(d: &Dns, n: usize) {
        let t = Instant::now();
        while d.resolved() < n {
            assert!(t.elapsed() < Duration::from_secs(10), "names not resolved in time: {d:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    // These two watch numeric names: another test edits /etc/hosts, and a lookup that reads
    // it mid-write would see no name.
    #[test]
    fn names_resolve_in_the_background_and_match_their_address() {
        let d = Dns::default();
        assert!(d.value("127.0.0.1".parse().unwrap()).is_none(), "nothing watched yet");
        d.watch(["127.0.0.1".to_string(), "no-such-host.invalid".to_string()]);
        wait_resolved(&d, 2);
        assert_eq!(
            d.names_of("127.0.0.1".parse().unwrap()).iter().map(|n| &**n).collect::<Vec<_>>(),
            ["127.0.0.1"]
        );
        assert_eq!(d.value("127.0.0.1".parse().unwrap()), Some(Value::Str(Cow::Borrowed("127.0.0.1"))));
        assert!(d.value("10.1.2.3".parse().unwrap()).is_none());
        // A new set of names replaces the old one.
        d.watch(["no-such-host.invalid".to_string()]);
        wait_resolved(&d, 1);
        let t = Instant::now();
        while d.value("127.0.0.1".parse().unwrap()).is_some() {
            assert!(t.elapsed() < Duration::from_secs(5), "127.0.0.1 still answered after it was unwatched");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn an_address_of_two_names_holds_both() {
        let d = Dns::default();
        // "127.1" is 127.0.0.1 to the system's resolver.
        d.watch(["127.1".to_string(), "127.0.0.1".to_string()]);
        wait_resolved(&d, 2);
        let v = d.value("127.0.0.1".parse().unwrap()).unwrap();
        let Value::List(items) = v else { panic!("expected a list, got {v:?}") };
        let mut names: Vec<String> = items.iter().map(|i| i.to_string()).collect();
        names.sort();
        assert_eq!(names, ["127.0.0.1", "127.1"]);
    }

    /// Adds `ip name` to /etc/hosts until dropped; a lock file keeps concurrent tests from
    /// writing over each other's lines.
    struct HostsLine(String);

    fn edit_hosts(f: impl FnOnce(String) -> String) {
        use std::os::fd::AsRawFd;
        let lock = std::fs::File::create("/tmp/lanner-etc-hosts.lock").unwrap();
        // SAFETY: flock on a file descriptor we own.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
        let text = std::fs::read_to_string("/etc/hosts").unwrap();
        std::fs::write("/etc/hosts", f(text)).unwrap();
    }

    impl HostsLine {
        fn add(ip: &str, name: &str) -> Self {
            let line = format!("{ip} {name}");
            edit_hosts(|t| {
                format!("{}{line}\n", if t.ends_with('\n') || t.is_empty() { t } else { t + "\n" })
            });
            HostsLine(line)
        }
    }

    impl Drop for HostsLine {
        fn drop(&mut self) {
            edit_hosts(|t| t.lines().filter(|l| *l != self.0).map(|l| format!("{l}\n")).collect());
        }
    }

    #[test]
    fn a_changed_address_is_picked_up_on_refresh() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: editing /etc/hosts needs root");
            return;
        }
        let name = format!("lanner-refresh-{}.test", std::process::id());
        let first = HostsLine::add("127.0.0.2", &name);
        let d = Dns::with_refresh(Duration::from_millis(50), Duration::from_millis(200));
        d.watch([name.clone()]);
        wait_resolved(&d, 1);
        assert_eq!(d.value("127.0.0.2".parse().unwrap()), Some(Value::Str(Cow::Owned(name.clone()))));
        drop(first);
        let _second = HostsLine::add("127.0.0.3", &name);
        let t = Instant::now();
        while d.value("127.0.0.3".parse().unwrap()).is_none() {
            assert!(t.elapsed() < Duration::from_secs(5), "the new address was not picked up: {d:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(d.value("127.0.0.2".parse().unwrap()).is_none(), "the old address is forgotten");
    }
}
