//! The k8saudit source plugin: events from a file in a granted directory, with its source
//! name and time, and its fields over them.

use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry, Value};
use lanner_plugin_runtime::testing::build_component;
use lanner_plugin_runtime::{
    EventBatch, FieldMap, Plugin, PluginConfig, PluginError, PluginKind, RawEvent, Runtime, RuntimeOptions,
    SourceBatch, SourceStream,
};
use std::sync::Arc;

fn runtime() -> Runtime {
    let cache = lanner_plugin_runtime::testing::wasm_target_dir().join("test-cache");
    Runtime::new(RuntimeOptions { cache_dir: Some(cache) }).expect("runtime starts")
}

const AUDIT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/web/exec?command=sh","verb":"create","user":{"username":"alice","groups":["dev","system:authenticated"]},"sourceIPs":["10.0.0.7"],"objectRef":{"resource":"pods","namespace":"default","name":"web","subresource":"exec"},"responseStatus":{"code":101},"stageTimestamp":"2023-11-14T22:13:20.250000Z"}
not json at all
{"kind":"EventList","items":[{"auditID":"a2","verb":"get","objectRef":{"resource":"secrets","namespace":"kube-system","name":"token"},"user":{"username":"bob"},"stageTimestamp":"2023-11-14T22:13:21Z"},{"auditID":"a3","verb":"create","objectRef":{"resource":"pods","namespace":"default","name":"priv"},"requestObject":{"spec":{"containers":[{"name":"a"},{"name":"b","securityContext":{"privileged":true}}]}},"user":{"username":"carol"},"stageTimestamp":"2023-11-14T22:13:22Z"}]}
"#;

#[test]
fn k8saudit_reads_a_granted_file_into_events_with_fields() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("audit.log"), AUDIT).unwrap();
    let p = k8saudit_with(dir.path());
    assert_eq!(p.kind(), PluginKind::Source);
    assert_eq!(p.source_name(), Some("k8s_audit"));
    assert!(p.fields().iter().any(|f| f.name == "ka.verb"));
    assert!(p.live_source(), "an SDK-built source (0.3.0) exports live streams");

    let mut s = p.open("/audit/audit.log").unwrap();
    let first = s.next_batch(2).unwrap().into_events();
    assert_eq!(first.len(), 2);
    let rest = s.next_batch(100).unwrap().into_events();
    assert_eq!(rest.len(), 1);
    assert!(matches!(s.next_batch(100).unwrap(), SourceBatch::Ended), "the stream ends");
    assert!(matches!(s.next_batch(100).unwrap(), SourceBatch::Ended), "and stays ended");
    let all: Vec<_> = first.into_iter().chain(rest).collect();
    assert!(all.iter().all(|e| e.source == "k8s_audit"));
    assert_eq!(all[0].timestamp_ns, 1_700_000_000_250_000_000);
    assert_eq!(all[2].timestamp_ns, 1_700_000_002_000_000_000);

    let mut reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::register(std::slice::from_ref(&p), &mut reg).unwrap();
    let f = |n: &str| FieldRef { id: reg.get(n).unwrap(), arg: FieldArg::None };
    let batch = EventBatch::new(&map, all);
    let e0 = batch.event(0);
    assert_eq!(e0.source(), "k8s_audit");
    assert_eq!(e0.field(&f("ka.verb")), Some(Value::Str("create".into())));
    assert_eq!(e0.field(&f("ka.target.subresource")), Some(Value::Str("exec".into())));
    assert_eq!(e0.field(&f("ka.response.code")), Some(Value::UInt(101)));
    assert_eq!(
        e0.field(&f("ka.user.groups")),
        Some(Value::List(vec![Value::Str("dev".into()), Value::Str("system:authenticated".into())]))
    );
    assert_eq!(e0.field(&f("ka.req.pod.containers.privileged")), None);
    assert_eq!(batch.event(1).field(&f("ka.target.resource")), Some(Value::Str("secrets".into())));
    assert_eq!(batch.event(2).field(&f("ka.req.pod.containers.privileged")), Some(Value::Bool(true)));
    assert!(batch.take_errors().is_empty());
}

