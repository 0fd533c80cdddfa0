//! The commands of docs/plugins.md and docs/sinks.md, run as a reader would run them, so that
//! the docs cannot drift from the code again.
//!
//! The conventions (also stated in an HTML comment at the top of each doc):
//!
//! - A ```` ```sh ```` block is commands: each line is one, joined with the next while it
//!   ends in `\`, with its here-document when it opens one, and with the lines that complete
//!   a compound command (`for ...; do` to `done`: until `bash -n` accepts it); `#` lines are
//!   comments. Each must
//!   exit with status 0; their output is not compared.
//! - A ```` ```console ```` block is commands with their output: a command follows a `$ `
//!   prompt (continuation lines may start with `> `), and the lines up to the next prompt are
//!   what it prints on standard output (`2>&1` in the command shows standard error too). The
//!   output must match: line by line, trailing blanks aside, where `...` in a line stands for
//!   any text (times, ids, paths) and a line of only `...` for any number of lines.
//! - Commands run one after the other, each in `bash`, in a fresh copy of the checkout (its
//!   tracked and new files) whose root is where the first command starts; `cd` and variables
//!   carry over to the next command, as in a terminal. The `lanner` built for the tests is
//!   first on PATH. Plugin projects of the copy build into the tests' shared WASM target
//!   directory (their `target/`, and the copy's `target/wasm-plugins`, are links to it), so a
//!   doc's `cargo build` is quick after the tests' own builds.
//! - `yaml`, `json` and `toml` blocks are not run but must parse, and a YAML block is checked
//!   as what it is: a plugin's `NAME.yaml` (only its keys: `config`, `limits`, `restart`,
//!   `grants`, `open_params`) must be accepted by `PluginConfig::parse`; a rules file (a list
//!   of `rule`, `macro`, `list`, `required_*` items) by `lanner validate`; any other mapping is
//!   a `lanner.yaml` and must be accepted by `lanner run --strict -c FILE --events /dev/null` (the
//!   configuration checked, the webserver off).
//! - `<!-- docs-test: skip: REASON -->` on the line before a block leaves it out, and
//!   `<!-- docs-test: no-load: REASON -->` before a `lanner.yaml` block that names what is not
//!   there (an SMTP relay, installed sinks) checks its keys without loading its outputs; the
//!   test prints every such block, with its reason.
//!
//! A failure names the doc, the line and the command, with what it printed.

use lanner_plugin_runtime::testing::{build_component, repo_root, wasm_target_dir};
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one command may run: a doc's first plugin build on two shared cores is minutes.
const COMMAND_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The marker of a directive comment.
const DIRECTIVE: &str = "<!-- docs-test:";

#[derive(Debug, Clone, PartialEq)]
enum Directive {
    Skip(String),
    /// A `lanner.yaml` block naming what is not there (an SMTP relay, installed sinks): its
    /// keys are checked, nothing it names is loaded.
    NoLoad(String),
}

/// A fenced block of a doc.
#[derive(Debug)]
struct Block {
    lang: String,
    /// The line of the opening fence (1-based).
    line: usize,
    /// The lines inside, with their numbers.
    lines: Vec<(usize, String)>,
    directive: Option<Directive>,
}

/// One command of a block, with the output the doc shows for it (console blocks).
#[derive(Debug, PartialEq)]
struct Cmd {
    line: usize,
    text: String,
    expected: Option<Vec<String>>,
}

