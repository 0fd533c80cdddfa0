//! Payload events in event files (`data`, `data_base64`): `lanner replay` and `lanner run
//! --events` hand them to the extractors as a source plugin's events, without that source
//! plugin loaded, so an extractor can be tried on recorded payloads.

use lanner_plugin_runtime::testing::build_component;
use serde_json::Value;
use std::path::Path;

mod common;

use common::{ScratchDir as TempDir, lanner_output as lanner, text};

/// A scratch folder with an empty `plugins` folder in it.
fn tempdir(tag: &str) -> TempDir {
    let d = common::scratch_dir(&format!("payload-{tag}"));
    std::fs::create_dir_all(d.0.join("plugins")).unwrap();
    d
}

const RULES: &str = r#"
- rule: Alice Acts
  desc: a payload event whose JSON names alice
  condition: json.value[/user] = alice
  output: "user=%json.value[/user] action=%json.value[/action]"
  priority: WARNING
  source: app
"#;

/// Three payload events of source `app`: text, base64 (the same JSON, another action), and
/// one that must not match.
const EVENTS: &str = r#"# payload events, no source plugin loaded
{"ts": 1700000000000000001, "source": "app", "data": "{\"user\": \"alice\", \"action\": \"login\"}"}
{"ts": 1700000000000000002, "source": "app", "data_base64": "eyJ1c2VyIjogImFsaWNlIiwgImFjdGlvbiI6ICJzdWRvIn0="}
{"ts": 1700000000000000003, "source": "app", "data": "{\"user\": \"bob\", \"action\": \"login\"}"}
"#;

/// The json plugin in a plugins folder, the rules and the events written beside it.
fn setup(tag: &str, events: &str) -> (TempDir, String, String, String) {
    let dir = tempdir(tag);
    std::fs::copy(build_component("plugins/json"), dir.0.join("plugins/json.wasm")).unwrap();
    std::fs::write(dir.0.join("rules.yaml"), RULES).unwrap();
    std::fs::write(dir.0.join("events.jsonl"), events).unwrap();
    let s = |p: &Path| p.display().to_string();
    let (plugins, rules, ev) =
        (s(&dir.0.join("plugins")), s(&dir.0.join("rules.yaml")), s(&dir.0.join("events.jsonl")));
    (dir, plugins, rules, ev)
}

fn outputs(stdout: &[u8]) -> Vec<String> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .map(|a| {
            assert_eq!(a["rule"], "Alice Acts");
            assert_eq!(a["source"], "app");
            a["output"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn replay_feeds_text_and_base64_payloads_to_the_json_extractor() {
    let (_dir, plugins, rules, events) = setup("replay", EVENTS);
    let o = lanner(&["replay", "--plugins-dir", &plugins, "-r", &rules, "--json", &events]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = outputs(&o.stdout);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].ends_with("user=alice action=login"), "{out:?}");
    assert!(out[1].ends_with("user=alice action=sudo"), "{out:?}");
}

#[test]
fn run_events_reads_the_same_payload_events() {
    let (_dir, plugins, rules, events) = setup("run", EVENTS);
    let o = lanner(&[
        "run",
        "--events",
        &events,
        "-r",
        &rules,
        "--json",
        "-o",
        &format!("plugins_dir={plugins}"),
        "-o",
        "webserver.enabled=false",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = outputs(&o.stdout);
    assert_eq!(out.len(), 2, "{out:?}\n{}", text(&o.stderr));
    assert!(out[0].ends_with("user=alice action=login"), "{out:?}");
    assert!(out[1].ends_with("user=alice action=sudo"), "{out:?}");
}

#[test]
fn a_payload_given_twice_is_an_error_naming_its_line() {
    let bad =
        format!("{EVENTS}{{\"ts\": 4, \"source\": \"app\", \"data\": \"x\", \"data_base64\": \"eA==\"}}\n");
    let (_dir, plugins, rules, events) = setup("bad", &bad);
    let o = lanner(&["replay", "--plugins-dir", &plugins, "-r", &rules, "--json", &events]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("events.jsonl: line 5: 'data' and 'data_base64' are both given"), "{err}");
    // The good lines were still read.
    assert_eq!(outputs(&o.stdout).len(), 2);
}