#[test]
fn k8saudit_without_a_grant_cannot_open_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("audit.log"), AUDIT).unwrap();
    let rt = runtime();
    let p = Arc::new(rt.load(&build_component("plugins/k8saudit"), PluginConfig::default()).unwrap());
    let path = dir.path().join("audit.log");
    let err = p.open(path.to_str().unwrap()).err().expect("no grant, no file");
    assert!(matches!(err, PluginError::Guest { .. }), "{err}");
    assert!(err.to_string().starts_with("plugin k8saudit: open: cannot open"), "{err}");
}

fn audit_line(id: &str) -> String {
    format!(r#"{{"kind":"Event","auditID":"{id}","verb":"get","stageTimestamp":"2023-11-14T22:13:20Z"}}"#)
        + "\n"
}

fn ids(events: &[RawEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_slice(&e.data).unwrap();
            v["auditID"].as_str().unwrap().to_string()
        })
        .collect()
}

fn next_events(s: &mut SourceStream) -> Vec<String> {
    match s.next_batch(100).unwrap() {
        SourceBatch::Events(ev) => ids(&ev),
        other => panic!("expected events, got {other:?}"),
    }
}

fn idle(s: &mut SourceStream) -> bool {
    matches!(s.next_batch(100).unwrap(), SourceBatch::Idle)
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The k8saudit plugin with the configuration `yaml`.
fn k8saudit(yaml: &str) -> Arc<Plugin> {
    let config = PluginConfig::parse(yaml).unwrap();
    Arc::new(runtime().load(&build_component("plugins/k8saudit"), config).unwrap())
}

/// The k8saudit plugin with `dir` granted as /audit.
fn k8saudit_with(dir: &std::path::Path) -> Arc<Plugin> {
    k8saudit(&format!("grants: {{dirs: [{{host: {}, guest: /audit, mode: ro}}]}}\n", dir.display()))
}

#[test]
fn k8saudit_follows_a_growing_file_through_truncation_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, audit_line("a1")).unwrap();
    let p = k8saudit_with(dir.path());
    let mut s = p.open("follow:/audit/audit.log").unwrap();
    assert_eq!(next_events(&mut s), ["a1"]);
    // At the end of the file the stream is idle, not ended, as often as it is asked.
    assert!(idle(&mut s));
    assert!(idle(&mut s));
    // A line being written is read once it is complete.
    let line = audit_line("a2");
    let (head, tail) = line.split_at(20);
    append(&log, head);
    assert!(idle(&mut s), "half a line is not an event");
    append(&log, tail);
    append(&log, &audit_line("a3"));
    assert_eq!(next_events(&mut s), ["a2", "a3"]);
    assert!(idle(&mut s));
    // Truncated (copytruncate) and written again: read from the start.
    std::fs::write(&log, audit_line("b1")).unwrap();
    assert_eq!(next_events(&mut s), ["b1"]);
    // Rotated (renamed away, a new file at the path): the new file from its start.
    std::fs::rename(&log, dir.path().join("audit.log.1")).unwrap();
    append(&dir.path().join("audit.log.1"), &audit_line("b2"));
    assert_eq!(next_events(&mut s), ["b2"], "what was written to the old file before it was left");
    assert!(idle(&mut s), "the path is gone for now");
    // The new file has the old one's size: it is told apart by its modification time, which
    // the kernel keeps at a clock tick's resolution (a few milliseconds).
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::write(&log, audit_line("c1") + &audit_line("c2")).unwrap();
    assert_eq!(next_events(&mut s), ["c1", "c2"]);
    assert!(idle(&mut s));
}

#[test]
fn k8saudit_without_follow_reads_a_last_line_without_newline_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, audit_line("a1") + audit_line("a2").trim_end()).unwrap();
    let p = k8saudit_with(dir.path());
    let mut s = p.open("/audit/audit.log").unwrap();
    assert_eq!(next_events(&mut s), ["a1", "a2"]);
    assert!(matches!(s.next_batch(100).unwrap(), SourceBatch::Ended));
}

