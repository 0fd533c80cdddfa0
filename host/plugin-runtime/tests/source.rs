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
    let rt = runtime();
    let cfg = format!("grants: {{dirs: [{{host: {}, guest: /audit, mode: ro}}]}}\n", dir.path().display());
    let p =
        Arc::new(rt.load(&build_component("plugins/k8saudit"), PluginConfig::parse(&cfg).unwrap()).unwrap());
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

fn k8saudit_with(dir: &std::path::Path) -> Arc<Plugin> {
    let rt = runtime();
    let cfg = format!("grants: {{dirs: [{{host: {}, guest: /audit, mode: ro}}]}}\n", dir.display());
    Arc::new(rt.load(&build_component("plugins/k8saudit"), PluginConfig::parse(&cfg).unwrap()).unwrap())
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
