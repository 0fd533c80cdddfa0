//! `lanner plugin test`: one real plugin loaded alone prints its fields for each event of an
//! event file (payload events as text or base64, syscall events through their JSON payload),
//! or of its own source's stream, with its NAME.yaml's grants when one lies beside it.

use lanner_plugin_runtime::testing::{build_component, repo_root};
use serde_json::Value;
use std::path::Path;

mod common;

use common::{lanner_output as lanner, scratch_dir as tempdir, text};

/// `name.wasm` built from `crate_dir`, in `dir`, with `yaml` beside it when given.
fn plugin_in(dir: &Path, crate_dir: &str, name: &str, yaml: Option<&str>) -> String {
    let wasm = dir.join(format!("{name}.wasm"));
    std::fs::copy(build_component(crate_dir), &wasm).unwrap();
    if let Some(y) = yaml {
        std::fs::write(dir.join(format!("{name}.yaml")), y).unwrap();
    }
    wasm.display().to_string()
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

const PAYLOADS: &str = r#"# one payload as text, one as base64 ({"user": "bob", "ids": [7, 8, 9]})
{"ts": 1700000000000000001, "source": "app", "data": "{\"user\": \"alice\", \"ids\": [1]}"}
{"ts": 1700000000000000002, "source": "app", "data_base64": "eyJ1c2VyIjogImJvYiIsICJpZHMiOiBbNywgOCwgOV19"}
"#;

#[test]
fn json_plugin_fields_per_payload_event_as_text_and_json() {
    let dir = tempdir("json");
    let wasm = plugin_in(&dir.0, "plugins/json", "json", None);
    let events = write(&dir.0, "events.jsonl", PAYLOADS);

    let o = lanner(&[
        "plugin",
        "test",
        &wasm,
        "--events",
        &events,
        "--fields",
        "json.value[/user],json.len[/ids],json.value[/none]",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "event 1 (line 2, source app, ts 1700000000000000001)\n  json.value[/user] = alice\n  json.len[/ids] = 1\n  json.value[/none] = <NA>\n\n\
         event 2 (line 3, source app, ts 1700000000000000002)\n  json.value[/user] = bob\n  json.len[/ids] = 3\n  json.value[/none] = <NA>\n\n"
    );
    // No json.yaml: said, not silently assumed.
    assert!(
        text(&o.stderr).contains("no json.yaml beside") && text(&o.stderr).contains("no grants"),
        "{}",
        text(&o.stderr)
    );

    // Every declared field without --fields; --json gives one object per event.
    let o = lanner(&["plugin", "test", &wasm, "--events", &events, "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lines: Vec<Value> = text(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["event"], 2);
    assert_eq!(lines[1]["line"], 3);
    assert_eq!(lines[1]["source"], "app");
    let fields = lines[1]["fields"].as_object().unwrap();
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["json.exists", "json.len", "json.obj", "json.value"]);
    assert_eq!(fields["json.obj"], r#"{"ids":[7,8,9],"user":"bob"}"#);
    assert_eq!(fields["json.exists"], true);
    assert_eq!(fields["json.len"], 2);
}

#[test]
fn an_unknown_field_or_a_bad_line_is_said() {
    let dir = tempdir("bad");
    let wasm = plugin_in(&dir.0, "plugins/json", "json", None);
    let events = write(&dir.0, "events.jsonl", PAYLOADS);
    let o = lanner(&["plugin", "test", &wasm, "--events", &events, "--fields", "json.nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(
            "plugin json has no field json.nosuch (it declares json.value, json.obj, json.exists, json.len)"
        ),
        "{}",
        text(&o.stderr)
    );

    let bad = write(&dir.0, "bad.jsonl", &format!("{PAYLOADS}{{\"ts\": 3, \"source\": \"app\"}}\n"));
    let o = lanner(&["plugin", "test", &wasm, "--events", &bad, "--fields", "json.value[/user]"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("line 4: an event of source app without 'data' or 'data_base64'"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(text(&o.stdout).matches("json.value[/user] = ").count(), 2);
}

const PKGOWNER_YAML: &str = "config: {info_dir: /dpkg}\ngrants:\n  dirs:\n    - {host: /var/lib/dpkg/info, guest: /dpkg, mode: ro}\nlimits: {call_timeout_ms: 15000}\n";

const SYSCALLS: &str = r#"{"ts": 1, "type": "execve", "fields": {"proc.name": "cat", "proc.exepath": "/usr/bin/cat"}}
{"ts": 2, "type": "execve", "fields": {"proc.name": "dropped", "proc.exepath": "/tmp/dropped-by-an-exploit"}}
"#;

#[test]
fn a_syscall_extractor_gets_the_syscall_payload_and_its_grants() {
    if !Path::new("/var/lib/dpkg/info/coreutils.list").is_file() {
        eprintln!("skipped: no dpkg database on this machine");
        return;
    }
    let dir = tempdir("pkgowner");
    let wasm = plugin_in(&dir.0, "plugins/pkgowner", "pkgowner", Some(PKGOWNER_YAML));
    let events = write(&dir.0, "execs.jsonl", SYSCALLS);
    let o = lanner(&["plugin", "test", &wasm, "--events", &events]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "event 1 (line 1, source syscall, ts 1)\n  pkg.name = coreutils\n  pkg.owned = true\n\n\
         event 2 (line 2, source syscall, ts 2)\n  pkg.name = <NA>\n  pkg.owned = false\n\n"
    );
    assert!(text(&o.stderr).contains("grants and limits from"), "{}", text(&o.stderr));
}

#[test]
fn a_source_plugin_shows_the_fields_of_its_own_events() {
    let dir = tempdir("k8saudit");
    let audit = repo_root().join("tests/events");
    let yaml = format!("grants:\n  dirs:\n    - {{host: {}, guest: /audit, mode: ro}}\n", audit.display());
    let wasm = plugin_in(&dir.0, "plugins/k8saudit", "k8saudit", Some(&yaml));
    let o = lanner(&[
        "plugin",
        "test",
        &wasm,
        "--open",
        "/audit/k8s_audit.jsonl",
        "--fields",
        "ka.user.name,ka.verb",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lines: Vec<Value> = text(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 8, "{}", text(&o.stdout));
    assert!(lines.iter().all(|l| l["source"] == "k8s_audit" && l.get("line").is_none()));
    assert_eq!(lines[0]["fields"]["ka.user.name"], "alice");
    assert_eq!(lines[0]["fields"]["ka.verb"], "create");
}

#[test]
fn a_python_syscall_extractor_is_tested_the_same_way() {
    let dir = tempdir("b64cmd");
    let wasm = dir.0.join("b64cmd.wasm");
    std::fs::copy(
        lanner_plugin_runtime::testing::build_python_component("plugins/python-b64cmd", "extractor"),
        &wasm,
    )
    .unwrap();
    let events = write(
        &dir.0,
        "execs.jsonl",
        "{\"ts\": 1, \"type\": \"execve\", \"fields\": {\"proc.name\": \"sh\", \"proc.cmdline\": \"sh -c echo Y2F0IC9ldGMvc2hhZG93 | base64 -d | sh\"}}\n\
         {\"ts\": 2, \"type\": \"execve\", \"fields\": {\"proc.name\": \"ls\", \"proc.cmdline\": \"ls -l /tmp\"}}\n",
    );
    let o = lanner(&["plugin", "test", &wasm.display().to_string(), "--events", &events]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "event 1 (line 1, source syscall, ts 1)\n  b64cmd.decoded = cat /etc/shadow\n  b64cmd.found = true\n\n\
         event 2 (line 2, source syscall, ts 2)\n  b64cmd.decoded = <NA>\n  b64cmd.found = false\n\n"
    );
}
