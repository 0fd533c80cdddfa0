//! Holding back repeated alerts so that one cause cannot flood every output (Slack, email,
//! a pager): Lanner's own alerts at most once per kind per interval, as Falco rate-limits
//! its drop alerts, and optionally rule alerts once per rule and output fields per window.
//! What is held back is counted, and the next alert of the same kind says how many.

use lanner_event::{Alert, OutputField, Value};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, Instant};

/// The output field that carries the count of alerts held back before this one.
pub const SUPPRESSED_FIELD: &str = "lanner.suppressed";

/// Kinds of internal alert remembered at most: kinds are a few rules times the loaded
/// plugins, so this is only reached by a bug; then the oldest quiet kinds are forgotten.
const MAX_INTERNAL_KINDS: usize = 1024;

/// Settings for rule alerts' deduplication (`alert_dedup` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupSettings {
    /// An alert of the same rule with the same output fields within this time of the last
    /// one delivered is counted instead of delivered.
    pub window: Duration,
    /// Distinct rule and field combinations remembered at once.
    pub max_keys: usize,
}

/// How repeated alerts are held back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertLimits {
    /// One internal alert per kind per this interval (zero: no limit).
    pub internal_interval: Duration,
    /// Rule alerts' deduplication, when on.
    pub dedup: Option<DedupSettings>,
    /// What is done when the kernel drops records (`syscall_event_drops`).
    pub drops: DropPolicy,
    /// Name the drop alert as Falco does (`internal_alerts.falco_names`), so that routing
    /// written for Falco's alert matches Lanner's.
    pub falco_names: bool,
}

impl Default for AlertLimits {
    fn default() -> Self {
        AlertLimits {
            internal_interval: Duration::from_secs(60),
            dedup: None,
            drops: DropPolicy::default(),
            falco_names: false,
        }
    }
}

/// Falco's `syscall_event_drops`: when the share of records lost in a second is above
/// `threshold`, the actions run, as often as a token bucket (`rate` tokens a second, at most
/// `max_burst` saved up) allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropPolicy {
    pub threshold: f64,
    pub log: bool,
    pub alert: bool,
    pub exit: bool,
    pub rate: f64,
    pub max_burst: f64,
    /// Count one more drop every second, to see the actions work without a real storm.
    pub simulate: bool,
}

impl Default for DropPolicy {
    /// Lanner's own: every drop is logged and alerted (the internal alerts' interval is
    /// what holds repeats back).
    fn default() -> Self {
        DropPolicy {
            threshold: 0.0,
            log: true,
            alert: true,
            exit: false,
            rate: 1.0,
            max_burst: 1.0,
            simulate: false,
        }
    }
}

/// A token bucket as Falco's: it starts full, gains `rate` tokens a second up to `max`, and
/// each action takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    max: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, max: f64, now: Instant) -> Self {
        TokenBucket { rate, max, tokens: max, last: now }
    }

    /// Whether a token was there to take (then it is taken).
    pub fn claim(&mut self, now: Instant) -> bool {
        let gained = self.rate * now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + gained).min(self.max);
        self.last = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// Appends the count of alerts held back to an alert: to its text, and as an output field
/// for JSON consumers.
pub fn mark_suppressed(alert: &mut Alert, suppressed: u64) {
    if suppressed == 0 {
        return;
    }
    alert.output.push_str(&format!(" ({suppressed} similar alerts suppressed since the last one)"));
    alert
        .output_fields
        .push(OutputField { name: SUPPRESSED_FIELD.into(), value: Some(Value::UInt(suppressed)) });
}

struct Kind {
    last: Instant,
    suppressed: u64,
}

/// At most one internal alert per kind per interval. A kind is a rule and its subject (the
/// plugin, for a disabled plugin: two plugins failing are two problems).
pub struct InternalLimiter {
    interval: Duration,
    kinds: HashMap<(String, String), Kind>,
}

impl InternalLimiter {
    pub fn new(interval: Duration) -> Self {
        InternalLimiter { interval, kinds: HashMap::new() }
    }