#[test]
fn a_0_1_0_source_is_read_through_next_batch_until_its_empty_batch() {
    // Built against the first interface without the SDK: no live streams, and an empty batch
    // ends the stream.
    let rt = runtime();
    let p = Arc::new(rt.load(&build_component("tests/plugins/oldsource"), PluginConfig::default()).unwrap());
    assert_eq!(p.api_version(), "0.1.0");
    assert_eq!(p.kind(), PluginKind::Source);
    assert!(!p.live_source());
    assert!(!p.packed());
    let mut s = p.open("5").unwrap();
    let mut got = Vec::new();
    loop {
        match s.next_batch(100).unwrap() {
            SourceBatch::Events(ev) => {
                assert!(ev.len() <= 3);
                got.extend(ev.into_iter().map(|e| String::from_utf8(e.data).unwrap()));
            }
            SourceBatch::Ended => break,
            SourceBatch::Idle => panic!("a 0.1.0 stream is never idle"),
        }
    }
    assert_eq!(got, ["old-1", "old-2", "old-3", "old-4", "old-5"]);
    assert!(matches!(s.next_batch(100).unwrap(), SourceBatch::Ended));
    let err = p.open("five").err().expect("not a number");
    assert!(err.to_string().contains("a number of events"), "{err}");
}

/// Sends raw HTTP requests on one connection from a thread, while `s` is polled here; returns
/// each response's status and body, and every event the stream gave meanwhile.
fn exchange(s: &mut SourceStream, port: u16, requests: Vec<Vec<u8>>) -> (Vec<(u16, String)>, Vec<RawEvent>) {
    use std::io::{BufRead, Read, Write};
    let client = std::thread::spawn(move || {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
        let mut out = Vec::new();
        for r in requests {
            // Each request in two writes: a request that arrives in pieces is put together.
            let (a, b) = r.split_at(r.len() / 2);
            conn.write_all(a).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            conn.write_all(b).unwrap();
            let mut status = String::new();
            reader.read_line(&mut status).unwrap();
            let code: u16 = status.split(' ').nth(1).unwrap().parse().unwrap();
            let mut length = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            out.push((code, String::from_utf8(body).unwrap()));
        }
        out
    });
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !client.is_finished() {
        assert!(std::time::Instant::now() < deadline, "the webhook did not answer");
        match s.next_batch(100).unwrap() {
            SourceBatch::Events(ev) => events.extend(ev),
            SourceBatch::Idle => std::thread::sleep(std::time::Duration::from_millis(5)),
            SourceBatch::Ended => panic!("a webhook stream does not end"),
        }
    }
    (client.join().unwrap(), events)
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: lanner\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn k8saudit_receives_the_events_posted_to_its_webhook() {
    let port = free_port();
    let p = k8saudit(&format!("grants: {{listen: [\"127.0.0.1:{port}\"]}}\n"));
    let mut s = p.open(&format!("http://127.0.0.1:{port}/k8s-audit")).unwrap();
    assert!(idle(&mut s), "nothing posted yet");
    let list = format!(
        r#"{{"kind":"EventList","items":[{},{}]}}"#,
        audit_line("w1").trim_end(),
        audit_line("w2").trim_end()
    );
    let (answers, events) = exchange(
        &mut s,
        port,
        vec![
            post("/k8s-audit", &list),
            post("/k8s-audit?timeout=30s", audit_line("w3").trim_end()),
            post("/k8s-audit", "{not json"),
            post("/other", audit_line("x").trim_end()),
            b"GET /k8s-audit HTTP/1.1\r\nHost: lanner\r\n\r\n".to_vec(),
            // Still on the same connection: every answer above kept it open.
            post("/k8s-audit", audit_line("w4").trim_end()),
        ],
    );
    let codes: Vec<u16> = answers.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [200, 200, 400, 404, 405, 200], "{answers:?}");
    assert!(answers[2].1.starts_with("not JSON"), "{answers:?}");
    assert_eq!(ids(&events), ["w1", "w2", "w3", "w4"]);
    assert!(events.iter().all(|e| e.source == "k8s_audit" && e.timestamp_ns == 1_700_000_000_000_000_000));
    // A chunked body is refused (the API server sends a Content-Length), and the connection
    // closed; a new one is served.
    let chunked =
        b"POST /k8s-audit HTTP/1.1\r\nHost: lanner\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec();
    let (answers, events) = exchange(&mut s, port, vec![chunked]);
    assert_eq!(answers[0].0, 411);
    assert!(events.is_empty());
    let (answers, events) = exchange(&mut s, port, vec![post("/k8s-audit", audit_line("w5").trim_end())]);
    assert_eq!(answers[0].0, 200);
    assert_eq!(ids(&events), ["w5"]);
}

