//! `lanner support`: one tar.gz an operator attaches to a bug report, holding what a maintainer
//! asks for first (version, kernel and BTF, the effective configuration, how the rules loaded,
//! the plugins, a running daemon's plugin states and internal alerts) and none of the
//! operator's secrets. Secrets are removed twice: by the name of their key and the shape of
//! their value while the configuration is redacted, then every secret string met on the way
//! (and the contents of the token files) is searched for in every file before it is written,
//! so that a secret that reaches the bundle by another road (a daemon's answer, an error
//! message) is caught as well.

use crate::config::Sources;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// What `lanner support` was given.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SupportArgs {
    /// The configuration file (default /etc/lanner/lanner.yaml when it exists).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A setting overridden, as `lanner run -o` takes it. Repeatable.
    #[arg(short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Rules files, instead of the configuration's rules_files. Repeatable.
    #[arg(short = 'r', long = "rules")]
    pub rules: Vec<PathBuf>,
    /// A running daemon's endpoint (http://127.0.0.1:8765): its /plugins and /metrics go in
    /// the bundle, with its internal alerts picked out.
    #[arg(long, value_name = "URL")]
    pub daemon: Option<String>,
    /// The bearer token file the daemon's endpoint requires (default: the configuration's
    /// webserver.metrics_token_file when set).
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The bundle to write (default lanner-support-HOST-UNIXTIME.tar.gz here).
    #[arg(short = 'w', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Key names whose values are secrets, compared with each `_`/`-`/`.` separated word of a
/// key, lower-cased.
const SECRET_WORDS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "pass",
    "secret",
    "key",
    "apikey",
    "credential",
    "credentials",
    "auth",
    "authorization",
    "cookie",
    "webhook",
    "dsn",
    "signature",
    "private",
];

/// Key names whose values are secrets wherever they appear in the key.
const SECRET_PARTS: &[&str] = &["password", "secret", "token", "apikey", "api_key", "credential"];

/// Keys under which every value is a secret, whatever its name (HTTP headers carry
/// credentials under names of their owner's choosing).
const SECRET_MAPS: &[&str] = &["headers", "http_headers"];

/// Keys whose values are command lines: credentials hide in their arguments in any form
/// (`-u user:password`), so only the program is kept.
const COMMAND_LINES: &[&str] = &["program", "command", "cmd"];

/// Words that make a whole free-text value (a program's command line) a secret.
const SECRET_TEXT: &[&str] =
    &["authorization", "bearer", "token", "password", "passwd", "secret", "apikey", "api_key", "api-key"];

/// Removes secrets from a configuration, remembering each secret string it removed.
#[derive(Default)]
pub struct Redactor {
    /// The secret strings met, to search every file of the bundle for.
    pub secrets: BTreeSet<String>,
    /// How many values were redacted.
    pub count: usize,
}

impl Redactor {
    pub fn value(&mut self, v: &mut Value) {
        self.walk(v, false);
    }

