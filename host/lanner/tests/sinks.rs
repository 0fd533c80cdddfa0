//! `lanner run` with sink plugin outputs: Falco's `file_output` (the file plugin) and a
//! `plugin_outputs` webhook to a server on loopback, beside stdout. Needs root (live
//! capture), or LANNER_SKIP_LIVE=1 to skip.

mod common;

use common::{Daemon, cat, live_allowed, temp_dir};
use lanner_plugin_runtime::testing::build_component;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Accepts HTTP POSTs, answers 200, keeps their bodies.
fn http_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let b = bodies.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            let b = b.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut c = c;
                loop {
                    let mut len = 0;
                    let mut chunked = false;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h.trim().is_empty() {
                            break;
                        }
                        let h = h.to_ascii_lowercase();
                        if let Some(v) = h.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                        chunked |= h.starts_with("transfer-encoding:") && h.contains("chunked");
                    }
                    let mut body = vec![0; len];
                    if chunked {
                        body.clear();
                        loop {
                            let mut size = String::new();
                            r.read_line(&mut size).unwrap();
                            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                            let mut chunk = vec![0; n + 2];
                            r.read_exact(&mut chunk).unwrap();
                            if n == 0 {
                                break;
                            }
                            body.extend_from_slice(&chunk[..n]);
                        }
                    } else {
                        r.read_exact(&mut body).unwrap();
                    }
                    b.lock().unwrap().push(String::from_utf8(body).unwrap());
                    c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap();
                }
            });
        }
    });
    (port, bodies)
}

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