/// The fenced blocks of a doc, each with the directive on the line before it. A directive
/// that is not understood, or an unclosed fence, is an error naming the line.
fn blocks(doc: &str, name: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut directive: Option<(usize, Directive)> = None;
    let mut lines = doc.lines().enumerate().map(|(i, l)| (i + 1, l));
    while let Some((n, line)) = lines.next() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix(DIRECTIVE) {
            let body = rest
                .strip_suffix("-->")
                .ok_or_else(|| format!("{name}:{n}: a docs-test directive must end on its line with -->"))?
                .trim();
            let d = match body.split_once(':') {
                Some(("skip", why)) if !why.trim().is_empty() => Directive::Skip(why.trim().to_string()),
                Some(("no-load", why)) if !why.trim().is_empty() => Directive::NoLoad(why.trim().to_string()),
                _ => {
                    return Err(format!(
                        "{name}:{n}: unknown docs-test directive `{body}` (known: `skip: REASON`, `no-load: REASON`)"
                    ));
                }
            };
            directive = Some((n, d));
            continue;
        }
        let Some(info) = t.strip_prefix("```") else {
            if !t.is_empty()
                && let Some((dn, _)) = directive.take()
            {
                return Err(format!("{name}:{dn}: a docs-test directive must be followed by a fenced block"));
            }
            continue;
        };
        let fence = &line[..line.find("```").unwrap_or(0) + 3];
        let lang = info.split_whitespace().next().unwrap_or("").to_string();
        let mut body = Vec::new();
        let mut closed = false;
        for (m, l) in lines.by_ref() {
            if l.trim_start().starts_with("```") && l.trim() == "```" {
                closed = true;
                break;
            }
            // The block's own indentation (inside a list item) is not part of its text.
            let indent = fence.len() - 3;
            let text = if l.len() >= indent && l[..indent].trim().is_empty() { &l[indent..] } else { l };
            body.push((m, text.to_string()));
        }
        if !closed {
            return Err(format!("{name}:{n}: the block opened here is not closed"));
        }
        out.push(Block { lang, line: n, lines: body, directive: directive.take().map(|(_, d)| d) });
    }
    Ok(out)
}

/// The here-document delimiters a command line opens (`<<EOF`, `<<-'EOF'`, `<<"EOF"`), in
/// order; a here-string (`<<<`) is none.
fn heredocs(line: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("<<") {
        let after = &rest[i + 2..];
        if after.starts_with('<') {
            rest = after.trim_start_matches('<');
            continue;
        }
        let (strip_tabs, after) = match after.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, after),
        };
        let after = after.trim_start();
        let word: String = after
            .chars()
            .skip_while(|c| *c == '\'' || *c == '"')
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty() {
            found.push((word, strip_tabs));
        }
        rest = after;
    }
    found
}

