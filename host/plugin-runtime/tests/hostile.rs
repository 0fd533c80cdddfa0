//! The hostile-plugin suite: components from `tests/plugins/hostile` misbehave inside
//! `extract`; the host stays up, the json plugin keeps answering, the error names the plugin,
//! and the plugin is restarted with backoff or disabled as its restart policy says.

use lanner_event::Value;
use lanner_plugin_runtime::testing::build_component;
use lanner_plugin_runtime::{
    Plugin, PluginConfig, PluginError, PluginState, RawEvent, Runtime, RuntimeOptions,
};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn runtime() -> Runtime {
    let cache = lanner_plugin_runtime::testing::wasm_target_dir().join("test-cache");
    Runtime::new(RuntimeOptions { cache_dir: Some(cache) }).expect("runtime starts")
}

fn hostile(rt: &Runtime, yaml: &str) -> Plugin {
    rt.load(&build_component("tests/plugins/hostile"), PluginConfig::parse(yaml).expect("valid test config"))
        .expect("the hostile plugin loads (it misbehaves only when called)")
}

fn json(rt: &Runtime) -> Plugin {
    rt.load(&build_component("plugins/json"), PluginConfig::default()).unwrap()
}

fn events() -> Vec<RawEvent> {
    vec![RawEvent { source: "test".into(), timestamp_ns: 1, data: br#"{"a":"still here"}"#.to_vec() }]
}

fn req() -> Vec<(u32, Option<String>)> {
    vec![(0, Some("/a".into()))]
}

/// The json plugin answers: the others keep working.
fn others_work(j: &Plugin) {
    assert_eq!(j.extract(&events(), &req()).unwrap(), [Some(Value::Str("still here".into()))]);
}

#[test]
fn infinite_loop_times_out_and_the_plugin_restarts_after_backoff() {
    let rt = runtime();
    let j = json(&rt);
    let h = hostile(
        &rt,
        "config: {mode: loop}\nlimits: {call_timeout_ms: 50}\nrestart: {max_failures: 3, backoff_ms: 400}\n",
    );
    let t = Instant::now();
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "the deadline stopped the loop ({:?})", t.elapsed());
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    assert!(err.to_string().starts_with("plugin hostile: extract: call timed out"), "{err}");
    assert_eq!(h.state(), PluginState::Backoff);
    others_work(&j);
    // Within the backoff (400 ms) the plugin is not called.
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Backoff { .. }), "{err}");
    // After it, a new instance is made (and loops again).
    std::thread::sleep(Duration::from_millis(500));
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    assert_eq!(h.stats.restarts.load(Ordering::Relaxed), 1);
    // Backoff doubles: 800 ms now, so 500 ms later it still holds. (Margins of 100 ms and
    // more: the test must not depend on a quiet machine.)
    std::thread::sleep(Duration::from_millis(500));
    assert!(matches!(h.extract(&events(), &req()).unwrap_err(), PluginError::Backoff { .. }));
    std::thread::sleep(Duration::from_millis(400));
    // Third failure: disabled, reported once as an incident with the plugin's name.
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Disabled { failures: 3, .. }), "{err}");
    assert_eq!(h.state(), PluginState::Disabled);
    let incidents = h.take_incidents();
    assert_eq!(incidents.len(), 3);
    assert!(incidents.iter().all(|i| i.plugin == "hostile"));
    assert!(incidents[2].disabled && !incidents[0].disabled);
    assert!(matches!(h.extract(&events(), &req()).unwrap_err(), PluginError::Disabled { .. }));
    others_work(&j);
}

#[test]
fn memory_bomb_hits_the_store_limit() {
    let rt = runtime();
    let j = json(&rt);
    let h = hostile(&rt, "config: {mode: memory}\nlimits: {memory_mb: 16}\nrestart: {max_failures: 1}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    // One failure allowed: disabled straight away.
    assert!(matches!(err, PluginError::Disabled { .. }), "{err}");
    assert!(err.to_string().contains("plugin hostile"), "{err}");
    assert!(err.to_string().contains("memory"), "{err}");
    assert_eq!(h.state(), PluginState::Disabled);
    others_work(&j);
}

#[test]
fn trap_inside_extract_drops_the_instance_and_the_next_call_restarts_it() {
    let rt = runtime();
    let j = json(&rt);
    let h = hostile(&rt, "config: {mode: trap}\nrestart: {backoff_ms: 0}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("plugin hostile: extract: trap"), "{err}");
    others_work(&j);
    assert!(h.extract(&events(), &req()).is_err());
    assert_eq!(h.stats.restarts.load(Ordering::Relaxed), 1);
    assert_eq!(h.stats.failures.load(Ordering::Relaxed), 2);
}

/// Every log record of this test binary, so that a test can look for what a plugin logged.
struct Recorder(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        self.0.lock().unwrap().push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let r: &'static Recorder = Box::leak(Box::new(Recorder(Mutex::new(Vec::new()))));
        log::set_logger(r).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
        r
    })
}

