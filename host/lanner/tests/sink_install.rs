//! An operator's sinks from a checkout: `packaging/build-plugins.sh --install-sinks DIR`
//! puts them where `sink_plugins_dir` looks, a daemon then delivers through them with the
//! field values typed as on stdout, a sink that is not there is named with the directory
//! searched and the command that installs it, and the plugins' build folders stay out of git.

mod common;

use common::{Daemon, cat, http_server_with, lanner, live_allowed, temp_dir};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    lanner_plugin_runtime::testing::repo_root()
}

/// Runs `packaging/build-plugins.sh ARGS` from the repository root, sharing the tests'
/// plugin build folder.
fn build_plugins(args: &[&str]) -> std::process::Output {
    let target = lanner_plugin_runtime::testing::wasm_target_dir();
    let out = Command::new(root().join("packaging/build-plugins.sh"))
        .current_dir(root())
        .args(args)
        .env("CARGO_TARGET_DIR", target.parent().unwrap())
        .output()
        .expect("packaging/build-plugins.sh runs");
    eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn installed_sinks_deliver_with_typed_values_as_stdout_does() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("sink-install");
    let sinks = dir.join("lib/lanner/sinks");
    let out = build_plugins(&["--sinks-only", "--install-sinks", sinks.to_str().unwrap()]);
    assert!(out.status.success(), "packaging/build-plugins.sh failed");
    for name in ["file", "webhook", "slack", "email", "nats"] {
        assert!(sinks.join(format!("{name}.wasm")).is_file(), "{name}.wasm installed in {}", sinks.display());
    }

    // The webhook sends a Content-Length (Falco receivers refuse chunked bodies).
    let (port, bodies) = http_server_with(true);
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Typed Sink Rule\n  desc: cat opened a typed-marker file\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains typed-marker\n  output: 'Typed %fd.name pid=%proc.pid uid=%user.uid read=%evt.is_open_read sport=%fd.sport'\n  priority: WARNING\n",
    )
    .unwrap();
    let alerts_file = dir.join("out/events.json");
    std::fs::create_dir_all(alerts_file.parent().unwrap()).unwrap();
    let config = dir.join("lanner.yaml");
    std::fs::write(
        &config,
        format!(
            "json_output: true\nwebserver: {{enabled: false}}\nsink_plugins_dir: {}\nfile_output: {{enabled: true, filename: {}}}\nplugin_outputs:\n  - name: hook\n    plugin: webhook\n    init_config: {{url: \"http://127.0.0.1:{port}/in\"}}\n    grants: {{http: [\"127.0.0.1:{port}\"]}}\n    limits: {{call_timeout_ms: 20000}}\n",
            sinks.display(),
            alerts_file.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    let marker = dir.join("typed-marker");
    std::fs::write(&marker, "x").unwrap();
    cat(&marker);
    let deadline = Instant::now() + Duration::from_secs(20);
    while bodies.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the webhook got no alert");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (stdout_alerts, status) = d.stop_with_alerts();
    assert_eq!(status, Some(0), "nothing dropped");

    let fields = |a: &Value| a["output_fields"].clone();
    assert_eq!(stdout_alerts.len(), 1, "{stdout_alerts:#?}");
    let stdout = fields(&stdout_alerts[0]);
    // Falco's types: a pid and a uid are numbers, a boolean is a boolean, a file has no port.
    assert!(stdout["proc.pid"].is_i64(), "{stdout}");
    assert!(stdout["user.uid"].is_u64(), "{stdout}");
    assert_eq!(stdout["evt.is_open_read"], Value::Bool(true), "{stdout}");
    assert_eq!(stdout["fd.sport"], Value::Null, "{stdout}");
    assert!(stdout["fd.name"].as_str().unwrap().ends_with("typed-marker"), "{stdout}");

    let file_lines: Vec<Value> = std::fs::read_to_string(&alerts_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert_eq!(file_lines.len(), 1);
    assert_eq!(fields(&file_lines[0]), stdout, "the file sink's output_fields are stdout's");
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(fields(&body), stdout, "the webhook's output_fields are stdout's");
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `lanner run -c CONFIG` with one rule beside it, which must exit by itself within a
/// minute; its stderr.
fn run_to_failure(config: &Path) -> String {
    let rules = config.with_file_name("rules.yaml");
    std::fs::write(&rules, "- rule: R\n  desc: d\n  condition: evt.type = open and proc.name = none-such\n  output: o\n  priority: WARNING\n").unwrap();
    let mut child = lanner()
        .args(["run", "-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("lanner run went on without its sink plugin");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!status.success(), "lanner run succeeded without its sink plugin: {err}");
    err
}

#[test]
fn a_missing_sink_names_the_folder_searched_and_the_install_command() {
    let dir = temp_dir("sink-missing");
    let empty = dir.join("sinks");
    std::fs::create_dir_all(&empty).unwrap();
    let config = dir.join("lanner.yaml");
    std::fs::write(
        &config,
        format!(
            "webserver: {{enabled: false}}\nsink_plugins_dir: {}\nplugin_outputs:\n  - name: hook\n    plugin: webhook\n    init_config: {{url: \"http://127.0.0.1:9/\"}}\n",
            empty.display()
        ),
    )
    .unwrap();
    let err = run_to_failure(&config);
    let want = format!(
        "plugin_outputs: hook: sink plugin webhook not found: searched sink_plugins_dir {0} for webhook.wasm; \
         the lanner package installs the shipped sinks there; from a source checkout, \
         `packaging/build-plugins.sh --sinks-only --install-sinks {0}` builds and installs them",
        empty.display()
    );
    assert!(err.contains(&want), "{err}");

    // file_output too; a sink of one's own is not one the script builds.
    std::fs::write(
        &config,
        format!(
            "webserver: {{enabled: false}}\nsink_plugins_dir: {}\nfile_output: {{enabled: true, filename: {}}}\n",
            empty.display(),
            dir.join("events.json").display()
        ),
    )
    .unwrap();
    let err = run_to_failure(&config);
    assert!(err.contains("file_output: sink plugin file not found: searched sink_plugins_dir"), "{err}");
    std::fs::write(
        &config,
        format!(
            "webserver: {{enabled: false}}\nsink_plugins_dir: {}\nplugin_outputs:\n  - {{name: mine, plugin: mysink}}\n",
            empty.display()
        ),
    )
    .unwrap();
    let err = run_to_failure(&config);
    assert!(
        err.contains("for mysink.wasm; put mysink.wasm there, or give `plugin` the path of its .wasm"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn plugin_build_folders_are_ignored_by_git() {
    let ignored = |path: &str| {
        Command::new("git")
            .current_dir(root())
            .args(["check-ignore", "-q", "--no-index", path])
            .status()
            .expect("git runs")
            .success()
    };
    for p in [
        "plugins/file/target/wasm32-wasip2/release/lanner_plugin_file.wasm",
        "plugins/email/target/CACHEDIR.TAG",
    ] {
        assert!(ignored(p), "{p} is not ignored");
    }
    assert!(!ignored("plugins/file/src/lib.rs"), "a plugin's source must not be ignored");
}
