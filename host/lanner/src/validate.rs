//! `lanner validate` (and Falco's `-V`): loads rules files with the plugins' fields known
//! and reports each file's diagnostics and verdict, as text or as Falco's JSON.

use crate::plugins;
use anyhow::Result;
use lanner_engine::{EngineConfig, describe};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) fn validate(paths: &[PathBuf], json: bool, plugins_dir: Option<&Path>) -> Result<ExitCode> {
    validate_with(paths, json, plugins_dir, &Default::default())
}

/// `validate` with the configuration's static fields (`lanner -V FILE -c falco.yaml`: as
/// Falco, whose validation runs after the static field class is added).
pub(crate) fn validate_with(
    paths: &[PathBuf],
    json: bool,
    plugins_dir: Option<&Path>,
    static_fields: &std::collections::BTreeMap<String, String>,
) -> Result<ExitCode> {
    let set = plugins::load(plugins_dir)?;
    let mut cfg = EngineConfig::syscall();
    cfg.static_fields = static_fields.clone();
    plugins::configure(&set, &mut cfg, &crate::config::AppendOutput::falco_default())?;
    let outcome = crate::rules::load(paths, &cfg);
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &describe::validation(&outcome.files))?;
        writeln!(out)?;
    } else {
        for f in &outcome.files {
            for d in &f.diagnostics {
                writeln!(out, "{d}")?;
            }
            let errors = f.errors().count();
            let warnings = f.warnings().count();
            let verdict = match (errors, warnings) {
                (0, 0) => "Ok".to_string(),
                (0, w) => format!("Ok, with {w} warning{}", if w == 1 { "" } else { "s" }),
                (e, w) => format!(
                    "Invalid: {e} error{}, {w} warning{}",
                    if e == 1 { "" } else { "s" },
                    if w == 1 { "" } else { "s" }
                ),
            };
            writeln!(out, "{}: {verdict}", f.name)?;
        }
    }
    Ok(if outcome.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