/// Whether bash reads `text` as complete commands (no open `do`, `then`, quote...).
fn complete(text: &str) -> bool {
    Command::new("bash").args(["-n", "-c", text]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Reads one command from `lines` starting at `*i`: continuation lines (a trailing `\`),
/// here-document bodies and the rest of a compound command are part of it. `prompt2` strips a leading `> ` from the lines after
/// the first (console blocks).
fn one_command(lines: &[(usize, String)], i: &mut usize, first: &str, prompt2: bool) -> String {
    let next_line = |i: &mut usize| -> Option<String> {
        let (_, l) = lines.get(*i)?;
        *i += 1;
        let l = if prompt2 { l.strip_prefix("> ").or_else(|| l.strip_prefix('>')).unwrap_or(l) } else { l };
        Some(l.to_string())
    };
    let mut text = first.to_string();
    let mut current = first.to_string();
    loop {
        for (word, strip_tabs) in heredocs(&current) {
            while let Some(l) = next_line(i) {
                text.push('\n');
                text.push_str(&l);
                let t = if strip_tabs { l.trim_start_matches('\t') } else { l.as_str() };
                if t == word {
                    break;
                }
            }
        }
        let continued = current.trim_end().ends_with('\\')
            // A compound command (`for ...; do`, `if`, an open quote) goes on until bash can
            // parse it; in a console block only over `> ` lines.
            || (!complete(&text) && lines.get(*i).is_some_and(|(_, l)| !prompt2 || l.starts_with('>')));
        if !continued {
            return text;
        }
        match next_line(i) {
            Some(l) => {
                text.push('\n');
                text.push_str(&l);
                current = l;
            }
            None => return text,
        }
    }
}

/// The commands of a `sh` or `console` block.
fn commands(b: &Block, name: &str) -> Result<Vec<Cmd>, String> {
    let mut out: Vec<Cmd> = Vec::new();
    let console = b.lang == "console";
    let mut i = 0;
    while i < b.lines.len() {
        let (n, l) = &b.lines[i];
        i += 1;
        if console {
            if let Some(first) = l.strip_prefix("$ ").or_else(|| (l == "$").then_some("")) {
                let text = one_command(&b.lines, &mut i, first, true);
                out.push(Cmd { line: *n, text, expected: Some(Vec::new()) });
            } else {
                match out.last_mut() {
                    Some(c) => c.expected.get_or_insert_with(Vec::new).push(l.clone()),
                    None if l.trim().is_empty() => {}
                    None => {
                        return Err(format!(
                            "{name}:{n}: a console block must start with a `$ ` command, not `{l}`"
                        ));
                    }
                }
            }
        } else {
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let text = one_command(&b.lines, &mut i, l, false);
            out.push(Cmd { line: *n, text, expected: None });
        }
    }
    Ok(out)
}

/// Whether `text` matches `pattern`, where `...` stands for any text.
fn line_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split("...").collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// Whether the output lines match the expected ones (a line of only `...`: any lines).
fn output_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e.trim() == "..." => {
            (0..=actual.len()).any(|skip| output_matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => {
            actual.first().is_some_and(|a| line_matches(e.trim_end(), a.trim_end()))
                && output_matches(rest, &actual[1..])
        }
    }
}

/// Lines of text without the trailing blank ones.
fn trimmed_lines(text: &str) -> Vec<&str> {
    let mut v: Vec<&str> = text.lines().collect();
    while v.last().is_some_and(|l| l.trim().is_empty()) {
        v.pop();
    }
    v
}

/// Copies the checkout's tracked and new (not ignored) files to `dest`, times kept, so that
/// cargo sees the same sources as the tests' builds.
fn copy_checkout(dest: &Path) {
    let _ = std::fs::remove_dir_all(dest);
    std::fs::create_dir_all(dest).unwrap();
    let script = "git ls-files -z --cached --others --exclude-standard | \
                  while IFS= read -r -d '' f; do [ -e \"$f\" ] && printf '%s\\0' \"$f\"; done | \
                  tar --null -T - -cf - | tar -xf - -C \"$1\"";
    let st = Command::new("bash")
        .args(["-c", script, "copy"])
        .arg(dest)
        .current_dir(repo_root())
        .status()
        .expect("bash runs");
    assert!(st.success(), "copying the checkout to {} failed", dest.display());
    // Each plugin project (its own cargo workspace) builds into the tests' shared target
    // directory, where the tests' builds left its dependencies.
    let shared = wasm_target_dir();
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(dest.join("target")).unwrap();
    std::os::unix::fs::symlink(&shared, dest.join("target/wasm-plugins")).unwrap();
    let list = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard", "*Cargo.toml"])
        .current_dir(repo_root())
        .output()
        .expect("git runs");
    for manifest in String::from_utf8_lossy(&list.stdout).lines() {
        let dir = match Path::new(manifest).parent() {
            Some(d) if !d.as_os_str().is_empty() => dest.join(d),
            _ => continue,
        };
        let own_workspace = std::fs::read_to_string(dest.join(manifest))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"));
        if own_workspace && !dir.join("target").exists() {
            std::os::unix::fs::symlink(&shared, dir.join("target")).unwrap();
        }
    }
}

/// Where a doc's commands run: a copy of the checkout, the shell state carried between
/// commands, and the process groups started (stopped at the end).
struct Terminal {
    root: PathBuf,
    state: PathBuf,
    groups: Vec<u32>,
    env: Vec<(String, String)>,
}

/// What a command did.
struct Ran {
    status: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Terminal {
    fn new(doc: &str) -> Terminal {
        let base =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-test").join(doc.replace(['/', '.'], "-"));
        let root = base.join("checkout");
        copy_checkout(&root);
        let state = base.join("shell");
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("pwd"), root.as_os_str().as_encoded_bytes()).unwrap();
        std::fs::write(state.join("env"), "").unwrap();
        let lanner_dir = Path::new(env!("CARGO_BIN_EXE_lanner")).parent().unwrap().to_path_buf();
        let path = std::env::var("PATH").unwrap_or_default();
        let env = vec![
            ("PATH".to_string(), format!("{}:{path}", lanner_dir.display())),
            ("LANNER_PLUGIN_CACHE".to_string(), wasm_target_dir().join("test-cache").display().to_string()),
            // As installed: the container plugin is there (else every command warns).
            (
                "LANNER_CONTAINER_PLUGIN".to_string(),
                build_component("plugins/container").display().to_string(),
            ),
        ];
        Terminal { root, state, groups: Vec::new(), env }
    }

    fn run(&mut self, cmd: &str) -> Ran {
        let script = format!(
            "set -a\n. \"$DOCS_TEST_STATE/env\"\ncd \"$(cat \"$DOCS_TEST_STATE/pwd\")\" || exit 99\n{cmd}\n\
             __docs_test_rc=$?\nexport -p > \"$DOCS_TEST_STATE/env\"\npwd > \"$DOCS_TEST_STATE/pwd\"\n\
             exit $__docs_test_rc\n"
        );
        let (out_path, err_path) = (self.state.join("stdout"), self.state.join("stderr"));
        let mut c = Command::new("bash");
        c.arg("-c").arg(&script).current_dir(&self.root).stdin(Stdio::null());
        c.stdout(std::fs::File::create(&out_path).unwrap()).stderr(std::fs::File::create(&err_path).unwrap());
        // What cargo set for this test is not the reader's environment.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if (k.starts_with("CARGO_") && k != "CARGO_HOME")
                || ["RUSTFLAGS", "RUST_TEST_THREADS", "RUST_BACKTRACE"].contains(&k.as_ref())
            {
                c.env_remove(k.as_ref());
            }
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v))).env("DOCS_TEST_STATE", &self.state);
        c.process_group(0);
        let started = Instant::now();
        let mut child = c.spawn().expect("bash runs");
        self.groups.push(child.id());
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st.code();
            }
            if started.elapsed() > COMMAND_LIMIT {
                // SAFETY: signals the process group this test started for the command.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // A group with no process left is forgotten: its id may be given to someone else's.
        self.groups.retain(|g| group_alive(*g));
        let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        Ran { status, stdout: read(&out_path), stderr: read(&err_path), took: started.elapsed() }
    }
}

/// Whether a process of the process group `pgid` is still there (while one is, the id cannot
/// be reused).
fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else { return false };
    dir.flatten().any(|e| {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // After the command name: state, parent, process group.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok())
            .is_some_and(|g| g == pgid)
    })
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // What a command left running in the background (a daemon, a server) stops here.
        for g in self.groups.iter().filter(|g| group_alive(**g)) {
            // SAFETY: signals a process group this test started, which still has processes.
            unsafe { libc::kill(-(*g as i32), libc::SIGKILL) };
        }
    }
}

/// The keys of a plugin's `NAME.yaml`.
const PLUGIN_CONFIG_KEYS: [&str; 5] = ["config", "limits", "restart", "grants", "open_params"];

/// The keys of the items of a rules file.
const RULES_ITEM_KEYS: [&str; 5] =
    ["rule", "macro", "list", "required_engine_version", "required_plugin_versions"];

/// Checks a YAML block as what it is (see the module's comment); `Some(why)` when refused.
fn check_yaml(t: &mut Terminal, body: &str, line: usize, no_load: bool) -> Option<String> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(body).ok()?;
    let key_of = |k: &serde_yaml_ng::Value| k.as_str().unwrap_or("").to_string();
    let file = t.state.join(format!("block-{line}.yaml"));
    std::fs::write(&file, body).unwrap();
    let command = match &value {
        serde_yaml_ng::Value::Mapping(m)
            if m.keys().all(|k| PLUGIN_CONFIG_KEYS.contains(&key_of(k).as_str())) =>
        {
            return lanner_plugin_runtime::PluginConfig::parse(body)
                .err()
                .map(|e| format!("as a NAME.yaml: {e}"));
        }
        serde_yaml_ng::Value::Mapping(m) if no_load => {
            if let Some(e) = check_plugin_outputs(m) {
                return Some(e);
            }
            format!(
                "lanner run --strict -c '{}' --events /dev/null -o webserver.enabled=false -o file_output.enabled=false -o 'plugin_outputs=[]'",
                file.display()
            )
        }
        serde_yaml_ng::Value::Mapping(_) => {
            format!(
                "lanner run --strict -c '{}' --events /dev/null -o webserver.enabled=false",
                file.display()
            )
        }
        serde_yaml_ng::Value::Sequence(items)
            if items.iter().all(|i| {
                i.as_mapping()
                    .is_some_and(|m| m.keys().any(|k| RULES_ITEM_KEYS.contains(&key_of(k).as_str())))
            }) =>
        {
            format!("lanner validate -r '{}'", file.display())
        }
        _ => return None,
    };
    let r = t.run(&command);
    (r.status != Some(0)).then(|| {
        format!("`{command}` exited with status {:?}:\n{}{}", r.status, tail(&r.stdout), tail(&r.stderr))
    })
}

/// The keys of a `plugin_outputs` entry.
const PLUGIN_OUTPUT_KEYS: [&str; 7] =
    ["name", "plugin", "priority", "init_config", "grants", "limits", "restart"];

/// The `plugin_outputs` entries of a `lanner.yaml` checked without loading their plugins:
/// their keys, and their `grants`, `limits` and `restart` as a `NAME.yaml`'s.
fn check_plugin_outputs(config: &serde_yaml_ng::Mapping) -> Option<String> {
    let entries = config.get("plugin_outputs")?.as_sequence()?;
    for (n, e) in entries.iter().enumerate() {
        let Some(m) = e.as_mapping() else { return Some(format!("plugin_outputs[{n}] is not a mapping")) };
        let mut own = serde_yaml_ng::Mapping::new();
        for (k, v) in m {
            let k = k.as_str().unwrap_or("");
            if !PLUGIN_OUTPUT_KEYS.contains(&k) {
                return Some(format!(
                    "plugin_outputs[{n}]: unknown key `{k}` (known: {PLUGIN_OUTPUT_KEYS:?})"
                ));
            }
            if ["grants", "limits", "restart"].contains(&k) {
                own.insert(k.into(), v.clone());
            }
        }
        let text = serde_yaml_ng::to_string(&own).unwrap();
        if let Err(e) = lanner_plugin_runtime::PluginConfig::parse(&text) {
            return Some(format!("plugin_outputs[{n}]: {e}"));
        }
    }
    None
}

/// The last lines of a command's output, for a failure message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(40);
    let mut s = lines[from..].join("\n");
    if from > 0 {
        s.insert_str(0, &format!("[{from} lines before]\n"));
    }
    s
}

/// Checks every block of one doc: runs its commands, parses its data blocks. Panics with
/// every failure, each naming the doc, the line and the command.
fn check_doc(doc: &str) {
    let text = std::fs::read_to_string(repo_root().join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let head: String = text.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(
        head.contains("<!--") && head.contains("host/lanner/tests/docs.rs"),
        "{doc}: its first lines must state the docs test's conventions in an HTML comment naming host/lanner/tests/docs.rs"
    );
    let blocks = blocks(&text, doc).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut terminal: Option<Terminal> = None;
    let mut ran = 0;
    let mut first_failure: Option<usize> = None;
    for b in &blocks {
        if let Some(Directive::Skip(why)) = &b.directive {
            skipped.push(format!("{doc}:{}: ```{} block skipped: {why}", b.line, b.lang));
            continue;
        }
        let body: String = b.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        let parsed = match b.lang.as_str() {
            "yaml" | "yml" => {
                serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&body).err().map(|e| e.to_string())
            }
            "json" => serde_json::from_str::<serde_json::Value>(&body).err().map(|e| e.to_string()),
            "toml" => toml::from_str::<toml::Table>(&body).err().map(|e| e.to_string()),
            "sh" | "console" => None,
            _ => continue,
        };
        if let Some(e) = parsed {
            failures.push(format!("{doc}:{}: the ```{} block does not parse: {e}", b.line, b.lang));
            continue;
        }
        if b.lang == "yaml" || b.lang == "yml" {
            let t = terminal.get_or_insert_with(|| Terminal::new(doc));
            let no_load = match &b.directive {
                Some(Directive::NoLoad(why)) => {
                    skipped.push(format!(
                        "{doc}:{}: ```{} block checked without loading: {why}",
                        b.line, b.lang
                    ));
                    true
                }
                _ => false,
            };
            if let Some(e) = check_yaml(t, &body, b.line, no_load) {
                failures.push(format!("{doc}:{}: the ```{} block is refused: {e}", b.line, b.lang));
            }
            continue;
        }
        if b.lang != "sh" && b.lang != "console" {
            continue;
        }
        let cmds = match commands(b, doc) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let t = terminal.get_or_insert_with(|| Terminal::new(doc));
        for c in cmds {
            let r = t.run(&c.text);
            ran += 1;
            println!("{doc}:{}: {} s: {}", c.line, r.took.as_secs(), c.text.lines().next().unwrap_or(""));
            let mut why = String::new();
            match r.status {
                Some(0) => {}
                Some(s) => write!(why, "exited with status {s}").unwrap(),
                None => write!(why, "did not finish within {} s (or was killed)", COMMAND_LIMIT.as_secs())
                    .unwrap(),
            }
            if why.is_empty()
                && let Some(expected) = &c.expected
                && !output_matches(expected, &trimmed_lines(&r.stdout))
            {
                write!(
                    why,
                    "printed other output than the doc shows; the doc shows:\n{}",
                    expected.join("\n")
                )
                .unwrap();
            }
            if !why.is_empty() {
                // Later commands may fail only because this one did (a `cd` that could not
                // happen leaves the next ones elsewhere): they say so.
                let after = first_failure
                    .map(|l| format!(" (after the failure at {doc}:{l}, maybe its consequence)"));
                first_failure.get_or_insert(c.line);
                failures.push(format!(
                    "{doc}:{}: `{}` {why}{}\n--- its standard output:\n{}\n--- its standard error:\n{}",
                    c.line,
                    c.text,
                    after.unwrap_or_default(),
                    tail(&r.stdout),
                    tail(&r.stderr)
                ));
            }
        }
    }
    for s in &skipped {
        println!("SKIPPED {s}");
    }
    println!("{doc}: {ran} commands run, {} blocks skipped, {} failures", skipped.len(), failures.len());
    let root = terminal.as_ref().map(|t| t.root.clone());
    drop(terminal);
    if failures.is_empty() {
        if let Some(root) = root {
            let _ = std::fs::remove_dir_all(root);
        }
    } else {
        panic!(
            "{} of the commands and blocks of {doc} failed (skipped: {}):\n\n{}",
            failures.len(),
            skipped.len(),
            failures.join("\n\n")
        );
    }
}

