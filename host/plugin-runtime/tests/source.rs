//! The k8saudit source plugin: events from a file in a granted directory, with its source
//! name and time, and its fields over them.

use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry, Value};
use lanner_plugin_runtime::testing::build_component;
use lanner_plugin_runtime::{
    EventBatch, FieldMap, PluginConfig, PluginError, PluginKind, Runtime, RuntimeOptions,
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

    let mut s = p.open("/audit/audit.log").unwrap();
    let first = s.next_batch(2).unwrap();
    assert_eq!(first.len(), 2);
    let rest = s.next_batch(100).unwrap();
    assert_eq!(rest.len(), 1);
    assert!(s.next_batch(100).unwrap().is_empty(), "the stream ends");
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
