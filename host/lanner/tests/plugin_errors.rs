//! What a plugin author reads when a real plugin fails, through the binary: one line per
//! failure with its cause first, logged once (not once per batch), the wasm backtrace only
//! at debug level; an error value said once however many batches repeat it, with WASI's
//! name for its error code and the grant that is missing.

use lanner_plugin_runtime::testing::{build_component, wasm_target_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lanner(args: &[&str], rust_log: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lanner"));
    c.args(args)
        .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
        .env("LANNER_CONTAINER_PLUGIN", "")
        .env_remove("RUST_LOG");
    if let Some(l) = rust_log {
        c.env("RUST_LOG", l);
    }
    c.output().expect("run lanner")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(tag: &str) -> TempDir {
    let p = std::env::temp_dir().join(format!("lanner-plugin-errors-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(p.join("plugins")).unwrap();
    TempDir(p)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

const RULES: &str = r#"
- rule: Hostile Out
  desc: reads the hostile plugin's field
  condition: hostile.out = fine
  output: "out=%hostile.out"
  priority: WARNING
  source: app
"#;

/// 1000 payload events: four batches of the replay's 256.
fn many_events(dir: &Path) -> String {
    let lines: String =
        (1..=1000).map(|i| format!("{{\"ts\": {i}, \"source\": \"app\", \"data\": \"{{}}\"}}\n")).collect();
    std::fs::write(dir.join("events.jsonl"), lines).unwrap();
    s(&dir.join("events.jsonl"))
}

fn hostile_setup(tag: &str, yaml: &str) -> (TempDir, String, String, String) {
    let dir = tempdir(tag);
    std::fs::copy(build_component("tests/plugins/hostile"), dir.0.join("plugins/hostile.wasm")).unwrap();
    std::fs::write(dir.0.join("plugins/hostile.yaml"), yaml).unwrap();
    std::fs::write(dir.0.join("rules.yaml"), RULES).unwrap();
    let events = many_events(&dir.0);
    let (plugins, rules) = (s(&dir.0.join("plugins")), s(&dir.0.join("rules.yaml")));
    (dir, plugins, rules, events)
}

fn lines_about(stderr: &str, what: &str) -> Vec<String> {
    stderr.lines().filter(|l| l.contains(what)).map(String::from).collect()
}

#[test]
fn a_trap_is_one_line_logged_once_with_the_backtrace_at_debug() {
    // A long backoff: the batches after the failure find the plugin waiting.
    let (_dir, plugins, rules, events) = hostile_setup(
        "trap",
        "config: {mode: trap}\nrestart: {max_failures: 5, backoff_ms: 60000, max_backoff_ms: 60000}\n",
    );
    let args = ["replay", "--plugins-dir", &plugins, "-r", &rules, &events];
    let o = lanner(&args, None);
    let err = text(&o.stderr);
    let about = lines_about(&err, "hostile");
    assert_eq!(about.len(), 1, "one line for one failure, not one per batch:\n{err}");
    assert!(
        about[0].contains(
            "plugin hostile: extract: trap: wasm `unreachable` instruction executed; restarting in 60000 ms"
        ),
        "{err}"
    );
    assert!(!err.contains("backtrace"), "{err}");
    assert_eq!(o.status.code(), Some(1), "the failure and the batches it cost are errors");

    // At debug level the backtrace follows, naming the plugin's function.
    let o = lanner(&args, Some("lanner_plugin_runtime=debug"));
    let err = text(&o.stderr);
    assert!(err.contains("plugin hostile: extract: error while executing at wasm backtrace:"), "{err}");
    assert!(
        err.contains("lanner_test_plugin_hostile::Hostile as lanner_plugin_sdk::Extractor>::extract"),
        "{err}"
    );
}

#[test]
fn an_error_value_repeated_by_every_batch_is_said_once_with_the_missing_grant() {
    // Every batch fails the same way: the plugin reads a file outside its grants.
    let (dir, plugins, rules, events) = hostile_setup("shadow", "config: {mode: shadow}\n");
    let _ = dir;
    let o = lanner(&["replay", "--plugins-dir", &plugins, "-r", &rules, &events], None);
    let err = text(&o.stderr);
    let about = lines_about(&err, "hostile");
    assert_eq!(about.len(), 1, "{err}");
    assert!(
        about[0].ends_with(
            "plugin hostile: extract: cannot read /etc/shadow: No such file or directory (WASI error no-entry); \
             no grant covers /etc/shadow: add a directory holding it to grants.dirs in hostile.yaml (granted: none)"
        ),
        "{err}"
    );
}

#[test]
fn plugin_test_tells_a_syscall_extractor_which_grant_it_lacks() {
    let dir = tempdir("pkgowner");
    let wasm = dir.0.join("pkgowner.wasm");
    std::fs::copy(build_component("plugins/pkgowner"), &wasm).unwrap();
    let events = dir.0.join("execs.jsonl");
    std::fs::write(
        &events,
        "{\"ts\": 1, \"type\": \"execve\", \"fields\": {\"proc.exepath\": \"/usr/bin/cat\"}}\n\
         {\"ts\": 2, \"type\": \"execve\", \"fields\": {\"proc.exepath\": \"/usr/bin/ls\"}}\n",
    )
    .unwrap();
    let o = lanner(&["plugin", "test", &s(&wasm), "--events", &s(&events)], None);
    assert_eq!(o.status.code(), Some(1));
    let want = "plugin pkgowner: extract: reading /dpkg (is it granted?): No such file or directory (WASI error no-entry); \
                no grant covers /dpkg: add a directory holding it to grants.dirs in pkgowner.yaml (granted: none)";
    let out = text(&o.stdout);
    assert_eq!(out.matches(&format!("  (failed: {want})")).count(), 2, "{out}");
    let err = text(&o.stderr);
    assert_eq!(lines_about(&err, want).len(), 1, "said once for both events:\n{err}");
    assert!(err.contains("no pkgowner.yaml beside"), "{err}");
}
