//! Source plugins in the daemon. Each loaded source plugin whose `NAME.yaml` gives
//! `open_params` has its stream opened once and read on a thread of its own; the batches go
//! to the live loop, which runs them through the rules (those with `source: NAME`) beside the
//! syscall events; each message also sets a flag that ends the loop's wait for syscall
//! records. A source with no events yet (a followed file at its end) is asked again after a
//! short pause. A bounded channel between them makes a source that outruns the rules wait
//! a little ([`SEND_WAIT`]), instead of growing memory; past that its batch is dropped and
//! counted (`lanner_plugin_events_dropped_total`, a warning), so that a flooded source costs
//! its own events, never the syscall capture (the live loop also takes only a bounded share
//! of source batches per round, see `live::SOURCE_BATCHES_PER_ROUND`). After a reload, sources whose plugin was removed or replaced
//! are stopped and new ones started (a replacement once the old stream is closed); an
//! unchanged plugin keeps its open stream.

use lanner_plugin_runtime::{Plugin, PluginSet, PluginState, RawEvent, SourceBatch};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many events a source plugin is asked for at once.
pub(crate) const SOURCE_BATCH: u32 = 256;

/// Batches waiting for the live loop, per all sources: beyond this a source waits.
pub(crate) const QUEUED_BATCHES: usize = 64;

/// How long a source's batch waits for room in the queue before it is dropped.
pub(crate) const SEND_WAIT: Duration = Duration::from_millis(100);

/// The least time between two warnings about a source's dropped events (each says how many).
const DROP_WARNING_EVERY: Duration = Duration::from_secs(10);

/// The pause after a source first says it has no events yet, doubled while it stays idle up
/// to [`IDLE_MAX`]: an event that arrives at an idle source waits at most that long.
const IDLE_FIRST: Duration = Duration::from_millis(2);
const IDLE_MAX: Duration = Duration::from_millis(50);

/// What a source thread tells the live loop.
pub enum SourceMsg {
    /// Events of one source plugin.
    Events(Vec<RawEvent>),
    /// The stream ended (`None`: it said so) or the source gave up (the reason).
    Ended { plugin: String, failure: Option<String> },
}

struct Running {
    plugin: Arc<Plugin>,
    stop: Arc<AtomicBool>,
    /// Set when the source gave up (its plugin disabled): a reload opens it again.
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The open source streams, kept in step with the loaded plugins.
pub struct SourceRunner {
    tx: Sender,
    running: BTreeMap<String, Running>,
}

/// Where a source thread sends, and the flag it sets after each message so that the live
/// loop looks at once (see `Capture::wake_on`).
#[derive(Clone)]
struct Sender {
    tx: SyncSender<SourceMsg>,
    wake: Arc<AtomicBool>,
}

/// What became of a batch handed to [`Sender::send_events`].
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Queued,
    /// The queue stayed full for [`SEND_WAIT`]: the batch was dropped.
    Dropped,
    /// The live loop is gone.
    Closed,
}

impl Sender {
    fn send(&self, msg: SourceMsg) -> bool {
        let sent = self.tx.send(msg).is_ok();
        self.wake.store(true, Ordering::Release);
        sent
    }