#[test]
fn every_command_of_docs_plugins_md_works() {
    check_doc("docs/plugins.md");
}

#[test]
fn every_command_of_docs_sinks_md_works() {
    check_doc("docs/sinks.md");
}

#[test]
fn every_command_of_docs_falco_cli_md_works() {
    check_doc("docs/falco-cli.md");
}

/// The harness itself: what it reads as commands and output, and how output is compared.
#[test]
fn the_docs_harness_reads_commands_and_compares_output_as_documented() {
    let doc = "intro\n<!-- docs-test: skip: needs a cluster -->\n```sh\nkubectl get pods\n```\n\n```sh\n# a comment\ncargo build \\\n  --release\ncat > f.yaml <<'EOF'\na: 1\nEOF\nfor p in a b; do\n  echo $p\ndone\necho done\n```\n```console\n$ lanner --version\nlanner ...\n$ printf 'a\\nb\\n'\n...\n$ echo x \\\n> y\n```\n";
    let b = blocks(doc, "t.md").unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(b[0].directive, Some(Directive::Skip("needs a cluster".into())));
    let sh = commands(&b[1], "t.md").unwrap();
    let texts: Vec<&str> = sh.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "cargo build \\\n  --release",
            "cat > f.yaml <<'EOF'\na: 1\nEOF",
            "for p in a b; do\n  echo $p\ndone",
            "echo done"
        ]
    );
    assert_eq!(sh[0].line, 9);
    let con = commands(&b[2], "t.md").unwrap();
    assert_eq!(con.len(), 3);
    assert_eq!(con[0].expected.as_deref(), Some(&["lanner ...".to_string()][..]));
    assert_eq!(con[2].text, "echo x \\\ny");
    assert_eq!(con[2].expected.as_deref(), Some(&[][..]));

    assert!(line_matches("lanner ...", "lanner 0.1.0"));
    assert!(line_matches("a ... b ... c", "a 1 b 2 c"));
    assert!(!line_matches("a ... b", "a 1 c"));
    assert!(!line_matches("exact", "exact "));
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(output_matches(&e(&["first", "...", "last"]), &["first", "x", "y", "last"]));
    assert!(output_matches(&e(&["first", "...", "last"]), &["first", "last"]));
    assert!(!output_matches(&e(&["first", "last"]), &["first", "x", "last"]));
    assert!(!output_matches(&e(&["only"]), &["only", "more"]));

    assert!(
        blocks("<!-- docs-test: frobnicate -->\n```sh\nx\n```\n", "t.md").unwrap_err().contains("t.md:1")
    );
    assert!(blocks("```sh\nx\n", "t.md").unwrap_err().contains("not closed"));
    assert!(commands(&blocks("```console\noutput first\n```\n", "t.md").unwrap()[0], "t.md").is_err());
}
