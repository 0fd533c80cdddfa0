//! Falco's own rule-loader cases and upstream rules, run through `lanner validate --json`.
//! The data lives in `../shared/conformance/` beside the checkout (CI has it); where it is
//! absent these tests say so and skip.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn conformance_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    if dir.is_dir() {
        Some(dir.canonicalize().unwrap())
    } else {
        eprintln!("SKIPPED: {} is absent (it sits beside the checkout in CI)", dir.display());
        None
    }
}

fn validate(files: &[PathBuf]) -> (i32, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lanner"));
    // Falco's rules require the container plugin: the one built from plugins/container.
    cmd.env("LANNER_CONTAINER_PLUGIN", lanner_plugin_runtime::testing::build_component("plugins/container"));
    cmd.arg("validate").arg("--json");
    for f in files {
        cmd.arg("-r").arg(f);
    }
    let out = cmd.output().expect("run lanner");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("validate output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
    });
    (out.status.code().unwrap_or(-1), json)
}

/// Every diagnostic of a kind ("errors" or "warnings") across the files.
fn all<'a>(json: &'a Value, kind: &str) -> Vec<&'a Value> {
    json["falco_load_results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f[kind].as_array().unwrap().iter())
        .collect()
}

/// As Falco's own harness matches: the code, and one location with the item type and name
/// (Falco lists the enclosing items too, starting with the whole file).
fn matches(d: &Value, want: &Value) -> bool {
    let locations = d["context"]["locations"].as_array().cloned().unwrap_or_default();
    d["code"] == want["code"]
        && locations.iter().any(|loc| {
            loc["item_type"] == want["item_type"]
                && want.get("item_name").is_none_or(|n| loc["item_name"] == *n)
        })
}

#[test]
fn falco_loader_cases() {
    let Some(dir) = conformance_dir() else { return };
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(dir.join("loader")).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut exact_messages = 0;
    let mut expected_items = 0;
    for case in &cases {
        let expect: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("expect.json")).unwrap()).unwrap();
        let files: Vec<PathBuf> =
            expect["files"].as_array().unwrap().iter().map(|f| case.join(f.as_str().unwrap())).collect();
        let (code, json) = validate(&files);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let mut fail = |why: String| failures.push(format!("{name}: {why}"));
        for kind in ["errors", "warnings"] {
            let got = all(&json, kind);
            for want in expect[kind].as_array().unwrap() {
                expected_items += 1;
                match got.iter().find(|d| matches(d, want)) {
                    None => fail(format!("missing {kind} entry {want}; got {got:?}")),
                    Some(d) if d["message"] == want["message"] => exact_messages += 1,
                    Some(d) => eprintln!(
                        "{name}: equivalent message for {}: ours {:?}, Falco's {:?}",
                        want["code"], d["message"], want["message"]
                    ),
                }
            }
            for absent in expect[format!("absent_{kind}")].as_array().unwrap() {
                if got.iter().any(|d| matches(d, absent)) {
                    fail(format!("{kind} entry that must be absent: {absent}"));
                }
            }
        }
        if let Some(counts) = expect.get("counts").and_then(Value::as_array) {
            for c in counts {
                let kind = c["of"].as_str().unwrap();
                let n = all(&json, kind).len() as u64;
                if n != c["count"].as_u64().unwrap() {
                    fail(format!("{n} {kind}, expected {}", c["count"]));
                }
            }
        }
        if let Some(succ) = expect.get("successful").and_then(Value::as_object) {
            for (i, want) in succ {
                let got = &json["falco_load_results"][i.parse::<usize>().unwrap()]["successful"];
                if got != want {
                    fail(format!("file {i} successful={got}, expected {want}"));
                }
            }
        }
        if code as i64 != expect["exit_code"].as_i64().unwrap() {
            fail(format!("exit code {code}, expected {}", expect["exit_code"]));
        }
    }
    eprintln!(
        "loader conformance: {}/{} cases pass; {exact_messages}/{expected_items} expected messages match Falco's text exactly",
        cases.len()
            - failures
                .iter()
                .map(|f| f.split(':').next().unwrap())
                .collect::<std::collections::HashSet<_>>()
                .len(),
        cases.len()
    );
    assert!(failures.is_empty(), "conformance failures:\n{}", failures.join("\n"));
}

#[test]
fn upstream_stable_rules_load_without_error() {
    let Some(dir) = conformance_dir() else { return };
    let rules = dir.join("falco-rules/falco_rules.yaml");
    let (code, json) = validate(std::slice::from_ref(&rules));
    let errors = all(&json, "errors");
    assert!(errors.is_empty(), "errors: {errors:#?}");
    assert_eq!(code, 0);
    assert_eq!(json["falco_load_results"][0]["successful"], true);

    // Every rule compiled: list-rules describes all 25 with their event types.
    let out = Command::new(env!("CARGO_BIN_EXE_lanner"))
        .args(["list-rules", "--json", "-r"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(out.status.success());
    let desc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let described = desc["rules"].as_array().unwrap();
    let defined =
        std::fs::read_to_string(&rules).unwrap().lines().filter(|l| l.starts_with("- rule:")).count();
    assert_eq!(described.len(), defined, "every rule in the file compiles");
    assert_eq!(defined, 25);
    for r in described {
        assert!(!r["details"]["condition_compiled"].as_str().unwrap().is_empty());
    }
}