    /// Queues a batch, waiting at most [`SEND_WAIT`] for room.
    fn send_events(&self, events: Vec<RawEvent>) -> Sent {
        let until = Instant::now() + SEND_WAIT;
        let mut msg = SourceMsg::Events(events);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => {
                    self.wake.store(true, Ordering::Release);
                    return Sent::Queued;
                }
                Err(TrySendError::Disconnected(_)) => return Sent::Closed,
                Err(TrySendError::Full(back)) => {
                    self.wake.store(true, Ordering::Release);
                    if Instant::now() >= until {
                        return Sent::Dropped;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}

impl SourceRunner {
    /// Sources that send to `tx` and set `wake` after each message.
    pub fn new(tx: SyncSender<SourceMsg>, wake: Arc<AtomicBool>) -> Self {
        SourceRunner { tx: Sender { tx, wake }, running: BTreeMap::new() }
    }

    /// Opens the sources of `set` that are not open yet, and stops those whose plugin is
    /// gone or was replaced.
    pub fn sync(&mut self, set: &PluginSet) {
        let wanted: BTreeMap<String, (Arc<Plugin>, String)> = set
            .plugins()
            .into_iter()
            .filter_map(|p| {
                p.source_name()?;
                let params = p.config().open_params.clone()?;
                Some((p.name().to_string(), (p, params)))
            })
            .collect();
        // Streams being closed, by plugin name: a replacement opens its stream only once the
        // old one is closed, since it may hold what the new one needs (a listening port).
        let mut closing = BTreeMap::new();
        // A source whose plugin was disabled: its plugin is enabled again by the reload that
        // called this, and its stream is opened anew.
        self.running.retain(|name, r| {
            let failed =
                r.failed.load(Ordering::Acquire) && r.thread.as_ref().is_none_or(|t| t.is_finished());
            if failed {
                tracing::info!(plugin = %name, "source reopened after its plugin was disabled");
            }
            !failed
        });
        self.running.retain(|name, r| {
            let keep = wanted.get(name).is_some_and(|(p, _)| Arc::ptr_eq(p, &r.plugin));
            if !keep {
                r.stop.store(true, Ordering::Relaxed);
                tracing::info!(plugin = %name, "source closed");
                closing.insert(name.clone(), r.thread.take());
            }
            keep
        });
        for (name, (plugin, params)) in wanted {
            if self.running.contains_key(&name) {
                continue;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let failed = Arc::new(AtomicBool::new(false));
            let (p, s, f, tx) = (plugin.clone(), stop.clone(), failed.clone(), self.tx.clone());
            let previous = closing.remove(&name).flatten();
            let spawned =
                std::thread::Builder::new().name(format!("lanner-source-{name}")).spawn(move || {
                    if let Some(previous) = previous {
                        let _ = previous.join();
                    }
                    if !s.load(Ordering::Relaxed) && read_source(&p, &params, &s, &tx).is_err() {
                        f.store(true, Ordering::Release);
                    }
                });
            match spawned {
                Ok(thread) => {
                    self.running.insert(name, Running { plugin, stop, failed, thread: Some(thread) });
                }
                Err(e) => tracing::error!(plugin = %name, "cannot start the source's thread: {e}"),
            }
        }
    }

    /// Has the live loop look at its inputs now (as a source's message does): for a reload
    /// sent beside the sources, which would otherwise wait for the loop's next syscall
    /// record or its timeout.
    pub fn wake_loop(&self) {
        self.tx.wake.store(true, Ordering::Release);
    }

    /// Whether every open source has stopped reading (its stream ended, it gave up, or its
    /// plugin was disabled): a replay's sources are done then.
    pub fn finished(&self) -> bool {
        self.running.values().all(|r| r.thread.as_ref().is_none_or(|t| t.is_finished()))
    }

    /// Stops every source.
    pub fn stop_all(&mut self) {
        for r in self.running.values() {
            r.stop.store(true, Ordering::Relaxed);
        }
        self.running.clear();
    }
}

/// Reads one source until it ends, fails for good, is stopped, or the loop is gone.
/// `Err` when its plugin was disabled: the daemon's plugin watch raises the alert for that
/// (as for any plugin), and a reload opens the source again.
fn read_source(plugin: &Arc<Plugin>, params: &str, stop: &AtomicBool, tx: &Sender) -> Result<(), ()> {
    let name = plugin.name().to_string();
    let ended = |failure: Option<String>| {
        tx.send(SourceMsg::Ended { plugin: name.clone(), failure });
        Ok(())
    };
    let mut stream = match plugin.open(params) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(plugin = %name, "cannot open the source: {e}");
            if plugin.state() == PluginState::Disabled {
                return Err(());
            }
            return ended(Some(format!("open failed: {e}")));
        }
    };
    tracing::info!(plugin = %name, source = plugin.source_name().unwrap_or(""), "source opened");
    let mut idle = IDLE_FIRST;
    // Dropped events not yet said in a warning, and when the last warning was.
    let (mut unsaid, mut said_at) = (0u64, None::<Instant>);
    while !stop.load(Ordering::Relaxed) {
        match stream.next_batch(SOURCE_BATCH) {
            Ok(SourceBatch::Ended) => {
                tracing::info!(plugin = %name, "source stream ended");
                return ended(None);
            }
            Ok(SourceBatch::Idle) => {
                // Nothing yet: ask again after a pause that grows while the source stays idle.
                std::thread::sleep(idle);
                idle = (idle * 2).min(IDLE_MAX);
            }
            Ok(SourceBatch::Events(events)) => {
                idle = IDLE_FIRST;
                let n = events.len() as u64;
                match tx.send_events(events) {
                    Sent::Queued => {}
                    Sent::Closed => return Ok(()),
                    Sent::Dropped => {
                        plugin.stats.events_dropped.fetch_add(n, Ordering::Relaxed);
                        unsaid += n;
                        if said_at.is_none_or(|t| t.elapsed() >= DROP_WARNING_EVERY) {
                            tracing::warn!(
                                plugin = %name,
                                dropped = unsaid,
                                "source events dropped: the rules are behind this source (lanner_plugin_events_dropped_total)"
                            );
                            (unsaid, said_at) = (0, Some(Instant::now()));
                        }
                    }
                }
            }
            Err(e) => {
                // Counted, logged and restarted with backoff by the runtime, or disabled.
                if !e.logged() {
                    tracing::error!(plugin = %name, "source: {e}");
                }
                if plugin.state() == PluginState::Disabled {
                    tracing::error!(plugin = %name, "source stopped: its plugin is disabled until a reload");
                    return Err(());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(())
}
