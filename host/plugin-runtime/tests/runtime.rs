//! The runtime against real components built from `plugins/` and `tests/plugins/`.

use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry, Value};
use lanner_plugin_runtime::testing::build_component;
use lanner_plugin_runtime::{
    EventBatch, FieldMap, Plugin, PluginConfig, PluginError, PluginKind, PluginState, RawEvent, Runtime,
    RuntimeOptions,
};
use std::path::Path;
use std::sync::Arc;

/// A runtime sharing one compile cache across the tests (the cache has its own tests).
fn runtime() -> Runtime {
    let cache = lanner_plugin_runtime::testing::wasm_target_dir().join("test-cache");
    Runtime::new(RuntimeOptions { cache_dir: Some(cache) }).expect("runtime starts")
}

fn load(rt: &Runtime, crate_dir: &str, yaml: &str) -> Result<Plugin, PluginError> {
    rt.load(&build_component(crate_dir), PluginConfig::parse(yaml).expect("valid test config"))
}

fn ev(source: &str, data: &str) -> RawEvent {
    RawEvent { source: source.into(), timestamp_ns: 1, data: data.as_bytes().to_vec() }
}

fn key(k: &str) -> FieldArg {
    FieldArg::Key(k.into())
}

#[test]
fn json_extractor_declares_its_fields_and_extracts_a_batch() {
    let rt = runtime();
    let p = load(&rt, "plugins/json", "").unwrap();
    assert_eq!(p.name(), "json");
    assert_eq!(p.kind(), PluginKind::Extractor);
    assert_eq!(p.api_version(), "0.3.0");
    assert!(p.packed(), "an SDK-built extractor (0.3.0, which includes 0.2.0) is called over packed batches");
    let names: Vec<&str> = p.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["json.value", "json.obj", "json.exists", "json.len"]);

    let events = vec![
        ev("k8s_audit", r#"{"verb":"create","user":{"name":"alice"},"items":[1,2,3]}"#),
        ev("k8s_audit", "not json"),
        ev("k8s_audit", r#"{"verb":"delete","n":5}"#),
    ];
    let reqs = vec![
        (0, Some("/verb".to_string())),
        (0, Some("/user/name".to_string())),
        (2, Some("/items".to_string())),
        (3, Some("/items".to_string())),
        (0, Some("/n".to_string())),
    ];
    let v = p.extract(&events, &reqs).unwrap();
    let s = |x: &str| Some(Value::Str(x.to_string().into()));
    assert_eq!(v.len(), 15);
    assert_eq!(&v[0..5], &[s("create"), s("alice"), Some(Value::Bool(true)), Some(Value::UInt(3)), None]);
    assert_eq!(&v[5..10], &[None, None, None, None, None]);
    assert_eq!(&v[10..15], &[s("delete"), None, Some(Value::Bool(false)), None, s("5")]);
    assert_eq!(p.state(), PluginState::Running);
}

#[test]
fn json_extractor_resolves_pointers_escapes_and_refuses_malformed_payloads() {
    let rt = runtime();
    let p = load(&rt, "plugins/json", "").unwrap();
    let events = vec![
        ev(
            "k8s_audit",
            r#"{"a/b":{"m~n":["x",{"deep":"\u00e9\ud83d\ude00 \"q\"\n"}]},"list":[10,[20,21],{}],"u":"hé😀 ok","n":-1.5e2,"z":null,"k":1,"k":{"v":2}}"#,
        ),
        // Well-formed where the pointers lead, broken further on: nothing is answered.
        ev("k8s_audit", r#"{"a/b":{"m~n":["x"]},"later":"\ud800"}"#),
        ev("k8s_audit", r#"{"a/b":{"m~n":["x"]},"later":[1,2}"#),
        ev("k8s_audit", r#"{"a/b":{"m~n":["x"]}} trailing"#),
        RawEvent { source: "k8s_audit".into(), timestamp_ns: 1, data: b"{\"a/b\":\"\xff\"}".to_vec() },
    ];
    let r = |f: u32, a: &str| (f, Some(a.to_string()));
    let reqs = vec![
        r(0, "/a~1b/m~0n/0"),
        r(0, "/a~1b/m~0n/1/deep"),
        r(3, "/a~1b/m~0n/1/deep"),
        r(0, "/list/1/1"),
        r(0, "/list/1"),
        r(3, "/list"),
        r(3, "/list/2"),
        r(2, "/list/3"),
        r(2, "/list/01"),
        r(0, "/u"),
        r(3, "/u"),
        r(0, "/n"),
        r(0, "/z"),
        r(2, "/z"),
        r(0, "/k/v"),
        r(0, "/a/b"),
        (1, None),
    ];
    let v = p.extract(&events, &reqs).unwrap();
    let s = |x: &str| Some(Value::Str(x.to_string().into()));
    let u = |n: u64| Some(Value::UInt(n));
    let b = |x: bool| Some(Value::Bool(x));
    let n = reqs.len();
    assert_eq!(
        &v[..n],
        &[
            s("x"),
            s("é😀 \"q\"\n"),
            u(7),
            s("21"),
            s("[20,21]"),
            u(3),
            u(0),
            b(false),
            b(false),
            s("hé😀 ok"),
            u(6),
            s("-150.0"),
            s("null"),
            b(true),
            s("2"),
            None,
            s(
                r#"{"a/b":{"m~n":["x",{"deep":"é😀 \"q\"\n"}]},"k":{"v":2},"list":[10,[20,21],{}],"n":-150.0,"u":"hé😀 ok","z":null}"#
            ),
        ]
    );
    for (i, row) in v.chunks(n).enumerate().skip(1) {
        assert!(row.iter().all(Option::is_none), "event {i}: {row:?}");
    }
}

#[test]
fn json_config_is_validated_against_the_plugins_schema() {
    let rt = runtime();
    let err = load(&rt, "plugins/json", "config: {sources: 3}\n").unwrap_err();
    assert!(matches!(err, PluginError::Config { .. }), "{err}");
    assert!(err.to_string().contains("plugin json"), "{err}");
    let err = load(&rt, "plugins/json", "config: {unknown: true}\n").unwrap_err();
    assert!(matches!(err, PluginError::Config { .. }), "{err}");
    // A valid configuration restricts the sources it reads.
    let p = load(&rt, "plugins/json", "config: {sources: [a]}\n").unwrap();
    let v = p.extract(&[ev("a", r#"{"x":1}"#), ev("b", r#"{"x":1}"#)], &[(0, Some("/x".into()))]).unwrap();
    assert_eq!(v, [Some(Value::Str("1".into())), None]);
}

#[test]
fn plugin_fields_enter_the_registry_and_a_batch_answers_them() {
    let rt = runtime();
    let p = Arc::new(load(&rt, "plugins/json", "").unwrap());
    let mut reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::register(std::slice::from_ref(&p), &mut reg).unwrap();
    let id = reg.get("json.value").expect("registered");
    assert_eq!(reg.def(id).provider, "json");
    let verb = FieldRef { id, arg: key("/verb") };
    let batch = EventBatch::new(&map, vec![ev("src", r#"{"verb":"get"}"#), ev("src", r#"{"verb":"list"}"#)]);
    // First batch: the field is extracted when first asked, for the whole batch, and learned.
    assert_eq!(batch.event(1).field(&verb), Some(Value::Str("list".into())));
    assert_eq!(batch.event(0).field(&verb), Some(Value::Str("get".into())));
    assert_eq!(map.prefetched(), vec![verb.clone()]);
    // Next batch: prefetched in one call, answered by borrowing.
    let calls = p.stats.calls.load(std::sync::atomic::Ordering::Relaxed);
    let batch = EventBatch::new(&map, vec![ev("src", r#"{"verb":"watch"}"#); 10]);
    for e in batch.iter() {
        assert_eq!(e.field(&verb), Some(Value::Str("watch".into())));
        assert_eq!(e.source(), "src");
    }
    assert_eq!(p.stats.calls.load(std::sync::atomic::Ordering::Relaxed), calls + 1);
    // A plugin that names no source reads every source, syscall included (Falco's meaning):
    // syscall events reach it with their JSON payload.
    let batch = EventBatch::new(&map, vec![ev("syscall", r#"{"verb":"x"}"#)]);
    assert_eq!(batch.event(0).field(&verb), Some(Value::Str("x".into())));
    // A field name taken twice is refused.
    let mut reg2 = FieldRegistry::with_syscall_fields();
    assert!(FieldMap::register(&[p.clone(), p.clone()], &mut reg2).is_err());
}

#[test]
fn a_batch_of_mixed_sources_answers_each_event_from_its_own_row() {
    let rt = runtime();
    // The plugin reads source `a` only: it is called with the `a` events, and its rows are
    // matched back to their events.
    let p = Arc::new(load(&rt, "plugins/json", "config: {sources: [a]}\n").unwrap());
    let mut reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::register(std::slice::from_ref(&p), &mut reg).unwrap();
    let value = |k: &str| FieldRef { id: reg.get("json.value").unwrap(), arg: key(k) };
    let (x, s) = (value("/x"), value("/s"));
    map.prefetch([x.clone(), s.clone()]);
    let events = vec![
        ev("b", r#"{"x":0,"s":"not read"}"#),
        ev("a", r#"{"x":1,"s":"hé"}"#),
        ev("b", r#"{"x":2}"#),
        ev("a", r#"{"x":3}"#),
        ev("a", r#"{"s":"€"}"#),
    ];
    let batch = EventBatch::new(&map, events);
    let got: Vec<(Option<Value>, Option<Value>)> = batch
        .iter()
        .map(|e| (e.field(&x).map(Value::into_owned), e.field(&s).map(Value::into_owned)))
        .collect();
    let str = |t: &str| Some(Value::Str(t.to_string().into()));
    assert_eq!(
        got,
        [(None, None), (str("1"), str("h\u{e9}")), (None, None), (str("3"), None), (None, str("\u{20ac}"))]
    );
    assert!(batch.take_errors().is_empty());
}

#[test]
fn a_file_that_is_not_a_component_is_reported_with_its_path() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.wasm");
    std::fs::write(&f, b"\0asm garbage").unwrap();
    let err = rt.load(&f, PluginConfig::default()).unwrap_err();
    assert!(matches!(err, PluginError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("broken.wasm"), "{err}");
    assert!(rt.load(Path::new("/nonexistent/x.wasm"), PluginConfig::default()).is_err());
}

#[test]
fn python_plugin_built_with_componentize_py_extracts_fields() {
    let wasm = lanner_plugin_runtime::testing::build_python_component("plugins/python-jsonkeys", "extractor");
    let rt = runtime();
    let p = rt.load(&wasm, PluginConfig::parse("limits: {memory_mb: 256}\n").unwrap()).unwrap();
    assert_eq!(p.name(), "jsonkeys");
    assert_eq!(p.kind(), PluginKind::Extractor);
    assert!(!p.packed(), "built against 0.1.0, called through extract");
    let names: Vec<&str> = p.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["jsonkeys.list", "jsonkeys.count", "jsonkeys.has"]);
    let v = p
        .extract(
            &[ev("a", r#"{"b":1,"a":2}"#), ev("a", "[1]")],
            &[(0, None), (1, None), (2, Some("a".into())), (2, Some("z".into()))],
        )
        .unwrap();
    let list = Value::List(vec![Value::Str("a".into()), Value::Str("b".into())]);
    assert_eq!(
        v,
        [
            Some(list),
            Some(Value::UInt(2)),
            Some(Value::Bool(true)),
            Some(Value::Bool(false)),
            None,
            None,
            None,
            None
        ]
    );
    // Its configuration is validated against its schema like any other.
    let err = rt
        .load(&wasm, PluginConfig::parse("config: {x: 1}\nlimits: {memory_mb: 256}\n").unwrap())
        .unwrap_err();
    assert!(err.to_string().starts_with("plugin jsonkeys: configuration"), "{err}");
}

fn alert(rule: &str) -> lanner_event::Alert {
    lanner_event::Alert {
        time_ns: 1,
        rule: rule.into(),
        priority: lanner_event::Priority::Warning,
        output: "something happened".into(),
        output_fields: vec![lanner_event::OutputField {
            name: "proc.name".into(),
            value: Some(lanner_event::Value::Str("cat".into())),
        }],
        source: "syscall".into(),
        tags: vec!["t".into()],
        hostname: "h".into(),
    }
}

#[test]
fn sink_plugin_writes_alerts_to_a_read_write_grant_only() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let yaml = |mode: &str| {
        format!(
            "config: {{path: /out/alerts.txt}}\ngrants: {{dirs: [{{host: {}, guest: /out, mode: {mode}}}]}}\n",
            dir.path().display()
        )
    };
    let p = load(&rt, "tests/plugins/filesink", &yaml("rw")).unwrap();
    assert_eq!(p.kind(), PluginKind::Sink);
    assert!(p.fields().is_empty());
    p.deliver(&[alert("A"), alert("B")]).unwrap();
    p.deliver(&[alert("C")]).unwrap();
    let text = std::fs::read_to_string(dir.path().join("alerts.txt")).unwrap();
    assert_eq!(
        text,
        "A|Warning|syscall|something happened\nB|Warning|syscall|something happened\nC|Warning|syscall|something happened\n"
    );
    // Read-only: the write is refused inside the plugin, reported with its name.
    let p = load(&rt, "tests/plugins/filesink", &yaml("ro")).unwrap();
    let err = p.deliver(&[alert("D")]).unwrap_err();
    assert!(err.to_string().starts_with("plugin filesink: deliver: cannot open /out/alerts.txt"), "{err}");
    assert!(!std::fs::read_to_string(dir.path().join("alerts.txt")).unwrap().contains('D'));
    // Its schema requires a path.
    let err = load(&rt, "tests/plugins/filesink", "").unwrap_err();
    assert!(err.to_string().starts_with("plugin filesink: configuration"), "{err}");
}
