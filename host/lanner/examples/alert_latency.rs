//! End-to-end alert latency: from a syscall made by a process to the alert line that
//! `lanner run` prints for it on stdout.
//!
//! Usage: `alert_latency LANNER RATE SECONDS ALERT_EVERY [RULES...]` (bench/latency.sh runs it).
//! The generator calls openat at RATE events per second for SECONDS; every ALERT_EVERY-th
//! open names a path that a probe rule matches, the others a path no rule matches. Each
//! probe path carries a sequence number, so every alert line read from lanner's stdout (JSON)
//! is paired with the instant just before its syscall was made; the same monotonic clock
//! times both ends, in this process. RULES are loaded before the probe rule (a realistic
//! ruleset beside it). Prints the count sent and received and the latency percentiles.
//! Needs root (live capture).

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: alert_latency LANNER RATE SECONDS ALERT_EVERY [RULES...]");
        std::process::exit(2);
    }
    let lanner = &args[1];
    let rate: f64 = args[2].parse().expect("RATE: events per second");
    let seconds: f64 = args[3].parse().expect("SECONDS");
    let every: u64 = args[4].parse().expect("ALERT_EVERY: a positive integer");
    assert!(every >= 1, "ALERT_EVERY must be at least 1");
    let extra_rules = &args[5..];

    let dir = std::env::temp_dir().join(format!("lanner-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the work folder");
    let probe = dir.join("probe");
    let other = dir.join("other");
    let rules = dir.join("latency.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Latency probe\n  desc: an open of the latency benchmark's probe path\n  \
             condition: evt.type=openat and evt.dir=< and evt.arg.name startswith {}/\n  \
             output: probe %evt.arg.name\n  priority: WARNING\n",
            probe.display()
        ),
    )
    .expect("write the probe rule");

    let stderr_path = dir.join("lanner.log");
    let mut cmd = Command::new(lanner);
    cmd.arg("run").arg("--json").args(["-o", "watch_config_files=false", "-o", "webserver.enabled=false"]);
    for r in extra_rules {
        cmd.arg("-r").arg(r);
    }
    cmd.arg("-r").arg(&rules);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("create the log"))
        .spawn()
        .expect("start lanner");
    let started = Instant::now();
    loop {
        let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        if log.contains("capturing") {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) || child.try_wait().ok().flatten().is_some() {
            eprintln!("lanner did not start capturing:\n{log}");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // The reader: (sequence number, instant the line was read) for every probe alert.
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<(u64, Instant)>();
    let prefix = format!("{}/", probe.display());
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        let mut other_alerts: std::collections::BTreeMap<String, u64> = Default::default();
        while lines.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            let now = Instant::now();
            let v = serde_json::from_str::<serde_json::Value>(&line).unwrap_or_default();
            let seq = v["output_fields"]["evt.arg.name"]
                .as_str()
                .and_then(|n| n.strip_prefix(&prefix)?.parse::<u64>().ok());
            match seq {
                Some(s) => {
                    let _ = tx.send((s, now));
                }
                None => *other_alerts.entry(v["rule"].as_str().unwrap_or("?").to_string()).or_default() += 1,
            }
            line.clear();
        }
        other_alerts
    });

    let total = (rate * seconds) as u64;
    let paths: Vec<CString> = (0..total)
        .map(|i| {
            let base = if i.is_multiple_of(every) { &probe } else { &other };
            CString::new(format!("{}/{}", base.display(), i / every)).expect("no NUL")
        })
        .collect();
    let mut sent: Vec<Option<Instant>> = vec![None; total.div_ceil(every) as usize];
    let begin = Instant::now();
    let mut i = 0u64;
    while i < total {
        // Send what is due by now, then sleep a little: a sleep per event would be longer
        // than the gap between events at these rates.
        let due = ((begin.elapsed().as_secs_f64() * rate) as u64).min(total);
        while i < due {
            let t = Instant::now();
            // SAFETY: a valid NUL-terminated path; the open fails (ENOENT), nothing to close.
            let fd = unsafe { libc::open(paths[i as usize].as_ptr(), libc::O_RDONLY) };
            if fd >= 0 {
                // SAFETY: fd was just returned by open.
                unsafe { libc::close(fd) };
            }
            if i.is_multiple_of(every) {
                sent[(i / every) as usize] = Some(t);
            }
            i += 1;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let took = begin.elapsed().as_secs_f64();

    // Wait for the stragglers, then stop lanner and collect.
    let expected = sent.len();
    let mut got: Vec<Option<Instant>> = vec![None; expected];
    let mut received = 0usize;
    let deadline = Instant::now() + Duration::from_secs(5);
    while received < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((s, at)) => {
                if let Some(slot) = got.get_mut(s as usize)
                    && slot.is_none()
                {
                    *slot = Some(at);
                    received += 1;
                }
            }
            Err(_) => break,
        }
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("lanner exits");
    let other_alerts = reader.join().unwrap_or_default();
    let mut log = String::new();
    let _ = std::fs::File::open(&stderr_path).and_then(|mut f| f.read_to_string(&mut log));
    let summary = log.lines().rfind(|l| l.contains("records read")).unwrap_or("").to_string();
    std::fs::remove_dir_all(&dir).ok();

    let mut lat: Vec<f64> = sent
        .iter()
        .zip(&got)
        .filter_map(|(s, g)| Some(g.as_ref()?.saturating_duration_since(*s.as_ref()?).as_secs_f64() * 1e3))
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied();
    println!(
        "events {total} in {took:.2} s ({:.0} events/s), probe alerts sent {expected}, received {received}, other alerts {other_alerts:?}",
        total as f64 / took
    );
    match (pct(0.5), pct(0.9), pct(0.99), pct(0.999), lat.last()) {
        (Some(p50), Some(p90), Some(p99), Some(p999), Some(max)) => {
            println!("latency ms: p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}")
        }
        _ => println!("latency ms: no alert received"),
    }
    println!("lanner: {} ({status})", summary.trim());
    if received < expected {
        std::process::exit(1);
    }
}
