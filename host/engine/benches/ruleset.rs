//! Throughput of the upstream Falco stable ruleset (every rule enabled, every match reported)
//! over a realistic mix of syscall events, on one core.
//!
//! Reproduce: `cargo bench -p lanner-engine --bench ruleset` (or `bench/engine.sh`).
//! The baseline, measured in the same run, evaluates every rule of the source against every
//! event, as an engine without the event-type index would.
//!
//! Two working sets: `hot` cycles over 256 distinct events (about 1 MB, in cache), as in the
//! live pipeline where an event is evaluated right after it is decoded; `cold` over 20,000
//! (about 100 MB), where most field reads miss the cache.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lanner_engine::{EngineConfig, MatchMode, RulesSource, Ruleset};
use lanner_replay::{RecordedEvent, parse_line};
use std::hint::black_box;
use std::path::Path;

const HOT_EVENTS: usize = 256;
const COLD_EVENTS: usize = 20_000;

/// A small deterministic generator, so every run sees the same mix.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

const PROCS: &[(&str, &str)] = &[
    ("bash", "/usr/bin/bash"),
    ("python3", "/usr/bin/python3.11"),
    ("node", "/usr/local/bin/node"),
    ("nginx", "/usr/sbin/nginx"),
    ("java", "/usr/lib/jvm/java-17/bin/java"),
    ("cat", "/usr/bin/cat"),
    ("grep", "/usr/bin/grep"),
    ("sshd", "/usr/sbin/sshd"),
    ("systemd", "/usr/lib/systemd/systemd"),
    ("containerd", "/usr/bin/containerd"),
    ("postgres", "/usr/lib/postgresql/15/bin/postgres"),
    ("curl", "/usr/bin/curl"),
    ("find", "/usr/bin/find"),
    ("sh", "/bin/sh"),
];

const FILES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/etc/ld.so.cache",
    "/proc/self/status",
    "/proc/1234/cmdline",
    "/home/alice/.cache/pip/http/a/b/c",
    "/var/lib/postgresql/15/main/base/16384/2619",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/shadow",
    "/var/log/nginx/access.log",
    "/tmp/tmp.X1b2/data.json",
    "/dev/null",
    "/usr/share/zoneinfo/UTC",
    "/root/.ssh/id_rsa",
    "/etc/../etc/hosts",
    "/sys/fs/cgroup/cpu.max",
    "/var/run/docker.sock",
    "/usr/lib/python3.11/json/__init__.py",
];

const CONTAINERS: &[&str] = &["host", "host", "host", "3ad4c1e8f9b2", "9f1e2d3c4b5a"];
const IPS: &[&str] =
    &["10.0.3.7", "127.0.0.1", "93.184.216.34", "172.17.0.2", "140.82.112.3", "192.168.1.20"];

