//! The JavaScript example plugin, `plugins/js-logfmt`, built with ComponentizeJS (`jco
//! componentize`, installed by `scripts/setup.sh`) and loaded by the runtime like any other
//! component.

use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry, FieldType, Value};
use lanner_plugin_runtime::testing::{build_js_component, wasm_target_dir};
use lanner_plugin_runtime::{
    CompileOrigin, EventBatch, FieldMap, Plugin, PluginConfig, PluginError, PluginKind, PluginState,
    RawEvent, Runtime, RuntimeOptions,
};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

const VALUE: u32 = 0;
const HAS: u32 = 1;
const COUNT: u32 = 2;

/// The component, built and compiled into the shared cache once, before any test loads it
/// (compiling megabytes of SpiderMonkey takes seconds: the tests must not each do it).
fn component() -> PathBuf {
    static WARM: OnceLock<PathBuf> = OnceLock::new();
    WARM.get_or_init(|| {
        let wasm = build_js_component("plugins/js-logfmt", "extractor");
        let bytes = std::fs::read(&wasm).expect("read the component");
        runtime().compile(&wasm, &bytes).expect("the component compiles");
        wasm
    })
    .clone()
}

/// A runtime sharing one compile cache across the tests.
fn runtime() -> Runtime {
    let cache = wasm_target_dir().join("test-cache");
    Runtime::new(RuntimeOptions { cache_dir: Some(cache) }).expect("runtime starts")
}

fn load(rt: &Runtime, yaml: &str) -> Result<Plugin, PluginError> {
    rt.load(&component(), PluginConfig::parse(yaml).expect("valid test config"))
}

fn ev(source: &str, data: &str) -> RawEvent {
    RawEvent { source: source.into(), timestamp_ns: 1, data: data.as_bytes().to_vec() }
}

fn s(x: &str) -> Option<Value<'static>> {
    Some(Value::Str(x.to_string().into()))
}

fn b(x: bool) -> Option<Value<'static>> {
    Some(Value::Bool(x))
}

fn u(n: u64) -> Option<Value<'static>> {
    Some(Value::UInt(n))
}

fn req(field: u32, key: &str) -> (u32, Option<String>) {
    (field, Some(key.to_string()))
}

