//! A plugin cannot make the host hold more memory than its limits say: its linear memories
//! and tables count together against `memory_mb`, the number of memories and tables is
//! capped, and what it returns is counted before the host copies it.
//!
//! The components are the hostile test plugin (`tests/plugins/hostile`), some with a core
//! module appended that declares the memories or tables of the attack: the same plugin that
//! loads alone is refused with them.

use lanner_plugin_runtime::testing::build_component;
use lanner_plugin_runtime::{PluginConfig, PluginError, PluginState, RawEvent, Runtime, RuntimeOptions};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use wasm_encoder::{
    Component, InstanceSection, MemorySection, MemoryType, Module, ModuleArg, ModuleSection, RefType,
    TableSection, TableType,
};

/// The tests that measure the process's memory run alone.
static MEASURED: Mutex<()> = Mutex::new(());

fn runtime() -> Runtime {
    let cache = lanner_plugin_runtime::testing::wasm_target_dir().join("test-cache");
    Runtime::new(RuntimeOptions { cache_dir: Some(cache) }).expect("runtime starts")
}

fn hostile_bytes() -> Vec<u8> {
    std::fs::read(build_component("tests/plugins/hostile")).unwrap()
}

fn config(yaml: &str) -> PluginConfig {
    PluginConfig::parse(yaml).expect("valid test config")
}

fn events() -> Vec<RawEvent> {
    vec![RawEvent { source: "test".into(), timestamp_ns: 1, data: b"{}".to_vec() }]
}

/// How many core modules the component defines at its top level: the index the next one gets.
/// (Its sections are an id byte, a LEB128 size and the contents; id 1 is one core module.)
fn top_level_modules(component: &[u8]) -> u32 {
    let (mut at, mut modules) = (8, 0);
    while at < component.len() {
        let id = component[at];
        at += 1;
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let b = component[at];
            at += 1;
            size |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        modules += u32::from(id == 1);
        at += size;
    }
    modules
}

