//! Alert floods from Lanner itself: `lanner run` reloads only when a watched file's content
//! or a watched folder's entries change (reads and its own reads reload nothing, one bad
//! write is one rejected reload), each kind of internal alert goes out at most once per
//! interval with the count of those held back, rule alerts can be deduplicated per rule and
//! output fields, and a plugin disabled in `lanner run` (an extractor, a source, a sink) raises
//! the CRITICAL alert, shows in the plugin-state gauge and is enabled again by a reload (a
//! source's stream reopened). The live tests need root, as in `daemon.rs`.

mod common;

use common::{Daemon, cat, cat_rule, free_port, lanner, live_allowed, metric, temp_dir, waits_until};
use lanner_plugin_runtime::testing::{build_component, wasm_target_dir};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const RELOAD_RULE: &str = "Lanner internal: reload failed";
const DISABLED_RULE: &str = "Lanner internal: plugin disabled";

const BROKEN: &str =
    "- rule: Broken\n  desc: d\n  condition: evt.type = openat and (\n  output: x\n  priority: INFO\n";

fn reloads(port: u16, result: &str) -> f64 {
    metric(port, &format!("lanner_reloads_total{{result=\"{result}\"}}"))
}

fn count(d: &Daemon, rule: &str) -> usize {
    d.alerts().iter().filter(|a| a["rule"] == rule).count()
}

