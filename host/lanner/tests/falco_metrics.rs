//! Falco's `metrics` section in a live `lanner run`: a snapshot every interval as Falco's
//! "Falco internal: metrics snapshot" alert and as a line of the metrics file, with Falco's
//! field names for the values Lanner has. Needs root, as in `daemon.rs`.

mod common;

use common::{Daemon, live_allowed, sh, temp_dir};
use serde_json::Value;
use std::time::Duration;

#[test]
fn snapshots_every_second_as_falcos_alert_and_file_lines() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("falco-metrics");
    let file = dir.join("metrics.jsonl");
    let file_opt = format!("metrics.output_file={}", file.display());
    let d = Daemon::start(&[
        "-o",
        "json_output=true",
        "-o",
        "metrics.enabled=true",
        "-o",
        "metrics.interval=1s",
        "-o",
        "metrics.output_rule=true",
        "-o",
        &file_opt,
    ]);
    sh("i=0; while [ $i -lt 200 ]; do : < /etc/hostname; i=$((i+1)); done");
    std::thread::sleep(Duration::from_millis(3300));
    let (alerts, _) = d.stop_with_alerts();
    let snaps: Vec<&Value> =
        alerts.iter().filter(|a| a["rule"] == "Falco internal: metrics snapshot").collect();
    assert!(snaps.len() >= 2, "{} snapshots: {snaps:#?}", snaps.len());
    // One a second (the daemon's start, before the test's clock, may hold more of them).
    let times: Vec<u64> = snaps.iter().map(|a| a["output_fields"]["evt.time"].as_u64().unwrap()).collect();
    for w in times.windows(2) {
        let gap = (w[1] - w[0]) as f64 / 1e9;
        assert!((0.8..1.6).contains(&gap), "{gap} s between snapshots: {times:?}");
    }
    let last = snaps.last().unwrap();
    assert_eq!(last["priority"], "Informational", "{last}");
    assert_eq!(last["output"], "Falco metrics snapshot");
    assert_eq!(last["source"], "internal");
    let f = &last["output_fields"];
    for name in
        ["falco.num_evts", "scap.n_evts", "falco.host_num_cpus", "falco.start_ts", "falco.duration_sec"]
    {
        assert!(f[name].as_u64().is_some_and(|n| n > 0), "{name}: {last}");
    }
    for name in
        ["falco.cpu_usage_perc", "falco.memory_rss_mb", "falco.memory_vsz_mb", "falco.host_memory_used_mb"]
    {
        let v: f64 = f[name].as_str().unwrap_or_else(|| panic!("{name}: {last}")).parse().unwrap();
        assert!(v >= 0.0, "{name}");
    }
    assert!(f["falco.memory_rss_mb"].as_str().unwrap().parse::<f64>().unwrap() > 1.0, "{last}");
    assert_eq!(f["evt.source"], "syscall");
    assert!(f["falco.kernel_release"].as_str().is_some_and(|r| !r.is_empty()));

    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 2, "{text}");
    for (n, l) in lines.iter().enumerate() {
        assert_eq!(l["sample"], n as u64 + 1, "{l}");
        let f = &l["output_fields"];
        // A count of 0 (a first snapshot before any record arrived, on a loaded machine) is
        // left out, as include_empty_values is false; a count present is a number.
        assert!(f.get("scap.n_evts").is_none_or(|n| n.as_u64().is_some_and(|n| n > 0)), "{l}");
        assert!(f["falco.memory_rss_mb"].as_f64().is_some_and(|m| m > 1.0), "numbers in the file: {l}");
        // include_empty_values is false: a rate of 0 (an idle second) is left out.
        assert!(f.get("falco.evts_rate_sec").is_none_or(|r| r.as_f64().is_some_and(|r| r > 0.0)), "{l}");
    }
    let last = &lines.last().unwrap()["output_fields"];
    assert!(
        last["scap.n_evts"].as_u64().is_some_and(|n| n > 0),
        "records counted by the last snapshot: {text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bare_number_interval_is_refused_as_falco_refuses_it() {
    let out = common::lanner()
        .args(["run", "-o", "metrics.enabled=true", "-o", "metrics.interval=5000", "--duration", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("metrics.interval: '5000'") && err.contains("without a unit"), "{err}");
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the metrics endpoint");
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(&format!("{name} ")))?.rsplit(' ').next()?.parse().ok()
}

