//! `lanner falco-compat FLAGS...` (and `lanner -FLAG...`): Falco's command line, mapped onto
//! Lanner's commands so that an operator's scripts and fingers keep working after a
//! migration. Each Falco flag either keeps Falco's meaning or is refused by name: a flag
//! silently ignored would leave an operator believing a setting took effect.

use crate::config::{Config, Sources};
use anyhow::{Context, Result, bail};
use lanner_engine::describe;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Falco flags Lanner does not implement, with why: named in the refusal.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("-i", "Lanner has no events ignored by default"),
    ("--config-schema", "Lanner's configuration schema is config/lanner.yaml"),
    ("--rule-schema", "no JSON schema of rules is shipped"),
    ("--markdown", "only text and JSON listings"),
    ("--format", "only text and JSON listings (json_output=true)"),
    ("--plugin-info", "use `lanner plugins list` for a plugin's fields and grants"),
    ("-p", "deprecated in Falco; use -o append_output"),
    ("--print", "deprecated in Falco; use -o append_output"),
    ("-P", "no PID file; run under systemd or Kubernetes"),
    ("--pidfile", "no PID file; run under systemd or Kubernetes"),
    ("-U", "outputs are unbuffered unless buffered_outputs is set"),
    ("--unbuffered", "outputs are unbuffered unless buffered_outputs is set"),
    ("-v", "set log_level (-o log_level=debug)"),
    ("--page-size", "the ring buffer is sized in bytes (engine.ebpf.ring_buffer_bytes)"),
];

/// Falco flags that take a value, with how the value is written.
const WITH_VALUE: &[&str] = &[
    "-c",
    "-r",
    "-o",
    "--option",
    "-V",
    "--validate",
    "-l",
    "-M",
    "--enable-source",
    "--disable-source",
    "--plugin-info",
    "-p",
    "--print",
    "-P",
    "--pidfile",
    "--format",
];

/// The command line as Falco reads it.
#[derive(Debug, Default, PartialEq)]
pub struct Flags {
    pub help: bool,
    pub version: bool,
    pub config: Option<PathBuf>,
    pub rules: Vec<PathBuf>,
    pub options: Vec<String>,
    pub validate: Vec<PathBuf>,
    pub describe_all: bool,
    pub describe_rule: Option<String>,
    /// `--list`: `Some("")` for every source's fields.
    pub list: Option<String>,
    pub names_only: bool,
    pub list_events: bool,
    pub list_plugins: bool,
    pub dry_run: bool,
    pub support: bool,
    pub enable_sources: Vec<String>,
    pub disable_sources: Vec<String>,
    pub duration: Option<f64>,
}

/// Reads Falco's flags; every unsupported or unknown flag is collected and refused together.
pub fn parse(args: &[String]) -> Result<Flags> {
    let mut f = Flags::default();
    let mut refused = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        // `--flag=value`, as cxxopts takes it.
        // `-rFILE` and `-okey=value`: a short flag's value may follow it at once.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ if !arg.starts_with("--")
                && arg.len() > 2
                && arg.get(..2).is_some_and(|f| WITH_VALUE.contains(&f)) =>
            {
                (&arg[..2], Some(arg[2..].to_string()))
            }
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args.get(i).with_context(|| format!("{name}: a value is required"))?;
            i += 1;
            Ok(v.clone())
        };
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == name) {
            if WITH_VALUE.contains(&name) && inline.is_none() {
                i += 1;
            }
            refused.push(format!("{name} ({why})"));
            continue;
        }
        match name {
            "-h" | "--help" => f.help = true,
            "--version" => f.version = true,
            "-c" => f.config = Some(value()?.into()),
            "-r" => f.rules.push(value()?.into()),
            "-o" | "--option" => f.options.push(value()?),
            "-V" | "--validate" => f.validate.push(value()?.into()),
            "-L" => f.describe_all = true,
            "-l" => f.describe_rule = Some(value()?),
            "--list" => {
                // Falco takes the source as `--list=SOURCE`; a following word that is not a
                // flag is taken as the source too.
                let src = match inline.clone() {
                    Some(v) => v,
                    None if args.get(i).is_some_and(|a| !a.starts_with('-')) => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => String::new(),
                };
                f.list = Some(src);
            }
            "-N" => f.names_only = true,
            "--list-events" => f.list_events = true,
            "--list-plugins" => f.list_plugins = true,
            "--dry-run" => f.dry_run = true,
            "--support" => f.support = true,
            "--enable-source" => f.enable_sources.push(value()?),
            "--disable-source" => f.disable_sources.push(value()?),
            "-M" => {
                let v = value()?;
                let secs: f64 = v.parse().with_context(|| format!("-M {v}: a number of seconds"))?;
                // Falco's 0 means no limit.
                f.duration = (secs > 0.0).then_some(secs);
            }
            other => refused.push(format!("{other} (not a Falco flag Lanner knows)")),
        }
    }
    if !refused.is_empty() {
        bail!("these Falco flags are not supported by Lanner: {}", refused.join(", "));
    }
    if !f.enable_sources.is_empty() && !f.disable_sources.is_empty() {
        bail!("--enable-source and --disable-source cannot be mixed (as in Falco)");
    }
    Ok(f)
}