#[test]
fn js_logfmt_declares_its_fields_and_extracts_a_batch() {
    let rt = runtime();
    let p = load(&rt, "").unwrap();
    assert_eq!(p.name(), "logfmt");
    assert_eq!(p.version(), "0.1.0");
    assert_eq!(p.api_version(), "0.1.0");
    assert!(!p.packed(), "built against 0.1.0, called through extract");
    assert_eq!(p.kind(), PluginKind::Extractor);
    assert!(p.event_sources().is_empty());
    let fields: Vec<(&str, FieldType)> = p.fields().iter().map(|f| (f.name.as_str(), f.ftype)).collect();
    assert_eq!(
        fields,
        [
            ("logfmt.value", FieldType::String),
            ("logfmt.has", FieldType::Bool),
            ("logfmt.count", FieldType::UInt64)
        ]
    );

    let events = vec![
        ev("app", r#"level=info msg="user logged in" user=alice"#),
        // Escaped quotes and backslashes, `=` and spaces inside quotes, an empty quoted value,
        // a key without value, a repeated key (the first one counts), UTF-8 text.
        ev("app", r#"  msg="said \"hi\" to a=b \\ c"   empty="" debug user=bob user=eve city=Zürich  "#),
        // No user key at all; an empty payload is logfmt with no pairs.
        ev("app", "level=warn"),
        ev("app", ""),
    ];
    let reqs = vec![
        req(VALUE, "msg"),
        req(VALUE, "user"),
        req(HAS, "user"),
        req(VALUE, "empty"),
        req(HAS, "debug"),
        req(VALUE, "debug"),
        req(VALUE, "city"),
        (COUNT, None),
    ];
    let v = p.extract(&events, &reqs).unwrap();
    let n = reqs.len();
    assert_eq!(v.len(), events.len() * n);
    assert_eq!(&v[..n], &[s("user logged in"), s("alice"), b(true), None, b(false), None, None, u(3)]);
    assert_eq!(
        &v[n..2 * n],
        &[s(r#"said "hi" to a=b \ c"#), s("bob"), b(true), s(""), b(true), s(""), s("Zürich"), u(6)]
    );
    assert_eq!(&v[2 * n..3 * n], &[None, None, b(false), None, b(false), None, None, u(1)]);
    assert_eq!(&v[3 * n..], &[None, None, b(false), None, b(false), None, None, u(0)]);
    assert_eq!(p.state(), PluginState::Running);
}

#[test]
fn js_logfmt_answers_nothing_for_malformed_payloads_and_keeps_running() {
    let rt = runtime();
    let p = load(&rt, "").unwrap();
    let events = vec![
        ev("app", r#"msg="never closed user=alice"#),
        ev("app", "=value user=alice"),
        ev("app", r#"msg="a"b user=alice"#),
        ev("app", r#"msg="bad \q escape" user=alice"#),
        ev("app", r#"us"er=alice"#),
        ev("app", r#"user=al"ice"#),
        RawEvent { source: "app".into(), timestamp_ns: 1, data: b"user=\xff\xfe".to_vec() },
        ev("app", "user=alice"),
    ];
    let reqs = vec![req(VALUE, "user"), req(HAS, "user"), (COUNT, None)];
    let v = p.extract(&events, &reqs).unwrap();
    for (i, row) in v.chunks(reqs.len()).enumerate().take(events.len() - 1) {
        assert!(row.iter().all(Option::is_none), "event {i}: {row:?}");
    }
    assert_eq!(&v[v.len() - 3..], &[s("alice"), b(true), u(1)]);

    // A request for a field it does not have is an error value: reported, not a failure.
    let err = p.extract(&events, &[(7, None)]).unwrap_err();
    assert!(matches!(err, PluginError::Guest { .. }), "{err}");
    assert_eq!(err.to_string(), "plugin logfmt: extract: no field with index 7");
    assert_eq!(p.state(), PluginState::Running);
    assert_eq!(p.stats.failures.load(Ordering::Relaxed), 0);
    // And the same instance keeps answering.
    assert_eq!(p.extract(&[ev("app", "a=1 b=2")], &[(COUNT, None)]).unwrap(), [u(2)]);
}

#[test]
fn js_logfmt_config_is_validated_against_its_schema() {
    let rt = runtime();
    let err = load(&rt, "config: {sources: 3}\n").unwrap_err();
    assert!(matches!(err, PluginError::Config { .. }), "{err}");
    assert!(err.to_string().starts_with("plugin logfmt: configuration"), "{err}");
    let err = load(&rt, "config: {unknown: true}\n").unwrap_err();
    assert!(matches!(err, PluginError::Config { .. }), "{err}");
    assert!(err.to_string().contains("unknown"), "{err}");
    // A valid configuration restricts the sources it reads, and says so.
    let p = load(&rt, "config: {sources: [app]}\n").unwrap();
    assert_eq!(p.event_sources(), ["app"]);
    let v = p.extract(&[ev("app", "user=alice"), ev("other", "user=alice")], &[req(VALUE, "user")]).unwrap();
    assert_eq!(v, [s("alice"), None]);
}

#[test]
fn js_logfmt_fields_enter_the_registry_and_a_batch_answers_them() {
    let rt = runtime();
    let p = Arc::new(load(&rt, "").unwrap());
    let mut reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::register(std::slice::from_ref(&p), &mut reg).unwrap();
    let id = reg.get("logfmt.value").expect("registered");
    assert_eq!(reg.def(id).provider, "logfmt");
    let user = FieldRef { id, arg: FieldArg::Key("user".into()) };
    let count = FieldRef { id: reg.get("logfmt.count").expect("registered"), arg: FieldArg::None };
    let batch = EventBatch::new(&map, vec![ev("app", "user=alice op=login"), ev("app", r#"op="log out""#)]);
    assert_eq!(batch.event(0).field(&user), s("alice"));
    assert_eq!(batch.event(1).field(&user), None);
    assert_eq!(batch.event(1).field(&count), u(1));
    // Learned from the first batch: the next one is answered in one call.
    let calls = p.stats.calls.load(Ordering::Relaxed);
    let batch = EventBatch::new(&map, vec![ev("app", "user=root op=sudo"); 20]);
    for e in batch.iter() {
        assert_eq!(e.field(&user), s("root"));
        assert_eq!(e.field(&count), u(2));
    }
    assert_eq!(p.stats.calls.load(Ordering::Relaxed), calls + 1);
}

#[test]
fn js_logfmt_is_loaded_from_the_cache_after_a_restart() {
    let wasm = component();
    let bytes = std::fs::read(&wasm).unwrap();
    // A new runtime over the same cache, as after a restart: the precompiled artifact is
    // read back, not compiled again.
    let rt = runtime();
    let t = Instant::now();
    let p = rt.load(&wasm, PluginConfig::default()).unwrap();
    let load = t.elapsed();
    assert_eq!(rt.compile(&wasm, &bytes).unwrap().1, CompileOrigin::Cached);
    assert_eq!(p.extract(&[ev("app", "k=v")], &[req(VALUE, "k")]).unwrap(), [s("v")]);
    eprintln!("js-logfmt: component of {} bytes loaded from the cache (with init) in {load:?}", bytes.len());
}