#[test]
fn k8saudit_cannot_listen_without_a_grant() {
    let port = free_port();
    // Granted another port only.
    let p = k8saudit(&format!("grants: {{listen: [\"127.0.0.1:{}\"]}}\n", port + 1));
    let err = p.open(&format!("http://127.0.0.1:{port}/k8s-audit")).err().expect("not granted");
    assert!(matches!(err, PluginError::Guest { .. }), "{err}");
    assert!(err.to_string().contains(&format!("cannot listen on 127.0.0.1:{port}")), "{err}");
    assert!(err.to_string().contains("grants.listen"), "{err}");
    // Nothing is listening there.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn k8saudit_reads_records_with_members_of_unexpected_types() {
    // Members whose types are not an audit event's: the plugin reads what it can, as a JSON
    // tree, instead of its typed view; the record is still an event with its own time.
    let dir = tempfile::tempdir().unwrap();
    let odd = r#"{"kind":"Event","auditID":"odd","verb":5,"responseStatus":{"code":"x"},"user":{"username":"dave","groups":["a",1]},"objectRef":{"resource":"pods","name":["x"]},"requestObject":{"spec":{"containers":[{"securityContext":{"privileged":true}},3]}},"stageTimestamp":"2023-11-14T22:13:20Z"}"#;
    let list = r#"{"kind":"EventList","items":[{"auditID":"i1","stageTimestamp":7},{"auditID":"i2","requestReceivedTimestamp":"2023-11-14T22:13:21Z"}],"stageTimestamp":[]}"#;
    std::fs::write(dir.path().join("audit.log"), format!("{odd}\n{list}\n")).unwrap();
    let p = k8saudit_with(dir.path());
    let mut s = p.open("/audit/audit.log").unwrap();
    let events = s.next_batch(100).unwrap().into_events();
    assert_eq!(ids(&events), ["odd", "i1", "i2"]);
    let times: Vec<u64> = events.iter().map(|e| e.timestamp_ns).collect();
    assert_eq!(times, [1_700_000_000_000_000_000, 0, 1_700_000_001_000_000_000]);
    let mut reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::register(std::slice::from_ref(&p), &mut reg).unwrap();
    let f = |n: &str| FieldRef { id: reg.get(n).unwrap(), arg: FieldArg::None };
    let batch = EventBatch::new(&map, events);
    let e = batch.event(0);
    assert_eq!(e.field(&f("ka.auditid")), Some(Value::Str("odd".into())));
    assert_eq!(e.field(&f("ka.verb")), None);
    assert_eq!(e.field(&f("ka.response.code")), None);
    assert_eq!(e.field(&f("ka.user.name")), Some(Value::Str("dave".into())));
    assert_eq!(e.field(&f("ka.user.groups")), Some(Value::List(vec![Value::Str("a".into())])));
    assert_eq!(e.field(&f("ka.target.resource")), Some(Value::Str("pods".into())));
    assert_eq!(e.field(&f("ka.target.name")), None);
    assert_eq!(e.field(&f("ka.req.pod.containers.privileged")), Some(Value::Bool(true)));
    assert_eq!(batch.event(2).field(&f("ka.auditid")), Some(Value::Str("i2".into())));
    assert!(batch.take_errors().is_empty());
}

/// Polls `s` while `client` runs; returns what the client returned and the events given.
fn drive<T>(s: &mut SourceStream, client: std::thread::JoinHandle<T>) -> (T, Vec<RawEvent>) {
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !client.is_finished() {
        assert!(std::time::Instant::now() < deadline, "the clients did not finish");
        match s.next_batch(100).unwrap() {
            SourceBatch::Events(ev) => events.extend(ev),
            SourceBatch::Idle => std::thread::sleep(std::time::Duration::from_millis(5)),
            SourceBatch::Ended => panic!("a webhook stream does not end"),
        }
    }
    (client.join().unwrap(), events)
}

/// Reads one answer: its status and body; `None` when the connection was closed first.
fn answer(reader: &mut impl std::io::BufRead) -> Option<(u16, String)> {
    let mut status = String::new();
    if reader.read_line(&mut status).ok()? == 0 {
        return None;
    }
    let code: u16 = status.split(' ').nth(1)?.parse().ok()?;
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((code, String::from_utf8(body).unwrap()))
}

