//! Rules files as the commands and the daemon load them: the embedded defaults when none
//! is named, an unreadable file reported with Falco's read error.

use lanner_engine::{EngineConfig, LoadOutcome, RulesSource};
use std::path::PathBuf;

const DEFAULT_RULES: &str = include_str!("../../../rules/lanner_rules.yaml");
const DEFAULT_RULES_NAME: &str = "<embedded>/lanner_rules.yaml";

fn sources(paths: &[PathBuf]) -> Vec<RulesSource> {
    if paths.is_empty() {
        return vec![RulesSource { name: DEFAULT_RULES_NAME.into(), content: DEFAULT_RULES.into() }];
    }
    paths
        .iter()
        .map(|p| match RulesSource::read(p) {
            Ok(s) => s,
            // An unreadable file becomes a YAML-level error for that file, named.
            Err(e) => RulesSource { name: p.display().to_string(), content: format!("\0{e}") },
        })
        .collect()
}

pub(crate) fn load(paths: &[PathBuf], cfg: &EngineConfig) -> LoadOutcome {
    let srcs = sources(paths);
    let mut outcome = lanner_engine::load(cfg, &srcs);
    // Report unreadable files with Falco's read error rather than a YAML one.
    for (f, src) in outcome.files.iter_mut().zip(&srcs) {
        if let Some(err) = src.content.strip_prefix('\0') {
            f.successful = false;
            f.diagnostics = vec![lanner_engine::Diagnostic {
                code: lanner_engine::Code::LoadErrFileRead,
                message: format!("Could not read file {}: {err}", f.name),
                locations: vec![lanner_engine::Location {
                    item_type: lanner_engine::ItemType::RulesContent,
                    item_name: String::new(),
                    file: f.name.clone(),
                    pos: Default::default(),
                }],
            }];
        }
    }
    outcome
}
