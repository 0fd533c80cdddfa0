//! Container metadata by id: a bounded cache, and lookups that never hold a call for long.
//!
//! A container seen for the first time starts a lookup: the runtime sockets are tried in
//! order (a socket that is missing, refused or not granted is skipped for a while), one
//! request per connection. The lookup may wait up to `first_wait` for its answer; after that
//! it stays open and is advanced without waiting whenever an event of that container comes,
//! so the event loop that calls the plugin is never held longer than that bound. Entries go
//! when their container's first process exits, or, past `max_entries`, the least recently
//! used first. A container no runtime knows is asked again after `retry`.

use crate::engines::{self, Engine, FollowUp, Info};
use crate::http;
use lanner_plugin_sdk::json::Value as Json;
use lanner_plugin_sdk::unix::{Connection, Read};
use lanner_plugin_sdk::{Level, log};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A runtime socket and what it serves.
#[derive(Debug)]
pub struct Socket {
    pub engine: Engine,
    pub path: String,
    /// Skipped until then (it was missing or refused).
    down_until: Option<Instant>,
    /// Said once: the host refused it (no grant).
    denied: bool,
}

impl Socket {
    pub fn new(engine: Engine, path: String) -> Self {
        Socket { engine, path, down_until: None, denied: false }
    }
}

/// Where a lookup is.
struct Lookup {
    /// The next socket to try.
    socket: usize,
    conn: Option<Connection>,
    buf: Vec<u8>,
    /// The metadata of the first answer, while a follow-up request completes it.
    partial: Option<(Info, FollowUp)>,
}

enum Entry {
    Known(Rc<Info>),
    Pending(Box<Lookup>),
    Unknown { retry_at: Instant },
}

struct Slot {
    entry: Entry,
    used: u64,
}

/// Settings of the cache.
#[derive(Debug, Clone)]
pub struct Settings {
    pub first_wait: Duration,
    pub io_timeout_ms: u32,
    pub max_entries: usize,
    pub retry: Duration,
    pub socket_backoff: Duration,
}

/// The cache and the lookups under way.
pub struct Cache {
    sockets: Vec<Socket>,
    slots: HashMap<String, Slot>,
    settings: Settings,
    clock: u64,
}

/// Why one request attempt stopped.
enum Attempt {
    /// The answer is parsed.
    Answer(http::Response),
    /// Not all of it yet.
    Waiting,
    /// This socket cannot answer (missing, refused, broken answer).
    Failed,
}

impl Cache {
    pub fn new(sockets: Vec<Socket>, settings: Settings) -> Self {
        Cache { sockets, slots: HashMap::new(), settings, clock: 0 }
    }

    /// The metadata of container `id` (its short id) when known, starting or advancing its
    /// lookup otherwise.
    pub fn get(&mut self, id: &str) -> Option<Rc<Info>> {
        self.clock += 1;
        let now = Instant::now();
        let clock = self.clock;
        let first = match self.slots.get_mut(id) {
            Some(slot) => {
                slot.used = clock;
                match &slot.entry {
                    Entry::Known(i) => return Some(i.clone()),
                    Entry::Unknown { retry_at } if *retry_at > now => return None,
                    Entry::Unknown { .. } => true,
                    Entry::Pending(_) => false,
                }
            }
            None => {
                self.evict_over_bound();
                true
            }
        };
        let mut lookup = match self.slots.remove(id) {
            Some(Slot { entry: Entry::Pending(l), .. }) => l,
            _ => Box::new(Lookup { socket: 0, conn: None, buf: Vec::new(), partial: None }),
        };
        let deadline = if first { now + self.settings.first_wait } else { now };
        let entry = match self.advance(id, &mut lookup, deadline) {
            Some(Some(info)) => Entry::Known(Rc::new(info)),
            Some(None) => Entry::Unknown { retry_at: now + self.settings.retry },
            None => Entry::Pending(lookup),
        };
        let known = match &entry {
            Entry::Known(i) => Some(i.clone()),
            _ => None,
        };
        self.slots.insert(id.to_string(), Slot { entry, used: clock });
        known
    }

    /// Forgets a container (it exited).
    pub fn forget(&mut self, id: &str) {
        self.slots.remove(id);
    }

