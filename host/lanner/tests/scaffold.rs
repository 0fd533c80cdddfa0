//! `lanner plugin new`: each kind of project, in each language (a JavaScript sink aside,
//! which is refused), is written in a temporary folder, built as its README says (`./build.sh`), loaded by the real binary and seen to
//! work: an extractor's field fires a rule in `lanner replay`, a source's events fire a rule
//! through `replay --open`, a sink gets the alerts of a live `lanner run` in its granted
//! file. The sink tests need root (live capture), or LANNER_SKIP_LIVE=1 to skip them.

mod common;

use common::{Daemon, cat, live_allowed, temp_dir};
use lanner_plugin_runtime::testing::wasm_target_dir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn lanner_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lanner"));
    c.env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"));
    c
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `lanner plugin new NAME --kind KIND --lang LANG --dir DIR/NAME`: the project's folder.
fn scaffold(dir: &Path, name: &str, kind: &str, lang: &str) -> PathBuf {
    let project = dir.join(name);
    let out = lanner_bin()
        .args(["plugin", "new", name, "--kind", kind, "--lang", lang, "--dir"])
        .arg(&project)
        .output()
        .unwrap();
    assert!(out.status.success(), "plugin new: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("./build.sh"), "{}", text(&out));
    project
}

/// `./build.sh` in the project, as its README says: `NAME.wasm` beside it. Rust projects
/// share one target folder (the SDK and its dependencies are built once for all of them).
fn build(project: &Path, name: &str) -> PathBuf {
    let out = Command::new("./build.sh")
        .current_dir(project)
        .env("CARGO_TARGET_DIR", wasm_target_dir().join("scaffold"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "./build.sh in {}: {}", project.display(), text(&out));
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{} was built", wasm.display());
    wasm
}

/// `mkdir -p plugins && cp NAME.wasm NAME.yaml plugins/`, as the README says.
fn install(project: &Path, name: &str) -> PathBuf {
    let plugins = project.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for f in [format!("{name}.wasm"), format!("{name}.yaml")] {
        std::fs::copy(project.join(&f), plugins.join(&f)).unwrap();
    }
    plugins
}

fn alerts(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The extractor project's rule on `NAME.argc` fires for the event with more than three
/// arguments of its `events.json`, and only for it.
fn extractor_fires(lang: &str) {
    let name = format!("scafx_{lang}");
    let dir = temp_dir(&format!("scaffold-extractor-{lang}"));
    let project = scaffold(&dir, &name, "extractor", lang);
    build(&project, &name);
    install(&project, &name);
    let out = lanner_bin()
        .current_dir(&project)
        .args(["replay", "--plugins-dir", "plugins", "-r", "rules.yaml", "events.json", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let a = alerts(&out);
    assert_eq!(a.len(), 1, "only the tar event: {}", text(&out));
    assert_eq!(a[0]["rule"], format!("{name} many arguments"));
    assert_eq!(a[0]["output_fields"][format!("{name}.argc")].to_string().trim_matches('"'), "5", "{}", a[0]);
    assert_eq!(a[0]["output_fields"]["proc.name"], "tar", "{}", a[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The source project's rule fires for its `hello` event, read through `replay --open`.
fn source_fires(lang: &str) {
    let name = format!("scafs_{lang}");
    let dir = temp_dir(&format!("scaffold-source-{lang}"));
    let project = scaffold(&dir, &name, "source", lang);
    build(&project, &name);
    install(&project, &name);
    let out = lanner_bin()
        .current_dir(&project)
        .args(["replay", "--plugins-dir", "plugins", "--open"])
        .arg(format!("{name}=hello,world,hello"))
        .args(["-r", "rules.yaml", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let a = alerts(&out);
    assert_eq!(a.len(), 2, "the two hello events, not world: {}", text(&out));
    for alert in &a {
        assert_eq!(alert["rule"], format!("{name} hello"));
        assert_eq!(alert["source"], name.as_str());
        assert_eq!(alert["output"], format!("{name} said hello"), "{alert}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A live `lanner run -c NAME.yaml -o sink_plugins_dir=PROJECT -r rules.yaml`, as the README
/// says: an open of the marker file raises the rule's alert, which the sink appends to
/// `/var/log/lanner/NAME/alerts.log` through its grant.
fn sink_delivers(lang: &str) {
    if !live_allowed() {
        return;
    }
    let name = format!("scafk_{lang}_{}", std::process::id());
    let dir = temp_dir(&format!("scaffold-sink-{lang}"));
    let project = scaffold(&dir, &name, "sink", lang);
    build(&project, &name);
    let granted = PathBuf::from(format!("/var/log/lanner/{name}"));
    std::fs::create_dir_all(&granted).unwrap();
    // SAFETY: every test of this binary sets the same value; the daemon inherits it.
    unsafe { std::env::set_var("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache")) };
    let config = project.join(format!("{name}.yaml"));
    let sinks = format!("sink_plugins_dir={}", project.display());
    let rules = project.join("rules.yaml");
    let d = Daemon::start(&[
        "-c",
        config.to_str().unwrap(),
        "-o",
        &sinks,
        "-o",
        "webserver.enabled=false",
        "-o",
        "json_output=true",
        "-r",
        rules.to_str().unwrap(),
    ]);
    let marker = dir.join(format!("{name}-marker"));
    std::fs::write(&marker, "x").unwrap();
    let log = granted.join("alerts.log");
    let rule = format!("{name} marker read");
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        cat(&marker);
        let got = std::fs::read_to_string(&log).unwrap_or_default();
        if got.lines().any(|l| l.contains(&rule)) {
            break got;
        }
        assert!(Instant::now() < deadline, "no alert in {} after 60 s: {got:?}", log.display());
        std::thread::sleep(Duration::from_millis(200));
    };
    let (stdout_alerts, _) = d.stop_with_alerts();
    assert!(stdout_alerts.iter().any(|a| a["rule"] == rule.as_str()), "stdout has the alert too");
    let line = delivered.lines().find(|l| l.contains(&rule)).unwrap();
    // `TIME PRIORITY RULE: OUTPUT`
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(time.parse::<u64>().unwrap() > 1_600_000_000_000_000_000, "{line}");
    assert!(rest.starts_with(&format!("Warning {rule}: ")), "{line}");
    assert!(rest.contains(&format!(" opened {}", marker.display())), "{line}");
    let _ = std::fs::remove_dir_all(&granted);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rust_extractor_project_builds_and_its_field_fires_a_rule_in_replay() {
    extractor_fires("rust");
}

#[test]
fn rust_source_project_builds_and_its_events_fire_a_rule_through_replay_open() {
    source_fires("rust");
}

#[test]
fn rust_sink_project_builds_and_gets_the_alerts_of_lanner_run() {
    sink_delivers("rust");
}

#[test]
fn python_extractor_project_builds_and_its_field_fires_a_rule_in_replay() {
    extractor_fires("python");
}

#[test]
fn python_source_project_builds_and_its_events_fire_a_rule_through_replay_open() {
    source_fires("python");
}

#[test]
fn python_sink_project_builds_and_gets_the_alerts_of_lanner_run() {
    sink_delivers("python");
}

#[test]
fn javascript_extractor_project_builds_and_its_field_fires_a_rule_in_replay() {
    extractor_fires("javascript");
}

#[test]
fn javascript_source_project_builds_and_its_events_fire_a_rule_through_replay_open() {
    source_fires("javascript");
}

#[test]
fn a_javascript_sink_is_refused_with_the_reason() {
    let dir = temp_dir("scaffold-js-sink");
    let err = scaffold_err(&dir, &["jssink", "--kind", "sink", "--lang", "javascript"]);
    assert!(err.contains("no JavaScript sink template"), "{err}");
    assert!(!dir.join("jssink").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_rust_project_depends_on_the_sdk_of_this_checkout_by_path_and_names_the_git_form() {
    let dir = temp_dir("scaffold-sdk");
    let project = scaffold(&dir, "sdkpath", "extractor", "rust");
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin-sdk").canonicalize().unwrap();
    assert!(manifest.contains(&format!("path = \"{}\"", sdk.display())), "{manifest}");
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(readme.contains("the path form"), "{readme}");
    assert!(readme.contains("git = \"https://github.com/lanner-dev/lanner\""), "{readme}");
    // --sdk overrides; a folder that is not the SDK is refused with its name.
    let other = scaffold_err(&dir, &["sdkother", "--kind", "sink", "--sdk", "/usr"]);
    assert!(other.contains("--sdk /usr: not the Lanner plugin SDK"), "{other}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn scaffold_err(dir: &Path, args: &[&str]) -> String {
    let out = lanner_bin().current_dir(dir).args(["plugin", "new"]).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_non_empty_folder_and_an_invalid_name_are_refused_with_a_clear_message() {
    let dir = temp_dir("scaffold-refusals");
    std::fs::create_dir_all(dir.join("taken")).unwrap();
    std::fs::write(dir.join("taken/notes.txt"), "mine").unwrap();
    let err = scaffold_err(&dir, &["taken", "--kind", "extractor"]);
    assert!(err.contains("taken exists and is not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("taken/notes.txt")).unwrap(), "mine", "left as it was");
    assert_eq!(std::fs::read_dir(dir.join("taken")).unwrap().count(), 1, "nothing written into it");
    for bad in ["My-Plugin", "proc", "../escape"] {
        let err = scaffold_err(&dir, &[bad, "--kind", "source", "--lang", "python"]);
        assert!(err.contains(&format!("invalid plugin name \"{bad}\"")), "{err}");
    }
    assert!(!dir.join("My-Plugin").exists() && !dir.join("proc").exists());
    // An empty folder is taken.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let out = lanner_bin()
        .current_dir(&dir)
        .args(["plugin", "new", "fresh", "--kind", "source", "--lang", "javascript", "--dir", "empty"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.join("empty/plugin.js").is_file() && dir.join("empty/fresh.yaml").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The SDK as `cargo package` makes it (what a registry or a git dependency gets) carries
/// every WIT file it is generated from, and builds on its own.
#[test]
fn the_packaged_sdk_carries_its_wit_and_builds() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin-sdk");
    let cargo = |args: &[&str]| {
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&sdk)
            .args(args)
            .args(["--allow-dirty", "--features", "extractor", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(wasm_target_dir().join("sdk-package"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .unwrap()
    };
    // cargo package writes a lock file into the SDK's folder: removed again if it was not there.
    let had_lock = sdk.join("Cargo.lock").exists();
    let list = cargo(&["package", "--list"]);
    assert!(list.status.success(), "{}", text(&list));
    let files = String::from_utf8_lossy(&list.stdout).into_owned();
    let repo_wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
    let mut expected = vec!["wit/plugin.wit".to_string()];
    for v in std::fs::read_dir(&repo_wit).unwrap() {
        let v = v.unwrap().path();
        if v.is_dir() {
            expected.push(format!("wit/{}/plugin.wit", v.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(expected.len() >= 5, "{expected:?}");
    for f in &expected {
        assert!(files.lines().any(|l| l == f), "{f} is packaged: {files}");
    }
    let package = cargo(&["package"]);
    assert!(package.status.success(), "cargo package (which builds the packaged crate): {}", text(&package));
    if !had_lock {
        let _ = std::fs::remove_file(sdk.join("Cargo.lock"));
    }
}
