//! `lanner run -c falco.yaml`: an operator's Falco configuration runs, with one warning per
//! key Lanner does not implement (file and line), and `--strict` refuses those keys.
//!
//! Falco's own stock file is read from a local clone of falcosecurity/falco when there is one
//! (nothing of it is kept in this repository); a file with its keys and shapes, written here,
//! checks the same behaviour everywhere.

mod common;

use common::{Daemon, cat, lanner, live_allowed, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The keys of Falco's stock falco.yaml that Lanner implements (at the top level); every
/// other top-level key must be warned about.
const IMPLEMENTED: &[&str] = &[
    "config_files",
    "watch_config_files",
    "rules_files",
    "engine",
    "priority",
    "json_output",
    "json_include_output_property",
    "json_include_tags_property",
    "buffered_outputs",
    "rule_matching",
    "outputs_queue",
    "append_output",
    "static_fields",
    "stdout_output",
    "syslog_output",
    "file_output",
    "http_output",
    "program_output",
    "webserver",
    "log_level",
    "syscall_event_drops",
    "metrics",
    "falco_libs",
];

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests")
}

/// The configuration warnings in a log: (key, line).
fn warnings(log: &str, file: &Path) -> Vec<(String, usize)> {
    let prefix = format!("{}: line ", file.display());
    log.lines()
        .filter(|l| l.contains("WARN"))
        .filter_map(|l| {
            let rest = &l[l.find(&prefix)? + prefix.len()..];
            let (line, rest) = rest.split_once(", column ")?;
            let (_, rest) = rest.split_once(": ")?;
            let (key, _) = rest.split_once(": ")?;
            Some((key.to_string(), line.parse().ok()?))
        })
        .collect()
}

/// The top-level keys of a YAML text with their lines.
fn top_level_keys(text: &str) -> Vec<(String, usize)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .filter_map(|(i, l)| Some((l.split_once(':')?.0.to_string(), i + 1)))
        .collect()
}

