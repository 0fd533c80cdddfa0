//! Fuzzes the rules loader: YAML, items, appends and overrides, compilation.
//!
//! The input is read as text (lossy UTF-8) and split at NUL bytes into up to
//! [`MAX_FILES`] rules files loaded in order, so that one input can define items in one
//! file and append to or override them in the next. An input without NUL is one file.
//!
//! Properties: loading never panics; describing the result (Falco's validation and rules
//! JSON) never panics; every compiled rule's and macro's `condition_compiled` parses again.
#![no_main]

use lanner_engine::parser::parse_condition;
use lanner_engine::{EngineConfig, RulesSource, describe, load};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Files past this many are loaded as part of the last one.
const MAX_FILES: usize = 3;

fuzz_target!(|data: &[u8]| {
    static CFG: OnceLock<EngineConfig> = OnceLock::new();
    let cfg = CFG.get_or_init(EngineConfig::syscall);
    let files: Vec<RulesSource> = data
        .splitn(MAX_FILES, |&b| b == 0)
        .enumerate()
        .map(|(i, part)| RulesSource {
            name: format!("fuzz_{i}.yaml"),
            content: String::from_utf8_lossy(part).into_owned(),
        })
        .collect();
    let outcome = load(cfg, &files);
    assert_eq!(outcome.files.len(), files.len());
    for d in outcome.diagnostics() {
        let _ = d.to_string();
    }
    let _ = describe::validation(&outcome.files);
    let rs = &outcome.ruleset;
    let _ = describe::rules(rs);
    let _ = rs.needed_event_types();
    for r in rs.rules() {
        let _ = r.event_types();
        if let Err(e) = parse_condition(&r.condition_compiled) {
            panic!(
                "rule {:?}: condition_compiled does not parse: {e} (at {})\n {:?}",
                r.name, e.at, r.condition_compiled
            );
        }
    }
    for m in rs.macros() {
        let _ = m.event_types();
        if let Some(c) = &m.condition_compiled
            && let Err(e) = parse_condition(c)
        {
            panic!("macro {:?}: condition_compiled does not parse: {e} (at {})\n {c:?}", m.name, e.at);
        }
    }
    let _ = outcome.into_result().map_err(|e| e.to_string());
});