fn event(rng: &mut Lcg, ts: u64) -> String {
    let (name, exe) = PROCS[(rng.next() as usize) % PROCS.len()];
    let (pname, pexe) = PROCS[(rng.next() as usize) % PROCS.len()];
    let (gname, _) = PROCS[(rng.next() as usize) % PROCS.len()];
    let container = rng.pick(CONTAINERS);
    let roll = rng.next() % 100;
    let common = format!(
        r#""proc.name": "{name}", "proc.exe": "{exe}", "proc.exepath": "{exe}", "proc.cmdline": "{name} --serve -c /etc/{name}.conf", "proc.args": "--serve -c /etc/{name}.conf", "proc.pname": "{pname}", "proc.pexe": "{pexe}", "proc.pexepath": "{pexe}", "proc.pcmdline": "{pname} -D", "proc.aname": ["{name}", "{pname}", "{gname}", "systemd"], "proc.aexepath": ["{exe}", "{pexe}"], "proc.cwd": "/srv/app/", "proc.tty": 0, "proc.duration": {dur}, "proc.sname": "{gname}", "user.name": "app", "user.uid": 1000, "user.loginuid": -1, "user.loginname": "", "group.gid": 1000, "group.name": "app", "container.id": "{container}", "container.image.repository": "docker.io/library/app", "container.privileged": false, "thread.cap_effective": "", "proc.is_exe_from_memfd": false, "proc.is_exe_upper_layer": false"#,
        dur = rng.next() % 20_000_000_000
    );
    let (ty, extra) = match roll {
        0..=44 => {
            let f = rng.pick(FILES);
            let (dir, file) = f.rsplit_once('/').unwrap();
            let write = rng.next().is_multiple_of(5);
            (
                "openat",
                format!(
                    r#""fd.name": "{f}", "fd.nameraw": "{f}", "fd.directory": "{dir}", "fd.filename": "{file}", "fd.typechar": "f", "fd.type": "file", "fd.num": 5, "evt.is_open_read": {r}, "evt.is_open_write": {write}, "evt.res": "SUCCESS", "evt.rawres": 5, "evt.arg.flags": "O_RDONLY|O_CLOEXEC""#,
                    r = !write
                ),
            )
        }
        45..=49 => ("open", r#""fd.name": "/etc/hosts", "fd.directory": "/etc", "fd.filename": "hosts", "fd.typechar": "f", "fd.num": 4, "evt.is_open_read": true, "evt.is_open_write": false, "evt.res": "SUCCESS""#.to_string()),
        50..=59 => ("execve", r#""evt.arg.flags": "EXE_WRITABLE", "evt.res": "SUCCESS""#.to_string()),
        60..=64 => ("clone", r#""evt.res": "SUCCESS""#.to_string()),
        65..=74 => {
            let ip = rng.pick(IPS);
            (
                "connect",
                format!(
                    r#""fd.sip": "{ip}", "fd.ip": "{ip}", "fd.snet": "{ip}", "fd.net": "{ip}", "fd.sport": 443, "fd.rport": 443, "fd.lport": 40000, "fd.typechar": "4", "fd.type": "ipv4", "fd.l4proto": "tcp", "fd.name": "10.0.0.5:40000->{ip}:443", "evt.rawres": 0, "evt.res": "SUCCESS", "fd.connected": true, "fd.name_changed": false"#
                ),
            )
        }
        75..=89 => ("close", r#""fd.num": 5, "evt.res": "SUCCESS""#.to_string()),
        90..=93 => ("sendto", r#""fd.typechar": "4", "fd.l4proto": "udp", "fd.sip": "10.0.0.53", "fd.connected": false, "fd.name_changed": false"#.to_string()),
        94..=96 => ("unlinkat", r#""evt.arg.name": "/tmp/tmp.X1b2/old", "fd.name": "/tmp/tmp.X1b2/old""#.to_string()),
        97 => ("renameat2", r#""evt.arg.oldpath": "/tmp/a", "evt.arg.newpath": "/tmp/b""#.to_string()),
        98 => ("dup2", r#""fd.num": 1, "fd.typechar": "4""#.to_string()),
        _ => ("symlinkat", r#""evt.arg.target": "/usr/lib/x", "evt.arg.linkpath": "/tmp/x""#.to_string()),
    };
    format!(r#"{{"ts": {ts}, "type": "{ty}", "fields": {{{common}, {extra}}}}}"#)
}

fn setup() -> Option<(Ruleset, EngineConfig)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/falco-rules/falco_rules.yaml");
    let Ok(content) = std::fs::read_to_string(&path) else {
        eprintln!("SKIPPED: {} is absent; the benchmark needs the upstream stable rules", path.display());
        return None;
    };
    let mut cfg = EngineConfig::syscall();
    cfg.match_mode = MatchMode::All;
    let outcome = lanner_engine::load(&cfg, &[RulesSource { name: path.display().to_string(), content }]);
    let mut ruleset = outcome.into_result().expect("upstream rules load");
    let names: Vec<String> = ruleset.rules().iter().map(|r| r.name.clone()).collect();
    for n in &names {
        ruleset.set_enabled(n, true);
    }
    Some((ruleset, cfg))
}

fn events(cfg: &EngineConfig, n: usize) -> Vec<RecordedEvent> {
    let mut rng = Lcg(42);
    (0..n)
        .map(|i| {
            let line = event(&mut rng, 1_700_000_000_000_000_000 + i as u64);
            parse_line(&line, &cfg.registry, i as u64 + 1).expect("valid event")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let Some((ruleset, cfg)) = setup() else { return };
    for (set, n) in [("hot", HOT_EVENTS), ("cold", COLD_EVENTS)] {
        let events = events(&cfg, n);
        let mut matches = 0usize;
        for ev in &events {
            ruleset.evaluate(ev, |_| matches += 1);
        }
        eprintln!(
            "{set}: {} rules enabled, {} events in the mix, {} matches per pass",
            ruleset.rules().iter().filter(|r| r.enabled).count(),
            events.len(),
            matches
        );
        let mut g = c.benchmark_group(format!("upstream_stable_rules_{set}"));
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_function("indexed", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for ev in &events {
                    ruleset.evaluate(black_box(ev), |_| n += 1);
                }
                black_box(n)
            })
        });
        g.bench_function("baseline_every_rule", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for ev in &events {
                    for r in ruleset.rules() {
                        if r.enabled && r.matches(black_box(ev)) {
                            n += 1;
                        }
                    }
                }
                black_box(n)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
