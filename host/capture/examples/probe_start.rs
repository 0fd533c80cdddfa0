//! Starts capture the way `lanner run` does and prints how long each step took and how many
//! instructions the verifier processed per program (see `bench/startup.sh`).
//!
//! `probe_start [RUNS] [raw]`: starts and stops capture RUNS times (default 3); with `raw`,
//! the raw tracepoint programs instead of the BTF-typed ones.

use lanner_capture::{Capture, CaptureConfig, syscalls};

fn main() {
    let runs: usize = std::env::args().nth(1).map_or(3, |n| n.parse().expect("RUNS: a number"));
    let raw = std::env::args().nth(2).is_some_and(|a| a == "raw");
    for run in 1..=runs {
        let config = CaptureConfig {
            syscalls: syscalls::all().map(|(nr, _)| nr).collect(),
            btf_sys_exit: !raw,
            ..CaptureConfig::default()
        };
        let t = std::time::Instant::now();
        let capture = Capture::start(config).expect("starting capture (needs root)");
        let total = t.elapsed();
        println!("run {run}: {:.1} ms", total.as_secs_f64() * 1e3);
        for step in capture.startup() {
            let insns = step.verified_insns.map_or(String::new(), |n| format!("  {n} insns verified"));
            println!("  {:<28} {:7.1} ms{insns}", step.step, step.took.as_secs_f64() * 1e3);
        }
    }
}
