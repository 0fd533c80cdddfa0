//! An operator's first day, without root: `lanner run --events` delivers to every configured
//! output (the file and webhook sink plugins, a real HTTP server on loopback here) and opens
//! the configured source plugins as a live run does; an unreachable sink is said and sets
//! the exit status; `--plugins-dir`; the daemon's own plugin state at `/plugins` and in
//! `lanner plugins list --daemon`; and a webserver port already taken stops the start.

mod common;

use common::{free_port, http_server, lanner, temp_dir};
use lanner_plugin_runtime::testing::{build_component, wasm_target_dir};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel).canonicalize().unwrap()
}

/// `lanner` with the shared precompiled-plugin cache of the tests.
fn lanner_cached() -> Command {
    let mut c = lanner();
    c.env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"));
    c
}

/// A folder of sink plugins built from plugins/: file and webhook.
fn sinks_dir(dir: &Path) -> PathBuf {
    let sinks = dir.join("sinks");
    std::fs::create_dir_all(&sinks).unwrap();
    for name in ["file", "webhook"] {
        std::fs::copy(build_component(&format!("plugins/{name}")), sinks.join(format!("{name}.wasm")))
            .unwrap();
    }
    sinks
}

/// A plugins folder with json and k8saudit; k8saudit is granted the test events' folder as
/// /audit and opened on its audit file, as an operator configures it for `lanner run`.
fn k8s_plugins_dir(dir: &Path) -> PathBuf {
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(build_component("plugins/json"), plugins.join("json.wasm")).unwrap();
    std::fs::copy(build_component("plugins/k8saudit"), plugins.join("k8saudit.wasm")).unwrap();
    std::fs::write(
        plugins.join("k8saudit.yaml"),
        format!(
            "open_params: /audit/k8s_audit.jsonl\ngrants:\n  dirs:\n    - {{host: {}, guest: /audit, mode: ro}}\n",
            repo("tests/events").display()
        ),
    )
    .unwrap();
    plugins
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn rules_of(alerts: &[Value]) -> Vec<String> {
    alerts.iter().map(|a| a["rule"].as_str().unwrap().to_string()).collect()
}

#[test]
fn run_events_delivers_to_the_file_and_webhook_outputs() {
    let dir = temp_dir("op-outputs");
    let sinks = sinks_dir(&dir);
    let (port, bodies) = http_server();
    let alerts_file = dir.join("out/alerts.json");
    std::fs::create_dir_all(alerts_file.parent().unwrap()).unwrap();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\nwebserver: {{enabled: false}}\nsink_plugins_dir: {}\nfile_output: {{enabled: true, filename: {}}}\nplugin_outputs:\n  - name: hook\n    plugin: webhook\n    init_config: {{url: \"http://127.0.0.1:{port}/in\"}}\n    grants: {{http: [\"127.0.0.1:{port}\"]}}\n    limits: {{call_timeout_ms: 20000}}\n",
            sinks.display(),
            alerts_file.display()
        ),
    )
    .unwrap();
    let o = lanner_cached()
        .args(["run", "-c"])
        .arg(&cfg)
        .arg("--events")
        .arg(repo("tests/events/golden.jsonl"))
        .arg("-r")
        .arg(repo("tests/rules/golden.yaml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let stdout = json_lines(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(stdout.len(), 5, "the five golden alerts on stdout");
    assert!(stdout[0]["output"].as_str().unwrap().contains("shell bash under nginx"), "{stdout:?}");
    // The file: every alert, one JSON line each, in order.
    let file = json_lines(&std::fs::read_to_string(&alerts_file).unwrap());
    assert_eq!(rules_of(&file), rules_of(&stdout), "file_output");
    assert_eq!(file[0]["output"], stdout[0]["output"]);
    // The webhook: every alert reached the server before the replay ended (the outputs
    // drain before exit).
    let posted: Vec<Value> =
        bodies.lock().unwrap().iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(rules_of(&posted), rules_of(&stdout), "webhook");
    assert_eq!(posted[4]["output"], stdout[4]["output"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_replay_that_cannot_reach_its_webhook_says_so_and_fails() {
    let dir = temp_dir("op-unreachable");
    let sinks = sinks_dir(&dir);
    // A port nobody listens on: every post is refused.
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\nengine: {{kind: replay, replay: {{capture_file: {}}}}}\nwebserver: {{enabled: false}}\nsink_plugins_dir: {}\noutputs_queue: {{capacity: 100, retry_attempts: 2, shutdown_deadline_seconds: 10}}\nplugin_outputs:\n  - name: hook\n    plugin: webhook\n    init_config: {{url: \"http://127.0.0.1:{port}/in\"}}\n    grants: {{http: [\"127.0.0.1:{port}\"]}}\n    limits: {{call_timeout_ms: 20000}}\n",
            repo("tests/events/golden.jsonl").display(),
            sinks.display(),
        ),
    )
    .unwrap();
    // The replay set by the configuration (engine.kind), not --events.
    let o = lanner_cached()
        .args(["run", "-c"])
        .arg(&cfg)
        .arg("-r")
        .arg(repo("tests/rules/golden.yaml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // Lost alerts: the exit status of a live run that lost alerts.
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("delivery failed") && err.contains("hook"), "the failure, naming the output: {err}");
    assert!(err.contains("output hook: 5 alerts were not delivered"), "{err}");
    // The other outputs still got everything.
    assert_eq!(json_lines(&String::from_utf8_lossy(&o.stdout)).len(), 5);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_events_opens_the_configured_source_plugins_from_plugins_dir() {
    let dir = temp_dir("op-sources");
    let plugins = k8s_plugins_dir(&dir);
    let o = lanner_cached()
        .args(["run", "--events", "/dev/null", "--json", "-o", "webserver.enabled=false", "--plugins-dir"])
        .arg(&plugins)
        .arg("-r")
        .arg(repo("rules/k8s_audit_rules.yaml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("source opened"), "{err}");
    let alerts = json_lines(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(
        rules_of(&alerts),
        [
            "K8s Exec Into Pod",
            "K8s Privileged Pod Created",
            "K8s Secret Read In System Namespace",
            "K8s Anonymous Request Allowed"
        ],
        "{alerts:?}"
    );
    assert!(alerts.iter().all(|a| a["source"] == "k8s_audit"));
    // --plugins-dir replaces the configuration's plugins_dir: without it, the rules that
    // need k8saudit's fields do not load.
    let o = lanner_cached()
        .args(["run", "--events", "/dev/null", "-o", "webserver.enabled=false"])
        .arg("-o")
        .arg(format!("plugins_dir={}", dir.join("nothing-here").display()))
        .arg("-r")
        .arg(repo("rules/k8s_audit_rules.yaml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    // A folder named on the command line must exist.
    let o = lanner_cached()
        .args(["run", "--events", "/dev/null", "--plugins-dir"])
        .arg(dir.join("nothing-here"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--plugins-dir") && err.contains("nothing-here: no such folder"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A `lanner run` that stays up (a replay with a duration), its stdout and stderr collected;
/// killed when dropped.
struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (stdout, stderr) = (Arc::new(Mutex::new(String::new())), Arc::new(Mutex::new(String::new())));
        for (pipe, keep) in [
            (Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, stdout.clone()),
            (Box::new(child.stderr.take().unwrap()), stderr.clone()),
        ] {
            std::thread::spawn(move || {
                for l in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut k = keep.lock().unwrap();
                    k.push_str(&l);
                    k.push('\n');
                }
            });
        }
        Running { child, stdout, stderr }
    }

    fn wait_log(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.stderr.lock().unwrap().contains(what) {
            assert!(Instant::now() < deadline, "never logged {what}: {}", self.stderr.lock().unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = req.call().expect("the webserver answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

#[test]
fn the_daemon_serves_its_own_plugin_state_and_plugins_list_daemon_shows_it() {
    let dir = temp_dir("op-plugin-state");
    let plugins = k8s_plugins_dir(&dir);
    // An extractor that traps on its first call, disabled at its first failure.
    std::fs::copy(build_component("tests/plugins/hostile"), plugins.join("hostile.wasm")).unwrap();
    std::fs::write(plugins.join("hostile.yaml"), "config: {mode: trap}\nrestart: {max_failures: 1}\n")
        .unwrap();
    let hostile_rule = dir.join("hostile.yaml");
    std::fs::write(
        &hostile_rule,
        "- rule: Hostile\n  desc: d\n  condition: hostile.out = x\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    )
    .unwrap();
    let sinks = sinks_dir(&dir);
    let token = dir.join("token");
    std::fs::write(&token, "op-s3cret\n").unwrap();
    let port = free_port();
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            "json_output: true\nsink_plugins_dir: {}\nfile_output: {{enabled: true, filename: {}}}\nwebserver:\n  listen_port: {port}\n  metrics_token_file: {}\n",
            sinks.display(),
            dir.join("alerts.json").display(),
            token.display()
        ),
    )
    .unwrap();
    let mut cmd = lanner_cached();
    cmd.args(["run", "-c"])
        .arg(&cfg)
        .args(["--events", "/dev/null", "--duration", "120", "--plugins-dir"])
        .arg(&plugins)
        .arg("-r")
        .arg(repo("rules/k8s_audit_rules.yaml"))
        .arg("-r")
        .arg(&hostile_rule);
    let d = Running::start(cmd);
    d.wait_log("webserver listening");
    let url = format!("http://127.0.0.1:{port}");
    // Guarded by the token, as /metrics.
    assert_eq!(get(&format!("{url}/plugins"), None).0, 401);
    assert_eq!(get(&format!("{url}/plugins"), Some("wrong")).0, 401);
    // The daemon's plugins as it runs them: the hostile extractor disabled by the source's
    // events, the others running.
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let (status, body) = get(&format!("{url}/plugins"), Some("op-s3cret"));
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let hostile = v["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "hostile").cloned();
        if hostile.as_ref().is_some_and(|h| h["state"] == "disabled") {
            break v;
        }
        assert!(Instant::now() < deadline, "hostile never disabled: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let find =
        |name: &str| state["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    let hostile = find("hostile");
    assert_eq!(hostile["kind"], "extractor");
    assert!(hostile["failures"].as_u64().unwrap() >= 1, "{hostile}");
    assert!(hostile["disabled_reason"].as_str().unwrap().contains("trap"), "{hostile}");
    let k8s = find("k8saudit");
    assert_eq!(k8s["state"], "running", "{k8s}");
    assert_eq!(k8s["kind"], "source");
    assert_eq!(k8s["open_params"], "/audit/k8s_audit.jsonl");
    assert!(k8s["calls"].as_u64().unwrap() > 0, "{k8s}");
    assert_eq!(k8s["failures"], 0);
    let file = find("file");
    assert_eq!((file["kind"].as_str(), file["output"].as_str()), (Some("sink"), Some("file")), "{file}");
    // The internal alert was raised too.
    d.wait_log("disabled after 1 consecutive failures");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.stdout.lock().unwrap().contains("Lanner internal: plugin disabled") {
        assert!(Instant::now() < deadline, "no plugin-disabled alert: {}", d.stdout.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }

    // `lanner plugins list --daemon` shows the same, in JSON and in text.
    let o = lanner()
        .args(["plugins", "list", "--json", "--daemon", &url, "--token-file"])
        .arg(&token)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = listed["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "hostile").unwrap();
    assert_eq!(h["state"], "disabled");
    let o =
        lanner().args(["plugins", "list", "--daemon", &url, "--token-file"]).arg(&token).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("hostile (extractor ") && text.contains("[disabled]"), "{text}");
    let why = text.lines().find(|l| l.starts_with("  disabled: ")).unwrap_or_else(|| panic!("{text}"));
    assert!(why.contains("trap") && why.ends_with("a reload (SIGHUP) enables it again"), "{text}");
    assert!(
        text.contains("k8saudit (source ") && text.contains("opened with \"/audit/k8s_audit.jsonl\""),
        "{text}"
    );
    assert!(text.contains("file (sink 0.") && text.contains("  output: file"), "{text}");
    // Without the token, the error says what to give.
    let o = lanner().args(["plugins", "list", "--daemon", &url]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("requires a bearer token") && err.contains("--token-file"), "{err}");
    // SIGTERM ends the replay's wait; a plugin failed in it: exit status 1, as `lanner
    // replay`'s.
    let mut d = d;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    assert_eq!(d.child.wait().unwrap().code(), Some(1), "{}", d.stderr.lock().unwrap());
    drop(d);
    // Nobody there: the error names the address.
    let o = lanner().args(["plugins", "list", "--daemon", &url]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(&format!("{url}/plugins")), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_second_daemon_on_a_taken_port_refuses_to_start() {
    let port = free_port();
    let start = |duration: &str| {
        let mut cmd = lanner();
        cmd.arg("run")
            .arg("--events")
            .arg(repo("tests/events/golden.jsonl"))
            .arg("-r")
            .arg(repo("tests/rules/golden.yaml"))
            .args(["-o", &format!("webserver.listen_port={port}"), "--duration", duration]);
        cmd
    };
    let first = Running::start(start("60"));
    first.wait_log("webserver listening");
    let o = start("1").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("webserver: cannot listen on 127.0.0.1:{port}: the port is already in use")),
        "{err}"
    );
    assert!(err.contains("webserver.listen_port") && err.contains("webserver.enabled: false"), "{err}");
    assert!(o.stdout.is_empty(), "it stopped before any event: {}", String::from_utf8_lossy(&o.stdout));
    // The first one's endpoint still answers for it.
    let (status, metrics) = get(&format!("http://127.0.0.1:{port}/metrics"), None);
    assert_eq!(status, 200);
    assert!(metrics.contains("lanner_events_processed_total{source=\"syscall\"} 12"), "{metrics}");
    // With the webserver off, the same daemon runs.
    let o = start("0").args(["-o", "webserver.enabled=false"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 5);
}
