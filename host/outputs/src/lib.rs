//! Alert delivery. Each output (stdout, a program, a sink plugin) has its own bounded queue
//! and worker thread, so that detection never waits on an output and a slow or broken one
//! never delays the others. A full queue drops the alert and counts it; a failed delivery is
//! retried with exponential backoff within a budget, then counted as dropped; shutdown
//! drains the queues within a deadline and reports what was left.
//!
//! This crate knows alerts and the [`AlertSink`] seam only: not the rule engine, capture or
//! WASM.
#![deny(missing_docs)]

mod format;
mod program;
mod stdout;
mod syslog;

pub use format::{AlertFormat, escape_controls};
pub use program::ProgramSink;
pub use stdout::StdoutSink;
pub use syslog::{FACILITY_USER, SyslogSink, severity};

use lanner_event::{Alert, AlertSink, Priority};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How an output is run.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// Its name, in logs and metrics.
    pub name: String,
    /// Alerts less severe than this are not sent to it.
    pub min_priority: Priority,
    /// Alerts that may wait for it; more are dropped and counted.
    pub queue_capacity: usize,
    /// At most this many alerts per delivery call.
    pub batch: usize,
    /// What to do when a delivery fails.
    pub retry: RetryPolicy,
}

impl OutputSpec {
    /// An output with the default queue (10,000 alerts), batches of up to 256 and retries.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            min_priority: Priority::Debug,
            queue_capacity: 10_000,
            batch: 256,
            retry: RetryPolicy::default(),
        }
    }
}

/// Retries of a failed delivery: `attempts` in all, waiting `initial_backoff`, then twice as
/// long each time up to `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delivery attempts per batch, the first included.
    pub attempts: u32,
    /// Wait before the second attempt.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 5, initial_backoff: Duration::from_millis(200), max_backoff: Duration::from_secs(5) }
    }
}

/// An output's counters.
#[derive(Debug, Default)]
pub struct OutputStats {
    /// Alerts waiting in its queue.
    pub queued: AtomicU64,
    /// Alerts delivered.
    pub delivered: AtomicU64,
    /// Alerts dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Alerts dropped after the retry budget, or at shutdown.
    pub dropped_failed: AtomicU64,
    /// Delivery attempts that failed (retried or not).
    pub failed_attempts: AtomicU64,
}

impl OutputStats {
    /// Everything dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full.load(Ordering::Relaxed) + self.dropped_failed.load(Ordering::Relaxed)
    }
}

struct Running {
    spec: OutputSpec,
    tx: SyncSender<Alert>,
    stats: Arc<OutputStats>,
    abort: Arc<AtomicBool>,
    done: Receiver<()>,
}

/// Every enabled output.
#[derive(Default)]
pub struct Outputs {
    running: Vec<Running>,
}

/// What a shutdown left behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Outputs that did not finish within the deadline, by name.
    pub unfinished: Vec<String>,
    /// Alerts dropped in all, over the whole run, per output.
    pub dropped: Vec<(String, u64)>,
}