/// A connection to the webhook at `port`, with a reader of its answers.
fn connect(port: u16) -> (std::net::TcpStream, std::io::BufReader<std::net::TcpStream>) {
    let conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let reader = std::io::BufReader::new(conn.try_clone().unwrap());
    (conn, reader)
}

/// Whether the server closed `reader`'s connection: end of stream or reset, before `wait`.
fn closed(reader: &mut std::io::BufReader<std::net::TcpStream>, wait: std::time::Duration) -> bool {
    use std::io::Read;
    reader.get_ref().set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 256];
    loop {
        match reader.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// One post on a new connection: its answer.
fn post_once(port: u16, request: &[u8]) -> Option<(u16, String)> {
    use std::io::Write;
    let (mut conn, mut reader) = connect(port);
    conn.write_all(request).unwrap();
    answer(&mut reader)
}

#[test]
fn k8saudit_webhook_answers_413_to_an_over_size_body_and_takes_the_next_post() {
    use std::io::Write;
    let port = free_port();
    // The default body limit (8 MiB), below the default max_output_bytes (16 MiB).
    let p = k8saudit(&format!("grants: {{listen: [\"127.0.0.1:{port}\"]}}\n"));
    let mut s = p.open(&format!("http://127.0.0.1:{port}/k8s-audit")).unwrap();
    let client = std::thread::spawn(move || {
        let (mut conn, mut reader) = connect(port);
        let size = 16usize << 20;
        let head = format!(
            "POST /k8s-audit HTTP/1.1\r\nHost: lanner\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).unwrap();
        // Answered from the head, before the body is read, and closed.
        let refused = answer(&mut reader);
        let was_closed = closed(&mut reader, std::time::Duration::from_secs(10));
        let mut body = vec![b' '; size];
        body[0] = b'[';
        let sent = conn.write_all(&body).and_then(|_| conn.write_all(&body));
        let next = post_once(port, &post("/k8s-audit", audit_line("after-big").trim_end()));
        // A batch near the limit (7.5 MiB) is taken whole.
        let pad = "x".repeat(2000);
        let items: Vec<String> = (0..3900)
            .map(|i| format!(r#"{{"kind":"Event","auditID":"n{i}","verb":"get","pad":"{pad}"}}"#))
            .collect();
        let list = format!(r#"{{"kind":"EventList","items":[{}]}}"#, items.join(","));
        assert!(list.len() > 7_500_000 && list.len() < 8 << 20);
        let near = post_once(port, &post("/k8s-audit", &list));
        (refused, was_closed, sent.is_err(), next, near)
    });
    let ((refused, was_closed, send_failed, next, near), events) = drive(&mut s, client);
    let (code, reason) = refused.expect("an answer");
    assert_eq!(code, 413);
    assert!(reason.contains("body over 8388608 bytes"), "{reason}");
    assert!(was_closed, "the connection is closed after the 413");
    assert!(send_failed, "the 16 MiB body is not taken");
    assert_eq!(next.map(|a| a.0), Some(200));
    assert_eq!(near.map(|a| a.0), Some(200));
    let got = ids(&events);
    assert_eq!(got.len(), 3901);
    assert_eq!(got[0], "after-big");
    assert!(got[1..].iter().enumerate().all(|(i, id)| *id == format!("n{i}")));
    assert_eq!(p.state(), lanner_plugin_runtime::PluginState::Running, "no plugin failure");
}

#[test]
fn k8saudit_webhook_closes_slow_heads_and_bodies_and_idle_connections() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let port = free_port();
    let p = k8saudit(&format!(
        "grants: {{listen: [\"127.0.0.1:{port}\"]}}\nconfig: {{header_timeout_ms: 300, body_timeout_ms: 300, idle_timeout_ms: 800}}\n"
    ));
    let mut s = p.open(&format!("http://127.0.0.1:{port}/k8s-audit")).unwrap();
    let slack = Duration::from_secs(5);
    // Slowloris: a head one byte every 50 ms, slower than the 300 ms allowed for the head.
    let slowloris = std::thread::spawn(move || {
        let (mut conn, mut reader) = connect(port);
        let head = b"POST /k8s-audit HTTP/1.1\r\nHost: lanner\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n";
        conn.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let start = Instant::now();
        let mut got = Vec::new();
        let mut sent = 0;
        loop {
            if sent < head.len() && conn.write_all(&head[sent..sent + 1]).is_ok() {
                sent += 1;
            }
            let mut b = [0u8; 512];
            match reader.read(&mut b) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
            assert!(start.elapsed() < Duration::from_secs(30), "never closed");
        }
        (start.elapsed(), sent, String::from_utf8_lossy(&got).into_owned())
    });
    // A body trickled slower than allowed.
    let slow_body = std::thread::spawn(move || {
        let (mut conn, mut reader) = connect(port);
        conn.write_all(b"POST /k8s-audit HTTP/1.1\r\nHost: lanner\r\nContent-Length: 100\r\n\r\n{").unwrap();
        let start = Instant::now();
        let a = answer(&mut reader);
        (start.elapsed(), a, closed(&mut reader, Duration::from_secs(10)))
    });
    // A connection that never sends anything.
    let silent = std::thread::spawn(move || {
        let (_conn, mut reader) = connect(port);
        let start = Instant::now();
        (closed(&mut reader, Duration::from_secs(20)), start.elapsed())
    });
    // The API server: posts while the attacks run, then keeps its connection idle.
    let legit = std::thread::spawn(move || {
        let (mut conn, mut reader) = connect(port);
        let mut codes = Vec::new();
        for i in 0..4 {
            conn.write_all(&post("/k8s-audit", audit_line(&format!("ok{i}")).trim_end())).unwrap();
            codes.push(answer(&mut reader).map(|a| a.0));
            std::thread::sleep(Duration::from_millis(100));
        }
        let start = Instant::now();
        (codes, closed(&mut reader, Duration::from_secs(20)), start.elapsed())
    });
    let all = std::thread::spawn(move || {
        (slowloris.join().unwrap(), slow_body.join().unwrap(), silent.join().unwrap(), legit.join().unwrap())
    });
    let ((loris, body, silent, legit), events) = drive(&mut s, all);

    let (elapsed, sent, got) = loris;
    assert!(sent < 94, "closed before the head was complete ({sent} of 94 bytes sent)");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(300) + slack,
        "{elapsed:?}"
    );
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got}");
    let (elapsed, a, was_closed) = body;
    assert_eq!(a.map(|a| a.0), Some(408));
    assert!(was_closed);
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(300) + slack,
        "{elapsed:?}"
    );
    let (was_closed, elapsed) = silent;
    assert!(was_closed, "an idle connection is closed");
    assert!(
        elapsed >= Duration::from_millis(750) && elapsed < Duration::from_millis(800) + slack,
        "{elapsed:?}"
    );
    let (codes, was_closed, elapsed) = legit;
    assert_eq!(codes, [Some(200); 4]);
    assert!(was_closed, "an idle keep-alive connection is closed");
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_millis(800) + slack,
        "{elapsed:?}"
    );
    assert_eq!(ids(&events), ["ok0", "ok1", "ok2", "ok3"]);
}

