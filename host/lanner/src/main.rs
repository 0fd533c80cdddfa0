//! The `lanner` command: validate and describe rules, list fields, replay event files, and
//! run the detection daemon.

mod availability;
mod cli;
mod config;
mod config_read;
mod console;
mod daemon;
mod deferred;
mod falco_compat;
mod falco_metrics;
mod falco_outputs;
mod internal;
mod live;
mod metrics;
mod node;
mod plugin_test;
mod plugins;
mod replay;
mod resources;
mod rule_selection;
mod rules;
mod scaffold;
mod scap_capture;
mod scap_source;
mod sinks;
mod sources;
mod support;
mod throttle;
mod validate;
mod web;

fn main() -> std::process::ExitCode {
    match cli::main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lanner: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