/// Whether `lanner ARGS` is Falco's command line rather than a Lanner subcommand: its first
/// argument is a flag other than Lanner's own `--version` and `--help`.
pub fn is_falco_command_line(args: &[String]) -> bool {
    args.first().is_some_and(|a| a.starts_with('-') && !matches!(a.as_str(), "--version" | "--help" | "-h"))
}

pub fn main(args: &[String]) -> Result<ExitCode> {
    match dispatch(args) {
        // A listing piped into `head`: the reader having had enough is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode> {
    let f = parse(args)?;
    if f.help {
        print!("{}", help());
        return Ok(ExitCode::SUCCESS);
    }
    if f.version {
        println!("lanner {}", env!("CARGO_PKG_VERSION"));
        return Ok(ExitCode::SUCCESS);
    }
    if f.support {
        // Before the configuration is loaded: a bundle is most wanted when it does not load.
        return crate::support::run(crate::support::SupportArgs {
            config: f.config.clone(),
            options: f.options.clone(),
            rules: f.rules.clone(),
            ..Default::default()
        });
    }
    let sources = Sources {
        file: f.config.clone(),
        overrides: f.options.clone(),
        rules: f.rules.clone(),
        ..Default::default()
    };
    let acts = f.list_plugins
        || f.list.is_some()
        || f.list_events
        || !f.validate.is_empty()
        || f.describe_all
        || f.describe_rule.is_some()
        || f.dry_run;
    if acts {
        // What loading says (a configuration key warned about, a plugin skipped) reaches
        // the operator; a run sets up its own logging from the configuration instead.
        crate::plugin_test::init_logging("warn");
    }
    let config = sources.load()?.config;
    let plugins_dir = config.plugins_dir.is_dir().then(|| config.plugins_dir.clone());
    check_sources(&f, &config)?;
    if f.list_plugins {
        crate::plugins::list(plugins_dir.as_deref(), config.json_output)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(source) = &f.list {
        return list_fields(source, f.names_only, &config);
    }
    if f.list_events {
        let mut out = std::io::stdout().lock();
        for name in lanner_event::evttype::NAMES {
            writeln!(out, "{name}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !f.validate.is_empty() {
        return crate::validate::validate_with(
            &f.validate,
            config.json_output,
            plugins_dir.as_deref(),
            &config.static_fields,
        );
    }
    if f.describe_all || f.describe_rule.is_some() {
        return describe_rules(f.describe_rule.as_deref(), &config);
    }
    if f.dry_run {
        return dry_run(&config);
    }
    crate::daemon::run(sources, f.duration.map(std::time::Duration::from_secs_f64))
}

/// The event sources a run has: `syscall` and each loaded source plugin's.
fn loaded_sources(config: &Config) -> Result<Vec<String>> {
    let dir = config.plugins_dir.is_dir().then_some(config.plugins_dir.as_path());
    Ok(crate::plugins::registry(dir)?.sources)
}

/// `--enable-source` and `--disable-source`: Lanner runs every loaded source, so a selection is
/// accepted only when it names sources that exist and leaves every one of them running;
/// anything that would turn a source off is refused rather than ignored.
fn check_sources(f: &Flags, config: &Config) -> Result<()> {
    if f.enable_sources.is_empty() && f.disable_sources.is_empty() {
        return Ok(());
    }
    let known = loaded_sources(config)?;
    for s in f.enable_sources.iter().chain(&f.disable_sources) {
        if !known.contains(s) {
            bail!("event source {s:?} is not known; the loaded sources are: {}", known.join(", "));
        }
    }
    if let Some(s) = f.disable_sources.first() {
        bail!(
            "--disable-source {s}: Lanner cannot turn off a loaded event source; remove the plugin \
             from the plugins folder instead (syscall capture always runs)"
        );
    }
    let off: Vec<&String> = known.iter().filter(|s| !f.enable_sources.contains(s)).collect();
    if !off.is_empty() {
        let off: Vec<&str> = off.iter().map(|s| s.as_str()).collect();
        bail!(
            "--enable-source would turn off {}: Lanner cannot turn off a loaded event source; remove \
             the plugin from the plugins folder instead (syscall capture always runs)",
            off.join(", ")
        );
    }
    Ok(())
}

fn engine_and_rules(config: &Config) -> Result<lanner_engine::LoadOutcome> {
    let dir = config.plugins_dir.is_dir().then_some(config.plugins_dir.as_path());
    let set = crate::plugins::load(dir)?;
    let mut engine = config.engine_config()?;
    crate::plugins::configure(&set, &mut engine, &config.append_output)?;
    let (paths, missing) = config.rules_paths()?;
    for w in &missing {
        eprintln!("warning: {w}");
    }
    Ok(crate::rules::load(&paths, &engine))
}

/// `-L` and `-l RULE`: the configuration's rules (or `-r`), as text or, with `json_output`,
/// Falco's description JSON.
fn describe_rules(only: Option<&str>, config: &Config) -> Result<ExitCode> {
    let outcome = engine_and_rules(config)?;
    for d in outcome.diagnostics().filter(|d| d.is_error()) {
        eprintln!("{d}");
    }
    if !outcome.is_ok() {
        return Ok(ExitCode::from(1));
    }
    let rules = outcome.ruleset.rules();
    if let Some(name) = only
        && !rules.iter().any(|r| r.name == name)
    {
        bail!("-l {name}: no rule of that name is loaded");
    }
    let mut out = std::io::stdout().lock();
    if config.json_output {
        let mut all = describe::rules(&outcome.ruleset);
        if let Some(name) = only {
            // One rule: only its entry, as Falco prints for -l.
            let one: Vec<_> = all["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["info"]["name"] == name)
                .cloned()
                .collect();
            all = serde_json::json!({ "rules": one });
        }
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{:<50} Description", "Rule")?;
        writeln!(out, "{:<50} -----------", "----")?;
        for r in rules.iter().filter(|r| only.is_none_or(|n| r.name == n)) {
            let desc = r.desc.split_whitespace().collect::<Vec<_>>().join(" ");
            writeln!(out, "{:<50} {desc}", r.name)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--list [SOURCE]`: the fields rules may use, of one source when named (`syscall`, or a
/// plugin source; extractor plugins count for each source they read).
fn list_fields(source: &str, names_only: bool, config: &Config) -> Result<ExitCode> {
    let dir = config.plugins_dir.is_dir().then_some(config.plugins_dir.as_path());
    let set = crate::plugins::load(dir)?;
    let mut cfg = lanner_engine::EngineConfig::syscall();
    cfg.static_fields = config.static_fields.clone();
    crate::plugins::configure(&set, &mut cfg, &crate::config::AppendOutput::falco_default())?;
    if !source.is_empty() && !cfg.sources.iter().any(|s| s == source) {
        bail!("--list {source}: no such event source; the loaded sources are: {}", cfg.sources.join(", "));
    }
    let plugins = crate::plugins::with_container(&set);
    let provides = |provider: &str| {
        if source.is_empty() {
            return true;
        }
        if provider == lanner_event::SYSCALL_SOURCE {
            return source == lanner_event::SYSCALL_SOURCE;
        }
        // Falco adds the static field class to every source.
        if provider == lanner_engine::STATIC_PROVIDER {
            return true;
        }
        plugins.iter().find(|p| p.name() == provider).is_some_and(|p| {
            p.source_name() == Some(source) || (p.source_name().is_none() && p.reads_source(source))
        })
    };
    let mut out = std::io::stdout().lock();
    for (_, d) in cfg.registry.iter().filter(|(_, d)| provides(&d.provider)) {
        if names_only {
            writeln!(out, "{}", d.name)?;
        } else {
            writeln!(out, "{:<44} {:<8} {}", d.name, d.ftype.as_str(), d.desc)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--dry-run`: everything a run loads (configuration, plugins, rules, outputs' settings),
/// without capturing or delivering.
fn dry_run(config: &Config) -> Result<ExitCode> {
    let dir = config.plugins_dir.is_dir().then_some(config.plugins_dir.as_path());
    let set = crate::plugins::load(dir)?;
    let detection = crate::daemon::build_detection(config, &set)?;
    config.min_priority()?;
    let enabled = detection.ruleset.rules().iter().filter(|r| r.enabled).count();
    println!(
        "dry run: configuration, {} plugin(s) and {enabled} enabled rule(s) loaded; no events processed",
        set.plugins().len()
    );
    Ok(ExitCode::SUCCESS)
}

fn help() -> String {
    let mut h = String::from(
        "lanner falco-compat: Falco's command line, mapped onto Lanner.\n\
         Usage: lanner falco-compat [FALCO FLAGS...]   (or: lanner -FLAG...)\n\n\
         -c FILE               configuration file (lanner run -c)\n\
         -r FILE|DIR           rules file or folder, repeatable (lanner run -r)\n\
         -o KEY=VALUE          override a configuration key (lanner run -o)\n\
         -V, --validate FILE   validate rules files and exit (lanner validate)\n\
         -L                    describe every rule and exit (JSON with json_output=true)\n\
         -l RULE               describe one rule and exit\n\
         --list[=SOURCE]       list fields, of one source when named (-N: names only)\n\
         --list-events         list the event types rules may name\n\
         --list-plugins        lanner plugins list\n\
         --dry-run             load configuration, plugins and rules, then exit\n\
         --support             write a diagnostic bundle (lanner support), secrets redacted\n\
         --enable-source SRC   accepted when it keeps every loaded source\n\
         --disable-source SRC  refused: Lanner cannot turn off a loaded source\n\
         -M SECONDS            stop after SECONDS\n\
         --version             print the version\n\n\
         Refused (named in the error):\n",
    );
    for (flag, why) in UNSUPPORTED {
        h.push_str(&format!("  {flag:<20} {why}\n"));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn reads_falco_flags() {
        let f = parse(&args("-c a.yaml -r r1 -r r2 -o x=1 --option=y=2 --list=syscall -N -M 5")).unwrap();
        assert_eq!(f.config, Some("a.yaml".into()));
        assert_eq!(f.rules, vec![PathBuf::from("r1"), "r2".into()]);
        assert_eq!(f.options, vec!["x=1".to_string(), "y=2".into()]);
        assert_eq!(f.list.as_deref(), Some("syscall"));
        assert!(f.names_only);
        assert_eq!(f.duration, Some(5.0));
        assert_eq!(parse(&args("--list")).unwrap().list.as_deref(), Some(""));
        assert_eq!(parse(&args("--list -N")).unwrap().list.as_deref(), Some(""));
        assert_eq!(parse(&args("-M 0")).unwrap().duration, None);
        let f = parse(&args("-rrules.yaml -ojson_output=true -Vv.yaml")).unwrap();
        assert_eq!(f.rules, vec![PathBuf::from("rules.yaml")]);
        assert_eq!(f.options, vec!["json_output=true".to_string()]);
        assert_eq!(f.validate, vec![PathBuf::from("v.yaml")]);
        let e = parse(&args("-pc")).unwrap_err().to_string();
        assert!(e.contains("-p ("), "{e}");
        assert!(parse(&args("-é")).unwrap_err().to_string().contains("-é"));
    }

    #[test]
    fn refuses_every_unsupported_flag_by_name() {
        let e = parse(&args("-U -P /run/f.pid -L --bogus")).unwrap_err().to_string();
        assert!(e.contains("-U ("), "{e}");
        assert!(e.contains("-P ("), "{e}");
        assert!(e.contains("--bogus"), "{e}");
        assert!(!e.contains("/run/f.pid"), "the -P value is not taken for a flag: {e}");
        assert!(parse(&args("--enable-source a --disable-source b")).is_err());
    }

    #[test]
    fn which_command_lines_are_falco_s() {
        assert!(is_falco_command_line(&args("-V r.yaml")));
        assert!(is_falco_command_line(&args("-c falco.yaml")));
        assert!(!is_falco_command_line(&args("--version")));
        assert!(!is_falco_command_line(&args("validate -r r.yaml")));
    }
}
