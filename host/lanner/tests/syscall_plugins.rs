//! Extractor plugins on syscall events, through the binary: a dropped-in extractor's fields
//! in syscall rules fire on real processes (`lanner run`), the same rules give the same
//! alerts from a recorded session (`lanner replay`, `lanner run --events`, raw captures), a
//! plugin that sleeps is cut off without holding back other rules, and `lanner validate`
//! checks rules that use plugin fields.

mod common;

use common::{Daemon, lanner, live_allowed, metric, temp_dir};
use lanner_plugin_runtime::testing::{build_component, build_python_component, wasm_target_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Rules over the pkgowner plugin's fields, and one without them; `TAG` makes each test's
/// processes its own (the tests of this file run at once, and each daemon sees every process).
const PKG_RULES: &str = r#"
- rule: Unpackaged binary executed
  desc: a program no Debian package installed
  condition: evt.type = execve and proc.name = unpkg-TAG and pkg.owned = false
  output: unpackaged %proc.exepath owned=%pkg.owned
  priority: WARNING
- rule: Packaged binary with marker
  desc: a packaged program run with the test's marker
  condition: evt.type = execve and proc.args contains pkg-marker-TAG and pkg.name = coreutils
  output: packaged %proc.exepath by %pkg.name
  priority: NOTICE
- rule: Plain marker
  desc: no plugin field
  condition: evt.type = execve and proc.args contains plain-marker-TAG
  output: plain %proc.exepath
  priority: NOTICE
"#;

fn pkg_rules(tag: &str) -> String {
    PKG_RULES.replace("TAG", tag)
}

/// A plugins folder holding `name.wasm` (built from `wasm`) and its configuration.
fn plugins_folder(dir: &Path, name: &str, wasm: &Path, yaml: &str) -> PathBuf {
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(wasm, plugins.join(format!("{name}.wasm"))).unwrap();
    std::fs::write(plugins.join(format!("{name}.yaml")), yaml).unwrap();
    plugins
}

/// The plugin's first call reads dpkg's ~750 lists (0.3 s alone, seconds when the tests
/// load the machine): its deadline says so, as the plugin's documentation advises.
const PKGOWNER_YAML: &str = "grants:\n  dirs:\n    - {host: /var/lib/dpkg/info, guest: /dpkg, mode: ro}\nlimits: {call_timeout_ms: 15000}\n";

fn pkgowner_folder(dir: &Path) -> PathBuf {
    plugins_folder(dir, "pkgowner", &build_component("plugins/pkgowner"), PKGOWNER_YAML)
}

/// A daemon configuration: JSON alerts on stdout, these rules and plugins, `/metrics` on
/// `port` (none when 0).
fn config_on(dir: &Path, rules: &Path, plugins: &Path, port: u16) -> PathBuf {
    let cfg = dir.join("lanner.yaml");
    let web = if port == 0 {
        "webserver:\n  enabled: false\n".to_string()
    } else {
        format!("webserver:\n  enabled: true\n  listen_address: 127.0.0.1\n  listen_port: {port}\n")
    };
    std::fs::write(
        &cfg,
        format!(
            "rules_files: [{}]\nplugins_dir: {}\njson_output: true\n{web}",
            rules.display(),
            plugins.display()
        ),
    )
    .unwrap();
    // SAFETY: the test's own environment, before any daemon starts.
    unsafe { std::env::set_var("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache")) };
    cfg
}

fn config(dir: &Path, rules: &Path, plugins: &Path) -> PathBuf {
    config_on(dir, rules, plugins, 0)
}

fn run(program: &Path, args: &[&str]) {
    let st = Command::new(program).args(args).stdout(Stdio::null()).status().unwrap();
    assert!(st.success(), "{} {args:?}", program.display());
}

/// The processes the pkgowner rules are about: an unpackaged copy of `true` (with the
/// packaged rule's marker, which must not make it match), and the packaged `true` with each
/// marker.
fn pkg_processes(dir: &Path, tag: &str) {
    let copy = dir.join(format!("unpkg-{tag}"));
    if !copy.exists() {
        std::fs::copy("/usr/bin/true", &copy).unwrap();
    }
    let (pkg, plain) = (format!("pkg-marker-{tag}"), format!("plain-marker-{tag}"));
    run(&copy, &[&pkg]);
    run(Path::new("/usr/bin/true"), &[&pkg]);
    run(Path::new("/usr/bin/true"), &[&plain]);
}