    fn walk(&mut self, v: &mut Value, secret: bool) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    let whole = secret || key_is_secret(k);
                    if SECRET_MAPS.contains(&k.to_ascii_lowercase().as_str()) {
                        self.secret_map(child);
                    } else if COMMAND_LINES.contains(&k.to_ascii_lowercase().as_str())
                        && let Value::String(cmd) = child
                    {
                        *cmd = self.command_line(cmd);
                    } else {
                        self.walk(child, whole);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.walk(i, secret)),
            Value::String(s) if secret => {
                if let Some(r) = self.take(s.clone()) {
                    *s = r;
                }
            }
            Value::String(s) => {
                // An init_config written as a JSON string (Falco allows it): redacted inside.
                if let Some(mut inner) =
                    s.trim_start().starts_with('{').then(|| serde_json::from_str(s).ok()).flatten()
                {
                    self.walk(&mut inner, false);
                    *s = inner.to_string();
                } else {
                    let cleaned = self.text(s);
                    *s = cleaned;
                }
            }
            // Too short to search the bundle for; redacted where they stand.
            Value::Number(_) if secret => {
                self.count += 1;
                *v = Value::String(REDACTED.into());
            }
            _ => {}
        }
    }

    /// Header-like maps: names kept, every value redacted.
    fn secret_map(&mut self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (_, child) in map.iter_mut() {
                    self.walk(child, true);
                }
            }
            // `["Name: value"]` lists.
            Value::Array(items) => {
                for i in items.iter_mut() {
                    if let Value::String(s) = i
                        && let Some((name, value)) = s.split_once(':')
                    {
                        self.remember(value.trim());
                        *s = format!("{name}: {REDACTED}");
                    } else {
                        self.walk(i, true);
                    }
                }
            }
            other => self.walk(other, true),
        }
    }

    fn command_line(&mut self, cmd: &str) -> String {
        let cmd = cmd.trim();
        match cmd.split_once(char::is_whitespace) {
            Some((program, args)) => {
                self.remember(args.trim());
                format!("{program} {REDACTED}")
            }
            None => cmd.to_string(),
        }
    }

    /// The replacement of a secret value (empty values are not secrets: they show that the
    /// setting is unset).
    fn take(&mut self, s: String) -> Option<String> {
        if s.is_empty() {
            return None;
        }
        self.remember(&s);
        // A URL keeps its scheme and host: where it points is what a maintainer needs.
        Some(match url_origin(&s) {
            Some(origin) => format!("{origin}/{REDACTED}"),
            None => REDACTED.into(),
        })
    }

    fn remember(&mut self, s: &str) {
        self.count += 1;
        if !s.is_empty() {
            self.secrets.insert(s.to_string());
        }
    }

    /// Free text: URLs lose their credentials, path and query; text that speaks of tokens or
    /// passwords is redacted whole.
    pub fn text(&mut self, s: &str) -> String {
        let lower = s.to_ascii_lowercase();
        // A path names where a secret is kept (`/etc/lanner/metrics.token`), not the secret.
        let path = s.starts_with('/') && !s.contains(char::is_whitespace);
        if !path && SECRET_TEXT.iter().any(|w| lower.contains(w)) {
            return self.take(s.to_string()).unwrap_or_default();
        }
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find("://") {
            // The scheme: the letters just before `://`.
            let start = rest[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
                .map_or(0, |i| i + 1);
            let end = rest[at..]
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '>')
                .map_or(rest.len(), |i| at + i);
            let url = &rest[start..end];
            out.push_str(&rest[..start]);
            match url_origin(url) {
                Some(origin) if origin.len() < url.trim_end_matches('/').len() => {
                    self.remember(url);
                    out.push_str(&format!("{origin}/{REDACTED}"));
                }
                _ => out.push_str(url),
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

/// Whether a key's name says its value is secret. Paths (`*_file`, `*_path`, `*_dir`) name
/// where a secret is kept, not the secret, and are shown.
pub fn key_is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if ["_file", "_files", "_path", "_dir", "file", "path"].iter().any(|s| k.ends_with(s)) {
        return false;
    }
    SECRET_PARTS.iter().any(|p| k.contains(p))
        || k.split(['_', '-', '.']).any(|w| SECRET_WORDS.contains(&w))
        || k == "url"
        || k.ends_with("_url")
}

/// `scheme://host[:port]` of a URL, without its user information.
fn url_origin(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(format!("{scheme}://{host}"))
}

/// The length from which a secret is searched for in the whole bundle.
const MIN_SCRUBBED: usize = 8;

/// The secrets of the bundle's text, replaced wherever they appear.
fn scrub(text: &str, secrets: &BTreeSet<String>) -> String {
    let mut out = text.to_string();
    // Longest first: a secret that contains another is replaced whole.
    // Shorter strings are too common to be told from other text (a header `X-Source: lanner`
    // would take every path with lanner in it); they were redacted where they stood.
    let mut by_len: Vec<&String> = secrets.iter().filter(|s| s.len() >= MIN_SCRUBBED).collect();
    by_len.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in by_len {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

/// The configuration as a run would merge it (embedded defaults, the file, its drop-ins,
/// `-o`), read without its checks so that a configuration that does not load still goes in
/// the bundle. The files read are returned with it.
fn merged_config(args: &SupportArgs) -> (serde_yaml_ng::Value, Vec<String>) {
    use serde_yaml_ng::Value as Y;
    let mut notes = Vec::new();
    let mut merged: Y = serde_yaml_ng::from_str(crate::config::DEFAULT_CONFIG).unwrap_or(Y::Null);
    let sources = Sources { file: args.config.clone(), ..Default::default() };
    let mut read = |path: &Path, merged: &mut Y| match std::fs::read_to_string(path) {
        Ok(text) => match serde_yaml_ng::from_str::<Y>(&text) {
            Ok(v) => {
                notes.push(format!("read {}", path.display()));
                merge(merged, v);
            }
            // Not YAML: left out whole, since what is secret in it cannot be told.
            Err(e) => notes.push(format!("{}: not YAML ({e}); left out", path.display())),
        },
        Err(e) => notes.push(format!("{}: cannot be read ({e})", path.display())),
    };
    if let Some(main) = sources.main_file() {
        read(&main, &mut merged);
    }
    let dropins: Vec<PathBuf> = merged
        .get("config_files")
        .and_then(|v| serde_yaml_ng::from_value(v.clone()).ok())
        .unwrap_or_default();
    match crate::config::expand(&dropins, false) {
        Ok(files) => files.iter().for_each(|f| read(f, &mut merged)),
        Err(e) => notes.push(format!("config_files: {e:#}")),
    }
    for o in &args.options {
        if let Err(e) = crate::config::apply_override(&mut merged, o) {
            notes.push(format!("-o: {e:#}"));
        }
    }
    (merged, notes)
}

fn merge(base: &mut serde_yaml_ng::Value, over: serde_yaml_ng::Value) {
    use serde_yaml_ng::Value as Y;
    match (base, over) {
        (Y::Mapping(b), Y::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The files of the bundle, by name, before the final scrub.
struct Bundle {
    files: Vec<(String, String)>,
}

impl Bundle {
    fn add(&mut self, name: &str, text: impl Into<String>) {
        self.files.push((name.to_string(), text.into()));
    }
}

pub fn run(args: SupportArgs) -> Result<std::process::ExitCode> {
    // Warnings met while loading (configuration keys, plugins) reach the operator.
    crate::plugin_test::init_logging("warn");
    let host = crate::node::hostname();
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let output =
        args.output.clone().unwrap_or_else(|| PathBuf::from(format!("lanner-support-{host}-{now}.tar.gz")));
    let mut redactor = Redactor::default();
    let mut b = Bundle { files: Vec::new() };
    let mut problems = Vec::new();

    b.add(
        "version.txt",
        format!(
            "lanner {}\ntarget: {}-{}\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS
        ),
    );
    b.add("kernel.txt", kernel());

    // The configuration: merged as a run merges it, redacted; then loaded as a run loads it.
    let (merged, notes) = merged_config(&args);
    let mut config_json: Value = serde_json::to_value(&merged).unwrap_or(Value::Null);
    redactor.value(&mut config_json);
    let yaml = serde_yaml_ng::to_string(&config_json).unwrap_or_default();
    b.add("config/effective.yaml", yaml);
    let sources = Sources {
        file: args.config.clone(),
        overrides: args.options.clone(),
        rules: args.rules.clone(),
        ..Default::default()
    };
    let loaded = sources.load();
    let mut load_text = notes.join("\n");
    load_text.push('\n');
    match &loaded {
        Ok(l) => {
            let files: Vec<String> = l.files.iter().map(|f| f.display().to_string()).collect();
            if files.is_empty() {
                load_text.push_str("loads: ok (no configuration file: the embedded defaults)\n");
            } else {
                load_text.push_str(&format!("loads: ok (files: {})\n", files.join(", ")));
            }
        }
        Err(e) => {
            load_text.push_str(&format!("loads: error: {e:#}\n"));
            problems.push(format!("the configuration does not load: {e:#}"));
        }
    }
    b.add("config/load.txt", load_text);

    // The token files' contents are secrets wherever they would turn up.
    let token_file = args.token_file.clone().or_else(|| {
        let f = loaded.as_ref().ok()?.config.webserver.metrics_token_file.clone();
        (!f.as_os_str().is_empty()).then_some(f)
    });
    let mut token = None;
    if let Some(f) = &token_file {
        match std::fs::read_to_string(f) {
            Ok(t) if !t.trim().is_empty() => {
                redactor.secrets.insert(t.trim().to_string());
                token = Some(t.trim().to_string());
            }
            Ok(_) => problems.push(format!("token file {}: empty", f.display())),
            Err(e) => problems.push(format!("token file {}: {e}", f.display())),
        }
    }

    if let Ok(l) = &loaded {
        let config = &l.config;
        let dir = config.plugins_dir.is_dir().then_some(config.plugins_dir.as_path());
        match plugins_and_rules(config, dir, &mut redactor) {
            Ok((plugins, rules_json, rules_text)) => {
                b.add("plugins.json", plugins);
                b.add("rules/load-results.json", rules_json);
                b.add("rules/load-results.txt", rules_text);
            }
            Err(e) => {
                problems.push(format!("plugins or rules: {e:#}"));
                b.add("rules/load-results.txt", format!("error: {e:#}\n"));
            }
        }
    }

    if let Some(url) = &args.daemon {
        daemon(url, token.as_deref(), &mut b, &mut redactor, &mut problems);
    }

    let mut summary = format!(
        "Lanner support bundle, {host}, unix time {now}.\n\
         Secrets are redacted ({} values): values of keys named like tokens, passwords, keys, \
         secrets, URLs and webhooks, HTTP headers, command lines' arguments (the program is kept), \
         and URLs' paths and credentials.\n\nFiles:\n",
        redactor.count
    );
    for (name, _) in &b.files {
        summary.push_str(&format!("  {name}\n"));
    }
    if !problems.is_empty() {
        summary.push_str("\nProblems met while gathering:\n");
        for p in &problems {
            summary.push_str(&format!("  {p}\n"));
        }
    }
    b.add("README.txt", summary);

    write_bundle(&output, &host, now, &b, &redactor.secrets)?;
    for p in &problems {
        eprintln!("lanner support: {p}");
    }
    println!("wrote {} ({} files, {} value(s) redacted)", output.display(), b.files.len(), redactor.count);
    Ok(std::process::ExitCode::SUCCESS)
}

fn kernel() -> String {
    // SAFETY: uname fills the struct it is given.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let mut out = String::new();
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } == 0 {
        out.push_str(&format!(
            "uname: {} {} {} {}\n",
            field(&u.sysname),
            field(&u.release),
            field(&u.version),
            field(&u.machine)
        ));
    } else {
        out.push_str(&format!("uname: failed: {}\n", std::io::Error::last_os_error()));
    }
    let btf = Path::new("/sys/kernel/btf/vmlinux");
    out.push_str(&format!(
        "btf: {}\n",
        match std::fs::metadata(btf) {
            Ok(m) => format!("present ({} bytes at {})", m.len(), btf.display()),
            Err(e) => format!("absent ({}: {e}); live capture needs it", btf.display()),
        }
    ));
    // SAFETY: geteuid has no preconditions.
    out.push_str(&format!("euid: {}\n", unsafe { libc::geteuid() }));
    for f in ["/proc/sys/kernel/unprivileged_bpf_disabled", "/sys/kernel/security/lockdown"] {
        if let Ok(v) = std::fs::read_to_string(f) {
            out.push_str(&format!("{f}: {}\n", v.trim()));
        }
    }
    out
}

/// The plugins as `lanner plugins list --json` shows them, and how each rules file loaded.
fn plugins_and_rules(
    config: &crate::config::Config,
    dir: Option<&Path>,
    redactor: &mut Redactor,
) -> Result<(String, String, String)> {
    let mut plugins = Vec::new();
    crate::plugins::list_to(dir, true, &mut plugins)?;
    let mut plugins: Value = serde_json::from_slice(&plugins).context("the plugin list")?;
    redactor.value(&mut plugins);
    let set = crate::plugins::load(dir)?;
    let mut engine = config.engine_config()?;
    crate::plugins::configure(&set, &mut engine, &config.append_output)?;
    let (paths, missing) = config.rules_paths()?;
    let outcome = crate::rules::load(&paths, &engine);
    let json = serde_json::to_string_pretty(&lanner_engine::describe::validation(&outcome.files))?;
    let mut text = String::new();
    for w in &missing {
        text.push_str(&format!("warning: {w}\n"));
    }
    if paths.is_empty() {
        text.push_str("rules_files is empty: the embedded default rules\n");
    }
    for f in &outcome.files {
        let verdict = if f.successful { "ok" } else { "failed" };
        text.push_str(&format!(
            "{}: {verdict}, {} errors, {} warnings\n",
            f.name,
            f.errors().count(),
            f.warnings().count()
        ));
        for d in &f.diagnostics {
            text.push_str(&format!("  {d}\n"));
        }
    }
    let enabled = outcome.ruleset.rules().iter().filter(|r| r.enabled).count();
    text.push_str(&format!("rules loaded: {}, enabled: {enabled}\n", outcome.ruleset.rules().len()));
    Ok((serde_json::to_string_pretty(&plugins)?, json, text))
}

/// A running daemon's `/plugins` and `/metrics`, and its internal alerts picked out of the
/// metrics. A daemon that cannot be asked is said so, in the bundle and on standard error.
fn daemon(
    url: &str,
    token: Option<&str>,
    b: &mut Bundle,
    redactor: &mut Redactor,
    problems: &mut Vec<String>,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let get = |path: &str| -> Result<String> {
        let endpoint = format!("{}{path}", url.trim_end_matches('/'));
        let mut req = agent.get(&endpoint);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req.call().with_context(|| format!("asking the daemon at {endpoint}"))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().with_context(|| format!("reading {endpoint}"))?;
        if status != 200 {
            anyhow::bail!(
                "{endpoint}: HTTP {status}{}",
                if status == 401 { " (give --token-file)" } else { "" }
            );
        }
        Ok(body)
    };
    let mut status = String::new();
    match get("/plugins") {
        Ok(body) => {
            let text = match serde_json::from_str::<Value>(&body) {
                Ok(mut v) => {
                    redactor.value(&mut v);
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                }
                Err(_) => redactor.text(&body),
            };
            b.add("daemon/plugins.json", text);
            status.push_str("/plugins: ok\n");
        }
        Err(e) => {
            status.push_str(&format!("/plugins: {e:#}\n"));
            problems.push(format!("daemon: {e:#}"));
        }
    }
    match get("/metrics") {
        Ok(body) => {
            let internal: Vec<&str> = body
                .lines()
                .filter(|l| !l.starts_with('#') && l.contains("rule=\"Lanner internal"))
                .collect();
            let mut alerts =
                String::from("Internal alerts raised (and held back) since the daemon started:\n");
            if internal.is_empty() {
                alerts.push_str("  none\n");
            }
            for l in internal {
                alerts.push_str(&format!("  {l}\n"));
            }
            b.add("daemon/internal-alerts.txt", alerts);
            b.add("daemon/metrics.txt", body);
            status.push_str("/metrics: ok\n");
        }
        Err(e) => {
            status.push_str(&format!("/metrics: {e:#}\n"));
            problems.push(format!("daemon: {e:#}"));
        }
    }
    b.add("daemon/status.txt", format!("daemon: {}\n{status}", redactor.text(url)));
}

/// Writes the bundle: every file scrubbed of every secret met, under one top folder.
fn write_bundle(output: &Path, host: &str, now: u64, b: &Bundle, secrets: &BTreeSet<String>) -> Result<()> {
    let file = std::fs::File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let top = format!("lanner-support-{host}-{now}");
    for (name, text) in &b.files {
        let text = scrub(text, secrets);
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(now);
        header.set_cksum();
        tar.append_data(&mut header, format!("{top}/{name}"), text.as_bytes())
            .with_context(|| format!("writing {}", output.display()))?;
    }
    let mut gz = tar.into_inner().with_context(|| format!("writing {}", output.display()))?;
    gz.flush()?;
    gz.finish().with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_values_that_are_secret() {
        for k in [
            "password",
            "api_key",
            "metrics_token",
            "webhook_url",
            "url",
            "secret",
            "client-key",
            "Authorization",
        ] {
            assert!(key_is_secret(k), "{k}");
        }
        for k in ["metrics_token_file", "key_file", "max_keys", "keep_alive", "username", "server", "name"] {
            assert!(!key_is_secret(k), "{k}");
        }
        let mut r = Redactor::default();
        let mut v = json!({
            "plugin_outputs": [{"name": "hook", "init_config": {
                "url": "https://user:pw@hooks.example.com/T1/B2/SECRETPATH",
                "headers": {"X-Api": "headersecret"},
                "timeout_ms": 5000}}],
            "program_output": {"program": "curl -H 'Authorization: Bearer abc123' https://x"},
            "file_output": {"filename": "/var/log/alerts"},
            "init_string": "{\"password\": \"jsonsecret\", \"server\": \"smtp.example.com\"}",
        });
        r.value(&mut v);
        let out = v.to_string();
        for s in ["SECRETPATH", "user:pw", "headersecret", "abc123", "jsonsecret"] {
            assert!(!out.contains(s), "{s} in {out}");
        }
        for s in ["https://hooks.example.com", "X-Api", "5000", "/var/log/alerts", "smtp.example.com"] {
            assert!(out.contains(s), "{s} kept in {out}");
        }
        assert!(r.secrets.contains("headersecret"));
        assert_eq!(scrub("x headersecret y", &r.secrets), format!("x {REDACTED} y"));
        // Short values are redacted where they stand but not hunted through the bundle.
        let mut r = Redactor::default();
        let mut v =
            json!({"headers": {"X-Source": "lanner"}, "dir": "/usr/lib/lanner", "f": "/etc/x/metrics.token"});
        r.value(&mut v);
        assert_eq!(v["headers"]["X-Source"], REDACTED);
        assert_eq!(scrub("/usr/lib/lanner", &r.secrets), "/usr/lib/lanner");
        assert_eq!(v["f"], "/etc/x/metrics.token");
    }
}