/// `webserver.prometheus_falcosecurity_names`: /metrics serves Falco's names beside
/// Lanner's, with the same counts (events include the lost ones, as Falco's do).
#[test]
fn metrics_endpoint_serves_falcosecurity_names_when_asked() {
    if !live_allowed() {
        return;
    }
    let port = common::free_port();
    let port_opt = format!("webserver.listen_port={port}");
    // JSON alerts: the default rules may fire on what else runs on the machine, and
    // stopping reads the alerts as JSON.
    let d = Daemon::start(&[
        "-o",
        &port_opt,
        "-o",
        "webserver.prometheus_falcosecurity_names=true",
        "-o",
        "json_output=true",
    ]);
    sh("i=0; while [ $i -lt 200 ]; do : < /etc/hostname; i=$((i+1)); done");
    // Past the live loop's first report of its tables (once a second).
    std::thread::sleep(Duration::from_millis(1500));
    let text = scrape(port);
    let evts = value(&text, "falcosecurity_scap_n_evts_total").unwrap_or_else(|| panic!("{text}"));
    let drops = value(&text, "falcosecurity_scap_n_drops_total").unwrap();
    let records: f64 = text
        .lines()
        .filter(|l| l.starts_with("lanner_capture_records_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(evts >= 200.0, "{text}");
    assert_eq!(evts, records + drops, "{text}");
    assert!(text.contains("falcosecurity_scap_n_evts_cpu_total{cpu=\""), "{text}");
    assert!(text.contains("falcosecurity_falco_version_info{version=\""), "{text}");
    assert!(value(&text, "falcosecurity_falco_outputs_queue_num_drops_total").is_some(), "{text}");

    // Falco's resource and state gauges, from the real process, host and tables.
    let g = |name: &str| value(&text, name).unwrap_or_else(|| panic!("{name} missing:\n{text}"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let kb = |text: &str, key: &str| -> f64 {
        text.lines().find(|l| l.starts_with(key)).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let rss = g("falcosecurity_falco_memory_rss_bytes");
    let rss_now = kb(&status, "VmRSS:") * 1024.0;
    assert!(rss > 1e6 && (rss - rss_now).abs() < rss_now * 0.5, "rss {rss} vs /proc {rss_now}");
    let vsz = g("falcosecurity_falco_memory_vsz_bytes");
    assert!(vsz >= rss && (vsz - kb(&status, "VmSize:") * 1024.0).abs() < vsz * 0.5, "vsz {vsz}");
    assert!(g("falcosecurity_falco_memory_pss_bytes") > 0.0, "{text}");
    let cpu = g("falcosecurity_falco_cpu_usage_ratio");
    let ncpu = std::thread::available_parallelism().unwrap().get() as f64;
    assert!((0.0..=ncpu).contains(&cpu), "{cpu}");
    assert_eq!(g("falcosecurity_falco_host_num_cpus_total"), ncpu);
    let host_cpu = g("falcosecurity_falco_host_cpu_usage_ratio");
    assert!(host_cpu > 0.0 && host_cpu <= 1.0, "{host_cpu}");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let used = g("falcosecurity_falco_host_memory_used_bytes");
    assert!(used > 0.0 && used < kb(&meminfo, "MemTotal:") * 1024.0, "{used}");
    let fds_now: f64 = std::fs::read_to_string("/proc/sys/fs/file-nr")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let fds = g("falcosecurity_falco_host_open_fds_total");
    assert!(fds > 0.0 && (fds - fds_now).abs() < fds_now * 0.5, "{fds} vs {fds_now}");
    assert!(g("falcosecurity_falco_host_procs_running_total") >= 1.0, "the scrape itself runs");
    assert!(text.contains("falcosecurity_falco_container_memory_used_bytes "), "{text}");
    let threads: f64 = text
        .lines()
        .filter(|l| l.starts_with("lanner_state_entries{") && l.contains("table=\"threads\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(threads > 10.0, "{text}");
    assert_eq!(g("falcosecurity_scap_n_threads_total"), threads, "the thread table's size");
    assert!(g("falcosecurity_scap_n_fds_total") > 0.0, "{text}");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert!(
        text.contains(&format!(
            "falcosecurity_falco_kernel_release_info{{kernel_release=\"{}\"}} 1",
            kernel.trim()
        )),
        "{text}"
    );
    let now_ns =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as f64;
    let start = g("falcosecurity_falco_start_timestamp_nanoseconds");
    assert!(start < now_ns && now_ns - start < 120e9, "{start}");
    assert!(g("falcosecurity_falco_host_boot_timestamp_nanoseconds") < start);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host_line = format!("falcosecurity_evt_hostname_info{{hostname=\"{}\"}} 1", host.trim());
    // LANNER_HOSTNAME or FALCO_HOSTNAME may name it otherwise in the test's environment.
    if std::env::var_os("LANNER_HOSTNAME").is_none() && std::env::var_os("FALCO_HOSTNAME").is_none() {
        assert!(text.lines().any(|l| l == host_line), "{host_line}\n{text}");
    }
    d.stop();

    // metrics.resource_utilization_enabled and state_counters_enabled turn those off, as in Falco.
    let port = common::free_port();
    let port_opt = format!("webserver.listen_port={port}");
    let d = Daemon::start(&[
        "-o",
        &port_opt,
        "-o",
        "webserver.prometheus_falcosecurity_names=true",
        "-o",
        "metrics.resource_utilization_enabled=false",
        "-o",
        "metrics.state_counters_enabled=false",
        "-o",
        "json_output=true",
    ]);
    let text = scrape(port);
    assert!(text.contains("falcosecurity_scap_n_evts_total"), "{text}");
    assert!(
        !text.contains("falcosecurity_falco_memory_rss_bytes")
            && !text.contains("falcosecurity_scap_n_threads_total"),
        "{text}"
    );
    d.stop();

    // Off by default: Lanner's names only.
    let port = common::free_port();
    let port_opt = format!("webserver.listen_port={port}");
    let d = Daemon::start(&["-o", &port_opt, "-o", "json_output=true"]);
    let text = scrape(port);
    assert!(text.contains("lanner_rules_loaded") && !text.contains("falcosecurity_"), "{text}");
    d.stop();
}

/// A reload applies `webserver.prometheus_falcosecurity_names` at once, and says that a
/// changed `metrics` section waits for a restart (the snapshots started with the old one).
#[test]
fn a_reload_switches_falcosecurity_names_and_says_metrics_changes_wait() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("falco-metrics-reload");
    let cfg = dir.join("lanner.yaml");
    let port = common::free_port();
    let write = |names: bool, enabled: bool| {
        std::fs::write(
            &cfg,
            format!(
                "watch_config_files: false\njson_output: true\nwebserver:\n  enabled: true\n  listen_port: {port}\n  \
                 prometheus_falcosecurity_names: {names}\nmetrics:\n  enabled: {enabled}\n  interval: 1h\n"
            ),
        )
        .unwrap();
    };
    write(false, false);
    let cfg_arg = cfg.display().to_string();
    let d = Daemon::start(&["-c", &cfg_arg]);
    assert!(!scrape(port).contains("falcosecurity_"));
    write(true, true);
    d.signal(libc::SIGHUP);
    d.wait_log("metrics: the reloaded section differs from the running one", Duration::from_secs(20));
    let text = scrape(port);
    assert!(text.contains("falcosecurity_scap_n_evts_total"), "{text}");
    // The files loaded, by name and digest, and when: after the reload.
    let sha = |path: &std::path::Path| {
        let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
    };
    let want = format!(
        "falcosecurity_falco_sha256_config_files_info{{file_name=\"lanner.yaml\",sha256=\"{}\"}} 1",
        sha(&cfg)
    );
    assert!(text.lines().any(|l| l == want), "{want}\n{text}");
    let reload = value(&text, "falcosecurity_falco_reload_timestamp_nanoseconds").unwrap();
    let start = value(&text, "falcosecurity_falco_start_timestamp_nanoseconds").unwrap();
    assert!(reload > start, "reloaded after the start: {reload} {start}");
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}