impl ShutdownReport {
    /// Alerts dropped in all.
    pub fn total_dropped(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

impl Outputs {
    /// No outputs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts an output: its queue and its worker thread.
    pub fn add(&mut self, spec: OutputSpec, sink: Box<dyn AlertSink>) -> std::io::Result<()> {
        let (tx, rx) = sync_channel(spec.queue_capacity.max(1));
        let stats = Arc::new(OutputStats::default());
        let abort = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = sync_channel(1);
        let worker = Worker { spec: spec.clone(), sink, rx, stats: stats.clone(), abort: abort.clone() };
        std::thread::Builder::new().name(format!("output-{}", spec.name)).spawn(move || {
            worker.run();
            let _ = done_tx.send(());
        })?;
        self.running.push(Running { spec, tx, stats, abort, done });
        Ok(())
    }

    /// Hands an alert to every output whose threshold it meets. Never blocks: a full queue
    /// drops the alert for that output and counts it.
    pub fn send(&self, alert: &Alert) {
        for r in &self.running {
            if !alert.priority.at_least(r.spec.min_priority) {
                continue;
            }
            r.stats.queued.fetch_add(1, Ordering::Relaxed);
            match r.tx.try_send(alert.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    r.stats.queued.fetch_sub(1, Ordering::Relaxed);
                    let n = r.stats.dropped_queue_full.fetch_add(1, Ordering::Relaxed) + 1;
                    // One log line for the first drop and then one per 10,000.
                    if n == 1 || n.is_multiple_of(10_000) {
                        tracing::warn!(output = %r.spec.name, dropped = n, "output queue full: alert dropped");
                    }
                }
            }
        }
    }

    /// Hands an alert to every output whose threshold it meets, waiting up to `wait` for
    /// room in a full queue before dropping it for that output (counted as [`Outputs::send`]
    /// counts). For a replayed file, which can wait for its outputs and would otherwise
    /// drop whatever came faster than they deliver; live capture cannot wait.
    pub fn send_waiting(&self, alert: &Alert, wait: Duration) {
        for r in &self.running {
            if !alert.priority.at_least(r.spec.min_priority) {
                continue;
            }
            r.stats.queued.fetch_add(1, Ordering::Relaxed);
            let until = Instant::now() + wait;
            let mut a = alert.clone();
            loop {
                match r.tx.try_send(a) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) if Instant::now() < until => {
                        a = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                        r.stats.queued.fetch_sub(1, Ordering::Relaxed);
                        let n = r.stats.dropped_queue_full.fetch_add(1, Ordering::Relaxed) + 1;
                        if n == 1 || n.is_multiple_of(10_000) {
                            tracing::warn!(output = %r.spec.name, dropped = n, "output queue full: alert dropped");
                        }
                        break;
                    }
                }
            }
        }
    }

    /// The outputs' names and counters.
    pub fn stats(&self) -> Vec<(String, Arc<OutputStats>)> {
        self.running.iter().map(|r| (r.spec.name.clone(), r.stats.clone())).collect()
    }

    /// Whether any output is running.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Stops taking alerts, lets every output deliver what is queued within `deadline`,
    /// and counts what is left as dropped.
    pub fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let until = Instant::now() + deadline;
        let mut report = ShutdownReport::default();
        // Dropping each sender ends its worker's loop once the queue is empty.
        let running: Vec<Running> = self.running;
        let mut waiting = Vec::with_capacity(running.len());
        for r in running {
            let Running { spec, tx, stats, abort, done } = r;
            drop(tx);
            waiting.push((spec, stats, abort, done));
        }
        for (spec, stats, abort, done) in waiting {
            let left = until.saturating_duration_since(Instant::now());
            match done.recv_timeout(left) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => {
                    abort.store(true, Ordering::Relaxed);
                    let queued = stats.queued.swap(0, Ordering::Relaxed);
                    stats.dropped_failed.fetch_add(queued, Ordering::Relaxed);
                    tracing::warn!(output = %spec.name, queued, "output did not finish within the shutdown deadline");
                    report.unfinished.push(spec.name.clone());
                }
            }
            report.dropped.push((spec.name, stats.dropped()));
        }
        report
    }
}

struct Worker {
    spec: OutputSpec,
    sink: Box<dyn AlertSink>,
    rx: Receiver<Alert>,
    stats: Arc<OutputStats>,
    abort: Arc<AtomicBool>,
}

/// Log lines about failures, at most one per output per interval.
struct Throttle {
    last: Mutex<Option<Instant>>,
}

impl Throttle {
    fn ready(&self, every: Duration) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < every) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

impl Worker {
    fn run(mut self) {
        let throttle = Throttle { last: Mutex::new(None) };
        let mut batch = Vec::with_capacity(self.spec.batch);
        while let Ok(first) = self.rx.recv() {
            batch.clear();
            batch.push(first);
            while batch.len() < self.spec.batch {
                match self.rx.try_recv() {
                    Ok(a) => batch.push(a),
                    Err(_) => break,
                }
            }
            if self.abort.load(Ordering::Relaxed) {
                break;
            }
            self.deliver(&batch, &throttle);
        }
        let _ = self.sink.flush();
    }