    /// How many containers are known or being looked up.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    fn evict_over_bound(&mut self) {
        while self.slots.len() >= self.settings.max_entries.max(1) {
            let Some(oldest) = self.slots.iter().min_by_key(|(_, s)| s.used).map(|(k, _)| k.clone()) else {
                return;
            };
            self.slots.remove(&oldest);
        }
    }

    /// Advances a lookup until it is done or `deadline` passes: `Some(Some(info))` when
    /// known, `Some(None)` when no runtime knows the container, `None` while under way.
    fn advance(&mut self, id: &str, l: &mut Lookup, deadline: Instant) -> Option<Option<Info>> {
        loop {
            if l.socket >= self.sockets.len() {
                return Some(None);
            }
            let engine = self.sockets[l.socket].engine;
            let path = match &l.partial {
                Some((_, follow)) => follow.path(),
                None => engine.container_path(id),
            };
            match self.attempt(l, &path, deadline) {
                Attempt::Waiting => return None,
                Attempt::Failed => {
                    l.socket += 1;
                    l.partial = None;
                }
                Attempt::Answer(resp) => {
                    let json = (resp.status == 200)
                        .then(|| lanner_plugin_sdk::json::from_slice::<Json>(&resp.body).ok())
                        .flatten();
                    if let Some((mut info, follow)) = l.partial.take() {
                        // A follow-up that fails leaves what the first answer said.
                        if let Some(j) = json {
                            match follow {
                                FollowUp::DockerImage(_) => engines::docker_image(&mut info, &j),
                                FollowUp::CriSandbox(_) => engines::crio_sandbox(&mut info, &j),
                            }
                        }
                        return Some(Some(info));
                    }
                    let Some(j) = json else {
                        // Not this runtime's container (404), or not its API: the next socket.
                        l.socket += 1;
                        continue;
                    };
                    let (info, follow) = match engine {
                        Engine::Docker => engines::docker(&j),
                        Engine::Podman => (engines::podman(&j), None),
                        Engine::Cri => engines::crio(id, &j),
                    };
                    match follow {
                        Some(f) => l.partial = Some((info, f)),
                        None => return Some(Some(info)),
                    }
                }
            }
        }
    }

    /// One request on the lookup's current socket, connecting and sending it first if needed.
    fn attempt(&mut self, l: &mut Lookup, path: &str, deadline: Instant) -> Attempt {
        let now = Instant::now();
        if l.conn.is_none() {
            let s = &mut self.sockets[l.socket];
            if s.denied || s.down_until.is_some_and(|t| t > now) {
                return Attempt::Failed;
            }
            let conn = match Connection::connect(&s.path) {
                Ok(c) => c,
                Err(e) => {
                    if e.contains("grants.unix") {
                        s.denied = true;
                        log(
                            Level::Warn,
                            &format!("{e}; the {:?} runtime at {} is not asked", s.engine, s.path),
                        );
                    } else {
                        s.down_until = Some(now + self.settings.socket_backoff);
                        log(Level::Debug, &format!("{}: {e}", s.path));
                    }
                    return Attempt::Failed;
                }
            };
            if let Err(e) = conn.write_all(&http::get(path), self.settings.io_timeout_ms) {
                log(Level::Debug, &format!("{}: {e}", s.path));
                return Attempt::Failed;
            }
            l.buf.clear();
            l.conn = Some(conn);
        }
        let conn = l.conn.as_ref().expect("connected above");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = u32::try_from(left.as_millis()).unwrap_or(u32::MAX);
            match conn.read(256 * 1024, wait) {
                Ok(Read::Data(d)) => {
                    l.buf.extend_from_slice(&d);
                    if l.buf.len() > 16 << 20 {
                        l.conn = None;
                        return Attempt::Failed;
                    }
                }
                Ok(Read::Timeout) => return Attempt::Waiting,
                Ok(Read::Closed) => {
                    l.conn = None;
                    let r = http::parse(&l.buf);
                    l.buf.clear();
                    return match r {
                        Ok(r) => Attempt::Answer(r),
                        Err(e) => {
                            log(Level::Debug, &format!("{}: {e}", self.sockets[l.socket].path));
                            Attempt::Failed
                        }
                    };
                }
                Err(e) => {
                    log(Level::Debug, &format!("{}: {e}", self.sockets[l.socket].path));
                    l.conn = None;
                    return Attempt::Failed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_bound_and_forgets_exited_containers() {
        let settings = Settings {
            first_wait: Duration::ZERO,
            io_timeout_ms: 1,
            max_entries: 2,
            retry: Duration::from_secs(60),
            socket_backoff: Duration::from_secs(5),
        };
        // No runtime socket: every container is unknown, and remembered as such.
        let mut c = Cache::new(Vec::new(), settings);
        assert!(c.get("aaaaaaaaaaaa").is_none());
        assert!(c.get("bbbbbbbbbbbb").is_none());
        assert!(c.get("aaaaaaaaaaaa").is_none());
        assert!(c.get("cccccccccccc").is_none());
        assert_eq!(c.len(), 2, "the least recently used (b) went");
        assert!(c.slots.contains_key("aaaaaaaaaaaa") && !c.slots.contains_key("bbbbbbbbbbbb"));
        c.forget("aaaaaaaaaaaa");
        assert_eq!(c.len(), 1);
    }
}