#[test]
fn a_panic_message_with_its_location_reaches_the_host_log_at_error_level_before_the_trap() {
    let records = recorder();
    let rt = runtime();
    let h = hostile(&rt, "config: {mode: panic}\nrestart: {backoff_ms: 0}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    let logged: Vec<_> = records.0.lock().unwrap().clone();
    let panic = logged
        .iter()
        .find(|(_, m)| m.starts_with("plugin hostile: panicked at "))
        .unwrap_or_else(|| panic!("no panic line from the plugin in the log: {logged:?}"));
    assert_eq!(panic.0, log::Level::Error, "{panic:?}");
    // The payload of events() is 18 bytes; the location is the panic! in the plugin's source.
    assert!(panic.1.ends_with(": hostile panics on purpose over a payload of 18 bytes"), "{}", panic.1);
    assert!(panic.1.contains("src/lib.rs:"), "the location is given: {}", panic.1);
}

#[test]
fn reading_etc_shadow_without_a_grant_fails_inside_the_plugin() {
    let rt = runtime();
    let h = hostile(&rt, "config: {mode: shadow}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    // An error value, not a failure: the plugin keeps running.
    assert!(matches!(err, PluginError::Guest { .. }), "{err}");
    assert!(err.to_string().starts_with("plugin hostile: extract: cannot read /etc/shadow"), "{err}");
    assert_eq!(h.state(), PluginState::Running);
    // A read-only grant is what it takes: a stand-in directory seen by the plugin as /etc.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shadow"), "root:stand-in:19000\n").unwrap();
    let h = hostile(
        &rt,
        &format!(
            "config: {{mode: shadow}}\ngrants: {{dirs: [{{host: {}, guest: /etc, mode: ro}}]}}\n",
            dir.path().display()
        ),
    );
    assert_eq!(h.extract(&events(), &req()).unwrap(), [Some(Value::Str("root:stand-in:19000".into()))]);
}

#[test]
fn http_to_a_host_not_allowed_is_denied_and_counted() {
    let rt = runtime();
    let j = json(&rt);
    for url in [
        "http://example.com/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/",
    ] {
        let h = hostile(
            &rt,
            &format!(
                "config: {{mode: http, url: \"{url}\"}}\ngrants: {{http: [169.254.169.254, metadata.google.internal]}}\n"
            ),
        );
        let err = h.extract(&events(), &req()).unwrap_err();
        assert!(matches!(err, PluginError::Guest { .. }), "{url}: {err}");
        assert!(err.to_string().contains("HttpRequestDenied"), "{url}: {err}");
        assert_eq!(h.stats.http_denied.load(Ordering::Relaxed), 1, "{url}");
        assert_eq!(h.state(), PluginState::Running);
    }
    others_work(&j);
}

#[test]
fn http_to_an_allowed_host_goes_out() {
    // A local server stands in for an allowed collector.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
    });
    let rt = runtime();
    let h = hostile(
        &rt,
        &format!(
            "config: {{mode: http, url: \"http://127.0.0.1:{port}/x\"}}\ngrants: {{http: [\"127.0.0.1:{port}\"]}}\n"
        ),
    );
    assert_eq!(h.extract(&events(), &req()).unwrap(), [Some(Value::Str("status 204".into()))]);
    server.join().unwrap();
}