/// `component` with one more core module, instantiated: `memories` linear memories of
/// `pages` 64 KiB pages each and `tables` tables of `elements` each.
fn with_module(component: &[u8], memories: u32, pages: u64, tables: u32, elements: u64) -> Vec<u8> {
    let mut module = Module::new();
    let mut t = TableSection::new();
    for _ in 0..tables {
        t.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: elements,
            maximum: None,
            shared: false,
        });
    }
    module.section(&t);
    let mut m = MemorySection::new();
    for _ in 0..memories {
        m.memory(MemoryType {
            minimum: pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }
    module.section(&m);
    let mut extra = Component::new();
    extra.section(&ModuleSection(&module));
    let mut instances = InstanceSection::new();
    instances.instantiate(top_level_modules(component), Vec::<(&str, ModuleArg)>::new());
    extra.section(&instances);
    let extra = extra.finish();
    // The sections only, after the 8-byte header: a component's sections may follow any others.
    [component, &extra[8..]].concat()
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in /proc"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_component_that_declares_100_memories_is_refused_at_load() {
    let rt = runtime();
    let plain = hostile_bytes();
    rt.load_bytes("hostile.wasm".as_ref(), &plain, config("config: {mode: ok}\n"))
        .expect("the plugin alone loads");
    let bytes = with_module(&plain, 100, 1, 0, 0);
    let err = rt.load_bytes("hostile100.wasm".as_ref(), &bytes, PluginConfig::default()).unwrap_err();
    assert!(matches!(err, PluginError::Invalid { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("plugin file hostile100.wasm: the component declares 10"), "{text}");
    assert!(text.ends_with("linear memories, more than limits.memories (4)"), "{text}");
    // As many tables: refused the same way.
    let bytes = with_module(&plain, 0, 0, 100, 1);
    let err = rt.load_bytes("hostile100t.wasm".as_ref(), &bytes, PluginConfig::default()).unwrap_err();
    assert!(err.to_string().contains("tables, more than limits.tables (16)"), "{err}");
}

#[test]
fn memories_count_together_against_memory_mb() {
    let _g = MEASURED.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    // Three memories of 40 MiB: each within 100 MiB, together (with the plugin's own) not.
    let bytes = with_module(&hostile_bytes(), 3, 640, 0, 0);
    let err = rt
        .load_bytes(
            "hostile3.wasm".as_ref(),
            &bytes,
            config("config: {mode: ok}\nlimits: {memory_mb: 100, memories: 8}\n"),
        )
        .unwrap_err();
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("instantiation: memory limit exceeded: growing a linear memory"), "{text}");
    assert!(text.contains("more than limits.memory_mb (100 MiB)"), "{text}");
    // With room for all of them it loads, and they are counted.
    let p = rt
        .load_bytes(
            "hostile3.wasm".as_ref(),
            &bytes,
            config("config: {mode: ok}\nlimits: {memory_mb: 200, memories: 8}\n"),
        )
        .expect("within its limit");
    let held = p.memory_bytes();
    assert!(held >= (3 * 40) << 20, "{held} bytes counted");
    assert!(held <= 200 << 20, "{held} bytes counted");
    eprintln!("plugin with 3 extra memories of 40 MiB: {held} bytes of linear memory and tables counted");
}

#[test]
fn tables_count_against_memory_mb_too() {
    let _g = MEASURED.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    // Three tables of 1.5 Mi elements (12 MiB each on a 64-bit host): each within 32 MiB,
    // together not.
    let bytes = with_module(&hostile_bytes(), 0, 0, 3, 3 << 19);
    let err = rt
        .load_bytes("hostilet.wasm".as_ref(), &bytes, config("config: {mode: ok}\nlimits: {memory_mb: 32}\n"))
        .unwrap_err();
    assert!(err.to_string().contains("memory limit exceeded: growing a table"), "{err}");
    assert!(err.to_string().contains("more than limits.memory_mb (32 MiB)"), "{err}");
    // One table larger than the whole budget is refused before anything is instantiated.
    let bytes = with_module(&hostile_bytes(), 0, 0, 1, 8 << 20);
    let err = rt
        .load_bytes("hostilet.wasm".as_ref(), &bytes, config("config: {mode: ok}\nlimits: {memory_mb: 32}\n"))
        .unwrap_err();
    assert!(matches!(err, PluginError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("more than limits.memory_mb (32 MiB)"), "{err}");
}

#[test]
fn four_million_views_of_one_buffer_are_refused_before_the_host_copies_them() {
    let _g = MEASURED.lock().unwrap_or_else(|p| p.into_inner());
    let rt = runtime();
    // Room for the guest to build its answer: the 32 MiB buffer, 4 Mi strings, their lowering.
    let yaml =
        "config: {mode: views}\nlimits: {memory_mb: 192, call_timeout_ms: 20000}\nrestart: {backoff_ms: 0}\n";
    let h = rt.load(&build_component("tests/plugins/hostile"), config(yaml)).unwrap();
    let before = status_kib("VmRSS:");
    let err = h.extract(&events(), &[(0, None)]).unwrap_err();
    let after = status_kib("VmRSS:");
    let peak = status_kib("VmHWM:");
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("plugin hostile: extract: its answer (or what it passed to a host function) is larger than limits.max_output_bytes (16777216 bytes)"),
        "{text}"
    );
    assert!(text.contains("refused before the host copied it"), "{text}");
    // Copied, the answer would be 4 Mi x 32 MiB = 128 TiB. What the host holds is the guest's
    // own memory (within memory_mb), released with the failed instance.
    eprintln!(
        "views: VmRSS {before} KiB before, {after} KiB after, VmHWM {peak} KiB; \
         limits memory_mb 192, max_output_bytes 16 MiB"
    );
    assert!(peak.saturating_sub(before) < (192 + 64) << 10, "peak {peak} KiB from {before} KiB");
    assert_eq!(h.state(), PluginState::Backoff);
    assert_eq!(h.stats.failures.load(Ordering::Relaxed), 1);
    // Fewer, smaller views within the limit go through: the limit is the total, not the shape.
    let small = "config: {mode: views, count: 1000, mb: 0}\n";
    let ok = rt.load(&build_component("tests/plugins/hostile"), config(small)).unwrap();
    let v = ok.extract(&events(), &[(0, None)]).unwrap();
    assert!(matches!(&v[0], Some(lanner_event::Value::List(l)) if l.len() == 1000), "{v:?}");
}