/// What an operator does to look at the watched files: read them, list their folders, and
/// list the plugins of the watched plugins folder.
fn look_at(dir: &Path, plugins: &Path) {
    for f in ["rules.yaml", "lanner.yaml"] {
        cat(&dir.join(f));
    }
    for d in [dir, plugins] {
        let st = std::process::Command::new("ls").arg("-la").arg(d).stdout(Stdio::null()).status().unwrap();
        assert!(st.success());
    }
    let o = lanner().args(["plugins", "list", "--plugins-dir"]).arg(plugins).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn reloads_only_on_real_changes_and_one_bad_write_is_one_rejection() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("floods-reload");
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Flood A", "flood-marker-a")).unwrap();
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\nplugins_dir: {}\njson_output: true\nwatch_config_files: true\nwebserver:\n  listen_port: {port}\n",
            rules.display(),
            plugins.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);

    // Reads, twice over, a second apart: nothing reloads (each used to start a reload
    // loop of 2 to 6 reloads a second).
    look_at(&dir, &plugins);
    std::thread::sleep(Duration::from_secs(1));
    look_at(&dir, &plugins);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(d.log_count("reloading"), 0, "reads reloaded");
    assert_eq!(reloads(port, "ok") + reloads(port, "failed"), 0.0);

    // Metadata and the same content written back are no change either.
    let same = std::fs::read(&rules).unwrap();
    std::fs::write(&rules, &same).unwrap();
    std::fs::set_permissions(&rules, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(d.log_count("reloading"), 0, "an unchanged write or a chmod reloaded");

    // One bad write: exactly one rejected reload and one internal alert, no loop (it was a
    // rejection every 400 ms, each with its CRITICAL alert).
    std::fs::write(&rules, BROKEN).unwrap();
    d.wait_log("reload rejected", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(d.log_count("reload rejected"), 1);
    assert_eq!(reloads(port, "failed"), 1.0);
    assert_eq!(count(&d, RELOAD_RULE), 1, "{:#?}", d.alerts());
    // Reading the broken file does not retry it.
    look_at(&dir, &plugins);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(d.log_count("reloading"), 1);
    assert_eq!(reloads(port, "failed"), 1.0);

    // A real fix reloads once, and the new rule fires.
    std::fs::write(&rules, cat_rule("Flood B", "flood-marker-b")).unwrap();
    d.wait_log("reloaded: new rules in effect", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(reloads(port, "ok"), 1.0);
    assert_eq!(d.log_count("reloading"), 2);
    let b = dir.join("flood-marker-b");
    std::fs::write(&b, "b").unwrap();
    cat(&b);
    d.wait_alert("Flood B", "flood-marker-b");
    // A plugin dropped into the watched folder is an entry added: one reload.
    std::fs::copy(build_component("tests/plugins/hostile"), plugins.join("hostile.wasm")).unwrap();
    assert!(waits_until(Duration::from_secs(20), || reloads(port, "ok") == 2.0));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(reloads(port, "ok"), 2.0);
    assert_eq!(d.log_count("reloading"), 3);
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn internal_alerts_once_per_kind_per_interval_with_the_count_held_back() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("floods-internal");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Flood C", "flood-marker-c")).unwrap();
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\njson_output: true\nwatch_config_files: false\ninternal_alerts:\n  rate_limit_seconds: 4\nwebserver:\n  listen_port: {port}\n",
            rules.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    std::fs::write(&rules, BROKEN).unwrap();
    // Three rejected reloads in a row (SIGHUP reloads whatever the files hold).
    let first = Instant::now();
    for n in 1..=3 {
        d.signal(libc::SIGHUP);
        assert!(
            waits_until(Duration::from_secs(20), || d.log_count("reload rejected") == n),
            "reload {n} was not rejected"
        );
    }
    assert!(first.elapsed() < Duration::from_secs(4), "the machine is too slow for this test's interval");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&d, RELOAD_RULE), 1, "{:#?}", d.alerts());
    assert_eq!(metric(port, "lanner_alerts_suppressed_total{rule=\"Lanner internal: reload failed\"}"), 2.0);
    assert_eq!(metric(port, "lanner_alerts_total{rule=\"Lanner internal: reload failed\""), 3.0);
    // Past the interval, the next one goes out and says how many were held back.
    std::thread::sleep(Duration::from_secs(4).saturating_sub(first.elapsed()) + Duration::from_millis(200));
    d.signal(libc::SIGHUP);
    let a = d.wait_alert(RELOAD_RULE, "2 similar alerts suppressed since the last one");
    assert_eq!(a["output_fields"]["lanner.suppressed"], 2, "{a}");
    assert_eq!(a["priority"], "Critical");
    assert_eq!(count(&d, RELOAD_RULE), 2);
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rule_alerts_deduplicated_live_when_configured() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("floods-dedup");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Flood D", "flood-marker-d")).unwrap();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\njson_output: true\nalert_dedup:\n  enabled: true\n  window_seconds: 3\nwebserver:\n  enabled: false\n",
            rules.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    let (m1, m2) = (dir.join("flood-marker-d1"), dir.join("flood-marker-d2"));
    std::fs::write(&m1, "1").unwrap();
    std::fs::write(&m2, "2").unwrap();
    let start = Instant::now();
    for _ in 0..4 {
        cat(&m1);
    }
    cat(&m2);
    d.wait_alert("Flood D", "flood-marker-d2");
    assert!(start.elapsed() < Duration::from_secs(3), "the machine is too slow for this test's window");
    std::thread::sleep(Duration::from_millis(300));
    let d1 = |d: &Daemon| {
        d.alerts()
            .into_iter()
            .filter(|a| a["output"].as_str().unwrap_or("").contains("flood-marker-d1"))
            .collect::<Vec<Value>>()
    };
    assert_eq!(d1(&d).len(), 1, "{:#?}", d.alerts());
    assert!(d1(&d)[0]["output_fields"].get("lanner.suppressed").is_none());
    std::thread::sleep(Duration::from_secs(3).saturating_sub(start.elapsed()) + Duration::from_millis(300));
    cat(&m1);
    let a = d.wait_alert("Flood D", "3 similar alerts suppressed since the last one");
    assert!(a["output"].as_str().unwrap().contains("flood-marker-d1"), "{a}");
    assert_eq!(a["output_fields"]["lanner.suppressed"], 3);
    assert_eq!(d1(&d).len(), 2);
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

/// One event of an event file: an `openat` of `file` at `s` seconds.
fn open_event(s: u64, file: &str) -> String {
    format!(
        "{{\"ts\": {}, \"type\": \"openat\", \"fields\": {{\"fd.name\": \"{file}\", \"proc.name\": \"cat\"}}}}\n",
        1_700_000_000_000_000_000u64 + s * 1_000_000_000
    )
}

#[test]
fn rule_alerts_deduplicated_in_a_replay_by_event_time_and_off_by_default() {
    let dir = temp_dir("floods-dedup-replay");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Opened\n  desc: d\n  condition: evt.type = openat and fd.name startswith /srv/\n  output: opened %fd.name by %proc.name\n  priority: NOTICE\n",
    )
    .unwrap();
    let events = dir.join("events.jsonl");
    let mut text = String::new();
    for (s, f) in [(0, "/srv/a"), (1, "/srv/a"), (2, "/srv/b"), (3, "/srv/a"), (9, "/srv/a"), (12, "/srv/a")]
    {
        text.push_str(&open_event(s, f));
    }
    std::fs::write(&events, text).unwrap();
    let run = |extra: &str| -> Vec<Value> {
        let cfg = dir.join("lanner.yaml");
        std::fs::write(
            &cfg,
            format!(
                "rules_files: [{}]\njson_output: true\nappend_output: []\nwebserver:\n  enabled: false\n{extra}",
                rules.display()
            ),
        )
        .unwrap();
        let o = lanner().args(["run", "-c"]).arg(&cfg).arg("--events").arg(&events).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    assert_eq!(run("").len(), 6, "off by default");
    let alerts = run("alert_dedup:\n  enabled: true\n  window_seconds: 10\n");
    let outputs: Vec<&str> = alerts.iter().map(|a| a["output"].as_str().unwrap()).collect();
    assert_eq!(
        outputs,
        [
            "opened /srv/a by cat",
            "opened /srv/b by cat",
            "opened /srv/a by cat (3 similar alerts suppressed since the last one)"
        ]
    );
    assert_eq!(alerts[2]["output_fields"]["lanner.suppressed"], 3);
    assert_eq!(alerts[2]["output_fields"]["fd.name"], "/srv/a");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_plugin_disabled_in_lanner_run_raises_the_alert_and_a_reload_enables_it_again() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("floods-disabled");
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(build_component("tests/plugins/hostile"), plugins.join("hostile.wasm")).unwrap();
    std::fs::write(plugins.join("hostile.yaml"), "config: {mode: trap}\nrestart: {max_failures: 1}\n")
        .unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Hostile field\n  desc: d\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains flood-hostile-marker and hostile.out = x\n  output: 'hostile %fd.name'\n  priority: WARNING\n",
    )
    .unwrap();
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    // No rate limit: the second disable, after the reload, must raise its own alert.
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\nplugins_dir: {}\njson_output: true\nwatch_config_files: false\ninternal_alerts:\n  rate_limit_seconds: 0\nwebserver:\n  listen_port: {port}\n",
            rules.display(),
            plugins.display()
        ),
    )
    .unwrap();
    // SAFETY: the test's own environment, before the daemon starts.
    unsafe { std::env::set_var("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache")) };
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    let state = |s: &str| metric(port, &format!("lanner_plugin_state{{plugin=\"hostile\",state=\"{s}\"}}"));
    assert!(waits_until(Duration::from_secs(5), || state("running") == 1.0), "state gauge: running");
    let marker = dir.join("flood-hostile-marker");
    std::fs::write(&marker, "x").unwrap();
    cat(&marker);
    let a = d.wait_alert(DISABLED_RULE, "plugin hostile disabled after repeated failures");
    assert_eq!(a["priority"], "Critical");
    assert_eq!(a["source"], "internal");
    assert!(waits_until(Duration::from_secs(5), || state("disabled") == 1.0), "state gauge: disabled");
    assert_eq!(state("running"), 0.0);
    // Disabled: further events do not call it, and raise nothing more.
    cat(&marker);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(&d, DISABLED_RULE), 1);
    assert_eq!(metric(port, "lanner_plugin_failures_total{plugin=\"hostile\"}"), 1.0);

    // A reload enables it again: it is called (and fails, and is disabled) once more.
    d.signal(libc::SIGHUP);
    d.wait_log("plugin re-enabled by the reload", Duration::from_secs(20));
    assert!(waits_until(Duration::from_secs(5), || state("disabled") == 0.0), "state gauge after the reload");
    cat(&marker);
    assert!(waits_until(Duration::from_secs(20), || count(&d, DISABLED_RULE) == 2), "{:#?}", d.alerts());
    assert_eq!(metric(port, "lanner_plugin_failures_total{plugin=\"hostile\"}"), 2.0);
    assert!(d.alerts().iter().all(|a| a["rule"] != "Hostile field"));
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sink_disabled_in_lanner_run_raises_the_alert_on_the_other_outputs() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("floods-sink");
    let (sinks, out) = (dir.join("sinks"), dir.join("out"));
    std::fs::create_dir_all(&sinks).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(build_component("tests/plugins/filesink"), sinks.join("filesink.wasm")).unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Flood Sink", "flood-sink-marker")).unwrap();
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\njson_output: true\nwatch_config_files: false\nsink_plugins_dir: {}\nplugin_outputs:\n  - name: trapper\n    plugin: filesink\n    init_config: {{path: /out/alerts.txt, trap: true}}\n    grants: {{dirs: [{{host: {}, guest: /out, mode: rw}}]}}\n    restart: {{max_failures: 1}}\nwebserver:\n  listen_port: {port}\n",
            rules.display(),
            sinks.display(),
            out.display()
        ),
    )
    .unwrap();
    // SAFETY: the test's own environment, before the daemon starts.
    unsafe { std::env::set_var("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache")) };
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    let state = |s: &str| metric(port, &format!("lanner_plugin_state{{plugin=\"trapper\",state=\"{s}\"}}"));
    assert!(waits_until(Duration::from_secs(5), || state("running") == 1.0), "state gauge: running");
    let marker = dir.join("flood-sink-marker");
    std::fs::write(&marker, "x").unwrap();
    cat(&marker);
    d.wait_alert("Flood Sink", "flood-sink-marker");
    // Said on stdout, the output that still works.
    let a = d
        .wait_alert(DISABLED_RULE, "sink plugin filesink of output trapper disabled after repeated failures");
    assert_eq!(a["priority"], "Critical");
    assert!(waits_until(Duration::from_secs(5), || state("disabled") == 1.0), "state gauge: disabled");
    assert!(metric(port, "lanner_output_dropped_total{output=\"trapper\"}") >= 1.0);
    // The live daemon's own view of it at /plugins, and through `plugins list --daemon`.
    let o = lanner()
        .args(["plugins", "list", "--json", "--daemon", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let trapper =
        listed["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "trapper").unwrap().clone();
    assert_eq!(trapper["state"], "disabled", "{trapper}");
    assert_eq!((trapper["kind"].as_str(), trapper["output"].as_str()), (Some("sink"), Some("trapper")));
    assert_eq!(trapper["plugin"], "filesink");
    assert!(
        trapper["failures"].as_u64().unwrap() >= 1 && trapper["disabled_reason"].is_string(),
        "{trapper}"
    );
    d.signal(libc::SIGHUP);
    d.wait_log("plugin re-enabled by the reload", Duration::from_secs(20));
    assert!(waits_until(Duration::from_secs(5), || state("disabled") == 0.0), "state gauge after the reload");
    assert_eq!(count(&d, DISABLED_RULE), 1);
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn drop_alerts_once_per_interval_carry_the_drops_held_back() {
    if !live_allowed() {
        return;
    }
    let port = free_port();
    // One page of ring buffer cannot hold a storm of opens: drops every second of it.
    let d = Daemon::start(&[
        "-o",
        "json_output=true",
        "-o",
        "ring_buffer_bytes=4096",
        "-o",
        "internal_alerts.rate_limit_seconds=2",
        "-o",
        &format!("webserver.listen_port={port}"),
    ]);
    let storm = Instant::now();
    let st = std::process::Command::new("timeout")
        .args(["6", "sh", "-c", "while :; do : < /etc/hostname; done"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(124), "the storm ran its 6 s");
    let secs = storm.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(1500));
    let drops: Vec<Value> =
        d.alerts().into_iter().filter(|a| a["rule"] == "Lanner internal: syscall event drop").collect();
    assert!(!drops.is_empty(), "no drop alert");
    // One per 2 s at most (and one when the storm starts).
    assert!(drops.len() as f64 <= secs / 2.0 + 2.0, "{} drop alerts in {secs:.1} s: {drops:#?}", drops.len());
    let held = metric(port, "lanner_alerts_suppressed_total{rule=\"Lanner internal: syscall event drop\"}");
    assert!(held >= 1.0, "a drop alert a second for 6 s, none held back");
    // The alert after one held back tells both the drops and the alerts held back.
    let later = drops
        .iter()
        .find(|a| a["output_fields"]["lanner.suppressed"].as_u64().is_some_and(|n| n >= 1))
        .unwrap_or_else(|| panic!("no drop alert counted the alerts held back: {drops:#?}"));
    assert!(later["output"].as_str().unwrap().contains("dropped since the last drop alert"), "{later}");
    d.stop();
}

/// Falco's `syscall_event_drops` with `simulate_drops` (a drop a second, the threshold off)
/// and `internal_alerts.falco_names`: the alert is Falco's, with Falco's priority and fields
/// as text, and the token bucket lets one action through per 2 s after the first.
#[test]
fn simulated_drops_raise_falcos_alert_as_often_as_the_token_bucket_allows() {
    if !live_allowed() {
        return;
    }
    let d = Daemon::start(&[
        "-o",
        "json_output=true",
        "-o",
        "syscall_event_drops.simulate_drops=true",
        "-o",
        "syscall_event_drops.rate=0.5",
        "-o",
        "syscall_event_drops.max_burst=1",
        "-o",
        "internal_alerts.falco_names=true",
        "-o",
        "internal_alerts.rate_limit_seconds=0",
    ]);
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(6500));
    let secs = started.elapsed().as_secs_f64();
    let (alerts, _) = d.stop_with_alerts();
    let drops: Vec<&Value> =
        alerts.iter().filter(|a| a["rule"] == "Falco internal: syscall event drop").collect();
    assert!(alerts.iter().all(|a| a["rule"] != "Lanner internal: syscall event drop"), "{alerts:#?}");
    // A check a second, an action per 2 s (the first at once): 3 or 4 in 6.5 s, never 6.
    assert!(
        drops.len() >= 2 && drops.len() as f64 <= secs / 2.0 + 1.5,
        "{} in {secs:.1} s: {drops:#?}",
        drops.len()
    );
    let a = drops[0];
    assert_eq!(a["priority"], "Debug", "{a}");
    assert_eq!(a["source"], "internal");
    assert!(a["output"].as_str().unwrap().starts_with("Falco internal: syscall event drop. "), "{a}");
    let f = &a["output_fields"];
    for name in ["n_evts", "n_drops", "n_drops_buffer_total", "ebpf_enabled"] {
        let v = f[name].as_str().unwrap_or_else(|| panic!("{name} is not text: {a}"));
        assert!(v.parse::<u64>().is_ok(), "{name}: {v}");
    }
    assert!(f["n_drops"].as_str().unwrap().parse::<u64>().unwrap() >= 1, "{a}");
    // The seconds the bucket held back are told in the next alert.
    assert!(
        drops[1..]
            .iter()
            .any(|a| a["output"].as_str().unwrap().contains("dropped since the last drop alert")),
        "{drops:#?}"
    );
}

/// `actions: [ignore]` is allowed, as in Falco, but said at start: drops then only count.
#[test]
fn ignoring_drops_is_said_at_start() {
    if !live_allowed() {
        return;
    }
    let d = Daemon::start(&["-o", "syscall_event_drops.actions=[ignore]"]);
    assert_eq!(d.log_count("syscall_event_drops.actions has no log, alert or exit"), 1);
    d.stop();
}

/// `actions: [exit]`: the daemon stops by itself at the first (simulated) drop, with a
/// non-zero status, and says why.
#[test]
fn the_exit_action_stops_the_daemon_with_status_1() {
    if !live_allowed() {
        return;
    }
    let d = Daemon::start(&[
        "-o",
        "json_output=true",
        "-o",
        "syscall_event_drops.simulate_drops=true",
        "-o",
        "syscall_event_drops.actions=[exit]",
    ]);
    d.wait_log("stopped by syscall_event_drops.actions: exit", Duration::from_secs(10));
    assert_eq!(d.log_count("Exiting (syscall_event_drops.actions has exit)"), 1);
    let (alerts, status) = d.stop_with_alerts();
    assert_eq!(status, Some(1), "the daemon stopped itself with status 1");
    assert!(
        alerts.iter().all(|a| !a["rule"].as_str().unwrap().contains("syscall event drop")),
        "{alerts:#?}"
    );
}

/// A real storm on one page of ring buffer with `threshold: 1`: records are lost (and
/// counted) but never more than every record of a second, so no action is taken.
#[test]
fn drops_at_or_below_the_threshold_are_counted_without_an_alert() {
    if !live_allowed() {
        return;
    }
    let port = free_port();
    let d = Daemon::start(&[
        "-o",
        "json_output=true",
        "-o",
        "ring_buffer_bytes=4096",
        "-o",
        "syscall_event_drops.threshold=1",
        "-o",
        &format!("webserver.listen_port={port}"),
    ]);
    let st = std::process::Command::new("timeout")
        .args(["3", "sh", "-c", "while :; do : < /etc/hostname; done"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(124));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(metric(port, "lanner_capture_drops_total") > 0.0, "the storm lost no record");
    let (alerts, status) = d.stop_with_alerts();
    assert!(alerts.iter().all(|a| a["rule"] != "Lanner internal: syscall event drop"), "{alerts:#?}");
    assert_eq!(status, Some(3), "records were lost: status 3 all the same");
}

/// The third kind: a source plugin disabled in `lanner run` raises the same alert, its
/// stream stops, and a reload enables the plugin and opens the stream again.
#[test]
fn a_source_disabled_in_lanner_run_raises_the_alert_and_a_reload_reopens_it() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("floods-source");
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(build_component("tests/plugins/floodsource"), plugins.join("floodsource.wasm")).unwrap();
    // Its field costs 5 ms an event: a batch of them passes the call's 100 ms, a failure, and
    // one failure disables it.
    std::fs::write(
        plugins.join("floodsource.yaml"),
        "open_params: all\nconfig: {us_per_event: 5000}\nlimits: {call_timeout_ms: 100}\nrestart: {max_failures: 1}\n",
    )
    .unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Flood Slow\n  desc: reads the slow field\n  condition: flood.slow = never\n  output: '%flood.slow'\n  priority: WARNING\n  source: flood\n",
    )
    .unwrap();
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    // No rate limit: the second disable, after the reload, must raise its own alert.
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\nplugins_dir: {}\njson_output: true\nwatch_config_files: false\ninternal_alerts:\n  rate_limit_seconds: 0\nwebserver:\n  listen_port: {port}\n",
            rules.display(),
            plugins.display()
        ),
    )
    .unwrap();
    // SAFETY: the test's own environment, before the daemon starts.
    unsafe { std::env::set_var("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache")) };
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    let state =
        |s: &str| metric(port, &format!("lanner_plugin_state{{plugin=\"floodsource\",state=\"{s}\"}}"));
    let a = d.wait_alert(DISABLED_RULE, "plugin floodsource disabled after repeated failures");
    assert_eq!(a["priority"], "Critical");
    assert_eq!(a["source"], "internal");
    assert!(a["output"].as_str().unwrap().ends_with("; a reload enables it again"), "{a}");
    d.wait_log("source stopped: its plugin is disabled until a reload", Duration::from_secs(20));
    assert!(waits_until(Duration::from_secs(5), || state("disabled") == 1.0), "state gauge: disabled");
    // Stopped: nothing more is read from it, and nothing more is raised.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(&d, DISABLED_RULE), 1, "{:#?}", d.alerts());

    // The reload enables it and opens its stream again: read, it fails and is disabled again.
    d.signal(libc::SIGHUP);
    d.wait_log("plugin re-enabled by the reload", Duration::from_secs(20));
    d.wait_log("source reopened after its plugin was disabled", Duration::from_secs(20));
    assert!(waits_until(Duration::from_secs(20), || count(&d, DISABLED_RULE) == 2), "{:#?}", d.alerts());
    assert_eq!(metric(port, "lanner_plugin_failures_total{plugin=\"floodsource\"}"), 2.0);
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}
