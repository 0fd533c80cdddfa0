use crate::live;
use crate::plugins;
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use lanner_engine::{EngineConfig, describe};
use lanner_event::FieldRegistry;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The default rules, compiled into the binary so that a bare `lanner run` works.

#[derive(Parser)]
#[command(
    name = "lanner",
    version,
    // `-V` is Falco's validate (`lanner -V FILE`); the version is `--version` only.
    disable_version_flag = true,
    about = "Runtime security detection for Linux hosts and Kubernetes nodes, speaking Falco's rule language"
)]
struct Cli {
    /// Print the version.
    #[arg(long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load rules files in order and report every error and warning.
    Validate {
        /// A rules file; repeat to load several in order.
        #[arg(short = 'r', long = "rules", required = true)]
        rules: Vec<PathBuf>,
        /// Print Falco's validation JSON.
        #[arg(long)]
        json: bool,
        /// The plugins folder whose fields and sources the rules may use (default
        /// /etc/lanner/plugins.d when it exists).
        #[arg(long = "plugins-dir", value_name = "DIR")]
        plugins_dir: Option<PathBuf>,
    },
    /// Describe the rules, macros and lists of rules files, and which are enabled.
    ListRules {
        /// A rules file; repeat to load several in order. The embedded defaults when absent
        /// (or the configuration's rules_files, with -c).
        #[arg(short = 'r', long = "rules")]
        rules: Vec<PathBuf>,
        /// Print Falco's rule description JSON.
        #[arg(long)]
        json: bool,
        /// A configuration file whose rules_files and `rules:` selection (enable and disable
        /// by name pattern and tag) apply, as `lanner run -c FILE` would apply them.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// A setting, as `lanner run -o` takes it (-o rules[].disable.tag=network).
        #[arg(short = 'o', value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// List every field rules may use, the plugins' included.
    ListFields {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The plugins folder (default /etc/lanner/plugins.d when it exists).
        #[arg(long = "plugins-dir", value_name = "DIR")]
        plugins_dir: Option<PathBuf>,
    },
    /// A plugin author's tools: `lanner plugin new` and `lanner plugin test`.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Plugins: `lanner plugins list`.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Evaluate the events of an event file (JSON lines), a raw capture file (`lanner
    /// capture --raw`) or a `.scap` capture (Falco, sysdig) and print the alerts they raise.
    Replay {
        /// The event file, or - for standard input.
        #[arg(required_unless_present = "open")]
        events: Option<PathBuf>,
        /// The plugins folder (default /etc/lanner/plugins.d when it exists).
        #[arg(long = "plugins-dir", value_name = "DIR")]
        plugins_dir: Option<PathBuf>,
        /// Read the events of a source plugin: PLUGIN=PARAMS (PARAMS as the plugin's open
        /// takes them, such as a file path). Repeatable.
        #[arg(long = "open", value_name = "PLUGIN=PARAMS")]
        open: Vec<String>,
        /// A rules file; repeat to load several in order. The embedded defaults when absent.
        #[arg(short = 'r', long = "rules")]
        rules: Vec<PathBuf>,
        /// Print alerts as JSON lines.
        #[arg(long)]
        json: bool,
        /// Raise an alert for every matching rule, not only the first.
        #[arg(long)]
        all_matches: bool,
    },
    /// Run the detection daemon: live kernel capture (or a recorded file), with the
    /// configuration file (or embedded defaults) and its rules. Alerts go to stdout until
    /// SIGINT or SIGTERM; SIGHUP reloads. Exit status 3 when records were dropped.
    Run {
        /// The configuration file (default /etc/lanner/lanner.yaml when it exists, else the
        /// embedded defaults).
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// A rules file or directory; repeat to load several in order. Replaces the
        /// configuration's rules_files; the embedded default rules when neither names any.
        #[arg(short = 'r', long = "rules")]
        rules: Vec<PathBuf>,
        /// Read events from an event file (or - for standard input), a raw capture or a
        /// `.scap` capture instead of the kernel;
        /// alerts go to every configured output and the configured source plugins are
        /// opened, as in a live run.
        #[arg(long)]
        events: Option<PathBuf>,
        /// The plugins folder, instead of the configuration's plugins_dir.
        #[arg(long = "plugins-dir", value_name = "DIR")]
        plugins_dir: Option<PathBuf>,
        /// Print alerts as JSON lines.
        #[arg(long)]
        json: bool,
        /// A setting of the configuration file, overridden: key=value with dotted keys for
        /// sections (webserver.listen_port=9000), key[]=value to append to a list, the value
        /// read as YAML. Repeatable; applied after the file and its drop-ins.
        #[arg(short = 'o', value_name = "KEY=VALUE")]
        options: Vec<String>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
        /// Refuse configuration keys Lanner does not implement (they are warnings otherwise,
        /// so that a Falco falco.yaml runs): for CI.
        #[arg(long)]
        strict: bool,
    },
    /// Falco's command line (`-V FILE`, `-L`, `-l RULE`, `--list`, `--dry-run`, `-c`, `-r`,
    /// `-o` ...) mapped onto Lanner's commands; `lanner -FLAG ...` is the same. Flags Lanner
    /// does not implement are refused by name. `lanner falco-compat --help` lists them.
    #[command(disable_help_flag = true)]
    FalcoCompat {
        /// Falco's flags.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        flags: Vec<String>,
    },
    /// Write a diagnostic bundle (tar.gz) to attach to a bug report: version, kernel and BTF,
    /// the effective configuration with its secrets redacted, how the rules loaded, the
    /// plugins, and with --daemon a running daemon's plugins, metrics and internal alerts.
    Support(crate::support::SupportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `lanner manpage > /usr/share/man/man1/lanner.1`.
    Manpage,
    /// The alert console for a fleet: every node's alerts from the JetStream stream the
    /// `nats` sink writes (replayed from --since, then live), in a browser. It logs its URL
    /// with the token once.
    Console(crate::console::fleet::FleetArgs),
    /// Write live events to an event file, for `lanner replay`.
    Capture {
        /// The event file to write (- for standard output).
        #[arg(short = 'w', long = "write")]
        write: PathBuf,
        /// Stop after this many seconds (otherwise at SIGINT or SIGTERM).
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
        /// Rules whose event types to capture (every capturable syscall when absent).
        #[arg(short = 'r', long = "rules")]
        rules: Vec<PathBuf>,
        /// Write the probe's records undecoded (a raw capture file): `lanner replay` runs
        /// them through the same decoding, state and rules as a live run.
        #[arg(long)]
        raw: bool,
        /// The file's format: `json` (event lines), `raw` (as --raw) or `scap` (the format
        /// of falcosecurity/libs, read by sysdig and Falco). Default: scap when the file
        /// name ends in `.scap`, otherwise json.
        #[arg(long, value_name = "FORMAT", value_parser = ["json", "raw", "scap"])]
        format: Option<String>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Write a plugin project that builds as it is (Rust, Python or JavaScript), with its
    /// NAME.yaml and a rule to try it.
    New(crate::scaffold::NewArgs),
    /// Load one plugin and print the fields it extracts from each event of an event file
    /// (payload events as a source plugin's, syscall events as their JSON payload), or of
    /// its own source's stream.
    Test {
        /// The component (NAME.wasm); its NAME.yaml, when beside it, gives grants and limits.
        wasm: PathBuf,
        /// The event file (JSON lines; - for standard input).
        #[arg(long, value_name = "FILE", required_unless_present = "open", conflicts_with = "open")]
        events: Option<PathBuf>,
        /// A source plugin: open its stream with PARAMS and show its events' fields.
        #[arg(long, value_name = "PARAMS")]
        open: Option<String>,
        /// The fields to print, comma-separated (`json.value[/user],json.obj`); every field
        /// the plugin declares when absent.
        #[arg(long, value_name = "FIELDS")]
        fields: Option<String>,
        /// The plugin's configuration (JSON), instead of NAME.yaml's `config`.
        #[arg(long, value_name = "JSON")]
        config: Option<String>,
        /// One JSON object per event.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Show each plugin with its capabilities, fields, grants and state; with --daemon, the
    /// plugins a running daemon runs, with their state and counts.
    List {
        /// The plugins folder (default /etc/lanner/plugins.d).
        #[arg(long = "plugins-dir", value_name = "DIR", conflicts_with = "daemon")]
        plugins_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A running daemon's endpoint, such as http://127.0.0.1:8765: its plugins' state
        /// (running, backoff, disabled) and counts, from its /plugins.
        #[arg(long, value_name = "URL")]
        daemon: Option<String>,
        /// A file holding the bearer token the daemon's endpoint requires
        /// (webserver.metrics_token_file).
        #[arg(long = "token-file", value_name = "FILE", requires = "daemon")]
        token_file: Option<PathBuf>,
    },
}

pub fn main() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    if crate::falco_compat::is_falco_command_line(&args) {
        return crate::falco_compat::main(&args);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::FalcoCompat { flags } => crate::falco_compat::main(&flags),
        Command::Support(args) => crate::support::run(args),
        Command::Console(args) => crate::console::fleet::run(args),
        Command::Validate { rules, json, plugins_dir } => {
            crate::validate::validate(&rules, json, plugins_dir.as_deref())
        }
        Command::ListRules { rules, json, config, options } => list_rules(&rules, json, config, options),
        Command::ListFields { json, plugins_dir } => list_fields(json, plugins_dir.as_deref()),
        Command::Plugins { command: PluginsCommand::List { plugins_dir, json, daemon, token_file } } => {
            match daemon {
                Some(url) => plugins::list_daemon(&url, token_file.as_deref(), json),
                None => plugins::list(plugins_dir.as_deref(), json),
            }
            .map(|()| ExitCode::SUCCESS)
        }
        Command::Plugin { command: PluginCommand::New(args) } => {
            crate::scaffold::new(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Plugin { command: PluginCommand::Test { wasm, events, open, fields, config, json } } => {
            crate::plugin_test::run(crate::plugin_test::TestArgs { wasm, events, open, fields, config, json })
        }
        Command::Replay { events, rules, json, all_matches, plugins_dir, open } => {
            replay(events.as_deref(), &rules, json, all_matches, plugins_dir.as_deref(), &open)
        }
        Command::Run { config, rules, events, json, options, duration, plugins_dir, strict } => {
            let sources = crate::config::Sources {
                file: config,
                overrides: options,
                rules,
                events,
                plugins_dir,
                strict,
            };
            run(sources, json, duration)
        }
        Command::Capture { write, duration, rules, raw, format } => {
            capture(&write, duration, &rules, capture_format(&write, raw, format.as_deref())?)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "lanner", &mut script);
            print_all(&script)
        }
        Command::Manpage => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            print_all(&page)
        }
    }
}

/// Writes generated text to stdout; a closed pipe (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> Result<ExitCode> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn list_rules(
    paths: &[PathBuf],
    json: bool,
    config: Option<PathBuf>,
    options: Vec<String>,
) -> Result<ExitCode> {
    // With a configuration: its rules files and its selection, as a run would have them.
    let (paths, selection) = if config.is_some() || !options.is_empty() {
        let sources = crate::config::Sources {
            file: config,
            overrides: options,
            rules: paths.to_vec(),
            ..Default::default()
        };
        let loaded = sources.load()?;
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        let (paths, missing) = loaded.config.rules_paths()?;
        for w in &missing {
            eprintln!("warning: {w}");
        }
        (paths, loaded.config.rules)
    } else {
        (paths.to_vec(), Vec::new())
    };
    let mut outcome = crate::rules::load(&paths, &plugins::syscall_config()?);
    for d in outcome.diagnostics().filter(|d| d.is_error()) {
        eprintln!("{d}");
    }
    let applied = crate::rule_selection::apply(&selection, &mut outcome.ruleset);
    for w in &applied.warnings {
        eprintln!("warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &describe::rules(&outcome.ruleset))?;
        writeln!(out)?;
    } else {
        for r in outcome.ruleset.rules() {
            let state = if r.enabled { "" } else { " (disabled)" };
            writeln!(out, "{:<13} {}{state}", r.priority.as_str(), r.name)?;
            writeln!(out, "              {}", r.desc.split_whitespace().collect::<Vec<_>>().join(" "))?;
        }
    }
    Ok(if outcome.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn list_fields(json: bool, plugins_dir: Option<&Path>) -> Result<ExitCode> {
    let cfg = plugins::registry(plugins_dir)?;
    let reg = &cfg.registry;
    // Which sources fill each field live: `never` marks one that is registered (rules using
    // it load, as in Falco) but that no loaded source fills.
    let filled = |id| cfg.availability.as_ref().and_then(|a| a.filler(id)).map(|f| f.describe());
    let mut out = std::io::stdout().lock();
    if json {
        let fields: Vec<_> = reg
            .iter()
            .map(|(id, d)| {
                serde_json::json!({
                    "name": d.name,
                    "type": d.ftype.as_str(),
                    "desc": d.desc,
                    "source": d.provider,
                    "arg": arg_text(d.arg),
                    "filled": filled(id),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "fields": fields }))?;
        writeln!(out)?;
    } else {
        for (id, d) in reg.iter() {
            let arg = arg_text(d.arg).map(|a| format!(" {a}")).unwrap_or_default();
            let never = if filled(id).as_deref() == Some("never") { " (never filled live)" } else { "" };
            writeln!(out, "{:<44} {:<8} {}{arg}{never}", d.name, d.ftype.as_str(), d.desc)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn arg_text(a: lanner_event::ArgSpec) -> Option<&'static str> {
    use lanner_event::ArgKind::*;
    Some(match (a.kind, a.required, a.dotted) {
        (None, ..) => return Option::None,
        (Index, true, _) => "[required numeric argument, such as [1]]",
        (Index, false, _) => "[optional numeric argument, such as [1]]",
        (Key, true, _) => "[required argument, such as [NAME]]",
        (Key, false, _) => "[optional argument, such as [NAME]]",
        (IndexOrKey, _, true) => "[required argument: .NAME or [N]]",
        (IndexOrKey, _, false) => "[required argument: [NAME] or [N]]",
    })
}

fn replay(
    events: Option<&Path>,
    paths: &[PathBuf],
    json: bool,
    all_matches: bool,
    plugins_dir: Option<&Path>,
    open: &[String],
) -> Result<ExitCode> {
    crate::plugin_test::init_logging("warn");
    let mut cfg = EngineConfig::syscall();
    if all_matches {
        cfg.match_mode = lanner_engine::MatchMode::All;
    }
    let plugin_set = plugins::load(plugins_dir)?;
    crate::replay::add_event_sources(events, &plugin_set, &mut cfg)?;
    let field_map = std::sync::Arc::new(plugins::configure(
        &plugin_set,
        &mut cfg,
        &crate::config::AppendOutput::falco_default(),
    )?);
    let outcome = crate::rules::load(paths, &cfg);
    for d in outcome.diagnostics().filter(|d| d.is_error() || d.code.means_cannot_fire()) {
        eprintln!("{d}");
    }
    if !outcome.is_ok() {
        // Each error is printed above with its file, line and item: once is enough.
        let n = outcome.diagnostics().filter(|d| d.is_error()).count();
        bail!("the rules did not load ({n} error{} above)", if n == 1 { "" } else { "s" });
    }
    let ruleset = outcome.into_result()?;
    let detection = live::Detection {
        filter: live::SyscallFilter::default(),
        ruleset: std::sync::Arc::new(ruleset),
        format: live::AlertFormat::plain(json),
        registry: cfg.registry,
        plugin_fields: Some(field_map.clone()),
        limits: crate::throttle::AlertLimits::default(),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut code = ExitCode::SUCCESS;
    if let Some(events) = events {
        let target = live::AlertTarget::Write(detection.format);
        let mut delivery = crate::replay::Delivery::new(target, detection.limits, None);
        code = crate::replay::replay_file(events, &detection, &mut delivery, &mut out)?;
    }
    let errors = plugins::replay_sources(
        &plugin_set,
        &field_map,
        open,
        &detection.ruleset,
        &detection.format,
        &mut out,
    )?;
    Ok(if errors > 0 { ExitCode::from(1) } else { code })
}

fn run(mut sources: crate::config::Sources, json: bool, duration: Option<f64>) -> Result<ExitCode> {
    // The flag is a shorthand for a setting, applied after the other -o options.
    if json {
        sources.overrides.push("json_output=true".into());
    }
    crate::daemon::run(sources, duration.map(std::time::Duration::from_secs_f64))
}

/// What `lanner capture` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaptureFormat {
    Json,
    Raw,
    Scap,
}

/// The format asked for (`--format`, `--raw`) or told by the file name (`.scap`).
fn capture_format(write: &Path, raw: bool, format: Option<&str>) -> Result<CaptureFormat> {
    let named = match format {
        Some("json") => Some(CaptureFormat::Json),
        Some("raw") => Some(CaptureFormat::Raw),
        Some("scap") => Some(CaptureFormat::Scap),
        Some(other) => anyhow::bail!("--format {other}: not json, raw or scap"),
        None => None,
    };
    match (raw, named) {
        (true, Some(f)) if f != CaptureFormat::Raw => {
            anyhow::bail!("--raw and --format {} ask for two formats", format.unwrap_or_default())
        }
        (true, _) => Ok(CaptureFormat::Raw),
        (false, Some(f)) => Ok(f),
        (false, None) if write.extension().is_some_and(|e| e.eq_ignore_ascii_case("scap")) => {
            Ok(CaptureFormat::Scap)
        }
        (false, None) => Ok(CaptureFormat::Json),
    }
}

fn capture(
    write: &Path,
    duration: Option<f64>,
    rules: &[PathBuf],
    format: CaptureFormat,
) -> Result<ExitCode> {
    let filter = if rules.is_empty() {
        live::SyscallFilter::everything()
    } else {
        let outcome = crate::rules::load(rules, &EngineConfig::syscall());
        live::SyscallFilter::for_ruleset(&outcome.into_result()?)
    };
    let registry = FieldRegistry::with_syscall_fields();
    let mut out: Box<dyn Write> = if write == Path::new("-") {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        let f = std::fs::File::create(write).with_context(|| format!("creating {}", write.display()))?;
        Box::new(BufWriter::new(f))
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let clone_records = ["clone", "clone3", "fork", "vfork"]
        .iter()
        .filter_map(|n| lanner_capture::syscalls::number(n))
        .all(|nr| filter.syscalls.contains(&nr));
    let opts = live::RunOptions::simple(filter, duration.map(std::time::Duration::from_secs_f64), None);
    let dropped = if format == CaptureFormat::Scap {
        let mut file = crate::scap_capture::ScapCapture::new(out, clone_records);
        let dropped = live::run(opts, live::Output::Scap(&mut file), &mut std::io::sink())?.dropped;
        file.finish().with_context(|| format!("writing {}", write.display()))?;
        dropped
    } else if format == CaptureFormat::Raw {
        let mut file = lanner_capture::rawfile::Writer::new(out).context("writing the raw capture file")?;
        let dropped = live::run(opts, live::Output::Raw(&mut file), &mut std::io::sink())?.dropped;
        file.finish().context("writing the raw capture file")?;
        dropped
    } else {
        let sink = live::Sink::Events { registry: &registry };
        let dropped = live::run(opts, live::Output::Process(sink), &mut out)?.dropped;
        out.flush()?;
        dropped
    };
    Ok(if dropped > 0 { ExitCode::from(3) } else { ExitCode::SUCCESS })
}
