//! `lanner support`: the bundle holds what a bug report needs and none of the secrets of the
//! configuration it describes, nor the token of the daemon it asked.

mod common;

use common::{Daemon, cat, free_port, lanner, live_allowed, temp_dir};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Every file of a tar.gz, by its path below the bundle's top folder.
fn unpack(path: &Path) -> BTreeMap<String, String> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let (top, rest) = name.split_once('/').unwrap();
        assert!(top.starts_with("lanner-support-"), "{name}");
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        files.insert(rest.to_string(), text);
    }
    files
}

const WEBHOOK_SECRET: &str = "whk-7f3a9c1e55d2";
const HEADER_SECRET: &str = "hdr-bearer-0b8e6d4c2a";
const SLACK_SECRET: &str = "T0001/B0002/slk9XyZ8wVu7";
const SMTP_PASSWORD: &str = "smtp-pw-Quartz-4412";
const TOKEN: &str = "tok-metrics-5e1d77b09c3f";
const PROGRAM_SECRET: &str = "prog-cred-83jd72";

#[test]
fn the_bundle_has_the_facts_and_none_of_the_secrets() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("support");
    let token = dir.join("metrics.token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    // A daemon, with its endpoint behind the token, that has raised an internal alert (a
    // rules change it rejected).
    let rules = dir.join("rules.yaml");
    let rule = |name: &str| {
        format!(
            "- rule: {name}\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = {}\n  output: \"{name} %fd.name\"\n  priority: WARNING\n",
            dir.join("support-marker").display()
        )
    };
    std::fs::write(&rules, rule("Support Rule")).unwrap();
    let port = free_port();
    let daemon_cfg = dir.join("daemon.yaml");
    std::fs::write(
        &daemon_cfg,
        format!(
            "rules_files: [{}]\njson_output: true\nwatch_config_files: true\nwebserver:\n  listen_port: {port}\n  metrics_token_file: {}\n",
            rules.display(),
            token.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", daemon_cfg.to_str().unwrap()]);
    std::fs::write(dir.join("support-marker"), "x").unwrap();
    cat(&dir.join("support-marker"));
    d.wait_alert("Support Rule", "support-marker");
    std::fs::write(
        &rules,
        "- rule: Broken\n  desc: d\n  condition: evt.type = openat and (\n  output: x\n  priority: INFO\n",
    )
    .unwrap();
    d.wait_alert("Lanner internal: reload failed", "rules.yaml");
    std::fs::write(&rules, rule("Support Rule")).unwrap();
    d.wait_log("reloaded", Duration::from_secs(20));

    // The configuration described: sinks with a webhook URL and header, a Slack webhook, an
    // SMTP password, a program with credentials, and the token file.
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/rules/golden.yaml");
    let cfg = dir.join("lanner.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"rules_files: [{golden}]
webserver:
  listen_port: {port}
  metrics_token_file: {token}
program_output:
  enabled: true
  program: "curl -s -u alerts:{PROGRAM_SECRET} --data-binary @- https://alerts.example.net/in"
plugin_outputs:
  - name: receiver
    plugin: webhook
    init_config:
      url: "https://receiver.example.com/hooks/{WEBHOOK_SECRET}"
      headers: {{Authorization: "Bearer {HEADER_SECRET}", X-Source: lanner}}
      timeout_ms: 5000
    grants: {{http: ["receiver.example.com"]}}
  - name: chat
    plugin: slack
    init_config: {{webhook_url: "https://hooks.slack.com/services/{SLACK_SECRET}"}}
    grants: {{http: [hooks.slack.com]}}
  - name: mail
    plugin: email
    init_config:
      server: "smtp.example.org:587"
      from: lanner@example.org
      to: [soc@example.org]
      username: lanner-mailer
      password: "{SMTP_PASSWORD}"
    grants: {{tcp: ["smtp.example.org:587"]}}
"#,
            golden = golden.display(),
            token = token.display(),
        ),
    )
    .unwrap();
    let bundle = dir.join("bundle.tar.gz");
    let out = lanner()
        .args(["support", "-c", cfg.to_str().unwrap(), "-w", bundle.to_str().unwrap()])
        .args(["--daemon", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    // At least the six secrets the configuration holds (the embedded defaults can add more,
    // such as http_output's client_key path).
    let redacted: usize = stdout
        .split(" value(s) redacted")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no redaction count: {stdout}"));
    assert!(redacted >= 6, "{stdout}");
    d.stop();

    let files = unpack(&bundle);
    // No secret anywhere: not in any file, not in what the command printed.
    for secret in
        [WEBHOOK_SECRET, HEADER_SECRET, SLACK_SECRET, "slk9XyZ8wVu7", SMTP_PASSWORD, TOKEN, PROGRAM_SECRET]
    {
        for (name, text) in &files {
            assert!(!text.contains(secret), "{secret} is in {name}:\n{text}");
        }
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} printed");
    }
    for f in [
        "version.txt",
        "kernel.txt",
        "config/effective.yaml",
        "config/load.txt",
        "plugins.json",
        "rules/load-results.txt",
        "rules/load-results.json",
        "daemon/plugins.json",
        "daemon/metrics.txt",
        "daemon/internal-alerts.txt",
        "README.txt",
    ] {
        assert!(files.contains_key(f), "{f} missing: {:?}", files.keys());
    }
    // The facts are there.
    assert!(files["version.txt"].contains(env!("CARGO_PKG_VERSION")));
    let kernel = &files["kernel.txt"];
    assert!(kernel.contains("uname: Linux"), "{kernel}");
    let btf = if Path::new("/sys/kernel/btf/vmlinux").exists() { "btf: present" } else { "btf: absent" };
    assert!(kernel.contains(btf), "{kernel}");
    let config = &files["config/effective.yaml"];
    for kept in [
        "https://receiver.example.com/<redacted>",
        "https://hooks.slack.com/<redacted>",
        "X-Source",
        "smtp.example.org:587",
        "lanner-mailer",
        "soc@example.org",
        "metrics_token_file",
        "curl <redacted>",
        "timeout_ms: 5000",
        &format!("listen_port: {port}"),
    ] {
        assert!(config.contains(kept), "{kept} kept in:\n{config}");
    }
    assert!(files["config/load.txt"].contains("loads: ok"), "{}", files["config/load.txt"]);
    let rules_text = &files["rules/load-results.txt"];
    assert!(rules_text.contains("golden.yaml: ok"), "{rules_text}");
    let results: serde_json::Value = serde_json::from_str(&files["rules/load-results.json"]).unwrap();
    assert_eq!(results["falco_load_results"][0]["successful"], true);
    // The daemon answered with the token of the configuration, and its internal alert is
    // picked out of its metrics.
    assert!(files["daemon/status.txt"].contains("/metrics: ok"), "{}", files["daemon/status.txt"]);
    let internal = &files["daemon/internal-alerts.txt"];
    assert!(internal.contains("Lanner internal: reload failed"), "{internal}");
    assert!(files["daemon/metrics.txt"].contains("lanner_events_processed_total"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unreachable_daemon_is_said_and_a_broken_configuration_still_gives_a_bundle() {
    let dir = temp_dir("support-broken");
    let cfg = dir.join("lanner.yaml");
    std::fs::write(&cfg, "priority: loud\nplugin_outputs:\n  - name: x\n    plugin: webhook\n    init_config: {url: \"https://h.example.com/p/unreachable-secret-1\"}\n").unwrap();
    let bundle = dir.join("b.tar.gz");
    let port = free_port();
    let out = lanner()
        .args(["support", "-c", cfg.to_str().unwrap(), "-w", bundle.to_str().unwrap()])
        .args(["--daemon", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("the configuration does not load") && stderr.contains("priority"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "the unreachable daemon is named: {stderr}");
    let files = unpack(&bundle);
    assert!(files["config/load.txt"].contains("loads: error"), "{}", files["config/load.txt"]);
    assert!(files["config/effective.yaml"].contains("priority: loud"));
    assert!(files["README.txt"].contains("Problems met"), "{}", files["README.txt"]);
    assert!(files["daemon/status.txt"].contains("/plugins:"), "{}", files["daemon/status.txt"]);
    for (name, text) in &files {
        assert!(!text.contains("unreachable-secret-1"), "in {name}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