    fn deliver(&mut self, batch: &[Alert], throttle: &Throttle) {
        let n = batch.len() as u64;
        let mut backoff = self.spec.retry.initial_backoff;
        for attempt in 1..=self.spec.retry.attempts.max(1) {
            let result = self.sink.deliver(batch).and_then(|()| self.sink.flush());
            match result {
                Ok(()) => {
                    self.stats.delivered.fetch_add(n, Ordering::Relaxed);
                    self.stats.queued.fetch_sub(n, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    let last = !e.retryable || attempt == self.spec.retry.attempts.max(1);
                    if throttle.ready(Duration::from_secs(5)) || last {
                        tracing::warn!(output = %self.spec.name, attempt, alerts = n, error = %e, "delivery failed");
                    }
                    if last {
                        break;
                    }
                    // Wait, in small steps so that a shutdown deadline is honoured.
                    let until = Instant::now() + backoff;
                    while Instant::now() < until {
                        if self.abort.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
                    }
                    if self.abort.load(Ordering::Relaxed) {
                        break;
                    }
                    backoff = (backoff * 2).min(self.spec.retry.max_backoff);
                }
            }
        }
        self.stats.dropped_failed.fetch_add(n, Ordering::Relaxed);
        self.stats.queued.fetch_sub(n.min(self.stats.queued.load(Ordering::Relaxed)), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_event::SinkError;

    fn alert(i: u64, priority: Priority) -> Alert {
        Alert {
            time_ns: i,
            rule: format!("R{i}"),
            priority,
            output: format!("alert {i}"),
            output_fields: Vec::new(),
            source: "syscall".into(),
            tags: Vec::new(),
            hostname: "h".into(),
        }
    }

    /// Records what it got; fails while `down` is set; sleeps `delay` per call.
    #[derive(Clone, Default)]
    struct Recorder {
        got: Arc<Mutex<Vec<Alert>>>,
        down: Arc<AtomicBool>,
        delay: Duration,
        permanent: bool,
    }

    impl AlertSink for Recorder {
        fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
            std::thread::sleep(self.delay);
            if self.down.load(Ordering::Relaxed) {
                return Err(if self.permanent {
                    SinkError::permanent("broken")
                } else {
                    SinkError::retryable("down")
                });
            }
            self.got.lock().unwrap().extend_from_slice(alerts);
            Ok(())
        }
    }

    fn fast_retry(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        }
    }

    #[test]
    fn every_output_gets_what_meets_its_threshold() {
        let (all, severe) = (Recorder::default(), Recorder::default());
        let mut outs = Outputs::new();
        outs.add(OutputSpec::new("all"), Box::new(all.clone())).unwrap();
        outs.add(
            OutputSpec { min_priority: Priority::Error, ..OutputSpec::new("severe") },
            Box::new(severe.clone()),
        )
        .unwrap();
        outs.send(&alert(1, Priority::Notice));
        outs.send(&alert(2, Priority::Critical));
        let report = outs.shutdown(Duration::from_secs(5));
        assert_eq!(report.total_dropped(), 0);
        assert_eq!(all.got.lock().unwrap().len(), 2);
        let severe = severe.got.lock().unwrap();
        assert_eq!(severe.len(), 1);
        assert_eq!(severe[0].rule, "R2");
    }

    #[test]
    fn a_down_output_is_retried_and_delivers_when_back() {
        let r = Recorder::default();
        r.down.store(true, Ordering::Relaxed);
        let mut outs = Outputs::new();
        let spec = OutputSpec {
            retry: RetryPolicy {
                attempts: 50,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
            },
            ..OutputSpec::new("flaky")
        };
        outs.add(spec, Box::new(r.clone())).unwrap();
        outs.send(&alert(1, Priority::Warning));
        std::thread::sleep(Duration::from_millis(60));
        r.down.store(false, Ordering::Relaxed);
        let stats = outs.stats()[0].1.clone();
        let report = outs.shutdown(Duration::from_secs(5));
        assert_eq!(report.total_dropped(), 0);
        assert_eq!(r.got.lock().unwrap().len(), 1);
        assert!(stats.failed_attempts.load(Ordering::Relaxed) >= 2);
    }

    #[test]
    fn the_retry_budget_ends_in_a_counted_drop() {
        let r = Recorder::default();
        r.down.store(true, Ordering::Relaxed);
        let mut outs = Outputs::new();
        outs.add(OutputSpec { retry: fast_retry(3), ..OutputSpec::new("down") }, Box::new(r.clone()))
            .unwrap();
        outs.send(&alert(1, Priority::Warning));
        std::thread::sleep(Duration::from_millis(200));
        let stats = outs.stats()[0].1.clone();
        let report = outs.shutdown(Duration::from_secs(5));
        assert_eq!(report.dropped, vec![("down".to_string(), 1)]);
        assert_eq!(stats.failed_attempts.load(Ordering::Relaxed), 3);
        // A permanent error is not retried.
        let p = Recorder { permanent: true, ..Recorder::default() };
        p.down.store(true, Ordering::Relaxed);
        let mut outs = Outputs::new();
        outs.add(OutputSpec { retry: fast_retry(3), ..OutputSpec::new("broken") }, Box::new(p)).unwrap();
        outs.send(&alert(1, Priority::Warning));
        let stats = outs.stats()[0].1.clone();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(outs.shutdown(Duration::from_secs(5)).total_dropped(), 1);
        assert_eq!(stats.failed_attempts.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_slow_output_neither_blocks_sending_nor_the_others() {
        let slow = Recorder { delay: Duration::from_millis(200), ..Recorder::default() };
        let fast = Recorder::default();
        let mut outs = Outputs::new();
        outs.add(
            OutputSpec { queue_capacity: 100, batch: 1, ..OutputSpec::new("slow") },
            Box::new(slow.clone()),
        )
        .unwrap();
        outs.add(OutputSpec::new("fast"), Box::new(fast.clone())).unwrap();
        let t = Instant::now();
        for i in 0..1000 {
            outs.send(&alert(i, Priority::Warning));
        }
        assert!(t.elapsed() < Duration::from_millis(150), "sending never waits: {:?}", t.elapsed());
        let deadline = Instant::now() + Duration::from_secs(5);
        while fast.got.lock().unwrap().len() < 1000 {
            assert!(Instant::now() < deadline, "the fast output got everything meanwhile");
            std::thread::sleep(Duration::from_millis(5));
        }
        let slow_stats = outs.stats()[0].1.clone();
        assert!(
            slow_stats.dropped_queue_full.load(Ordering::Relaxed) >= 800,
            "the slow output's overflow is counted"
        );
        // Shutdown with a short deadline: what the slow one still holds is counted too.
        let report = outs.shutdown(Duration::from_millis(100));
        assert_eq!(report.unfinished, vec!["slow".to_string()]);
        let delivered = slow_stats.delivered.load(Ordering::Relaxed);
        assert_eq!(delivered + slow_stats.dropped(), 1000, "every alert delivered or counted");
    }

    #[test]
    fn a_burst_stays_within_the_queue_and_every_drop_is_counted() {
        let r = Recorder { delay: Duration::from_millis(1), ..Recorder::default() };
        let mut outs = Outputs::new();
        outs.add(OutputSpec { queue_capacity: 1000, ..OutputSpec::new("burst") }, Box::new(r.clone()))
            .unwrap();
        for i in 0..100_000 {
            outs.send(&alert(i, Priority::Warning));
        }
        let stats = outs.stats()[0].1.clone();
        assert!(
            stats.queued.load(Ordering::Relaxed) <= 1000 + 256,
            "bounded: {}",
            stats.queued.load(Ordering::Relaxed)
        );
        let report = outs.shutdown(Duration::from_secs(10));
        let got = r.got.lock().unwrap().len() as u64;
        assert_eq!(got + report.total_dropped(), 100_000);
        assert!(report.total_dropped() > 0);
    }

    #[test]
    fn a_waiting_sender_loses_nothing_to_a_slower_output_and_gives_up_on_a_stuck_one() {
        // A queue of 10 and a sink that takes 1 ms per call: 2,000 alerts all arrive.
        let r = Recorder { delay: Duration::from_millis(1), ..Recorder::default() };
        let mut outs = Outputs::new();
        let spec = OutputSpec { queue_capacity: 10, batch: 4, ..OutputSpec::new("slow") };
        outs.add(spec, Box::new(r.clone())).unwrap();
        for i in 0..2000 {
            outs.send_waiting(&alert(i, Priority::Warning), Duration::from_secs(5));
        }
        let report = outs.shutdown(Duration::from_secs(10));
        assert_eq!(report.total_dropped(), 0);
        assert_eq!(r.got.lock().unwrap().len(), 2000);
        // A sink stuck for a second per call: once its queue is full, the wait runs out
        // and the alert is dropped and counted.
        let stuck = Recorder { delay: Duration::from_secs(1), ..Recorder::default() };
        let mut outs = Outputs::new();
        let spec = OutputSpec { queue_capacity: 1, batch: 1, ..OutputSpec::new("stuck") };
        outs.add(spec, Box::new(stuck.clone())).unwrap();
        let started = Instant::now();
        for i in 0..4 {
            outs.send_waiting(&alert(i, Priority::Warning), Duration::from_millis(20));
        }
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
        let stats = outs.stats()[0].1.clone();
        assert!(stats.dropped_queue_full.load(Ordering::Relaxed) >= 1);
        outs.shutdown(Duration::from_secs(5));
    }
}