    /// Changes the interval (a reload); what was held back stays counted.
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// `Some(n)` when an alert of this kind goes out now, `n` being how many were held back
    /// since the last one; `None` when it is held back (and counted).
    pub fn admit(&mut self, rule: &str, subject: &str, now: Instant) -> Option<u64> {
        let key = (rule.to_string(), subject.to_string());
        if let Some(k) = self.kinds.get_mut(&key) {
            if now.duration_since(k.last) < self.interval {
                k.suppressed += 1;
                return None;
            }
            let n = std::mem::take(&mut k.suppressed);
            k.last = now;
            return Some(n);
        }
        if self.kinds.len() >= MAX_INTERNAL_KINDS {
            let interval = self.interval;
            self.kinds.retain(|_, k| k.suppressed > 0 || now.duration_since(k.last) < interval);
            if self.kinds.len() >= MAX_INTERNAL_KINDS {
                tracing::warn!("internal alerts: {MAX_INTERNAL_KINDS} kinds remembered; forgetting them");
                self.kinds.clear();
            }
        }
        self.kinds.insert(key, Kind { last: now, suppressed: 0 });
        Some(0)
    }

    /// The kinds with alerts held back and not reported yet, and how many (said at shutdown).
    pub fn pending(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.kinds
            .iter()
            .filter(|(_, k)| k.suppressed > 0)
            .map(|((r, s), k)| (r.as_str(), s.as_str(), k.suppressed))
    }
}

struct Window {
    /// Event time (ns) until which repeats are held back.
    until_ns: u64,
    suppressed: u64,
}

/// What to do with a rule alert.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it, saying that this many like it were held back before it.
    Deliver(u64),
    /// Count it, do not deliver it.
    Hold,
}

/// Rule alerts' deduplication window: keyed by the rule and its output fields' values,
/// timed by the events' own time (so a replayed file gives what the live run gave). The key
/// is a keyed hash, so memory per entry is fixed whatever the fields hold, and a process
/// cannot choose values that collide with another alert's.
pub struct RuleDedup {
    settings: DedupSettings,
    hasher: std::collections::hash_map::RandomState,
    windows: HashMap<u64, Window>,
    full_warned: bool,
}

impl RuleDedup {
    pub fn new(settings: DedupSettings) -> Self {
        RuleDedup { settings, hasher: Default::default(), windows: HashMap::new(), full_warned: false }
    }

    pub fn settings(&self) -> DedupSettings {
        self.settings
    }

    fn key(&self, alert: &Alert) -> u64 {
        let mut h = self.hasher.build_hasher();
        alert.rule.hash(&mut h);
        alert.source.hash(&mut h);
        for f in &alert.output_fields {
            f.name.hash(&mut h);
            match &f.value {
                Some(v) => v.to_string().hash(&mut h),
                None => 0xffu8.hash(&mut h),
            }
        }
        h.finish()
    }

    /// Whether `alert` goes out, and with what count of held-back ones.
    pub fn check(&mut self, alert: &Alert) -> Verdict {
        let now = alert.time_ns;
        let window = self.settings.window.as_nanos() as u64;
        let key = self.key(alert);
        if let Some(w) = self.windows.get_mut(&key) {
            if now < w.until_ns {
                w.suppressed += 1;
                return Verdict::Hold;
            }
            let n = std::mem::take(&mut w.suppressed);
            w.until_ns = now.saturating_add(window);
            return Verdict::Deliver(n);
        }
        if self.windows.len() >= self.settings.max_keys {
            // Windows that ended with nothing held back have nothing left to say.
            self.windows.retain(|_, w| w.suppressed > 0 || now < w.until_ns);
            if self.windows.len() >= self.settings.max_keys {
                if !self.full_warned {
                    self.full_warned = true;
                    tracing::warn!(
                        "alert_dedup: {} distinct rule and field combinations in the window; further ones are delivered without deduplication (lanner_alerts_dedup_untracked)",
                        self.settings.max_keys
                    );
                }
                return Verdict::Deliver(0);
            }
        }
        self.full_warned = false;
        self.windows.insert(key, Window { until_ns: now.saturating_add(window), suppressed: 0 });
        Verdict::Deliver(0)
    }