/// (rule, output) of each syscall alert, sorted; the output without Falco's leading time
/// and priority.
fn pkg_alerts(alerts: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = alerts
        .iter()
        .filter(|a| a["source"] == "syscall")
        .map(|a| {
            (a["rule"].as_str().unwrap_or("").to_string(), a["output"].as_str().unwrap_or("").to_string())
        })
        .collect();
    v.sort();
    v
}

/// Checks the alerts against the three expected ones (outputs end as expected, or go on with
/// the suggested fields of the container plugin).
fn assert_pkg_alerts(alerts: &[Value], dir: &Path, tag: &str, what: &str) {
    let got = pkg_alerts(alerts);
    let copy = dir.join(format!("unpkg-{tag}"));
    let mut want = vec![
        ("Packaged binary with marker", "packaged /usr/bin/true by coreutils".to_string()),
        ("Plain marker", "plain /usr/bin/true".to_string()),
        ("Unpackaged binary executed", format!("unpackaged {} owned=false", copy.display())),
    ];
    want.sort();
    assert_eq!(got.len(), want.len(), "{what}: {got:#?}");
    for ((rule, output), (wrule, wout)) in got.iter().zip(&want) {
        // The container plugin's suggested fields follow the rule's own output.
        assert!(
            rule == wrule
                && (output.ends_with(wout.as_str()) || output.contains(&format!("{wout} container_id="))),
            "{what}: {got:#?}"
        );
    }
}