#[test]
fn enormous_return_value_is_refused() {
    let rt = runtime();
    let j = json(&rt);
    let h = hostile(&rt, "config: {mode: huge}\nlimits: {memory_mb: 256, max_output_bytes: 1048576}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    assert!(err.to_string().starts_with("plugin hostile: extract: "), "{err}");
    assert!(err.to_string().contains("limits.max_output_bytes (1048576 bytes)"), "{err}");
    // Under the default memory limit the same plugin cannot even build it.
    let h = hostile(&rt, "config: {mode: huge}\nlimits: {memory_mb: 32}\n");
    assert!(matches!(h.extract(&events(), &req()).unwrap_err(), PluginError::Failed { .. }));
    others_work(&j);
}

#[test]
fn wrong_number_of_values_is_a_failure() {
    let rt = runtime();
    let h = hostile(&rt, "config: {mode: wrong-count}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    // The SDK catches it in the guest; the host checks the count too, for plugins without it.
    assert!(err.to_string().starts_with("plugin hostile: extract: "), "{err}");
    assert!(err.to_string().contains("returned 0 values for 1 requests"), "{err}");
}

#[test]
fn environment_variables_only_when_granted() {
    let rt = runtime();
    let h = hostile(&rt, "config: {mode: env, url: PATH}\n");
    assert!(matches!(h.extract(&events(), &req()).unwrap_err(), PluginError::Guest { .. }));
    let h = hostile(&rt, "config: {mode: env, url: PATH}\ngrants: {env: [PATH]}\n");
    let path = std::env::var("PATH").unwrap();
    assert_eq!(h.extract(&events(), &req()).unwrap(), [Some(Value::Str(path.into()))]);
}

#[test]
fn a_trap_during_a_batch_leaves_its_fields_empty_without_calling_again() {
    use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry};
    use lanner_plugin_runtime::{EventBatch, FieldMap};
    use std::sync::Arc;
    let rt = runtime();
    let h = Arc::new(hostile(&rt, "config: {mode: trap}\nrestart: {max_failures: 5, backoff_ms: 60000}\n"));
    let j = Arc::new(json(&rt));
    let mut reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::register(&[h.clone(), j.clone()], &mut reg).unwrap();
    let out = FieldRef { id: reg.get("hostile.out").unwrap(), arg: FieldArg::None };
    let a = FieldRef { id: reg.get("json.value").unwrap(), arg: FieldArg::Key("/a".into()) };
    map.prefetch([out.clone(), a.clone()]);
    let batch = EventBatch::new(&map, [events(), events(), events()].concat());
    let calls = h.stats.calls.load(Ordering::Relaxed);
    for e in batch.iter() {
        assert_eq!(e.field(&out), None);
        assert_eq!(e.field(&a), Some(Value::Str("still here".into())), "the json plugin still answers");
    }
    // The failed column is not asked for again event by event.
    assert_eq!(h.stats.calls.load(Ordering::Relaxed), calls);
    let errors = batch.take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].to_string().starts_with("plugin hostile: extract: trap"), "{}", errors[0]);
}

#[test]
fn a_sleep_in_wasi_is_cut_off_at_the_call_timeout() {
    let rt = runtime();
    let h = hostile(
        &rt,
        "config: {mode: sleep, ms: 10000}\nlimits: {call_timeout_ms: 300}\nrestart: {max_failures: 3, backoff_ms: 100}\n",
    );
    let t = Instant::now();
    let err = h.extract(&events(), &req()).unwrap_err();
    let took = t.elapsed();
    // Epoch interruption alone would have waited out the whole 10 s sleep.
    assert!(took >= Duration::from_millis(250), "cut before its deadline ({took:?})");
    assert!(took < Duration::from_secs(3), "the sleep was not cut at call_timeout_ms ({took:?})");
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("call_timeout_ms reached while blocked in a WASI wait"), "{err}");
    // A sleep within the deadline is left alone.
    let short = hostile(&rt, "config: {mode: sleep, ms: 20}\nlimits: {call_timeout_ms: 2000}\n");
    let v = short.extract(&events(), &req()).unwrap();
    assert_eq!(v[0], Some(lanner_event::Value::Str("slept".into())));
}

#[test]
fn a_600_s_sleep_in_extract_is_cut_off_at_its_timeout_and_the_plugin_restarts() {
    let rt = runtime();
    let j = json(&rt);
    let h = hostile(
        &rt,
        "config: {mode: sleep, ms: 600000}\nlimits: {call_timeout_ms: 500}\nrestart: {max_failures: 3, backoff_ms: 0}\n",
    );
    for round in 1..=2 {
        let t = Instant::now();
        let err = h.extract(&events(), &req()).unwrap_err();
        let took = t.elapsed();
        assert!(took < Duration::from_secs(10), "round {round}: the sleep was not cut off ({took:?})");
        assert!(matches!(err, PluginError::Failed { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("plugin hostile: extract: call_timeout_ms reached while blocked in a WASI wait"),
            "{err}"
        );
        // The instance that slept is gone (isolated); the next call makes a new one.
        assert_eq!(h.state(), PluginState::Backoff);
        assert_eq!(h.stats.failures.load(Ordering::Relaxed), round);
        assert_eq!(h.stats.restarts.load(Ordering::Relaxed), round - 1);
        others_work(&j);
    }
    assert_eq!(h.take_incidents().len(), 2);
}

#[test]
fn a_socket_read_that_never_returns_is_cut_off_at_the_call_timeout() {
    // A peer that accepts and never writes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let rt = runtime();
    let j = json(&rt);
    let h = hostile(
        &rt,
        &format!(
            "config: {{mode: tcp-read, url: \"127.0.0.1:{port}\"}}\nlimits: {{call_timeout_ms: 500}}\ngrants: {{tcp: [\"127.0.0.1:{port}\"]}}\n"
        ),
    );
    let t = Instant::now();
    let err = h.extract(&events(), &req()).unwrap_err();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "the read was not cut off ({took:?})");
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("call_timeout_ms reached while blocked in a WASI wait"), "{err}");
    assert_eq!(h.state(), PluginState::Backoff);
    others_work(&j);
    // The peer did see the connection: the plugin was blocked reading it.
    let _held = server.join().unwrap().expect("the plugin connected");
}

