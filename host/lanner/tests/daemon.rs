//! `lanner run` as a daemon: configuration errors, `-o` overrides, reloads while events flow
//! (a good one takes effect, a bad one leaves the old rules firing), `/healthz` and
//! `/metrics`. The live tests need root (CI runs as root); without it they fail with a clear
//! message unless LANNER_SKIP_LIVE=1 says to skip.

mod common;

use common::{Daemon, cat, cat_rule, free_port, lanner, live_allowed, metric_in, temp_dir};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// An HTTP client that returns error statuses as responses.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// An HTTP GET on loopback: status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut resp =
        agent().get(&format!("http://127.0.0.1:{port}{path}")).call().expect("the webserver answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

/// `/metrics`, once the daemon serves it (within `limit`).
fn wait_for_metrics(port: u16, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    loop {
        if let Ok(mut r) = agent.get(&format!("http://127.0.0.1:{port}/metrics")).call() {
            return r.body_mut().read_to_string().unwrap();
        }
        assert!(Instant::now() < deadline, "no metrics endpoint on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_configuration_is_refused_with_file_and_line() {
    let dir = temp_dir("badcfg");
    let cfg = dir.join("lanner.yaml");
    std::fs::write(&cfg, "json_output: true\nwebserver:\n  listen_port: 8000\n  colour: blue\n").unwrap();
    let off = ["-o", "webserver.enabled=false"];
    // An unknown key is a warning (Falco's falco.yaml has many: tests/falco_config.rs), an
    // error under --strict.
    let out = lanner().args(["run", "--strict", "-c"]).arg(&cfg).args(off).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lanner.yaml: line 4, column 3: unknown key `webserver.colour` (--strict)"),
        "{err}"
    );
    std::fs::write(&cfg, "json_output: true\nwebserver:\n  listen_port: 8000\n  colour: [blue\n").unwrap();
    let out = lanner().args(["run", "-c"]).arg(&cfg).args(off).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lanner.yaml") && err.contains("line 5"), "malformed YAML names its line: {err}");

    let out = lanner().args(["run", "-c"]).arg(&cfg).args(["-o", "webserver.colour=red"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    std::fs::write(&cfg, "priority: notice\n").unwrap();
    let out =
        lanner().args(["run", "-c"]).arg(&cfg).args(["-o", "webserver.listen_prot=1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("-o webserver.listen_prot=1: unknown key 'webserver.listen_prot'"), "{err}");

    let out = lanner().args(["run", "-c"]).arg(dir.join("missing.yaml")).args(off).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("missing.yaml"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn overrides_and_config_select_the_rules_and_the_format() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("overrides");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Override Rule", "lanner-override-marker")).unwrap();
    let cfg = dir.join("lanner.yaml");
    // The file says text output and no webserver; -o turns on JSON, without tags.
    std::fs::write(
        &cfg,
        format!("rules_files: [{}]\njson_output: false\nwebserver:\n  enabled: false\n", rules.display()),
    )
    .unwrap();
    let d = Daemon::start(&[
        "-c",
        cfg.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        "json_include_tags_property=false",
    ]);
    let marker = dir.join("lanner-override-marker");
    std::fs::write(&marker, "x").unwrap();
    cat(&marker);
    let a = d.wait_alert("Override Rule", "lanner-override-marker");
    assert!(a.get("tags").is_none(), "tags left out: {a}");
    assert!(a.get("output_fields").is_some());
    assert_eq!(d.log_count("webserver listening"), 0, "the webserver is off");
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reloads_while_events_flow() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("reload");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Rule A", "marker-a")).unwrap();
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\njson_output: true\nwatch_config_files: true\nwebserver:\n  listen_port: {port}\n",
            rules.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    let (a, b) = (dir.join("marker-a"), dir.join("marker-b"));
    std::fs::write(&a, "a").unwrap();
    std::fs::write(&b, "b").unwrap();
    cat(&a);
    d.wait_alert("Rule A", "marker-a");
    // The markers written beside the rules file are not what was loaded: no reload.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(d.log_count("reloading"), 0, "an unrelated file in the rules folder reloaded");

    // A good change of the rules file: Rule B replaces Rule A, without a restart.
    std::fs::write(&rules, cat_rule("Rule B", "marker-b")).unwrap();
    d.wait_log("reloaded", Duration::from_secs(20));
    cat(&b);
    d.wait_alert("Rule B", "marker-b");
    let before = d.alerts().iter().filter(|x| x["rule"] == "Rule A").count();
    cat(&a);

    // A bad change: rejected with an internal alert; Rule B keeps firing.
    std::fs::write(
        &rules,
        "- rule: Broken\n  desc: d\n  condition: evt.type = openat and (\n  output: x\n  priority: INFO\n",
    )
    .unwrap();
    let failed = d.wait_alert("Lanner internal: reload failed", "rules.yaml");
    assert_eq!(failed["priority"], "Critical");
    assert_eq!(failed["source"], "internal");
    assert!(failed["output_fields"].is_object(), "output_fields always present: {failed}");
    let b2 = dir.join("marker-b2");
    std::fs::write(&b2, "b").unwrap();
    cat(&b2);
    d.wait_alert("Rule B", "marker-b2");
    assert_eq!(d.alerts().iter().filter(|x| x["rule"] == "Rule A").count(), before, "Rule A is gone");

    // The reloads are counted.
    let (status, text) = get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(metric_in(&text, r#"lanner_reloads_total{result="ok"}"#).unwrap() >= 1.0, "{text}");
    assert!(metric_in(&text, r#"lanner_reloads_total{result="failed"}"#).unwrap() >= 1.0, "{text}");
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sighup_reloads_when_files_are_not_watched() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("sighup");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Rule A", "marker-a")).unwrap();
    let d = Daemon::start(&[
        "-r",
        rules.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        "watch_config_files=false",
        "-o",
        "webserver.enabled=false",
    ]);
    std::fs::write(&rules, cat_rule("Rule C", "marker-c")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.log_count("reloading"), 0, "files are not watched");
    d.signal(libc::SIGHUP);
    d.wait_log("reloading: SIGHUP", Duration::from_secs(20));
    d.wait_log("reloaded", Duration::from_secs(20));
    let c = dir.join("marker-c");
    std::fs::write(&c, "c").unwrap();
    cat(&c);
    d.wait_alert("Rule C", "marker-c");
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn metrics_and_health_after_a_live_run() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("metrics");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Metric Rule", "metric-marker")).unwrap();
    let port = free_port();
    let d = Daemon::start(&[
        "-r",
        rules.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        &format!("webserver.listen_port={port}"),
    ]);
    let m = dir.join("metric-marker");
    std::fs::write(&m, "m").unwrap();
    cat(&m);
    d.wait_alert("Metric Rule", "metric-marker");
    let (status, body) = get(port, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, text) = get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(metric_in(&text, r#"lanner_events_processed_total{source="syscall"}"#).unwrap() > 0.0, "{text}");
    assert_eq!(
        metric_in(&text, r#"lanner_alerts_total{rule="Metric Rule",priority="Warning"}"#),
        Some(1.0),
        "{text}"
    );
    assert!(metric_in(&text, "lanner_capture_records_total{cpu=").unwrap() > 0.0, "{text}");
    assert!(metric_in(&text, "lanner_rule_evaluation_nanoseconds_total").unwrap() > 0.0, "{text}");
    assert_eq!(metric_in(&text, "lanner_rules_loaded"), Some(1.0), "{text}");
    assert_eq!(d.stop(), Some(0));

    // /healthz/ready tells the truth: with a gap limit shorter than the poll interval it
    // says so; liveness (/healthz/live, /healthz) is not about events and holds.
    let port = free_port();
    let d = Daemon::start(&[
        "-r",
        rules.to_str().unwrap(),
        "-o",
        &format!("webserver.listen_port={port}"),
        "-o",
        "webserver.health.max_event_gap_seconds=0.000001",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    // Events arrive in batches every few milliseconds: a request can fall right after one.
    let answers: Vec<(u16, String)> = (0..5).map(|_| get(port, "/healthz/ready")).collect();
    let (status, body) =
        answers.iter().find(|(s, _)| *s == 503).cloned().unwrap_or_else(|| answers[0].clone());
    assert_eq!(status, 503, "{answers:?}");
    assert!(body.starts_with("no event captured for"), "{body}");
    assert_eq!(get(port, "/healthz/live"), (200, "ok\n".to_string()));
    assert_eq!(get(port, "/healthz"), (200, "ok\n".to_string()));
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn completions_and_manual_page_are_generated() {
    let out = lanner().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    for sub in ["run", "validate", "replay", "capture", "list-rules"] {
        assert!(script.contains(sub), "bash completion knows {sub}");
    }
    assert!(script.contains("--config"), "and run's options");
    let out = lanner().args(["completions", "fish"]).output().unwrap();
    assert!(out.status.success() && !out.stdout.is_empty());
    let out = lanner().arg("manpage").output().unwrap();
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH lanner 1"), "{page}");
    assert!(page.contains("run") && page.contains("validate"));
}

#[test]
fn metrics_after_a_replay() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    let port = free_port();
    let mut child = lanner()
        .args(["run", "--events"])
        .arg(data.join("events/golden.jsonl"))
        .arg("-r")
        .arg(data.join("rules/golden.yaml"))
        .args(["-o", &format!("webserver.listen_port={port}"), "--duration", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The five golden alerts come out, then the daemon waits, serving its metrics.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let alerts: Vec<String> = lines.by_ref().take(5).map(Result::unwrap).collect();
    assert!(alerts[0].contains("shell bash under nginx"), "{alerts:?}");
    let text = wait_for_metrics(port, Duration::from_secs(20));
    assert_eq!(metric_in(&text, r#"lanner_events_processed_total{source="syscall"}"#), Some(12.0), "{text}");
    let alert_total: f64 = text
        .lines()
        .filter(|l| l.starts_with("lanner_alerts_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(alert_total, 5.0, "{text}");
    assert!(text.contains(r#"priority="Critical""#), "{text}");
    // Not live capture: healthy whatever the gap.
    assert_eq!(get(port, "/healthz"), (200, "ok\n".to_string()));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn program_output_gets_every_alert_and_sigterm_flushes_the_queue() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("program");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Program Rule", "prog-marker")).unwrap();
    let sink = dir.join("alerts.jsonl");
    // A slow reader: each alert waits in the queue a little, so SIGTERM finds some queued.
    let program = format!("while read -r l; do sleep 0.05; echo \"$l\" >> {}; done", sink.display());
    let d = Daemon::start(&[
        "-r",
        rules.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        "stdout_output.enabled=false",
        "-o",
        "program_output.enabled=true",
        "-o",
        "program_output.keep_alive=true",
        "-o",
        &format!("program_output.program={program}"),
        "-o",
        "webserver.enabled=false",
    ]);
    let n = 20;
    for i in 0..n {
        let m = dir.join(format!("prog-marker-{i}"));
        std::fs::write(&m, "x").unwrap();
        cat(&m);
    }
    assert_eq!(d.stop(), Some(0), "nothing dropped");
    let lines: Vec<Value> = std::fs::read_to_string(&sink)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON alert lines"))
        .collect();
    assert_eq!(lines.len(), n, "every alert reached the program before exit");
    assert!(lines.iter().all(|a| a["rule"] == "Program Rule" && a["output_fields"].is_object()));
    std::fs::remove_dir_all(&dir).ok();
}

/// A daemon on `rules` with the plugins of `plugins` (watched), its configuration in `dir`,
/// alerts as JSON, the shared compile cache of the tests.
fn plugins_daemon(dir: &Path, rules: &Path, plugins: &Path) -> Daemon {
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\nplugins_dir: {}\njson_output: true\nwebserver:\n  enabled: false\n",
            rules.display(),
            plugins.display()
        ),
    )
    .unwrap();
    // SAFETY: the test's own environment, before the daemon starts.
    unsafe {
        std::env::set_var(
            "LANNER_PLUGIN_CACHE",
            lanner_plugin_runtime::testing::wasm_target_dir().join("test-cache"),
        )
    };
    Daemon::start(&["-c", cfg.to_str().unwrap()])
}

#[test]
fn plugins_dropped_in_make_their_fields_usable_and_a_source_feeds_the_rules_after_a_reload() {
    if !live_allowed() {
        return;
    }
    use lanner_plugin_runtime::testing::build_component;
    let (json, k8saudit) = (build_component("plugins/json"), build_component("plugins/k8saudit"));
    let dir = temp_dir("dropin");
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, cat_rule("Rule A", "dropin-a")).unwrap();
    let d = plugins_daemon(&dir, &rules, &plugins);

    // Rules over the Kubernetes audit source and the json fields: refused while the
    // plugins are missing.
    let k8s = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/k8s_audit_rules.yaml"),
    )
    .unwrap();
    std::fs::write(&rules, format!("{}\n{k8s}", cat_rule("Rule A", "dropin-a"))).unwrap();
    let failed = d.wait_alert("Lanner internal: reload failed", "k8saudit");
    assert_eq!(failed["priority"], "Critical");

    // Dropped in: the folder is watched, the reload loads them, and the rules now load.
    // The source plugin's NAME.yaml grants it the audit log and gives its open_params: the
    // daemon opens the stream and its events meet the k8s rules.
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/events").canonicalize().unwrap();
    std::fs::write(
        plugins.join("k8saudit.yaml"),
        format!(
            "grants:\n  dirs:\n    - {{host: {}, guest: /audit, mode: ro}}\nopen_params: /audit/k8s_audit.jsonl\n",
            events.display()
        ),
    )
    .unwrap();
    std::fs::copy(&json, plugins.join("json.wasm")).unwrap();
    std::fs::copy(&k8saudit, plugins.join("k8saudit.wasm")).unwrap();
    d.wait_log("plugin loaded", Duration::from_secs(60));
    d.wait_log("reloaded", Duration::from_secs(60));
    // Detection went on throughout.
    let a = dir.join("dropin-a");
    std::fs::write(&a, "a").unwrap();
    cat(&a);
    d.wait_alert("Rule A", "dropin-a");
    let exec = d.wait_alert("K8s Exec Into Pod", "pod=web-1");
    assert_eq!(exec["source"], "k8s_audit");
    assert_eq!(exec["time"], "2023-11-14T22:13:20.000000000Z", "the audit event's own time");
    d.wait_alert("K8s Anonymous Request Allowed", "uri=/version");
    d.wait_log("source stream ended", Duration::from_secs(20));
    let (alerts, _) = d.stop_with_alerts();
    assert_eq!(k8s_rules(&alerts), K8S_ALERTS, "each audit event once, in order");
    std::fs::remove_dir_all(&dir).ok();
}

/// The Kubernetes audit rules' alerts over `tests/events/k8s_audit.jsonl`, in its order.
const K8S_ALERTS: [&str; 4] = [
    "K8s Exec Into Pod",
    "K8s Privileged Pod Created",
    "K8s Secret Read In System Namespace",
    "K8s Anonymous Request Allowed",
];

/// The rules of the alerts a stopped daemon printed for the `k8s_audit` source.
fn k8s_rules(alerts: &[Value]) -> Vec<&str> {
    alerts.iter().filter(|a| a["source"] == "k8s_audit").map(|a| a["rule"].as_str().unwrap()).collect()
}

/// The recorded audit events, one JSON record per line.
fn recorded_audit() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/events/k8s_audit.jsonl"))
        .unwrap()
}

/// A daemon with the Kubernetes audit rules, the json plugin and the k8saudit source
/// configured by `k8saudit_yaml`, started once the source is open. The scratch folder too.
fn k8s_daemon(tag: &str, k8saudit_yaml: &str) -> (Daemon, std::path::PathBuf) {
    use lanner_plugin_runtime::testing::build_component;
    let dir = temp_dir(tag);
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(build_component("plugins/json"), plugins.join("json.wasm")).unwrap();
    std::fs::copy(build_component("plugins/k8saudit"), plugins.join("k8saudit.wasm")).unwrap();
    std::fs::write(plugins.join("k8saudit.yaml"), k8saudit_yaml).unwrap();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/k8s_audit_rules.yaml");
    let d = plugins_daemon(&dir, &rules, &plugins);
    d.wait_log("source opened", Duration::from_secs(60));
    (d, dir)
}

#[test]
fn a_followed_audit_log_feeds_the_rules_as_it_grows() {
    if !live_allowed() {
        return;
    }
    // The API server has not written anything yet.
    let audit = temp_dir("follow-log");
    let log = audit.join("audit.log");
    std::fs::write(&log, "").unwrap();
    let (d, dir) = k8s_daemon(
        "follow",
        &format!(
            "grants:\n  dirs:\n    - {{host: {}, guest: /audit, mode: ro}}\nopen_params: follow:/audit/audit.log\n",
            audit.display()
        ),
    );
    // The audit events come one by one, well after the stream reached the file's end, and
    // the anonymous request's in two writes (a line being written is not read until it is
    // complete).
    let append = |text: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    for line in recorded_audit().lines() {
        std::thread::sleep(Duration::from_millis(300));
        if line.contains(r#""requestURI":"/version""#) {
            d.wait_alert("K8s Secret Read In System Namespace", "");
            let (head, tail) = line.split_at(line.len() / 2);
            append(head);
            std::thread::sleep(Duration::from_millis(500));
            assert!(d.alerts().iter().all(|a| a["rule"] != "K8s Anonymous Request Allowed"));
            append(&format!("{tail}\n"));
        } else {
            append(&format!("{line}\n"));
        }
    }
    d.wait_alert("K8s Anonymous Request Allowed", "uri=/version");
    assert_eq!(d.log_count("source stream ended"), 0, "a followed file's end does not end the stream");
    let (alerts, _) = d.stop_with_alerts();
    assert_eq!(k8s_rules(&alerts), K8S_ALERTS, "each audit event once, in order");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&audit).ok();
}

/// The k8saudit configuration of a webhook on loopback at `port`, and the URL to post to.
fn webhook_source(port: u16) -> (String, String) {
    let url = format!("http://127.0.0.1:{port}/k8s-audit");
    (format!("grants:\n  listen: [\"127.0.0.1:{port}\"]\nopen_params: {url}\n"), url)
}

#[test]
fn audit_events_posted_to_the_webhook_reach_the_rules() {
    if !live_allowed() {
        return;
    }
    // What an API server's audit webhook configuration would point at.
    let (yaml, url) = webhook_source(free_port());
    let (d, dir) = k8s_daemon("webhook", &yaml);
    let mut statuses = Vec::new();
    for line in recorded_audit().lines() {
        let resp = agent().post(&url).header("Content-Type", "application/json").send(line).unwrap();
        statuses.push(resp.status().as_u16());
    }
    // The line that is not JSON is refused; every audit record is taken.
    assert_eq!(statuses.iter().filter(|&&s| s == 400).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|&s| s == 200 || s == 400), "{statuses:?}");
    d.wait_alert("K8s Anonymous Request Allowed", "uri=/version");
    let (alerts, _) = d.stop_with_alerts();
    assert_eq!(k8s_rules(&alerts), K8S_ALERTS, "each audit event once, in order");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_webhook_source_is_listening_again_after_its_plugin_is_reloaded() {
    if !live_allowed() {
        return;
    }
    let (yaml, url) = webhook_source(free_port());
    let (d, dir) = k8s_daemon("webhook-reload", &yaml);
    let agent = agent();
    let exec = recorded_audit().lines().next().unwrap().to_string();
    assert_eq!(agent.post(&url).send(&exec).unwrap().status().as_u16(), 200);
    d.wait_alert("K8s Exec Into Pod", "pod=web-1");
    // The plugin's configuration changes: the plugin is replaced and its stream reopened on
    // the same port, which the old stream must have let go first.
    std::fs::write(dir.join("plugins.d/k8saudit.yaml"), format!("{yaml}limits: {{call_timeout_ms: 900}}\n"))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.log_count("source opened") < 2 {
        assert!(Instant::now() < deadline, "the source was not reopened");
        assert_eq!(d.log_count("cannot open the source"), 0, "the new stream could not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(agent.post(&url).send(&exec).unwrap().status().as_u16(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.alerts().iter().filter(|a| a["rule"] == "K8s Exec Into Pod").count() < 2 {
        assert!(Instant::now() < deadline, "no alert from the reopened webhook");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (alerts, _) = d.stop_with_alerts();
    assert!(alerts.iter().all(|a| a["rule"] != "Lanner internal: plugin disabled"), "{alerts:#?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn plugin_calls_failures_and_restarts_are_in_the_metrics() {
    use lanner_plugin_runtime::testing::{build_component, wasm_target_dir};
    // A source plugin's events through a replay of its own, with the daemon's metrics: the
    // k8saudit source and the json extractor are called; nothing fails.
    let dir = temp_dir("plugin-metrics");
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(build_component("plugins/json"), plugins.join("json.wasm")).unwrap();
    let port = free_port();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    let mut child = lanner()
        .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
        .args(["run", "--events"])
        .arg(data.join("events/golden.jsonl"))
        .arg("-r")
        .arg(data.join("rules/golden.yaml"))
        .args(["-o", &format!("webserver.listen_port={port}"), "-o"])
        .arg(format!("plugins_dir={}", plugins.display()))
        .args(["--duration", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let text = wait_for_metrics(port, Duration::from_secs(60));
    // The plugin is listed with its counters (its fields were registered: one info call).
    assert!(text.contains(r#"lanner_plugin_calls_total{plugin="json"}"#), "{text}");
    assert_eq!(metric_in(&text, r#"lanner_plugin_failures_total{plugin="json"}"#), Some(0.0), "{text}");
    assert_eq!(metric_in(&text, r#"lanner_plugin_restarts_total{plugin="json"}"#), Some(0.0), "{text}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn user_names_come_from_the_host_root_etc() {
    if !live_allowed() {
        return;
    }
    // A container's view: the host's /etc mounted at HOST_ROOT/etc, with names of its own.
    let dir = temp_dir("hostroot");
    std::fs::create_dir_all(dir.join("host/etc")).unwrap();
    std::fs::write(dir.join("host/etc/passwd"), "hostadmin:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(dir.join("host/etc/group"), "hostwheel:x:0:\n").unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Who\n  desc: d\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains hostroot-marker\n  output: 'Who %user.name %group.name'\n  priority: WARNING\n",
    )
    .unwrap();
    let host_root = format!("host_root={}", dir.join("host").display());
    let d = Daemon::start(&[
        "-r",
        rules.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        "webserver.enabled=false",
        "-o",
        &host_root,
    ]);
    let m = dir.join("hostroot-marker");
    std::fs::write(&m, "x").unwrap();
    cat(&m);
    let a = d.wait_alert("Who", "Who");
    assert_eq!(a["output_fields"]["user.name"], "hostadmin", "{a}");
    assert_eq!(a["output_fields"]["group.name"], "hostwheel", "{a}");
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_flooded_source_drops_and_counts_its_own_events_while_syscalls_are_still_seen() {
    if !live_allowed() {
        return;
    }
    use lanner_plugin_runtime::testing::{build_component, wasm_target_dir};
    // A source that answers every call with a full batch at once, and a rule over its field
    // that costs 1 ms per event: the rules fall far behind the source.
    let dir = temp_dir("flood");
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(build_component("tests/plugins/floodsource"), plugins.join("floodsource.wasm")).unwrap();
    std::fs::write(plugins.join("floodsource.yaml"), "open_params: all\nconfig: {us_per_event: 1000}\n")
        .unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "{}- rule: Flood Rule\n  desc: reads the slow field\n  condition: flood.slow = never\n  output: '%flood.slow'\n  priority: WARNING\n  source: flood\n",
            cat_rule("Flood Syscall Rule", "flood-marker")
        ),
    )
    .unwrap();
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\nplugins_dir: {}\njson_output: true\nwebserver:\n  listen_port: {port}\n",
            rules.display(),
            plugins.display()
        ),
    )
    .unwrap();
    // SAFETY: the test's own environment, before the daemon starts.
    unsafe { std::env::set_var("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache")) };
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    d.wait_log("source opened", Duration::from_secs(60));
    // The source's batches wait a little for room, then are dropped, counted and said; those
    // that found room go through the rules.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (dropped, processed) = loop {
        let text = wait_for_metrics(port, Duration::from_secs(10));
        let dropped =
            metric_in(&text, r#"lanner_plugin_events_dropped_total{plugin="floodsource"}"#).unwrap_or(0.0);
        let processed = metric_in(&text, r#"lanner_events_processed_total{source="flood"}"#).unwrap_or(0.0);
        if dropped > 0.0 && processed > 0.0 {
            break (dropped, processed);
        }
        assert!(Instant::now() < deadline, "no source events dropped, or none processed: {text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    d.wait_log("source events dropped", Duration::from_secs(10));
    // Meanwhile the live loop still drains the ring buffer between source batches: syscall
    // rules keep firing. (Before the loop bounded its share of source batches, it took them
    // as long as the queue had any, and capture stopped.)
    let m = dir.join("flood-marker");
    std::fs::write(&m, "m").unwrap();
    cat(&m);
    d.wait_alert("Flood Syscall Rule", "flood-marker");
    eprintln!("flooded source: {dropped} events dropped and counted, {processed} through the rules");
    d.stop();
    std::fs::remove_dir_all(&dir).ok();
}
