//! Falco's command line on the real binary: `lanner -V`, `-L`, `-l`, `--list`, `--list-events`,
//! `--dry-run`, `-c`/`-r`/`-o` for a run, and refusals that name the flag.

mod common;

use common::{lanner, temp_dir};
use std::path::{Path, PathBuf};
use std::process::Output;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let Output { status, stdout, stderr } = lanner().args(args).output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

const BAD_RULES: &str =
    "- rule: Broken\n  desc: d\n  condition: evt.type = nosuchevent\n  output: o\n  priority: WARNING\n";

#[test]
fn dash_v_validates_and_version_is_long_only() {
    let dir = temp_dir("fcli-validate");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, BAD_RULES).unwrap();
    let golden = data().join("rules/golden.yaml");
    let golden = golden.to_str().unwrap();

    let (code, out, _) = run(&["-V", golden]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("golden.yaml: Ok"), "{out}");
    // Through the front too, with several files: each gets its verdict, and the bad one fails.
    let (code, out, _) = run(&["falco-compat", "-V", golden, "--validate", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("golden.yaml: Ok") && out.contains("bad.yaml: Invalid"), "{out}");
    // json_output through -o gives Falco's validation JSON.
    let (code, out, _) = run(&["-o", "json_output=true", "-V", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["falco_load_results"][0]["successful"], false, "{v}");

    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("lanner "), "{out}");
    // -V without a file is Falco's validate missing its value, not the version.
    let (code, _, err) = run(&["-V"]);
    assert_eq!(code, 2);
    assert!(err.contains("-V: a value is required"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn describe_all_and_one_rule() {
    let golden = data().join("rules/golden.yaml");
    let golden = golden.to_str().unwrap();
    let (code, out, _) = run(&["-r", golden, "-L"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Shell From Web Server") && out.contains("Etc Write"), "{out}");

    let (code, out, _) = run(&["-r", golden, "-l", "Etc Write"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Etc Write") && !out.contains("Shell From Web Server"), "{out}");

    let (code, out, _) = run(&["-r", golden, "-o", "json_output=true", "-l", "Etc Write"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rules = v["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{v}");
    assert_eq!(rules[0]["info"]["name"], "Etc Write");
    assert_eq!(rules[0]["info"]["priority"], "Error");

    let (code, _, err) = run(&["-r", golden, "-l", "No Such Rule"]);
    assert_eq!(code, 2);
    assert!(err.contains("No Such Rule"), "{err}");

    // The rules come from the configuration file's rules_files when -r is absent, as in Falco.
    let dir = temp_dir("fcli-describe");
    let cfg = dir.join("falco.yaml");
    std::fs::write(&cfg, format!("rules_files:\n  - {golden}\nwebserver:\n  enabled: false\n")).unwrap();
    let (code, out, _) = run(&["-c", cfg.to_str().unwrap(), "-L"]);
    assert_eq!(code, 0);
    assert!(out.contains("Connect Outside"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn list_fields_and_events() {
    let (code, out, _) = run(&["--list=syscall", "-N"]);
    assert_eq!(code, 0);
    let names: Vec<&str> = out.lines().collect();
    assert!(names.contains(&"proc.name") && names.contains(&"fd.name"), "{out}");
    let (code, all, _) = run(&["--list"]);
    assert_eq!(code, 0);
    assert!(all.lines().any(|l| l.starts_with("proc.name ")), "descriptions are printed");
    let (code, _, err) = run(&["--list=k8s_audit"]);
    assert_eq!(code, 2);
    assert!(err.contains("k8s_audit") && err.contains("syscall"), "{err}");

    let (code, out, _) = run(&["--list-events"]);
    assert_eq!(code, 0);
    let events: Vec<&str> = out.lines().collect();
    assert!(events.contains(&"openat") && events.contains(&"execve"), "{out}");
}

#[test]
fn dry_run_loads_everything_and_processes_nothing() {
    let dir = temp_dir("fcli-dry");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, BAD_RULES).unwrap();
    let golden = data().join("rules/golden.yaml");
    let (code, out, err) =
        run(&["--dry-run", "-r", golden.to_str().unwrap(), "-o", "webserver.enabled=false"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run:") && out.contains("no events processed"), "{out}");
    let (code, _, err) = run(&["--dry-run", "-r", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml") && err.contains("nosuchevent"), "{err}");
    // A bad -o is a configuration error here too.
    let (code, _, err) = run(&["--dry-run", "-o", "priority=loud"]);
    assert_ne!(code, 0);
    assert!(err.contains("priority"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_run_with_falco_flags_reads_c_r_and_o() {
    // A recorded file through -o engine.* (no kernel needed), the rules through -r, the
    // format through -o: the golden alerts come out as JSON; -M ends the run after its
    // seconds (a replay with a duration otherwise waits, serving its endpoint).
    let d = data();
    let started = std::time::Instant::now();
    let (code, out, err) = run(&[
        "-r",
        d.join("rules/golden.yaml").to_str().unwrap(),
        "-o",
        "engine.kind=replay",
        "-o",
        &format!("engine.replay.capture_file={}", d.join("events/golden.jsonl").display()),
        "-o",
        "webserver.enabled=false",
        "-o",
        "json_output=true",
        "-M",
        "2",
    ]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(
        took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_secs(30),
        "{took:?}"
    );
    let alerts: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), 5, "{out}");
    assert_eq!(alerts[0]["rule"], "Shell From Web Server");
}

#[test]
fn unsupported_flags_and_source_selection_are_refused_by_name() {
    let (code, _, err) = run(&["-U", "-P", "/run/lanner.pid", "--page-size", "--nonsense"]);
    assert_eq!(code, 2);
    for flag in ["-U (", "-P (", "--page-size (", "--nonsense ("] {
        assert!(err.contains(flag), "{flag} named: {err}");
    }
    let (code, _, err) = run(&["--disable-source", "syscall", "--dry-run"]);
    assert_eq!(code, 2);
    assert!(err.contains("--disable-source syscall") && err.contains("cannot turn off"), "{err}");
    let (code, _, err) = run(&["--enable-source", "k8s_audit", "--dry-run"]);
    assert_eq!(code, 2);
    assert!(err.contains("\"k8s_audit\" is not known"), "{err}");
    let (code, _, err) = run(&["--enable-source", "syscall", "--disable-source", "syscall"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be mixed"), "{err}");
    // The front's help lists the refused flags, each with its reason.
    let (code, out, _) = run(&["falco-compat", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("-V, --validate FILE") && out.contains("--page-size"), "{out}");
    // Enabling the only loaded source keeps what runs: accepted.
    let (code, out, err) = run(&["--enable-source", "syscall", "--dry-run", "-o", "webserver.enabled=false"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run:"), "{out}");
}

#[test]
fn support_writes_the_bundle_of_lanner_support() {
    let dir = temp_dir("fcli-support");
    let out = lanner().args(["--support", "-o", "priority=warning"]).current_dir(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let written: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lanner-support-") && n.ends_with(".tar.gz"))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(stdout.contains(&written[0]), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sources_of_plugins_in_list_describe_and_source_selection() {
    use lanner_plugin_runtime::testing::build_component;
    // k8saudit (the k8s_audit source) and json (an extractor of every source), in the
    // configuration's plugins_dir as Falco reads plugins from its configuration.
    let dir = temp_dir("fcli-plugins");
    let plugins = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(build_component("plugins/json"), plugins.join("json.wasm")).unwrap();
    std::fs::copy(build_component("plugins/k8saudit"), plugins.join("k8saudit.wasm")).unwrap();
    let pd = format!("plugins_dir={}", plugins.display());

    let (code, out, err) = run(&["-o", &pd, "--list=k8s_audit", "-N"]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = out.lines().collect();
    assert!(names.contains(&"ka.verb") && names.contains(&"json.value"), "{out}");
    assert!(!names.contains(&"proc.name"), "syscall fields are not k8s_audit's: {out}");
    let (_, out, _) = run(&["-o", &pd, "--list=syscall", "-N"]);
    assert!(out.lines().any(|l| l == "proc.name") && !out.lines().any(|l| l == "ka.verb"), "{out}");

    // -L on rules of the plugin's source.
    let k8s_rules = data().join("../rules/k8s_audit_rules.yaml");
    let (code, out, err) = run(&["-o", &pd, "-r", k8s_rules.to_str().unwrap(), "-L"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("K8s Exec Into Pod") && out.contains("K8s Privileged Pod Created"), "{out}");

    // Keeping both sources is what runs: accepted. Keeping only syscall would turn
    // k8s_audit off: refused, naming it.
    let (code, out, err) =
        run(&["-o", &pd, "--enable-source", "syscall", "--enable-source", "k8s_audit", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run:"), "{out}");
    let (code, _, err) = run(&["-o", &pd, "--enable-source", "syscall", "--dry-run"]);
    assert_eq!(code, 2);
    assert!(err.contains("would turn off k8s_audit"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
