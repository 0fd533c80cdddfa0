//! `lanner replay` and `lanner validate` on crafted rules and events: rules that must fire
//! do, with exact output text; look-alikes do not; bad input gets clear errors.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests").join(rel)
}

/// `lanner` without the `container` plugin, whatever the build tree holds: these outputs are
/// the rules' own (the plugin's suggested fields, appended to every output when it is loaded,
/// are tested in `containers.rs`).
fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lanner"));
    c.env("LANNER_CONTAINER_PLUGIN", "");
    c
}

fn lanner(args: &[&str]) -> Output {
    command().args(args).output().expect("run lanner")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(rel: &str) -> String {
    data(rel).display().to_string()
}

#[test]
fn golden_text_alerts() {
    let o = lanner(&["replay", &path("events/golden.jsonl"), "-r", &path("rules/golden.yaml")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = "\
2023-11-14T22:13:20.000000001Z: Warning shell bash under nginx (cmd=bash -i gp=systemd tty=<NA>)
2023-11-14T22:13:20.000000003Z: Warning shell zsh under nginx (cmd=zsh gp=<NA> tty=<NA>)
2023-11-14T22:13:20.000000005Z: Error write /etc/cron.d/evil by python3 uid=0
2023-11-14T22:13:20.000000009Z: Notice connect to 203.0.113.7:4444 by nc
2023-11-14T22:13:20.000000011Z: Critical preload /tmp/x.so for CURL
";
    assert_eq!(stdout(&o), expected);
}

#[test]
fn golden_json_alerts() {
    let o = lanner(&["replay", "--json", &path("events/golden.jsonl"), "-r", &path("rules/golden.yaml")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let alerts: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), 5);
    let a = &alerts[0];
    assert_eq!(a["rule"], "Shell From Web Server");
    assert_eq!(a["priority"], "Warning");
    assert_eq!(a["source"], "syscall");
    assert_eq!(a["time"], "2023-11-14T22:13:20.000000001Z");
    assert_eq!(a["tags"], serde_json::json!(["process", "T1059"]));
    assert_eq!(a["output"], "shell bash under nginx (cmd=bash -i gp=systemd tty=<NA>)");
    assert_eq!(
        a["output_fields"],
        serde_json::json!({"proc.name": "bash", "proc.pname": "nginx", "proc.cmdline": "bash -i", "proc.aname[2]": "systemd", "proc.tty": null})
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(a["hostname"], host.trim());
    assert_eq!(alerts[2]["output_fields"]["user.uid"], 0);
    assert_eq!(alerts[3]["output_fields"]["fd.sport"], 4444);
}

#[test]
fn later_file_appends_overrides_and_disables() {
    let o = lanner(&[
        "replay",
        &path("events/golden.jsonl"),
        "-r",
        &path("rules/golden.yaml"),
        "-r",
        &path("rules/append_override.yaml"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // The appended `and proc.tty != 0` needs a tty the events lack: the shell rule is silent.
    assert!(!out.contains("shell "), "{out}");
    // Priority and output replaced.
    assert!(out.contains("Critical override: /etc/cron.d/evil"), "{out}");
    // Disabled.
    assert!(!out.contains("connect to"), "{out}");
    assert!(out.contains("Critical preload /tmp/x.so"), "{out}");
}

#[test]
fn all_matches_mode_reports_every_rule() {
    let rules = data("rules/golden.yaml");
    let extra = std::env::temp_dir().join(format!("lanner-extra-{}.yaml", std::process::id()));
    std::fs::write(
        &extra,
        "- rule: Any Bash\n  desc: d\n  condition: evt.type = execve and proc.name = bash\n  output: any %proc.name\n  priority: debug\n",
    )
    .unwrap();
    let args = |all: bool| {
        let mut a = vec![
            "replay".to_string(),
            path("events/golden.jsonl"),
            "-r".into(),
            rules.display().to_string(),
            "-r".into(),
            extra.display().to_string(),
        ];
        if all {
            a.push("--all-matches".into());
        }
        a
    };
    let first = command().args(args(false)).output().unwrap();
    let all = command().args(args(true)).output().unwrap();
    std::fs::remove_file(&extra).ok();
    // bash under nginx matches both rules; bash under sshd only the second.
    assert_eq!(stdout(&first).matches("Debug any bash").count(), 1, "{}", stdout(&first));
    assert_eq!(stdout(&all).matches("Debug any bash").count(), 2, "{}", stdout(&all));
    assert_eq!(stdout(&all).matches("shell bash under nginx").count(), 1);
}

#[test]
fn default_rules_fire_on_stdin_events() {
    let mut child = command()
        .args(["run", "--json", "--events", "-", "-o", "webserver.enabled=false"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            br#"{"ts": 1, "type": "openat", "fields": {"evt.is_open_read": true, "fd.typechar": "f", "fd.num": 3, "fd.name": "/etc/shadow", "proc.name": "cat", "proc.cmdline": "cat /etc/shadow", "proc.pname": "bash", "user.name": "root", "user.uid": 0, "container.id": "host"}}
{"ts": 2, "type": "openat", "fields": {"evt.is_open_read": true, "fd.typechar": "f", "fd.num": 3, "fd.name": "/etc/shadow", "proc.name": "sshd", "container.id": "host"}}
"#,
        )
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let alerts: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"], "Read Sensitive File by Untrusted Program");
    // A folded (`>`) output is trimmed, as Falco trims it.
    assert_eq!(
        alerts[0]["output"],
        "Sensitive file opened for reading (file=/etc/shadow process=cat command=cat /etc/shadow parent=bash user=root uid=0 container=host)"
    );
}

#[test]
fn default_rules_validate_without_warnings() {
    let o = lanner(&["validate", "-r", &path("../rules/lanner_rules.yaml")]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).ends_with(": Ok\n"), "{}", stdout(&o));
}

/// Runs validate and returns (exit code, text output).
fn validate(file: &str) -> (i32, String) {
    let o = lanner(&["validate", "-r", &path(file)]);
    (o.status.code().unwrap(), stdout(&o))
}

#[test]
fn bad_input_gets_clear_errors() {
    let (code, out) = validate("rules/bad_typo.yaml");
    assert_eq!(code, 1);
    assert!(out.contains("bad_typo.yaml:6:"), "{out}");
    assert!(out.contains("rule 'Typo In Condition'"), "{out}");
    assert!(out.contains("LOAD_ERR_COMPILE_CONDITION"), "{out}");
    assert!(out.contains("unexpected token after 'bash', expecting 'or', 'and'"), "{out}");

    let (code, out) = validate("rules/bad_unknown_field.yaml");
    assert_eq!(code, 1);
    assert!(out.contains("bad_unknown_field.yaml:3:"), "{out}");
    assert!(out.contains("nonexistent field proc.nmae"), "{out}");

    let (code, out) = validate("rules/bad_unknown_macro.yaml");
    assert_eq!(code, 1);
    assert!(out.contains("Undefined macro 'not_defined_anywhere' used in filter."), "{out}");

    let (code, out) = validate("rules/bad_list_cycle.yaml");
    assert_eq!(code, 1);
    assert!(out.contains("bad_list_cycle.yaml:1:3: error: list 'a'"), "{out}");
    assert!(out.contains("List 'a' has a cyclic reference: a -> b -> a"), "{out}");

    let (code, out) = validate("rules/bad_macro_cycle.yaml");
    assert_eq!(code, 1);
    assert!(out.contains("Macro 'ping' has a cyclic reference: ping -> pong -> ping"), "{out}");

    let (code, out) = validate("rules/bad_yaml.yaml");
    assert_eq!(code, 1);
    assert!(out.contains("bad_yaml.yaml:4:"), "{out}");
    assert!(out.contains("LOAD_ERR_YAML_PARSE"), "{out}");

    let o = lanner(&["validate", "-r", "/nonexistent/rules.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("LOAD_ERR_FILE_READ"), "{}", stdout(&o));
}

#[test]
fn a_bad_event_line_is_reported_and_the_rest_processed() {
    let dir = std::env::temp_dir().join(format!("lanner-bad-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ev = dir.join("e.jsonl");
    std::fs::write(
        &ev,
        "{\"ts\": 1, \"type\": \"execve\", \"fields\": {\"proc.nmae\": \"x\"}}\n{\"ts\": 2, \"type\": \"execve\", \"fields\": {\"proc.name\": \"bash\", \"proc.pname\": \"nginx\"}}\n",
    )
    .unwrap();
    let o = lanner(&["replay", ev.to_str().unwrap(), "-r", &path("rules/golden.yaml")]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("line 1: unknown field 'proc.nmae'"), "{}", stderr(&o));
    assert!(stdout(&o).contains("shell bash under nginx"), "{}", stdout(&o));
}

#[test]
fn list_fields_prints_the_registry() {
    let o = lanner(&["list-fields", "--json"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let fields = v["fields"].as_array().unwrap();
    let find = |n: &str| fields.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("{n} missing"));
    assert_eq!(find("fd.num")["type"], "INT64");
    assert_eq!(find("fd.sip")["type"], "IPADDR");
    assert_eq!(find("proc.duration")["type"], "RELTIME");
    assert!(find("proc.aname")["arg"].as_str().unwrap().contains("numeric"));
    assert!(find("evt.arg")["arg"].is_string());
    assert!(find("proc.name")["arg"].is_null());
    assert!(fields.iter().all(|f| !f["desc"].as_str().unwrap().is_empty()));
}

#[test]
fn list_rules_canonical_condition() {
    let o = lanner(&["list-rules", "--json", "-r", &path("rules/golden.yaml")]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rule = &v["rules"][0];
    assert_eq!(rule["info"]["name"], "Shell From Web Server");
    assert_eq!(
        rule["details"]["condition_compiled"],
        "((evt.type in (execve, execveat) and proc.name in (bash, sh, zsh) and proc.pname = nginx) and not proc.cmdline = \"sh -c healthcheck\")"
    );
    assert_eq!(rule["details"]["events"], serde_json::json!(["execve", "execveat"]));
    assert_eq!(rule["details"]["exception_fields"], serde_json::json!(["proc.cmdline"]));
    assert_eq!(v["lists"][1]["details"]["items_compiled"], serde_json::json!(["bash", "sh", "zsh"]));
    assert_eq!(v["macros"][0]["details"]["used"], true);
}

/// A rules file that does not load stops the replay with each error said once, with its
/// file, line and item, and a last line that counts them (not the list a second time).
#[test]
fn rules_that_do_not_load_are_reported_once() {
    let dir = std::env::temp_dir().join(format!("lanner-replay-badrules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("bad.yaml");
    std::fs::write(
        &rules,
        "- rule: broken one\n  desc: d\n  condition: evt.type = openat and not_a_field = 1\n  output: o\n  priority: INFO\n",
    )
    .unwrap();
    let o = lanner(&["replay", "-r", rules.to_str().unwrap(), &path("events/golden.jsonl")]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.matches("not_a_field").count(), 1, "{err}");
    assert!(err.contains("bad.yaml:3"), "{err}");
    assert!(err.contains("the rules did not load (1 error above)"), "{err}");
    assert!(!err.contains("rules did not load: rules did not load"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn transformers_in_outputs_as_falco() {
    let dir = std::env::temp_dir().join(format!("lanner-foutfmt-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("r.yaml");
    std::fs::write(
        &rules,
        "- rule: Shadow Read\n  desc: d\n  condition: evt.type = openat and basename(fd.name) = shadow\n  \
         output: 'by %tolower(proc.name) up=%toupper( tolower(proc.name) ) file=%basename(fd.name) n=%len(fd.name) b=%b64(proc.args)'\n  \
         priority: WARNING\n",
    )
    .unwrap();
    let events = dir.join("e.jsonl");
    std::fs::write(
        &events,
        "{\"ts\": 1, \"type\": \"openat\", \"fields\": {\"fd.name\": \"/etc/shadow\", \"proc.name\": \"CaT\", \"proc.args\": \"aGVsbG8=\"}}\n",
    )
    .unwrap();
    let o = lanner(&["replay", "--json", events.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let alerts: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), 1, "{}", stdout(&o));
    assert_eq!(alerts[0]["output"], "by cat up=CAT file=shadow n=11 b=hello");
    // Falco's JSON names the inner fields and gives their raw values.
    assert_eq!(
        alerts[0]["output_fields"],
        serde_json::json!({"proc.name": "CaT", "fd.name": "/etc/shadow", "proc.args": "aGVsbG8="})
    );
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "- rule: Bad\n  desc: d\n  condition: evt.type = openat\n  output: 'n=%toupper(evt.num)'\n  priority: WARNING\n",
    )
    .unwrap();
    let o = lanner(&["replay", "--json", events.to_str().unwrap(), "-r", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("invalid formatting token toupper(evt.num): transformer toupper cannot be applied"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
