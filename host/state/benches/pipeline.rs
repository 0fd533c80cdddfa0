//! State and rules on one core: kernel records applied to the thread and fd tables, then
//! evaluated against the upstream Falco stable rules, as `lanner run` does for each record.
//! The records are synthetic but shaped like a busy host's (opens and closes of library and
//! config files, execs with their parents, connects), so this measures state and rules, not
//! the probe. Reproduce: `cargo bench -p lanner-state --bench pipeline`.
//!
//! Baseline, in the same run: applying the records to the tables without evaluating rules.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lanner_capture::record::{Captured, RawEvent, RecordKind, SockAddr};
use lanner_engine::{EngineConfig, MatchMode, RulesSource};
use lanner_event::FieldRegistry;
use lanner_state::{FieldMap, State};
use std::hint::black_box;
use std::path::Path;

fn name_of(nr: u32) -> Option<&'static str> {
    Some(match nr as i64 {
        libc::SYS_openat => "openat",
        libc::SYS_close => "close",
        libc::SYS_execve => "execve",
        libc::SYS_connect => "connect",
        libc::SYS_socket => "socket",
        _ => return None,
    })
}

const FILES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/etc/ld.so.cache",
    "/proc/self/status",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/var/log/nginx/access.log",
    "../../etc//hosts",
    "/usr/share/zoneinfo/UTC",
];

fn rec(tgid: u32, kind: RecordKind, ret: i64, args: [u64; 6], strings: Vec<&[u8]>) -> RawEvent {
    RawEvent {
        ts_ns: 1_700_000_000_000_000_000,
        cpu: 0,
        tgid,
        tid: tgid,
        ppid: 1,
        uid: 1000,
        gid: 1000,
        loginuid: u32::MAX,
        cap_effective: 0,
        cap_permitted: 0,
        tty: 0,
        comm: "worker".into(),
        cgroup_id: 0,
        kind,
        ret,
        args,
        strings: strings.into_iter().map(|s| Captured { bytes: s.to_vec(), truncated: false }).collect(),
        sockaddr: None,
        vtid: 0,
        exec: None,
        tuple: None,
        data: None,
    }
}

/// A stream of records from 32 processes: per cycle, each opens and closes files, and every
/// eighth cycle one of them forks, execs a command and connects.
fn records(n: usize) -> Vec<RawEvent> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let pid = 10_000 + (i % 32) as u32;
        let f = FILES[i % FILES.len()].as_bytes();
        out.push(rec(
            pid,
            RecordKind::Syscall { nr: libc::SYS_openat as u32 },
            5,
            [(-100i64) as u64, 0, 0, 0, 0, 0],
            vec![f],
        ));
        out.push(rec(pid, RecordKind::Syscall { nr: libc::SYS_close as u32 }, 0, [5, 0, 0, 0, 0, 0], vec![]));
        if i.is_multiple_of(8) {
            let child = 50_000 + (i % 4096) as u32;
            out.push(rec(pid, RecordKind::Fork { child_tgid: child, child_tid: child }, 0, [0; 6], vec![]));
            let mut e = rec(
                child,
                RecordKind::Exec,
                0,
                [0; 6],
                vec![b"/usr/bin/curl", b"curl\0-s\0https://example.com", b"HOME=/root"],
            );
            e.comm = "curl".into();
            out.push(e);
            let mut x = rec(
                child,
                RecordKind::Syscall { nr: libc::SYS_execve as u32 },
                0,
                [0; 6],
                vec![b"/usr/bin/curl"],
            );
            x.comm = "curl".into();
            out.push(x);
            let mut s = rec(
                child,
                RecordKind::Syscall { nr: libc::SYS_socket as u32 },
                3,
                [2, 1, 0, 0, 0, 0],
                vec![],
            );
            s.comm = "curl".into();
            out.push(s);
            let mut c = rec(
                child,
                RecordKind::Syscall { nr: libc::SYS_connect as u32 },
                0,
                [3, 0, 16, 0, 0, 0],
                vec![],
            );
            c.comm = "curl".into();
            c.sockaddr = Some(SockAddr::Inet("93.184.216.34:443".parse().unwrap()));
            out.push(c);
            let mut x = rec(child, RecordKind::Exit, 0, [0; 6], vec![]);
            x.comm = "curl".into();
            out.push(x);
        }
        i += 1;
    }
    out.truncate(n);
    out
}

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/falco-rules/falco_rules.yaml");
    let Ok(content) = std::fs::read_to_string(&path) else {
        eprintln!("SKIPPED: {} is absent; the benchmark needs the upstream stable rules", path.display());
        return;
    };
    let mut cfg = EngineConfig::syscall();
    cfg.match_mode = MatchMode::All;
    let rules = lanner_engine::load(&cfg, &[RulesSource { name: "falco_rules.yaml".into(), content }])
        .into_result()
        .unwrap();
    let map = FieldMap::new(&FieldRegistry::with_syscall_fields());
    let recs = records(20_000);
    let mut g = c.benchmark_group("state_and_upstream_rules");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("apply_and_evaluate", |b| {
        let mut state = State::new(name_of);
        b.iter(|| {
            let mut n = 0usize;
            for r in &recs {
                let prep = state.apply(r);
                let ev = state.view(r, &prep, &map);
                rules.evaluate(&ev, |_| n += 1);
                state.finish(&prep);
            }
            black_box(n)
        })
    });
    g.bench_function("baseline_apply_only", |b| {
        let mut state = State::new(name_of);
        b.iter(|| {
            for r in &recs {
                let prep = state.apply(r);
                state.finish(black_box(&prep));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