#[test]
fn an_open_without_a_grant_names_the_wasi_error_and_the_missing_grant() {
    let rt = runtime();
    // Nothing granted: wasi-libc, in the plugin, finds no directory for the path.
    let h = hostile(&rt, "config: {mode: shadow}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Guest { .. }), "{err}");
    assert!(err.logged(), "an error value is logged by the runtime, once");
    let text = err.to_string();
    assert!(!text.contains("os error"), "wasi-libc's error number (44) is not Linux's: {text}");
    assert_eq!(
        text,
        "plugin hostile: extract: cannot read /etc/shadow: No such file or directory (WASI error no-entry); \
         no grant covers /etc/shadow: add a directory holding it to grants.dirs in hostile.yaml (granted: none)"
    );
    // With another directory granted, the message lists it.
    let dir = std::env::temp_dir();
    let h = hostile(
        &rt,
        &format!("config: {{mode: shadow}}\ngrants:\n  dirs: [{{host: {}, guest: /logs}}]\n", dir.display()),
    );
    let text = h.extract(&events(), &req()).unwrap_err().to_string();
    assert!(text.ends_with("no grant covers /etc/shadow: add a directory holding it to grants.dirs in hostile.yaml (granted: /logs)"), "{text}");
}

#[test]
fn a_trap_is_one_line_with_its_cause_first_and_no_backtrace() {
    let rt = runtime();
    let h = hostile(&rt, "config: {mode: trap}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Failed { .. }) && err.logged(), "{err}");
    let text = err.to_string();
    assert_eq!(text, "plugin hostile: extract: trap: wasm `unreachable` instruction executed");
}

#[test]
fn an_answer_over_max_output_bytes_is_stopped_by_it_under_the_default_limits() {
    let rt = runtime();
    // 17 MiB: more than the default max_output_bytes (16 MiB), well within memory_mb (64 MiB).
    let h = hostile(&rt, "config: {mode: huge, mb: 17}\n");
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(matches!(err, PluginError::Failed { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "plugin hostile: extract: its answer (or what it passed to a host function) is larger than \
         limits.max_output_bytes (16777216 bytes): refused before the host copied it"
    );
}

#[test]
fn the_sdk_names_the_wasi_error_and_the_missing_grant_of_an_open() {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("lanner-sdk-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let grant = format!("grants:\n  dirs: [{{host: {}, guest: /logs}}]\n", dir.display());
    let open = |path: &str| {
        let h = hostile(&rt, &format!("config: {{mode: open, url: {path}}}\n{grant}"));
        h.extract(&events(), &req()).unwrap_err().to_string()
    };
    // Outside the granted directory: the grant is what is missing, and the granted one is named.
    assert_eq!(
        open("/etc/passwd"),
        "plugin hostile: extract: /etc/passwd: No such file or directory (WASI error no-entry); no grant covers \
         /etc/passwd: add a directory holding it to grants.dirs in the plugin's NAME.yaml (granted: /logs)"
    );
    // Inside it, a file that is not there is only that.
    assert_eq!(
        open("/logs/absent.log"),
        "plugin hostile: extract: /logs/absent.log: No such file or directory (WASI error no-entry)"
    );
    std::fs::write(dir.join("present.log"), "here").unwrap();
    let h = hostile(&rt, &format!("config: {{mode: open, url: /logs/present.log}}\n{grant}"));
    assert_eq!(h.extract(&events(), &req()).unwrap(), [Some(Value::Str("here".into()))]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_epoch_advances_only_while_plugin_code_runs_and_still_stops_a_loop() {
    // An idle runtime does not tick: the ticker thread sleeps until a call starts.
    let rt = runtime();
    let j = json(&rt);
    others_work(&j);
    std::thread::sleep(Duration::from_millis(50));
    let idle = rt.epoch_ticks();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(rt.epoch_ticks(), idle, "the epoch advanced with no plugin code running");
    // A loop is still cut at its deadline (the ticker wakes for the call), in about the
    // ticks its timeout is.
    let h = hostile(&rt, "config: {mode: loop}\nlimits: {call_timeout_ms: 100}\n");
    let before = rt.epoch_ticks();
    let t = Instant::now();
    let err = h.extract(&events(), &req()).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "the deadline stopped the loop ({:?})", t.elapsed());
    assert!(err.to_string().starts_with("plugin hostile: extract: call timed out"), "{err}");
    let during = rt.epoch_ticks() - before;
    assert!(during >= 100, "{during} ticks for a 100 ms timeout");
    // And it stops again afterwards.
    std::thread::sleep(Duration::from_millis(50));
    let after = rt.epoch_ticks();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(rt.epoch_ticks(), after);
}