#[test]
fn k8saudit_webhook_closes_the_oldest_idle_connection_of_a_peer_over_its_limit() {
    use std::time::Duration;
    let port = free_port();
    let p = k8saudit(&format!(
        "grants: {{listen: [\"127.0.0.1:{port}\"]}}\nconfig: {{max_connections_per_peer: 16, max_connections: 32}}\n"
    ));
    let mut s = p.open(&format!("http://127.0.0.1:{port}/k8s-audit")).unwrap();
    let client = std::thread::spawn(move || {
        // 64 idle connections from one peer, opened one after the other.
        let mut idle: Vec<_> = (0..64)
            .map(|_| {
                let c = connect(port);
                std::thread::sleep(Duration::from_millis(5));
                c
            })
            .collect();
        let answer = post_once(port, &post("/k8s-audit", audit_line("real").trim_end()));
        // The oldest were closed; the 15 newest (and the post's) were kept.
        let open: Vec<bool> = idle.iter_mut().map(|(_, r)| !closed(r, Duration::from_millis(300))).collect();
        (answer, open)
    });
    let ((answer, open), events) = drive(&mut s, client);
    assert_eq!(answer.map(|a| a.0), Some(200));
    assert_eq!(ids(&events), ["real"]);
    let kept: Vec<usize> = open.iter().enumerate().filter(|(_, o)| **o).map(|(i, _)| i).collect();
    assert_eq!(kept, (49..64).collect::<Vec<_>>(), "the oldest idle ones are closed");
}

