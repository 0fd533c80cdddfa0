//! Plugins through the binary: components built from `plugins/` and `tests/plugins/` are
//! dropped into a plugins folder; `lanner plugins list` and `list-fields` show them, and
//! `lanner replay --open` runs a source plugin's events through rules that use its fields and
//! the json extractor's.

use lanner_plugin_runtime::testing::{build_component, wasm_target_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

fn lanner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lanner"))
        .args(args)
        .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
        .output()
        .expect("run lanner")
}

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("lanner-plugins-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A plugins folder with json and k8saudit, the latter granted the test events' folder as
/// /audit (read-only).
fn plugins_dir() -> TempDir {
    let dir = tempdir();
    std::fs::copy(build_component("plugins/json"), dir.path().join("json.wasm")).unwrap();
    std::fs::copy(build_component("plugins/k8saudit"), dir.path().join("k8saudit.wasm")).unwrap();
    let events = repo("tests/events").canonicalize().unwrap();
    std::fs::write(
        dir.path().join("k8saudit.yaml"),
        format!(
            "grants:\n  dirs:\n    - {{host: {}, guest: /audit, mode: ro}}\nlimits: {{memory_mb: 32}}\n",
            events.display()
        ),
    )
    .unwrap();
    dir
}

fn d(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn plugins_list_shows_capabilities_fields_grants_and_state() {
    let dir = plugins_dir();
    let o = lanner(&["plugins", "list", "--plugins-dir", d(dir.path())]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("json 0.1.0 (extraction) [running]"), "{out}");
    assert!(out.contains("k8saudit 0.2.0 (source, extraction) [running]"), "{out}");
    assert!(out.contains("source: k8s_audit"), "{out}");
    assert!(out.contains("fields: json.value, json.obj, json.exists, json.len"), "{out}");
    assert!(out.contains(":/audit:ro] http [] tcp [] listen [] env []"), "{out}");

    let o = lanner(&["plugins", "list", "--plugins-dir", d(dir.path()), "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let k = v["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "k8saudit").unwrap();
    assert_eq!(k["capabilities"], serde_json::json!(["source", "extraction"]));
    assert_eq!(k["grants"]["dirs"][0]["guest"], "/audit");
    assert_eq!(k["limits"]["memory_mb"], 32);
    assert_eq!(k["state"], "running");
    assert!(k["fields"].as_array().unwrap().iter().any(|f| f["name"] == "ka.verb" && f["type"] == "CHARBUF"));
}

/// Every kind of grant is shown: unix socket paths too (they were left out, so the container
/// plugin's sockets were invisible).
#[test]
fn plugins_list_shows_unix_socket_grants() {
    let dir = plugins_dir();
    std::fs::write(dir.path().join("json.yaml"), "grants:\n  unix: [/run/podman/podman.sock, /x.sock]\n")
        .unwrap();
    let o = lanner(&["plugins", "list", "--plugins-dir", d(dir.path())]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("env [] unix [/run/podman/podman.sock, /x.sock]"), "{out}");
    let o = lanner(&["plugins", "list", "--plugins-dir", d(dir.path()), "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let j = v["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "json").unwrap();
    assert_eq!(j["grants"]["unix"], serde_json::json!(["/run/podman/podman.sock", "/x.sock"]));
    let k = v["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "k8saudit").unwrap();
    assert_eq!(k["grants"]["unix"], serde_json::json!([]));
}

#[test]
fn list_fields_includes_plugin_fields() {
    let dir = plugins_dir();
    let o = lanner(&["list-fields", "--json", "--plugins-dir", d(dir.path())]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let fields = v["fields"].as_array().unwrap();
    let f = |n: &str| fields.iter().find(|f| f["name"] == n).cloned();
    assert_eq!(f("json.value").unwrap()["source"], "json");
    assert_eq!(f("json.value").unwrap()["arg"], "[optional argument, such as [NAME]]");
    assert_eq!(f("ka.user.groups").unwrap()["type"], "LIST");
    assert_eq!(f("ka.verb").unwrap()["source"], "k8saudit");
    assert_eq!(f("proc.name").unwrap()["source"], "syscall");
    // Without plugins, only the built-in fields.
    let empty = tempdir();
    let o = lanner(&["list-fields", "--plugins-dir", d(empty.path())]);
    assert!(o.status.success());
    assert!(!text(&o.stdout).contains("json.value"));
}

#[test]
fn source_plugin_events_reach_rules_with_its_source_and_extractor_fields() {
    let dir = plugins_dir();
    let rules = repo("rules/k8s_audit_rules.yaml");
    let o = lanner(&[
        "replay",
        "--plugins-dir",
        d(dir.path()),
        "--open",
        "k8saudit=/audit/k8s_audit.jsonl",
        "-r",
        d(&rules),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let alerts: Vec<Value> = text(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(String, String)> = alerts
        .iter()
        .map(|a| (a["rule"].as_str().unwrap().to_string(), a["time"].as_str().unwrap().to_string()))
        .collect();
    let want = [
        ("K8s Exec Into Pod", "2023-11-14T22:13:20.000000000Z"),
        ("K8s Privileged Pod Created", "2023-11-14T22:13:22.000000000Z"),
        ("K8s Secret Read In System Namespace", "2023-11-14T22:13:24.000000000Z"),
        ("K8s Anonymous Request Allowed", "2023-11-14T22:13:26.000000000Z"),
    ];
    let want: Vec<(String, String)> = want.iter().map(|(r, t)| (r.to_string(), t.to_string())).collect();
    assert_eq!(got, want, "{}", text(&o.stdout));
    assert!(alerts.iter().all(|a| a["source"] == "k8s_audit"));
    assert_eq!(
        alerts[0]["output"],
        "Exec into pod (user=alice pod=web-1 ns=shop uri=/api/v1/namespaces/shop/pods/web-1/exec?command=sh&stdin=true)"
    );
    // json.value in the output, a list field rendered as Falco does.
    assert_eq!(alerts[3]["output"], "Anonymous request allowed (verb=get uri=/version ips=(203.0.113.9))");

    // Plain text alerts too.
    let o = lanner(&[
        "replay",
        "--plugins-dir",
        d(dir.path()),
        "--open",
        "k8saudit=/audit/k8s_audit.jsonl",
        "-r",
        d(&rules),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).starts_with("2023-11-14T22:13:20.000000000Z: Notice Exec into pod (user=alice"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn required_plugin_versions_are_checked_against_loaded_plugins() {
    let dir = plugins_dir();
    let rules = tempdir();
    let f = rules.path().join("needs.yaml");
    std::fs::write(
        &f,
        "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.3.0\n\n- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    )
    .unwrap();
    let o = lanner(&[
        "replay",
        "--plugins-dir",
        d(dir.path()),
        "--open",
        "k8saudit=/audit/k8s_audit.jsonl",
        "-r",
        d(&f),
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("k8saudit"), "{}", text(&o.stderr));
    // Without the plugins, the k8s rules do not load: their fields are unknown.
    let empty = tempdir();
    let o = lanner(&[
        "replay",
        "--plugins-dir",
        d(empty.path()),
        "-r",
        d(&repo("rules/k8s_audit_rules.yaml")),
        d(&repo("tests/events/golden.jsonl")),
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("k8saudit"), "{}", text(&o.stderr));
}

#[test]
fn a_broken_plugin_is_reported_and_the_others_run() {
    let dir = plugins_dir();
    std::fs::write(dir.path().join("broken.wasm"), b"\0asm\x01\0\0\0junk").unwrap();
    let o = lanner(&["plugins", "list", "--plugins-dir", d(dir.path())]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("broken.wasm"), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("json 0.1.0"));
    assert!(text(&o.stdout).contains("k8saudit 0.2.0"));
}

/// The shipped plugins with the hostile extractor beside them, trapping on every call and
/// disabled after one failure, and a rules file holding `rule` that reads its field. Returns
/// the plugins folder, the rules folder (kept alive) and the rules file.
fn trapping_hostile_with_rule(rule: &str) -> (TempDir, TempDir, std::path::PathBuf) {
    let dir = plugins_dir();
    std::fs::copy(build_component("tests/plugins/hostile"), dir.path().join("hostile.wasm")).unwrap();
    std::fs::write(dir.path().join("hostile.yaml"), "config: {mode: trap}\nrestart: {max_failures: 1}\n")
        .unwrap();
    let rules = tempdir();
    let f = rules.path().join("hostile.yaml");
    std::fs::write(&f, rule).unwrap();
    (dir, rules, f)
}

#[test]
fn a_failing_extractor_is_disabled_with_an_alert_and_the_source_keeps_going() {
    let (dir, _rules, f) = trapping_hostile_with_rule(
        "- rule: Hostile\n  desc: d\n  condition: hostile.out = x\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    );
    let k8s = repo("rules/k8s_audit_rules.yaml");
    let o = lanner(&[
        "replay",
        "--plugins-dir",
        d(dir.path()),
        "--open",
        "k8saudit=/audit/k8s_audit.jsonl",
        "-r",
        d(&k8s),
        "-r",
        d(&f),
        "--json",
    ]);
    // Exit status 1: a plugin failed; the host stayed up and said which.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("plugin hostile: disabled after 1 consecutive failures"),
        "{}",
        text(&o.stderr)
    );
    let alerts: Vec<Value> = text(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let disabled: Vec<&Value> =
        alerts.iter().filter(|a| a["rule"] == "Lanner internal: plugin disabled").collect();
    assert_eq!(disabled.len(), 1, "{}", text(&o.stdout));
    assert_eq!(disabled[0]["priority"], "Critical");
    assert_eq!(disabled[0]["source"], "internal");
    assert!(disabled[0]["output"].as_str().unwrap().contains("plugin hostile disabled"));
    // The other plugins kept working: the k8s rules fired as without the hostile plugin.
    let k8s_rules = alerts.iter().filter(|a| a["source"] == "k8s_audit").count();
    assert_eq!(k8s_rules, 4, "{}", text(&o.stdout));
}

/// `lanner replay EVENTFILE` with an extractor that fails on syscall events: the plugin is
/// disabled with Lanner's alert, the replay goes on, and the exit status is 1 (as with
/// `replay --open` and `run --events`), so a script sees that a plugin failed.
#[test]
fn an_extractor_failing_on_syscall_events_makes_the_replay_exit_1() {
    let (dir, _rules, f) = trapping_hostile_with_rule(
        "- rule: Hostile on opens\n  desc: d\n  condition: evt.type = openat and hostile.out = x\n  output: o\n  priority: INFO\n",
    );
    let o = lanner(&[
        "replay",
        "--plugins-dir",
        d(dir.path()),
        "-r",
        d(&f),
        "--json",
        d(&repo("tests/events/golden.jsonl")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let alerts: Vec<Value> = text(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(alerts.iter().any(|a| a["rule"] == "Lanner internal: plugin disabled"), "{}", text(&o.stdout));
}
