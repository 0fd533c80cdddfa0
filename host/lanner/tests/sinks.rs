//! `lanner run` with sink plugin outputs: Falco's `file_output` (the file plugin) and a
//! `plugin_outputs` webhook to a server on loopback, beside stdout. Needs root (live
//! capture), or LANNER_SKIP_LIVE=1 to skip.

mod common;

use common::{Daemon, cat, http_server, live_allowed, temp_dir};
use lanner_plugin_runtime::testing::build_component;
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn file_output_and_a_webhook_plugin_output_get_the_alerts() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("sinks");
    let sinks = dir.join("sinks");
    std::fs::create_dir_all(&sinks).unwrap();
    for name in ["file", "webhook"] {
        std::fs::copy(build_component(&format!("plugins/{name}")), sinks.join(format!("{name}.wasm")))
            .unwrap();
    }
    let (port, bodies) = http_server();
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Sink Rule\n  desc: cat opened a sink-marker file\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains sink-marker\n  output: 'Sink Rule %fd.name'\n  priority: WARNING\n",
    )
    .unwrap();
    let alerts_file = dir.join("out/events.json");
    std::fs::create_dir_all(alerts_file.parent().unwrap()).unwrap();
    let config = dir.join("lanner.yaml");
    std::fs::write(
        &config,
        format!(
            "json_output: true\nwebserver: {{enabled: false}}\nsink_plugins_dir: {}\nfile_output: {{enabled: true, keep_alive: true, filename: {}}}\nplugin_outputs:\n  - name: hook\n    plugin: webhook\n    priority: warning\n    init_config: {{url: \"http://127.0.0.1:{port}/in\"}}\n    grants: {{http: [\"127.0.0.1:{port}\"]}}\n    limits: {{call_timeout_ms: 20000}}\n",
            sinks.display(),
            alerts_file.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    let n = 10;
    for i in 0..n {
        let m = dir.join(format!("sink-marker-{i}\nforged"));
        std::fs::write(&m, "x").unwrap();
        cat(&m);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while bodies.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "webhook got {} alerts", bodies.lock().unwrap().len());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (stdout_alerts, status) = d.stop_with_alerts();
    assert_eq!(status, Some(0), "nothing dropped");
    let file_alerts: Vec<Value> = std::fs::read_to_string(&alerts_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert_eq!(file_alerts.len(), n, "one line per alert, a newline in a file name forges none");
    for a in &file_alerts {
        assert_eq!(a["rule"], "Sink Rule");
        assert!(a["output_fields"]["fd.name"].as_str().unwrap().contains("sink-marker-"));
        assert!(a["output_fields"]["fd.name"].as_str().unwrap().contains('\n'));
    }
    for b in bodies.lock().unwrap().iter() {
        let v: Value = serde_json::from_str(b).unwrap();
        assert_eq!(v["rule"], "Sink Rule");
        assert!(v["output_fields"].is_object());
    }
    assert_eq!(stdout_alerts.len(), n);
    std::fs::remove_dir_all(&dir).ok();
}