    /// Whether the last [`RuleDedup::check`] had no room to track its alert.
    pub fn untracked(&self) -> bool {
        self.full_warned && self.windows.len() >= self.settings.max_keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_event::Priority;

    fn alert(rule: &str, file: &str, t_s: u64) -> Alert {
        Alert {
            time_ns: t_s * 1_000_000_000,
            rule: rule.into(),
            priority: Priority::Warning,
            output: format!("opened {file}"),
            output_fields: vec![OutputField {
                name: "fd.name".into(),
                value: Some(Value::Str(file.to_string().into())),
            }],
            source: "syscall".into(),
            tags: vec![],
            hostname: "h".into(),
        }
    }

    #[test]
    fn internal_alerts_once_per_kind_per_interval_with_the_count() {
        let mut l = InternalLimiter::new(Duration::from_secs(60));
        let t = Instant::now();
        assert_eq!(l.admit("reload", "", t), Some(0));
        assert_eq!(l.admit("reload", "", t + Duration::from_secs(1)), None);
        assert_eq!(l.admit("reload", "", t + Duration::from_secs(2)), None);
        // Another kind, and the same rule about another plugin, are not held back.
        assert_eq!(l.admit("drop", "", t + Duration::from_secs(2)), Some(0));
        assert_eq!(l.admit("plugin", "a", t), Some(0));
        assert_eq!(l.admit("plugin", "b", t), Some(0));
        assert_eq!(l.pending().collect::<Vec<_>>(), vec![("reload", "", 2)]);
        assert_eq!(l.admit("reload", "", t + Duration::from_secs(61)), Some(2));
        assert_eq!(l.admit("reload", "", t + Duration::from_secs(62)), None);
        let mut off = InternalLimiter::new(Duration::ZERO);
        assert_eq!(off.admit("reload", "", t), Some(0));
        assert_eq!(off.admit("reload", "", t), Some(0));
    }

    #[test]
    fn the_token_bucket_starts_full_and_refills_at_its_rate() {
        let t = Instant::now();
        // Falco's default: one action per 30 s, no burst.
        let mut b = TokenBucket::new(1.0 / 30.0, 1.0, t);
        assert!(b.claim(t));
        assert!(!b.claim(t + Duration::from_secs(1)));
        assert!(!b.claim(t + Duration::from_secs(29)));
        assert!(b.claim(t + Duration::from_secs(31)));
        // A burst of 3 saved up, then one a second.
        let mut b = TokenBucket::new(1.0, 3.0, t);
        assert!((0..3).all(|_| b.claim(t)));
        assert!(!b.claim(t));
        assert!(b.claim(t + Duration::from_secs(1)));
        assert!(!b.claim(t + Duration::from_secs(1)));
        // Saving stops at max_burst.
        assert_eq!((0..5).filter(|_| b.claim(t + Duration::from_secs(100))).count(), 3);
    }

    #[test]
    fn rule_alerts_deduplicated_per_rule_and_fields_within_the_window() {
        let mut d = RuleDedup::new(DedupSettings { window: Duration::from_secs(10), max_keys: 2 });
        assert_eq!(d.check(&alert("R", "/a", 0)), Verdict::Deliver(0));
        assert_eq!(d.check(&alert("R", "/a", 3)), Verdict::Hold);
        assert_eq!(d.check(&alert("R", "/a", 9)), Verdict::Hold);
        assert_eq!(d.check(&alert("R", "/b", 9)), Verdict::Deliver(0), "other fields");
        assert_eq!(d.check(&alert("R", "/a", 10)), Verdict::Deliver(2));
        assert_eq!(d.check(&alert("R", "/a", 11)), Verdict::Hold);
        // Full: a third combination goes out untracked, and says so.
        assert_eq!(d.check(&alert("S", "/a", 12)), Verdict::Deliver(0));
        assert!(d.untracked());
        assert_eq!(d.check(&alert("S", "/a", 13)), Verdict::Deliver(0));
        // Once /b's window ended with nothing held, it makes room.
        assert_eq!(d.check(&alert("T", "/a", 25)), Verdict::Deliver(0));
        assert!(!d.untracked());
        let mut a = alert("R", "/a", 0);
        mark_suppressed(&mut a, 3);
        assert_eq!(a.output, "opened /a (3 similar alerts suppressed since the last one)");
        assert_eq!(a.output_fields[1].name, SUPPRESSED_FIELD);
    }
}
