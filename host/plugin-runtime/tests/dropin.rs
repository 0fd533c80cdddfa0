//! The precompiled-component cache and the drop-in folder.

use lanner_event::{FieldRegistry, Value};
use lanner_plugin_runtime::testing::build_component;
use lanner_plugin_runtime::watch::DirWatcher;
use lanner_plugin_runtime::{CompileOrigin, FieldMap, PluginSet, RawEvent, Runtime, RuntimeOptions};
use std::time::{Duration, Instant};

#[test]
fn cache_is_keyed_by_file_and_engine_and_loads_fast() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = build_component("plugins/json");
    let bytes = std::fs::read(&wasm).unwrap();
    let rt = Runtime::new(RuntimeOptions { cache_dir: Some(cache.path().to_path_buf()) }).unwrap();
    let (_, origin) = rt.compile(&wasm, &bytes).unwrap();
    assert_eq!(origin, CompileOrigin::Compiled);
    let key = rt.cache_key(&bytes);
    assert!(cache.path().join(format!("{key}.cwasm")).is_file());
    // A second runtime (a restart) reads the artifact.
    let rt2 = Runtime::new(RuntimeOptions { cache_dir: Some(cache.path().to_path_buf()) }).unwrap();
    assert_eq!(rt2.cache_key(&bytes), key);
    let t = Instant::now();
    let (_, origin) = rt2.compile(&wasm, &bytes).unwrap();
    assert_eq!(origin, CompileOrigin::Cached);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // A different file has a different key; a corrupt artifact is recompiled, not trusted.
    let mut other = bytes.clone();
    other.extend_from_slice(&[0, 4, b'n', b'o', b'p', b'e']);
    assert_ne!(rt2.cache_key(&other), key);
    std::fs::write(cache.path().join(format!("{key}.cwasm")), b"corrupt").unwrap();
    let (_, origin) = rt2.compile(&wasm, &bytes).unwrap();
    assert_eq!(origin, CompileOrigin::Compiled);
}

fn json_event() -> RawEvent {
    RawEvent { source: "app".into(), timestamp_ns: 1, data: br#"{"x":"y"}"#.to_vec() }
}

#[test]
fn dropped_in_plugin_is_loaded_changed_one_reloaded_removed_one_unloaded_broken_one_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cache = lanner_plugin_runtime::testing::wasm_target_dir().join("test-cache");
    let rt = Runtime::new(RuntimeOptions { cache_dir: Some(cache) }).unwrap();
    let mut set = PluginSet::new(rt);
    let watcher = DirWatcher::new(dir.path()).unwrap();
    assert!(!set.sync_dir(dir.path()).changed());

    // Dropped in while running: the watcher sees it, a sync loads it, its fields register.
    std::fs::copy(build_component("plugins/json"), dir.path().join("json.wasm")).unwrap();
    assert!(
        watcher.wait(Duration::from_secs(10), Duration::from_millis(100)),
        "the watcher saw the new file"
    );
    let r = set.sync_dir(dir.path());
    assert_eq!(r.loaded, ["json"]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let mut reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::register(&set.plugins(), &mut reg).unwrap();
    let id = reg.get("json.value").unwrap();
    let (p, _) = map.owner(id).unwrap();
    assert_eq!(
        p.extract(&[json_event()], &[(0, Some("/x".into()))]).unwrap(),
        [Some(Value::Str("y".into()))]
    );
    assert_eq!(set.versions(), [("json".to_string(), "0.1.0".to_string())]);

    // Unchanged: nothing to do.
    assert!(!set.sync_dir(dir.path()).changed());

    // Its configuration changes: reloaded with it.
    std::fs::write(dir.path().join("json.yaml"), "config: {sources: [other]}\n").unwrap();
    let r = set.sync_dir(dir.path());
    assert_eq!(
        (r.loaded.as_slice(), r.unloaded.as_slice()),
        (&["json".to_string()][..], &["json".to_string()][..])
    );
    let p = set.get("json").unwrap();
    assert_eq!(p.extract(&[json_event()], &[(0, Some("/x".into()))]).unwrap(), [None]);

    // A broken configuration: reported with the plugin's name, the previous one keeps running.
    std::fs::write(dir.path().join("json.yaml"), "config: {sources: 7}\n").unwrap();
    let r = set.sync_dir(dir.path());
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].to_string().starts_with("plugin json: configuration"), "{}", r.errors[0]);
    assert!(set.get("json").is_some());

    // A broken component beside it: reported, the others keep running.
    std::fs::write(dir.path().join("junk.wasm"), b"not wasm").unwrap();
    let r = set.sync_dir(dir.path());
    assert!(r.errors.iter().any(|e| e.to_string().contains("junk.wasm")), "{:?}", r.errors);
    assert!(set.get("json").is_some());

    // Removed: unloaded.
    std::fs::remove_file(dir.path().join("json.wasm")).unwrap();
    assert!(watcher.wait(Duration::from_secs(10), Duration::from_millis(50)));
    let r = set.sync_dir(dir.path());
    assert_eq!(r.unloaded, ["json"]);
    assert!(set.get("json").is_none());
}
