//! Plugin cost: the cost per event in batches (4 fields per event) of the json extractor,
//! against the same extraction done natively in the same run, and of a trivial extractor
//! (`tests/plugins/fourfields`: the interface's cost with real values); and the cold load time
//! of a plugin whose precompiled component is cached.
//!
//! Run: `cargo bench -p lanner-plugin-runtime --bench extract` (bench/plugins.sh).

use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry};
use lanner_plugin_runtime::testing::build_component;
use lanner_plugin_runtime::{EventBatch, FieldMap, Plugin, PluginConfig, RawEvent, Runtime, RuntimeOptions};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAYLOAD: &str = r#"{"verb":"create","user":{"name":"alice","uid":"1000"},"objectRef":{"resource":"pods","namespace":"shop"},"items":[1,2,3]}"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Nanoseconds per event of `f(batch)` over batches of `n` events, median of rounds.
fn per_event(n: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut rounds = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        let mut events = 0;
        while start.elapsed() < Duration::from_millis(40) {
            events += f();
        }
        rounds.push(start.elapsed().as_nanos() as f64 / events as f64);
    }
    let _ = n;
    median(rounds)
}

fn native(events: &[RawEvent]) -> usize {
    for e in events {
        let doc: serde_json::Value = serde_json::from_slice(&e.data).unwrap();
        black_box(doc.pointer("/verb").and_then(|v| v.as_str()).map(String::from));
        black_box(doc.pointer("/user/name").and_then(|v| v.as_str()).map(String::from));
        black_box(doc.pointer("/objectRef").is_some());
        black_box(doc.pointer("/items").and_then(|v| v.as_array()).map(|a| a.len()));
    }
    events.len()
}

/// The plugin's fields named by `fields` (name, argument), registered and prefetched.
struct Setup {
    plugin: Arc<Plugin>,
    map: FieldMap,
    refs: Vec<FieldRef>,
    reqs: Vec<(u32, Option<String>)>,
}

fn setup(rt: &Runtime, wasm: &std::path::Path, fields: &[(&str, Option<&str>)]) -> Setup {
    let plugin = Arc::new(rt.load(wasm, PluginConfig::default()).unwrap());
    let mut reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::register(std::slice::from_ref(&plugin), &mut reg).unwrap();
    let refs: Vec<FieldRef> = fields
        .iter()
        .map(|(n, a)| FieldRef {
            id: reg.get(n).unwrap(),
            arg: a.map_or(FieldArg::None, |a| FieldArg::Key(a.into())),
        })
        .collect();
    map.prefetch(refs.iter().cloned());
    let reqs = fields
        .iter()
        .map(|(n, a)| {
            let i = plugin.fields().iter().position(|f| f.name == *n).unwrap() as u32;
            (i, a.map(String::from))
        })
        .collect();
    Setup { plugin, map, refs, reqs }
}

fn events(n: usize) -> Vec<RawEvent> {
    (0..n)
        .map(|i| RawEvent {
            source: "k8s_audit".into(),
            timestamp_ns: i as u64,
            data: PAYLOAD.as_bytes().to_vec(),
        })
        .collect()
}

/// Per batch size: ns per event through `Plugin::extract_values` (the call, the values left in
/// the plugin's answer's buffers), through `EventBatch` (the events
/// cloned into each batch), and of that clone alone: the daemon moves a source's events into
/// the batch, so the engine's path costs EventBatch minus the clone.
fn measure(s: &Setup, n: usize) -> (f64, f64, f64) {
    let events = events(n);
    let raw = per_event(n, || {
        black_box(s.plugin.extract_values(&events, &s.reqs).unwrap());
        n
    });
    let full = per_event(n, || {
        let b = EventBatch::new(&s.map, events.clone());
        for e in b.iter() {
            for r in &s.refs {
                black_box(e.field(r));
            }
        }
        n
    });
    let clone = per_event(n, || {
        black_box(events.clone());
        n
    });
    (raw, full, clone)
}

fn main() {
    println!("command: cargo bench -p lanner-plugin-runtime --bench extract");
    let wasm = build_component("plugins/json");
    let trivial = build_component("tests/plugins/fourfields");
    let cache = tempfile::tempdir().unwrap();
    let opts = RuntimeOptions { cache_dir: Some(cache.path().to_path_buf()) };
    let rt = Runtime::new(opts.clone()).unwrap();
    let json = setup(
        &rt,
        &wasm,
        &[
            ("json.value", Some("/verb")),
            ("json.value", Some("/user/name")),
            ("json.exists", Some("/objectRef")),
            ("json.len", Some("/items")),
        ],
    );
    let four = setup(
        &rt,
        &trivial,
        &[("four.len", None), ("four.brace", None), ("four.head", None), ("four.tail", None)],
    );

    println!("\nextractor cost per event, json plugin, 4 fields ({}-byte payload)", PAYLOAD.len());
    println!(
        "{:>6}  {:>14}  {:>16}  {:>9}  {:>18}  {:>12}  {:>7}",
        "batch", "extract ns/ev", "EventBatch ns/ev", "clone", "EventBatch-clone", "native ns/ev", "ratio"
    );
    for n in [1usize, 16, 64, 256, 1024] {
        let (raw, full, clone) = measure(&json, n);
        let evs = events(n);
        let base = per_event(n, || native(&evs));
        let engine = full - clone;
        println!(
            "{n:>6}  {raw:>14.0}  {full:>16.0}  {clone:>9.0}  {engine:>18.0}  {base:>12.0}  {:>6.1}x",
            engine / base
        );
    }

    println!("\nextractor cost per event, trivial extractor, 4 fields (a uint, a bool, two 8-byte strings)");
    println!(
        "{:>6}  {:>14}  {:>16}  {:>9}  {:>18}",
        "batch", "extract ns/ev", "EventBatch ns/ev", "clone", "EventBatch-clone"
    );
    for n in [1usize, 16, 64, 256, 1024] {
        let (raw, full, clone) = measure(&four, n);
        println!("{n:>6}  {raw:>14.0}  {full:>16.0}  {clone:>9.0}  {:>18.0}", full - clone);
    }

    println!("\ncold load of a cached plugin (json, {} bytes)", std::fs::metadata(&wasm).unwrap().len());
    let mut engine = Vec::new();
    let mut load = Vec::new();
    let mut compile = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let rt = Runtime::new(opts.clone()).unwrap();
        engine.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let p = rt.load(&wasm, PluginConfig::default()).unwrap();
        load.push(t.elapsed().as_secs_f64() * 1e3);
        black_box(p);
    }
    let nocache = Runtime::new(RuntimeOptions::default()).unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        black_box(nocache.load(&wasm, PluginConfig::default()).unwrap());
        compile.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("runtime start (engine, linker, ticker): {:.2} ms median", median(engine));
    println!(
        "plugin load from cache (read, hash, deserialize, instantiate, info, init, fields): {:.2} ms median",
        median(load.clone())
    );
    println!(
        "plugin load without cache (Cranelift compile): {:.1} ms median (baseline; cache speedup {:.0}x)",
        median(compile.clone()),
        median(compile) / median(load)
    );
}