#[test]
fn k8saudit_webhook_refuses_posts_without_the_bearer_token() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret-token\n").unwrap();
    let port = free_port();
    let p = k8saudit(&format!(
        "grants: {{listen: [\"127.0.0.1:{port}\"], dirs: [{{host: {}, guest: /secret, mode: ro}}]}}\nconfig: {{token_file: /secret/token}}\n",
        dir.path().display()
    ));
    let mut s = p.open(&format!("http://127.0.0.1:{port}/k8s-audit")).unwrap();
    let with = |auth: &str, id: &str| {
        let body = audit_line(id);
        let body = body.trim_end();
        format!(
            "POST /k8s-audit HTTP/1.1\r\nHost: lanner\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let requests = vec![
        with("", "forged-none"),
        with("Authorization: Bearer wrong-token!\r\n", "forged-wrong"),
        with("Authorization: Bearer s3cret-tok\r\n", "forged-prefix"),
        with("Authorization: Basic s3cret-token\r\n", "forged-basic"),
        with("Authorization: Bearer s3cret-token\r\n", "real"),
    ];
    let client = std::thread::spawn(move || {
        let mut out = Vec::new();
        for r in requests {
            let (mut conn, mut reader) = connect(port);
            conn.write_all(&r).unwrap();
            let a = answer(&mut reader);
            out.push((a.map(|a| a.0), closed(&mut reader, std::time::Duration::from_secs(10))));
        }
        out
    });
    let (answers, events) = drive(&mut s, client);
    let codes: Vec<_> = answers.iter().map(|a| a.0).collect();
    assert_eq!(codes, [Some(401), Some(401), Some(401), Some(401), Some(200)]);
    assert!(answers[..4].iter().all(|a| a.1), "refused connections are closed");
    assert_eq!(ids(&events), ["real"]);
}

#[test]
fn k8saudit_webhook_answers_200_only_once_the_host_has_the_events() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let port = free_port();
    let p = k8saudit(&format!("grants: {{listen: [\"127.0.0.1:{port}\"]}}\n"));
    let mut s = p.open(&format!("http://127.0.0.1:{port}/k8s-audit")).unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let flag = answered.clone();
    let client = std::thread::spawn(move || {
        let (mut conn, mut reader) = connect(port);
        conn.write_all(&post("/k8s-audit", audit_line("h1").trim_end())).unwrap();
        let a = answer(&mut reader);
        flag.store(true, Ordering::SeqCst);
        a
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let events = loop {
        assert!(std::time::Instant::now() < deadline, "no events");
        match s.next_batch(100).unwrap() {
            SourceBatch::Events(ev) => break ev,
            _ => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    };
    assert_eq!(ids(&events), ["h1"]);
    // The host has the batch but has not called again: not answered yet (nothing runs in the
    // plugin between calls).
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!answered.load(Ordering::SeqCst), "answered before the events were handed over");
    let (a, more) = drive(&mut s, client);
    assert_eq!(a.map(|a| a.0), Some(200));
    assert!(more.is_empty());
}

#[test]
fn k8saudit_webhook_closes_the_oldest_idle_connection_over_its_global_limit() {
    use std::time::Duration;
    let port = free_port();
    let p = k8saudit(&format!(
        "grants: {{listen: [\"127.0.0.1:{port}\"]}}\nconfig: {{max_connections_per_peer: 16, max_connections: 8}}\n"
    ));
    let mut s = p.open(&format!("http://127.0.0.1:{port}/k8s-audit")).unwrap();
    let client = std::thread::spawn(move || {
        let mut idle: Vec<_> = (0..20)
            .map(|_| {
                let c = connect(port);
                std::thread::sleep(Duration::from_millis(5));
                c
            })
            .collect();
        let answer = post_once(port, &post("/k8s-audit", audit_line("real").trim_end()));
        let open: Vec<bool> = idle.iter_mut().map(|(_, r)| !closed(r, Duration::from_millis(300))).collect();
        (answer, open)
    });
    let ((answer, open), events) = drive(&mut s, client);
    assert_eq!(answer.map(|a| a.0), Some(200));
    assert_eq!(ids(&events), ["real"]);
    let kept: Vec<usize> = open.iter().enumerate().filter(|(_, o)| **o).map(|(i, _)| i).collect();
    assert_eq!(kept, (13..20).collect::<Vec<_>>(), "the oldest idle ones are closed");
}