#[test]
fn a_rust_extractor_on_syscall_events_fires_on_real_processes() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("pkgowner-live");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, pkg_rules("L")).unwrap();
    let port = common::free_port();
    let cfg = config_on(&dir, &rules, &pkgowner_folder(&dir), port);
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    pkg_processes(&dir, "L");
    d.wait_alert("Unpackaged binary executed", "unpkg-L");
    d.wait_alert("Packaged binary with marker", "by coreutils");
    d.wait_alert("Plain marker", "plain");
    // Said in the metrics: events that went to the plugin, and those decided without it: an
    // execve no rule matches fails `proc.name = unpkg-L` first. (A matching event is deferred
    // even when its rule reads no plugin field: the output gets the container plugin's
    // suggested fields.)
    assert!(metric(port, "lanner_syscall_plugin_deferred_total") >= 2.0);
    run(Path::new("/usr/bin/true"), &["nothing-matches-L"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(port, "lanner_syscall_plugin_decided_total") < 1.0 {
        assert!(Instant::now() < deadline, "no event decided without the plugin");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(metric(port, "lanner_plugin_calls_total") >= 1.0);
    let (alerts, status) = d.stop_with_alerts();
    assert_pkg_alerts(&alerts, &dir, "L", "lanner run");
    assert_eq!(status, Some(0), "no records dropped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_rules_fire_the_same_way_in_replay_and_run_events() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("pkgowner-replay");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, pkg_rules("R")).unwrap();
    let plugins = pkgowner_folder(&dir);
    let cfg = config(&dir, &rules, &plugins);
    let (events, raw) = (dir.join("events.jsonl"), dir.join("session.raw"));
    // Two recordings of one session: an event file (every field state answers) and the
    // probe's raw records (decoded, tracked and evaluated again on replay).
    let mut captures: Vec<_> =
        [vec!["-w", events.to_str().unwrap()], vec!["--raw", "-w", raw.to_str().unwrap()]]
            .into_iter()
            .map(|args| {
                lanner()
                    .arg("capture")
                    .args(&args)
                    .args(["--duration", "8"])
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start lanner capture")
            })
            .collect();
    // Both are capturing before the processes run (a loaded machine takes a while to load
    // the probe): each says so on its log.
    let mut logs = Vec::new();
    for c in &mut captures {
        let err = c.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut said = false;
            let mut all = String::new();
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if !said && line.contains("capturing") {
                    said = true;
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        rx.recv_timeout(Duration::from_secs(60)).expect("lanner capture never said it was capturing");
        logs.push(log);
    }
    pkg_processes(&dir, "R");
    for (c, log) in captures.iter_mut().zip(logs) {
        let status = c.wait().unwrap();
        let log = log.join().unwrap();
        // These captures record every syscall of the machine; while other tests load it, the
        // ring buffer can overflow, which capture reports with status 3. That is capture
        // telling the truth, not a failure of what this test checks: if the processes' own
        // events were among those lost, the alert checks below fail and say so.
        assert!(status.success() || status.code() == Some(3), "lanner capture failed ({status}):\n{log}");
    }
    for file in [&events, &raw] {
        let out = lanner()
            .args([
                "replay",
                file.to_str().unwrap(),
                "-r",
                rules.to_str().unwrap(),
                "--json",
                "--plugins-dir",
            ])
            .arg(&plugins)
            .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let alerts: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_pkg_alerts(&alerts, &dir, "R", &format!("lanner replay {}:\n{text}", file.display()));
    }
    let out = lanner()
        .args(["run", "-c", cfg.to_str().unwrap(), "--events", events.to_str().unwrap()])
        .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let alerts: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_pkg_alerts(&alerts, &dir, "R", &format!("lanner run --events:\n{text}"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_python_extractor_on_syscall_events_decodes_base64_commands() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("b64cmd-live");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        r#"
- rule: Encoded shadow read
  desc: a command line carrying base64 of a command that reads /etc/shadow
  condition: evt.type = execve and b64cmd.decoded contains "/etc/shadow"
  output: encoded command (decoded=%b64cmd.decoded cmdline=%proc.cmdline)
  priority: WARNING
"#,
    )
    .unwrap();
    let wasm = build_python_component("plugins/python-b64cmd", "extractor");
    let cfg = config(&dir, &rules, &plugins_folder(&dir, "b64cmd", &wasm, ""));
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    // base64 of "hello world!": decoded, but not about /etc/shadow.
    common::sh(": aGVsbG8gd29ybGQh");
    // base64 of "cat /etc/shadow".
    common::sh(": Y2F0IC9ldGMvc2hhZG93");
    let a = d.wait_alert("Encoded shadow read", "decoded=cat /etc/shadow");
    assert!(a["output"].as_str().unwrap().contains("Y2F0IC9ldGMvc2hhZG93"), "{a}");
    let (alerts, _) = d.stop_with_alerts();
    let hits: Vec<_> = alerts.iter().filter(|a| a["rule"] == "Encoded shadow read").collect();
    assert_eq!(hits.len(), 1, "only the shadow command: {hits:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sleeping_extractor_is_cut_off_and_other_rules_keep_alerting() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("slow-extractor");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        r#"
- rule: Slow plugin rule
  desc: reads the field of a plugin that sleeps 5 s in every call
  condition: evt.type = execve and proc.args contains lanner-slow-marker and hostile.out = slept
  output: slow %proc.cmdline
  priority: WARNING
- rule: Plain marker
  desc: no plugin field
  condition: evt.type = execve and proc.args contains cutoff-marker
  output: plain %proc.cmdline
  priority: NOTICE
"#,
    )
    .unwrap();
    let yaml = "config: {mode: sleep, ms: 5000}\nlimits: {call_timeout_ms: 300}\nrestart: {max_failures: 100, backoff_ms: 10}\n";
    let plugins = plugins_folder(&dir, "hostile", &build_component("tests/plugins/hostile"), yaml);
    let cfg = config(&dir, &rules, &plugins);
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    let mut waits = Vec::new();
    for _ in 0..3 {
        run(Path::new("/usr/bin/true"), &["lanner-slow-marker"]);
        let t = Instant::now();
        run(Path::new("/usr/bin/true"), &["cutoff-marker", &format!("{}", waits.len())]);
        d.wait_alert("Plain marker", &format!("cutoff-marker {}", waits.len()));
        waits.push(t.elapsed());
    }
    // A 5 s sleep per call, cut at 300 ms: each plain alert comes well before the sleep
    // would have ended (generous bound: this is about the cut, not speed).
    for w in &waits {
        assert!(*w < Duration::from_millis(2500), "a plain alert waited {w:?}: {waits:?}");
    }
    d.wait_log("call_timeout_ms reached while blocked in a WASI wait", Duration::from_secs(10));
    let (alerts, status) = d.stop_with_alerts();
    assert!(alerts.iter().all(|a| a["rule"] != "Slow plugin rule"), "{alerts:#?}");
    assert!(alerts.iter().all(|a| a["rule"] != "Lanner internal: syscall event drop"), "{alerts:#?}");
    assert_eq!(status, Some(0), "no records dropped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_loads_plugin_fields_and_warns_about_fields_that_cannot_be_filled() {
    let dir = temp_dir("validate-plugins");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, pkg_rules("V")).unwrap();
    let plugins = pkgowner_folder(&dir);
    let validate = |extra: &[&str]| {
        lanner()
            .args(["validate", "-r", rules.to_str().unwrap()])
            .args(extra)
            .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
            .output()
            .unwrap()
    };
    // A plugins folder that does not exist is an error, named.
    let out = validate(&["--plugins-dir", dir.join("empty").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"), "{out:?}");
    // Without the plugin its fields are unknown.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = validate(&["--plugins-dir", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nonexistent field pkg.owned"));
    // With it they load, in text and in Falco's JSON.
    let out = validate(&["--plugins-dir", plugins.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = validate(&["--plugins-dir", plugins.to_str().unwrap(), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["falco_load_results"][0]["successful"], true, "{v:#}");

    // A plugin field on a source the plugin does not read, a field live capture never fills,
    // and an event type the probe never captures: each loads, with a warning of its own code.
    std::fs::write(
        &rules,
        r#"
- rule: Plugin field on the wrong source
  desc: pkgowner reads syscall events only
  condition: pkg.owned = false and json.value[/a] = b
  output: wrong %pkg.name
  priority: WARNING
  source: k8s_audit
- rule: Never filled
  desc: thread.pfmajor is registered but live capture never fills it
  condition: evt.type = connect and thread.pfmajor > 100
  output: never
  priority: WARNING
- rule: Unfilled in an exception
  desc: a missing value makes the check false, so the rule still fires
  condition: evt.type = connect and not thread.pfmajor > 100
  output: exception
  priority: WARNING
- rule: Never captured
  desc: the probe captures no nanosleep
  condition: evt.type = nanosleep
  output: sleeping
  priority: WARNING
"#,
    )
    .unwrap();
    let json_plugin = build_component("plugins/json");
    std::fs::copy(json_plugin, plugins.join("json.wasm")).unwrap();
    std::fs::copy(build_component("plugins/k8saudit"), plugins.join("k8saudit.wasm")).unwrap();
    let out = validate(&["--plugins-dir", plugins.to_str().unwrap(), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = v["falco_load_results"][0]["warnings"].as_array().unwrap().clone();
    let find = |code: &str, rule: &str| {
        warnings
            .iter()
            .find(|w| {
                // Falco's locations start with the whole file; the rule is among the rest.
                w["code"] == code
                    && w["context"]["locations"].as_array().unwrap().iter().any(|l| l["item_name"] == rule)
            })
            .unwrap_or_else(|| panic!("no {code} for {rule}: {v:#}"))
            .clone()
    };
    let w = find("LOAD_PLUGIN_FIELD_SOURCE", "Plugin field on the wrong source");
    assert!(w["message"].as_str().unwrap().contains("pkg.owned of plugin pkgowner"), "{w}");
    let w = find("LOAD_UNFILLED_FIELD", "Never filled");
    assert!(w["message"].as_str().unwrap().ends_with("the rule can never fire"), "{w}");
    let w = find("LOAD_UNFILLED_FIELD", "Unfilled in an exception");
    assert!(w["message"].as_str().unwrap().ends_with("checks of it are false"), "{w}");
    find("LOAD_UNCAPTURED_EVTTYPE", "Never captured");
    assert_eq!(out.status.code(), Some(0), "warnings only");

    // list-fields says who fills each field.
    let out = lanner()
        .args(["list-fields", "--json", "--plugins-dir", plugins.to_str().unwrap()])
        .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let filled = |name: &str| {
        v["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()["filled"].clone()
    };
    assert_eq!(filled("thread.pfmajor"), "never");
    assert_eq!(filled("pkg.owned"), "syscall");
    assert_eq!(filled("json.value"), "any");
    assert_eq!(filled("proc.name"), "syscall");
    let _ = std::fs::remove_dir_all(&dir);
}