/// Falco's falco.yaml of its newest release, from a fetched clone, with the tag.
fn stock_falco_yaml() -> Option<(String, String)> {
    let candidates = [
        std::env::var("LANNER_FALCO_REPO").ok().map(PathBuf::from),
        Some(PathBuf::from("/work/.mirror/falcosecurity+falco/repo")),
    ];
    let repo = candidates.into_iter().flatten().find(|p| p.exists())?;
    let git = |args: &[&str]| {
        let out = Command::new("git").arg("--git-dir").arg(&repo).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut tags: Vec<(Vec<u64>, String)> = git(&["tag"])?
        .lines()
        .filter_map(|t| {
            let parts: Option<Vec<u64>> = t.split('.').map(|p| p.parse().ok()).collect();
            parts.filter(|p| p.len() == 3).map(|p| (p, t.to_string()))
        })
        .collect();
    tags.sort();
    let (_, tag) = tags.pop()?;
    Some((tag.clone(), git(&["show", &format!("{tag}:falco.yaml")])?))
}

#[test]
fn falcos_stock_falco_yaml_runs_live_with_a_warning_per_unimplemented_key() {
    let Some((tag, text)) = stock_falco_yaml() else {
        eprintln!(
            "SKIPPED: no clone of falcosecurity/falco (set LANNER_FALCO_REPO to its git directory); \
             the written falco.yaml test below checks the same behaviour"
        );
        return;
    };
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("falco-stock");
    let cfg = dir.join("falco.yaml");
    std::fs::write(&cfg, &text).unwrap();
    // Falco's rules files are not on this host: -r replaces rules_files.
    let out = lanner()
        .args(["run", "-c"])
        .arg(&cfg)
        .arg("-r")
        .arg(data().join("rules/golden.yaml"))
        // The stock file turns syslog on; a test machine may have no /dev/log (the syslog
        // output is tested against rsyslog in falco_outputs.rs).
        .args(["-o", "webserver.enabled=false", "-o", "syslog_output.enabled=false", "--duration", "1"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "falco.yaml of Falco {tag} did not run: {log}");
    assert!(log.contains("capturing"), "{log}");
    let warned = warnings(&log, &cfg);
    let keys = top_level_keys(&text);
    for (key, line) in &keys {
        let here: Vec<_> = warned.iter().filter(|(k, _)| k == key).collect();
        if IMPLEMENTED.contains(&key.as_str()) {
            assert!(here.is_empty(), "{key} is implemented but warned about: {here:?}");
        } else {
            assert_eq!(here, vec![&(key.clone(), *line)], "{key} (line {line}): one warning, at its line");
        }
    }
    let mut seen = std::collections::HashSet::new();
    for w in &warned {
        assert!(seen.insert(w), "warned twice: {w:?}");
    }
    eprintln!("Falco {tag}'s falco.yaml: {} warnings:", warned.len());
    for (k, l) in &warned {
        eprintln!("  line {l}: {k}");
    }
    if tag == "0.44.1" {
        // docs/migrating-from-falco.md says how many; the two must agree.
        let doc = std::fs::read_to_string(data().join("../docs/migrating-from-falco.md")).unwrap();
        let said = format!("0.44.1's stock file gives {} warnings", warned.len());
        assert!(doc.contains(&said), "the docs do not say '{said}'");
    }

    let out = lanner()
        .args(["run", "--strict", "-c"])
        .arg(&cfg)
        .arg("-r")
        .arg(data().join("rules/golden.yaml"))
        // The stock file turns syslog on; a test machine may have no /dev/log (the syslog
        // output is tested against rsyslog in falco_outputs.rs).
        .args(["-o", "webserver.enabled=false", "-o", "syslog_output.enabled=false", "--duration", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for (key, line) in keys.iter().filter(|(k, _)| !IMPLEMENTED.contains(&k.as_str())) {
        let want = format!("{}: line {line}, column 1: unknown key `{key}` (--strict)", cfg.display());
        assert!(err.contains(&want), "{want}\n{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Keys and shapes of Falco's stock file (0.41 to 0.44), in this test's own words.
const WRITTEN: &str = "\
# A Falco node's configuration.
config_files:
  - /nonexistent/falco/config.d
watch_config_files: true
rules_files:
  - /etc/falco/falco_rules.yaml
  - /etc/falco/rules.d
engine:
  kind: modern_ebpf
  kmod:
    buf_size_preset: 4
    drop_failed_exit: false
  modern_ebpf:
    cpus_for_each_buffer: 2
    buf_size_preset: 4
  replay:
    capture_file: \"\"
load_plugins: []
plugins:
  - name: container
    library_path: libcontainer.so
    init_config:
      label_max_len: 100
time_format_iso_8601: false
priority: error
json_output: true
json_include_output_property: true
json_include_message_property: false
json_include_output_fields_property: true
json_include_tags_property: true
buffered_outputs: false
rule_matching: first
outputs_queue:
  capacity: 0
append_output:
  - suggested_output: true
stdout_output:
  enabled: true
syslog_output:
  enabled: false
file_output:
  enabled: false
  keep_alive: false
  filename: ./events.txt
http_output:
  enabled: false
  url: \"\"
program_output:
  enabled: false
  keep_alive: false
  program: \"jq '{text: .output}' | curl -d @- -X POST https://example.invalid/hook\"
webserver:
  enabled: false
  threadiness: 0
  listen_port: 8765
  listen_address: 0.0.0.0
  k8s_healthz_endpoint: /healthz
  prometheus_metrics_enabled: false
  ssl_enabled: false
log_stderr: true
log_syslog: true
log_level: info
syscall_event_drops:
  threshold: .1
  actions:
    - log
    - alert
metrics:
  enabled: false
  interval: 1h
base_syscalls:
  custom_set: []
falco_libs:
  thread_table_size: 262144
  snaplen: 80
";

#[test]
fn a_written_falco_yaml_runs_with_a_warning_per_unimplemented_key_and_strict_refuses_it() {
    let dir = temp_dir("falco-written");
    let cfg = dir.join("falco.yaml");
    std::fs::write(&cfg, WRITTEN).unwrap();
    let run = |extra: &[&str]| {
        lanner()
            .arg("run")
            .args(extra)
            .arg("-c")
            .arg(&cfg)
            .arg("--events")
            .arg(data().join("events/golden.jsonl"))
            .arg("-r")
            .arg(data().join("rules/golden.yaml"))
            .args(["--duration", "1"])
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let mut warned = warnings(&log, &cfg);
    warned.sort();
    let line = |key: &str| {
        let leaf = key.rsplit('.').next().unwrap();
        let indent = "  ".repeat(key.matches('.').count());
        WRITTEN.lines().position(|l| l.starts_with(&format!("{indent}{leaf}:"))).unwrap() + 1
    };
    let mut expected: Vec<(String, usize)> = [
        "engine.kmod",
        "engine.modern_ebpf",
        "load_plugins",
        "plugins",
        "time_format_iso_8601",
        "json_include_message_property",
        "json_include_output_fields_property",
        "outputs_queue.capacity",
        "webserver.threadiness",
        "webserver.k8s_healthz_endpoint",
        "webserver.prometheus_metrics_enabled",
        "webserver.ssl_enabled",
        "log_stderr",
        "log_syslog",
        "base_syscalls",
        "falco_libs.snaplen",
    ]
    .iter()
    .map(|k| (k.to_string(), line(k)))
    .collect();
    expected.sort();
    assert_eq!(warned, expected, "{log}");
    // Shared keys keep Falco's meaning: JSON alerts (json_output), none below error
    // (priority), each with its output text (json_include_output_property).
    let alerts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let priorities: Vec<&str> = alerts.iter().map(|a| a["priority"].as_str().unwrap()).collect();
    assert!(!alerts.is_empty(), "{log}");
    assert!(priorities.iter().all(|p| *p == "Error" || *p == "Critical"), "{priorities:?}");
    assert!(priorities.contains(&"Error") && priorities.contains(&"Critical"), "{priorities:?}");
    assert!(alerts.iter().all(|a| a["output"].is_string() && a["tags"].is_array()), "{alerts:?}");

    let out = run(&["--strict"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    for (key, line) in &expected {
        if key == "outputs_queue.capacity" {
            continue; // known, its value replaced: a warning even under --strict
        }
        let column = 1 + 2 * key.matches('.').count();
        let want = format!("{}: line {line}, column {column}: unknown key `{key}` (--strict)", cfg.display());
        assert!(err.contains(&want), "{want}\n{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `${VAR}` in values, as Falco's loader expands them: the environment's value, nothing when
/// unset, `$${` for a literal `${`; an unquoted expansion takes the type of what it expands to.
#[test]
fn values_expand_environment_variables_as_falco_does() {
    let dir = temp_dir("falco-env");
    let cfg = dir.join("falco.yaml");
    let out_file = dir.join("alerts.txt");
    std::fs::write(
        &cfg,
        "priority: ${LANNER_FCFG_PRIORITY}\n\
         json_output: ${LANNER_FCFG_JSON}\n\
         webserver:\n  enabled: ${LANNER_FCFG_WEB}\n  listen_port: ${LANNER_FCFG_PORT}\n\
         program_output:\n  enabled: true\n  program: \"cat >> ${LANNER_FCFG_DIR}/alerts${LANNER_FCFG_UNSET}.txt; echo '$${HOME}' >> ${LANNER_FCFG_DIR}/literal.txt\"\n",
    )
    .unwrap();
    let run = |json: &str| {
        lanner()
            .args(["run", "-c"])
            .arg(&cfg)
            .arg("--events")
            .arg(data().join("events/golden.jsonl"))
            .arg("-r")
            .arg(data().join("rules/golden.yaml"))
            .args(["--duration", "1"])
            .env("LANNER_FCFG_PRIORITY", "critical")
            .env("LANNER_FCFG_JSON", json)
            .env("LANNER_FCFG_WEB", "false")
            .env("LANNER_FCFG_PORT", "9")
            .env("LANNER_FCFG_DIR", &dir)
            .env_remove("LANNER_FCFG_UNSET")
            .output()
            .unwrap()
    };
    let out = run("true");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let alerts: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!alerts.is_empty() && alerts.iter().all(|a| a["priority"] == "Critical"), "{stdout}");
    let written = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(written.lines().count(), alerts.len(), "program_output expanded: {written}");
    let literal = std::fs::read_to_string(dir.join("literal.txt")).unwrap();
    assert_eq!(literal.lines().count(), alerts.len(), "{literal}");
    assert!(literal.lines().all(|l| l == "${HOME}"), "$${{ is a literal ${{: {literal}");
    // A value that expands to something of the wrong type is an error at the key's line.
    let out = run("maybe");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}: line 2, column 1: json_output: invalid type", cfg.display())),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The alerts' hostname: LANNER_HOSTNAME, else Falco's FALCO_HOSTNAME (what the DaemonSet
/// sets from spec.nodeName), else the kernel's hostname.
#[test]
fn the_alert_hostname_comes_from_the_environment_when_set() {
    let hostnames = |env: &[(&str, &str)]| {
        let mut cmd = lanner();
        cmd.args(["run", "--json", "--events"])
            .arg(data().join("events/golden.jsonl"))
            .arg("-r")
            .arg(data().join("rules/golden.yaml"))
            .args(["-o", "webserver.enabled=false", "--duration", "1"])
            .env_remove("LANNER_HOSTNAME")
            .env_remove("FALCO_HOSTNAME");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{log}");
        let names: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["hostname"].as_str().unwrap().to_string())
            .collect();
        (names, log)
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let one = |s: &str| std::collections::BTreeSet::from([s.to_string()]);
    let (names, _) = hostnames(&[]);
    assert_eq!(names, one(&kernel));
    let (names, log) = hostnames(&[("FALCO_HOSTNAME", "node-falco-7")]);
    assert_eq!(names, one("node-falco-7"));
    assert!(log.contains("the alerts' hostname is node-falco-7, from FALCO_HOSTNAME"), "{log}");
    let (names, _) = hostnames(&[("FALCO_HOSTNAME", "node-falco-7"), ("LANNER_HOSTNAME", "node-lanner-7")]);
    assert_eq!(names, one("node-lanner-7"), "Lanner's variable first");
    let (names, log) = hostnames(&[("LANNER_HOSTNAME", "")]);
    assert_eq!(names, one(""), "set but empty is used, as Falco does");
    assert!(log.contains("LANNER_HOSTNAME is set but empty"), "{log}");
}

/// The rules the golden events raise alerts of, under a configuration and options.
fn rules_fired(cfg: &Path, options: &[&str]) -> (Vec<String>, String) {
    let out = lanner()
        .args(["run", "--json", "-c"])
        .arg(cfg)
        .arg("--events")
        .arg(data().join("events/golden.jsonl"))
        .arg("-r")
        .arg(data().join("rules/golden.yaml"))
        .args(["-o", "webserver.enabled=false", "--duration", "1"])
        .args(options)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    let mut fired: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["rule"].as_str().unwrap().to_string())
        .collect();
    fired.dedup();
    (fired, log)
}

/// Falco's `rules:` section: items in order, by name pattern and by tag, over the files'
/// `enabled`; the same from `-o rules[]...`; `list-rules -c` shows the result.
#[test]
fn the_rules_section_enables_and_disables_in_order_by_name_and_tag() {
    let dir = temp_dir("falco-rules-sel");
    let cfg = dir.join("falco.yaml");
    let all = ["Shell From Web Server", "Etc Write", "Connect Outside", "Env And Transformers"];
    std::fs::write(&cfg, "rules: []\n").unwrap();
    let (fired, _) = rules_fired(&cfg, &[]);
    assert_eq!(fired, all, "every golden rule fires without a selection");

    // Only two rules: everything off, then two on (one by a pattern, one by a tag).
    std::fs::write(
        &cfg,
        "rules:\n  - disable:\n      rule: \"*\"\n  - enable:\n      rule: Conn*\n  - enable:\n      tag: filesystem\n",
    )
    .unwrap();
    let (fired, log) = rules_fired(&cfg, &[]);
    assert_eq!(fired, ["Etc Write", "Connect Outside"]);
    assert!(log.contains("rules[0]: disable rules named '*': 4 rules"), "{log}");
    assert!(log.contains("rules[2]: enable rules tagged 'filesystem': 1 rules"), "{log}");
    // Order matters: the same items the other way round leave everything off.
    std::fs::write(&cfg, "rules:\n  - enable: {rule: Conn*}\n  - disable: {rule: \"*\"}\n").unwrap();
    let (fired, _) = rules_fired(&cfg, &[]);
    assert!(fired.is_empty(), "{fired:?}");
    // -o items come after the file's, in their order; an item matching nothing is a warning.
    std::fs::write(&cfg, "rules:\n  - disable: {tag: process}\n").unwrap();
    let (fired, log) = rules_fired(
        &cfg,
        &[
            "-o",
            "rules[].disable.rule=Env *",
            "-o",
            "rules[].enable.rule=Shell*",
            "-o",
            "rules[].disable.tag=nosuchtag",
        ],
    );
    assert_eq!(fired, ["Shell From Web Server", "Etc Write", "Connect Outside"]);
    assert!(log.contains("rules[3]: disable rules tagged 'nosuchtag': 0 rules (it matches none)"), "{log}");
    assert!(log.lines().any(|l| l.contains("WARN") && l.contains("nosuchtag")), "{log}");

    // list-rules shows what a run with this configuration enables.
    let out = lanner()
        .args(["list-rules", "--json", "-c"])
        .arg(&cfg)
        .arg("-r")
        .arg(data().join("rules/golden.yaml"))
        .args(["-o", "rules[].disable.rule=Etc*"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let described: Value = serde_json::from_slice(&out.stdout).unwrap();
    let enabled: Vec<(String, bool)> = described["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["info"]["name"].as_str().unwrap().to_string(), r["info"]["enabled"].as_bool().unwrap()))
        .collect();
    let want: Vec<(String, bool)> =
        all.iter().map(|n| (n.to_string(), !["Shell From Web Server", "Etc Write"].contains(n))).collect();
    assert_eq!(enabled, want);
    let out = lanner()
        .args(["list-rules", "-c"])
        .arg(&cfg)
        .arg("-r")
        .arg(data().join("rules/golden.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Shell From Web Server (disabled)") && !text.contains("Etc Write (disabled)"),
        "{text}"
    );

    // A malformed item names its line.
    std::fs::write(&cfg, "priority: debug\nrules:\n  - disable: {rule: a}\n  - disable: {}\n").unwrap();
    let out =
        lanner().args(["run", "-c"]).arg(&cfg).args(["-o", "webserver.enabled=false"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let want = format!(
        "{}: line 4, column 5: rules[1].disable: an enable or disable item needs a rule or a tag",
        cfg.display()
    );
    assert!(err.contains(&want), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Rules of the golden events that read Falco's static fields: one holds for the configured
/// value, one for another value (it must not fire).
const STATIC_RULES: &str = "\
- rule: Etc Write In Cluster
  desc: test rule
  condition: evt.type = openat and evt.is_open_write = true and static.env = prod and tolower(static.cluster) startswith eu-
  output: \"write %fd.name in %static.cluster\"
  priority: ERROR
- rule: Etc Write Elsewhere
  desc: test rule
  condition: evt.type = openat and evt.is_open_write = true and static.env = dev
  output: \"elsewhere %fd.name\"
  priority: ERROR
";

/// Falco's `static_fields`: each NAME is the text field `static.NAME` of every event, usable
/// in conditions and outputs; with `append_output`'s `suggested_output` (on in Falco's
/// file and in Lanner's defaults) every alert ends with `static_NAME=VALUE`, so its
/// `output_fields` hold `static.NAME`. Values are text as written, after `${VAR}`.
#[test]
fn static_fields_are_fields_of_conditions_and_of_every_alert() {
    let dir = temp_dir("falco-static");
    let cfg = dir.join("falco.yaml");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, STATIC_RULES).unwrap();
    std::fs::write(
        &cfg,
        "append_output:\n  - suggested_output: true\n\
         static_fields:\n  cluster: ${LANNER_SF_CLUSTER}\n  env: prod\n  version: 1.10\n",
    )
    .unwrap();
    let run = |options: &[&str]| {
        let out = lanner()
            .args(["run", "-c"])
            .arg(&cfg)
            .arg("--events")
            .arg(data().join("events/golden.jsonl"))
            .arg("-r")
            .arg(data().join("rules/golden.yaml"))
            .arg("-r")
            .arg(&rules)
            .args(["-o", "webserver.enabled=false", "-o", "rule_matching=all", "--duration", "1"])
            .args(options)
            .env("LANNER_SF_CLUSTER", "EU-West")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, log) = run(&["-o", "json_output=true"]);
    assert_eq!(code, Some(0), "{log}");
    let alerts: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let rules_fired: Vec<&str> = alerts.iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert!(rules_fired.contains(&"Etc Write In Cluster"), "{rules_fired:?}");
    assert!(!rules_fired.contains(&"Etc Write Elsewhere"), "static.env is prod: {rules_fired:?}");
    assert!(alerts.len() >= 4, "{rules_fired:?}");
    // In Falco's order: the static class comes before the plugins' fields.
    let tail = " static_cluster=EU-West static_env=prod static_version=1.10 container_id=";
    for a in &alerts {
        let f = &a["output_fields"];
        assert_eq!(f["static.cluster"], "EU-West", "{a}");
        assert_eq!(f["static.env"], "prod", "{a}");
        assert_eq!(f["static.version"], "1.10", "text as written, not the number 1.1: {a}");
        assert!(a["output"].as_str().unwrap().contains(tail), "{a}");
    }
    let own = alerts.iter().find(|a| a["rule"] == "Etc Write In Cluster").unwrap();
    assert!(own["output"].as_str().unwrap().starts_with("write /etc/"), "{own}");
    assert!(own["output"].as_str().unwrap().contains(" in EU-West static_cluster=EU-West"), "{own}");

    // Text alerts end the same way; without suggested_output nothing is appended, yet the
    // fields still answer conditions and outputs.
    let (code, stdout, log) = run(&[]);
    assert_eq!(code, Some(0), "{log}");
    assert!(!stdout.is_empty() && stdout.lines().all(|l| l.contains(tail)), "{stdout}");
    let (code, stdout, log) = run(&["-o", "json_output=true", "-o", "append_output=[]"]);
    assert_eq!(code, Some(0), "{log}");
    let alerts: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let own = alerts.iter().find(|a| a["rule"] == "Etc Write In Cluster").expect("still fires");
    assert_eq!(own["output_fields"]["static.cluster"], "EU-West", "{own}");
    assert!(own["output_fields"].get("static.env").is_none(), "not appended: {own}");
    assert!(alerts.iter().all(|a| !a["output"].as_str().unwrap().contains("static_")), "{stdout}");

    // -o sets one, as Falco's -o does.
    let (code, stdout, log) = run(&["-o", "json_output=true", "-o", "static_fields.env=dev"]);
    assert_eq!(code, Some(0), "{log}");
    let alerts: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let rules_fired: Vec<&str> = alerts.iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert!(rules_fired.contains(&"Etc Write Elsewhere"), "{rules_fired:?}");
    assert!(!rules_fired.contains(&"Etc Write In Cluster"), "{rules_fired:?}");

    // Falco's escapes in -o keys: a dot inside a static field's name.
    let (code, stdout, log) = run(&["-o", r"static_fields.k8s\.cluster=c1"]);
    assert_eq!(code, Some(0), "{log}");
    assert!(!stdout.is_empty() && stdout.lines().all(|l| l.contains(" static_k8s_cluster=c1 ")), "{stdout}");

    // A rule naming a static field that is not configured does not load.
    let (code, _, log) = run(&["-o", "static_fields={env: prod}"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("nonexistent field static.cluster"), "{log}");
    // A value without text, or a name rules could not write, is an error at load (Falco
    // would drop every static field without a word).
    std::fs::write(&cfg, "static_fields:\n  cluster: eu\n  env:\n").unwrap();
    let (code, _, log) = run(&[]);
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains(&format!("{}: line 3, column 3: static_fields.env: invalid type", cfg.display())),
        "{log}"
    );
    std::fs::write(&cfg, "static_fields:\n  \"my cluster\": eu\n").unwrap();
    let (code, _, log) = run(&[]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("static_fields: 'my cluster' is not a field name"), "{log}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A reload with other static field values uses them from then on (Falco restarts to the
/// same effect).
#[test]
fn a_reload_changes_static_field_values() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("falco-static-reload");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Static Marker\n  desc: cat opened a marker\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains static-marker and static.zone != off\n  output: 'opened %fd.name'\n  priority: WARNING\n",
    )
    .unwrap();
    let cfg = dir.join("falco.yaml");
    let write_cfg = |zone: &str| {
        std::fs::write(
            &cfg,
            format!(
                "rules_files: [{}]\njson_output: true\nwatch_config_files: true\nwebserver:\n  enabled: false\nstatic_fields:\n  zone: {zone}\n",
                rules.display()
            ),
        )
        .unwrap()
    };
    write_cfg("a");
    let d = Daemon::start(&["-c", cfg.to_str().unwrap()]);
    let m1 = dir.join("static-marker-1");
    std::fs::write(&m1, "x").unwrap();
    cat(&m1);
    let a = d.wait_alert("Static Marker", "static-marker-1");
    assert_eq!(a["output_fields"]["static.zone"], "a", "{a}");
    // Falco's order: the static fields first, then the plugins' suggestions.
    assert!(a["output"].as_str().unwrap().contains(" static_zone=a container_id="), "{a}");
    write_cfg("b");
    d.wait_log("reloaded", Duration::from_secs(20));
    let m2 = dir.join("static-marker-2");
    std::fs::write(&m2, "x").unwrap();
    cat(&m2);
    let a = d.wait_alert("Static Marker", "static-marker-2");
    assert_eq!(a["output_fields"]["static.zone"], "b", "{a}");
    // A value the condition excludes turns the rule off after the next reload.
    let before = d.log_count("reloaded");
    write_cfg("off");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while d.log_count("reloaded") == before {
        assert!(std::time::Instant::now() < deadline, "no second reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    let m3 = dir.join("static-marker-3");
    std::fs::write(&m3, "x").unwrap();
    cat(&m3);
    let (alerts, _) = d.stop_with_alerts();
    assert!(
        !alerts.iter().any(|a| a["output"].as_str().unwrap_or("").contains("static-marker-3")),
        "static.zone is off: {alerts:#?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Falco 0.41's per-rule `capture` keys load (as in Falco) but Lanner writes no capture
/// file: the run says so, naming the rules, and their alerts are still raised.
#[test]
fn rules_asking_for_capture_run_and_are_warned_about() {
    let dir = temp_dir("falco-capture-keys");
    let rules = dir.join("rules.yaml");
    let write = |capture: &str| {
        std::fs::write(
            &rules,
            format!(
                "- rule: Etc Write Captured\n  desc: d\n  condition: evt.type = openat and evt.is_open_write = true\n  output: \"write %fd.name\"\n  priority: ERROR\n  capture: {capture}\n  capture_duration: 2000\n"
            ),
        )
        .unwrap()
    };
    let run = || {
        lanner()
            .args(["run", "--json", "--events"])
            .arg(data().join("events/golden.jsonl"))
            .arg("-r")
            .arg(&rules)
            .args(["-o", "webserver.enabled=false", "--duration", "1"])
            .output()
            .unwrap()
    };
    write("true");
    let out = run();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("capture: true in 1 enabled rule(s) (Etc Write Captured)")
            && l.contains("no capture file is written")),
        "{log}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Etc Write Captured"), "the rule still fires");
    write("false");
    let out = run();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !log.contains("capture: true"), "{log}");
    // Falco decodes it as a boolean.
    write("sometimes");
    let out = run();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && log.contains("Can't decode YAML scalar value"), "{log}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Falco's `append_output` `extra_fields`: fields added to the JSON alerts' `output_fields`
/// only, for the rules an entry matches: `- FIELD` with its own (typed) value, `- KEY:
/// FORMAT` with the format's text; the alert text is unchanged.
#[test]
fn extra_fields_go_to_output_fields_only_for_the_rules_matched() {
    let dir = temp_dir("falco-extra-fields");
    let cfg = dir.join("falco.yaml");
    std::fs::write(
        &cfg,
        "append_output:\n  - match: {tags: [filesystem]}\n    extra_fields:\n      - user.uid\n      - who: \"%proc.name on %evt.type\"\n  - match: {rule: Connect Outside}\n    extra_fields:\n      - fd.sport\n",
    )
    .unwrap();
    let run = |options: &[&str]| {
        lanner()
            .args(["run", "-c"])
            .arg(&cfg)
            .arg("--events")
            .arg(data().join("events/golden.jsonl"))
            .arg("-r")
            .arg(data().join("rules/golden.yaml"))
            .args(["-o", "webserver.enabled=false", "--duration", "1"])
            .args(options)
            .output()
            .unwrap()
    };
    let plain = lanner()
        .args(["run", "--json", "--events"])
        .arg(data().join("events/golden.jsonl"))
        .arg("-r")
        .arg(data().join("rules/golden.yaml"))
        .args(["-o", "webserver.enabled=false", "-o", "append_output=[]", "--duration", "1"])
        .output()
        .unwrap();
    let out = run(&["-o", "json_output=true"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let alerts: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let before: Vec<Value> =
        String::from_utf8_lossy(&plain.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), before.len());
    for (a, b) in alerts.iter().zip(&before) {
        assert_eq!(a["output"], b["output"], "the text is unchanged");
        let f = a["output_fields"].as_object().unwrap();
        match a["rule"].as_str().unwrap() {
            "Etc Write" => {
                assert!(f["user.uid"].is_u64(), "a raw field keeps its type: {a}");
                let who = f["who"].as_str().unwrap();
                assert!(
                    who.ends_with(" on openat")
                        && who.starts_with(a["output_fields"]["proc.name"].as_str().unwrap()),
                    "{a}"
                );
            }
            "Connect Outside" => {
                assert!(f["fd.sport"].is_u64(), "{a}");
                assert!(!f.contains_key("who"), "{a}");
            }
            _ => assert!(!f.contains_key("who") && !f.contains_key("fd.sport"), "{a}"),
        }
    }
    assert!(alerts.iter().any(|a| a["rule"] == "Etc Write"), "{alerts:?}");
    // A format that names no field is an output error of the rules it applies to.
    std::fs::write(&cfg, "append_output:\n  - extra_fields:\n      - who: \"%proc.nosuch\"\n").unwrap();
    let out = run(&[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert!(
        log.contains("LOAD_ERR_COMPILE_OUTPUT") || log.contains("invalid formatting token proc.nosuch"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Falco validates and lists fields after adding the static field class: `lanner -c FILE -V`
/// and `--list` do the same with the configuration's static fields.
#[test]
fn validate_and_list_know_the_configured_static_fields() {
    let dir = temp_dir("falco-static-cli");
    let cfg = dir.join("falco.yaml");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, STATIC_RULES).unwrap();
    std::fs::write(&cfg, "static_fields:\n  cluster: eu-1\n  env: prod\n").unwrap();
    let run = |args: &[&str]| {
        let out = lanner().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (c, r) = (cfg.to_str().unwrap(), rules.to_str().unwrap());
    let (code, out, err) = run(&["-c", c, "-V", r]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = run(&["-V", r]);
    assert_eq!(code, Some(1), "without the configuration static.env is unknown: {out}{err}");
    assert!(format!("{out}{err}").contains("static.env"), "{out}{err}");
    let (code, out, err) = run(&["-c", c, "--list=syscall", "-N"]);
    assert_eq!(code, Some(0), "{err}");
    let names: Vec<&str> = out.lines().collect();
    assert!(names.contains(&"static.cluster") && names.contains(&"static.env"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}
