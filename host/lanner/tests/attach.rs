//! How the probe is attached, said on `/metrics` by `lanner run`: the mode in effect, how
//! 32-bit syscalls are seen, and the watched syscalls it does not capture (a kernel built
//! without module support has no `init_module`, which per-syscall mode then leaves out rather
//! than make every syscall pay for the raw tracepoints). A dashboard shows what a mode gives
//! up, and a reload that stops watching a syscall takes it off the list.
//!
//! Needs root (CI runs as root); without it the live tests fail with a clear message unless
//! LANNER_SKIP_LIVE=1 says to skip.

mod common;

use common::{Daemon, free_port, live_allowed, metrics_text, temp_dir, waits_until};
use std::path::Path;
use std::time::Duration;

fn kernel_lacks_init_module() -> bool {
    std::fs::read_to_string("/proc/kallsyms").expect("/proc/kallsyms").lines().any(|l| {
        l.ends_with(" __x64_sys_init_module") && matches!(l.split_whitespace().nth(1), Some("W" | "w"))
    })
}

fn rule(evt_types: &str) -> String {
    format!(
        "- rule: Watched calls\n  desc: the calls under test\n  condition: evt.type in ({evt_types}) and proc.name = lanner-attach-test\n  output: \"call %evt.type\"\n  priority: INFO\n"
    )
}

/// `lanner run` with `rules` (watched for changes), attach `mode`, its metrics on `port`.
fn start(dir: &Path, rules: &str, mode: &str, port: u16) -> Daemon {
    let file = dir.join("rules.yaml");
    std::fs::write(&file, rules).unwrap();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\njson_output: true\nwatch_config_files: true\nengine:\n  ebpf:\n    attach: {mode}\nwebserver:\n  listen_port: {port}\n",
            file.display()
        ),
    )
    .unwrap();
    Daemon::start(&["-c", cfg.to_str().unwrap()])
}

/// The metric lines of `name` (with their labels), comments left out, sorted (a labelled
/// family is served in no set order).
fn lines(port: u16, name: &str) -> Vec<String> {
    let mut v: Vec<String> =
        metrics_text(port).lines().filter(|l| l.starts_with(name)).map(String::from).collect();
    v.sort();
    v
}

#[test]
fn per_syscall_mode_says_what_it_leaves_out_and_a_reload_updates_it() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("attach-per-syscall");
    let port = free_port();
    let d = start(&dir, &rule("init_module, finit_module, chroot"), "per_syscall_no_compat", port);
    // This kernel cannot trace ia32_sys_call (no fentry on it), so 32-bit syscalls are given up
    // in this mode; where it can, they come through fentry.
    let attach = lines(port, "lanner_capture_attach{");
    assert_eq!(attach.len(), 1, "{attach:?}");
    assert!(
        attach[0] == r#"lanner_capture_attach{mode="per_syscall",compat="not_captured"} 1"#
            || attach[0] == r#"lanner_capture_attach{mode="per_syscall",compat="ia32_fentry"} 1"#,
        "{attach:?}"
    );
    let uncaptured = lines(port, "lanner_capture_uncaptured_syscalls{");
    if kernel_lacks_init_module() {
        d.wait_log("this kernel was built without these syscalls", Duration::from_secs(5));
        assert!(d.log_lines().iter().any(|l| l.contains("init_module") && l.contains("finit_module")));
        assert_eq!(
            uncaptured,
            [
                r#"lanner_capture_uncaptured_syscalls{syscall="finit_module",reason="not_in_kernel"} 1"#,
                r#"lanner_capture_uncaptured_syscalls{syscall="init_module",reason="not_in_kernel"} 1"#,
            ],
        );
        // Nothing attached for the missing two, and no raw tracepoints in their place.
    } else {
        eprintln!("this kernel has init_module: it is attached to its own tracepoints, none is left out");
        assert!(uncaptured.is_empty(), "{uncaptured:?}");
    }
    assert_eq!(lines(port, "lanner_capture_raw_tracepoints "), ["lanner_capture_raw_tracepoints 0"]);
    // chroot's, and those the state tables need (execve, clone, close and the rest).
    let attached = |port| common::metric(port, "lanner_capture_syscall_tracepoints ");
    let before = attached(port);
    assert!(before >= 1.0, "{before}");

    // A reload that no longer watches them takes them off, and attaches the new syscall.
    std::fs::write(dir.join("rules.yaml"), rule("chroot, fchownat")).unwrap();
    d.wait_log("reloaded: new rules in effect", Duration::from_secs(20));
    assert!(
        waits_until(Duration::from_secs(5), || lines(port, "lanner_capture_uncaptured_syscalls{").is_empty()),
        "{:?}",
        lines(port, "lanner_capture_uncaptured_syscalls{")
    );
    assert!(waits_until(Duration::from_secs(5), || attached(port) > before), "{}", attached(port));
    assert_eq!(lines(port, "lanner_capture_raw_tracepoints "), ["lanner_capture_raw_tracepoints 0"]);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn raw_mode_says_so_and_leaves_nothing_out() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("attach-raw");
    let port = free_port();
    let d = start(&dir, &rule("init_module, chroot"), "raw", port);
    assert_eq!(
        lines(port, "lanner_capture_attach{"),
        [r#"lanner_capture_attach{mode="raw",compat="raw_tracepoints"} 1"#]
    );
    assert!(lines(port, "lanner_capture_uncaptured_syscalls{").is_empty());
    assert_eq!(lines(port, "lanner_capture_raw_tracepoints "), ["lanner_capture_raw_tracepoints 1"]);
    assert_eq!(lines(port, "lanner_capture_syscall_tracepoints "), ["lanner_capture_syscall_tracepoints 0"]);
    assert_eq!(d.stop(), Some(0));
}
