//! Falco's rule-loader regression tests, as published in falcosecurity/testing, run against
//! `lanner validate --json`.
//!
//! Nothing of that repository is copied here: the test reads a checkout (or a bare git
//! directory) of it at run time, pulls the rules files out of its Go sources
//! (`tests/data/rules/*.go`) and the assertions out of the tests that validate rules
//! (`falco.WithRulesValidation` in `tests/falco/*_test.go`), and checks each assertion the way
//! Falco's own harness does. Where no copy is present the test says so and skips; the
//! behaviours it covers are also checked always by cases of our own in the engine's tests.
//!
//! Where to look: `FALCO_TESTING_REPO`, else `shared/falco-testing` beside the checkout, else
//! the local mirror that the project's `fetch` tooling keeps.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of falcosecurity/testing: a work tree, or a git directory read at HEAD.
enum Repo {
    Tree(PathBuf),
    Git(PathBuf),
}

impl Repo {
    fn find() -> Option<Repo> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("FALCO_TESTING_REPO") {
            candidates.push(p.into());
        }
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/falco-testing"));
        candidates.push("/work/.mirror/falcosecurity+testing/repo".into());
        for c in &candidates {
            if c.join("tests/falco").is_dir() {
                return Some(Repo::Tree(c.clone()));
            }
            if c.join("HEAD").is_file() && c.join("objects").is_dir() {
                return Some(Repo::Git(c.clone()));
            }
        }
        eprintln!(
            "SKIPPED: no copy of falcosecurity/testing found (looked in {}); set FALCO_TESTING_REPO",
            candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        None
    }

    fn list(&self, dir: &str) -> Vec<String> {
        match self {
            Repo::Tree(root) => {
                let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
                    .unwrap()
                    .map(|e| format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()))
                    .collect();
                v.sort();
                v
            }
            Repo::Git(git) => {
                let out = Command::new("git")
                    .arg("--git-dir")
                    .arg(git)
                    .args(["ls-tree", "--name-only", "HEAD", &format!("{dir}/")])
                    .output()
                    .expect("run git");
                assert!(out.status.success(), "git ls-tree: {}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
            }
        }
    }

    fn read(&self, path: &str) -> String {
        match self {
            Repo::Tree(root) => std::fs::read_to_string(root.join(path)).unwrap(),
            Repo::Git(git) => {
                let out = Command::new("git")
                    .arg("--git-dir")
                    .arg(git)
                    .args(["show", &format!("HEAD:{path}")])
                    .output()
                    .expect("run git");
                assert!(out.status.success(), "git show {path}: {}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8(out.stdout).unwrap()
            }
        }
    }
}

/// Reads one Go string literal (raw or interpreted) at the start of `s`; returns it and the rest.
fn go_string(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('`') {
        let end = rest.find('`')?;
        return Some((rest[..end].to_owned(), &rest[end + 1..]));
    }
    let rest = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &rest[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
    None
}

/// A string expression: literals joined by `+`. Returns the value and the rest.
fn go_string_expr(s: &str) -> Option<(String, &str)> {
    let (mut value, mut rest) = go_string(s)?;
    while let Some(more) = rest.trim_start().strip_prefix('+') {
        let (v, r) = go_string(more)?;
        value.push_str(&v);
        rest = r;
    }
    Some((value, rest))
}

/// Every `var Name = run.NewStringFileAccessor("file", <string>)` in the rules data sources.
fn rules_files(repo: &Repo) -> BTreeMap<String, (String, String)> {
    let mut files = BTreeMap::new();
    for path in repo.list("tests/data/rules").into_iter().filter(|p| p.ends_with(".go")) {
        let src = repo.read(&path);
        let mut rest = src.as_str();
        while let Some(at) = rest.find("\nvar ") {
            rest = &rest[at + 5..];
            let Some((name, after)) = rest.split_once('=') else { break };
            let after = after.trim_start();
            let Some(after) = after.strip_prefix("run.NewStringFileAccessor(") else { continue };
            let (file, after) = go_string(after).expect("file name");
            let after = after.trim_start().strip_prefix(',').expect("comma after file name");
            let (content, after) = go_string_expr(after).expect("file content");
            files.insert(name.trim().to_owned(), (file, content));
            rest = after;
        }
    }
    files
}

/// Errors (true) or warnings, and the `Of...` filters applied to them, in order.
type Selection = (bool, Vec<(String, String)>);

/// One assertion of Falco's test, on the validation output.
#[derive(Debug)]
enum Check {
    /// At least one (`NotNil`) or exactly `count` entries pass the filters.
    Entries {
        errors: bool,
        filters: Vec<(String, String)>,
        count: Option<usize>,
    },
    Successful {
        file: usize,
        want: bool,
    },
    ExitCode(i32),
    Failed(bool),
}

struct Case {
    name: String,
    rules: Vec<String>,
    checks: Vec<Check>,
    /// Why the case cannot be run faithfully, when it cannot.
    unsupported: Option<String>,
    /// An assertion this reader does not understand: a failure, so a change upstream is seen.
    unreadable: Option<String>,
}

/// The argument text of the first call `name(` in `s`, up to its matching parenthesis.
fn call_args<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let start = s.find(name)? + name.len();
    let body = &s[start..];
    let mut depth = 1;
    let mut in_str: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in body.char_indices() {
        match in_str {
            Some(q) if c == q && (q == '`' || prev != '\\') => in_str = None,
            Some(_) => {}
            None => match c {
                '"' | '`' => in_str = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&body[..i]);
                    }
                }
                _ => {}
            },
        }
        prev = c;
    }
    None
}

/// A filter chain: `res.RuleValidation().AllErrors().OfCode("X")...` or `var.OfItemName(...)`.
fn chain(expr: &str, vars: &BTreeMap<String, Selection>) -> Result<Selection, String> {
    let expr = expr.trim();
    let (errors, mut filters, mut rest) =
        if let Some(r) = expr.strip_prefix("res.RuleValidation().AllErrors()") {
            (true, Vec::new(), r)
        } else if let Some(r) = expr.strip_prefix("res.RuleValidation().AllWarnings()") {
            (false, Vec::new(), r)
        } else {
            let (var, _) = expr.split_once('.').ok_or_else(|| format!("unknown expression {expr}"))?;
            let (e, f) = vars.get(var).ok_or_else(|| format!("unknown expression {expr}"))?;
            (*e, f.clone(), &expr[var.len()..])
        };
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok((errors, filters));
        }
        let Some(r) = rest.strip_prefix('.') else { return Err(format!("cannot read {rest}")) };
        let (method, r) = r.split_once('(').ok_or_else(|| format!("cannot read {r}"))?;
        if !matches!(method, "OfCode" | "OfItemType" | "OfItemName" | "OfMessage") {
            return Err(format!("unknown filter {method}"));
        }
        let (value, r) = go_string(r).ok_or_else(|| format!("{method} argument is not a string literal"))?;
        rest = r.trim_start().strip_prefix(')').ok_or_else(|| format!("cannot read {r}"))?;
        filters.push((method.to_owned(), value));
    }
}

/// The tests of `legacy_test.go` (and any other) that validate rules files.
fn cases(repo: &Repo) -> Vec<Case> {
    let mut cases = Vec::new();
    for path in repo.list("tests/falco").into_iter().filter(|p| p.ends_with("_test.go")) {
        let src = repo.read(&path);
        for func in src.split("\nfunc ").skip(1) {
            if !func.contains("falco.WithRulesValidation(") {
                continue;
            }
            let name = func.split('(').next().unwrap().trim().to_owned();
            let rules: Vec<String> = call_args(func, "falco.WithRulesValidation(")
                .unwrap()
                .split(',')
                .map(|r| r.trim().trim_start_matches("rules.").to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            let mut case = Case { name, rules, checks: Vec::new(), unsupported: None, unreadable: None };
            let options = call_args(func, "falco.Test(").unwrap_or_default();
            for opt in options.split("falco.").skip(1) {
                let opt = opt.split('(').next().unwrap();
                if !matches!(opt, "WithOutputJSON" | "WithRulesValidation") {
                    case.unsupported = Some(format!("runs Falco with option {opt}"));
                }
            }
            // One statement a line, once chained calls broken after a '.' are joined.
            let mut statements: Vec<String> = Vec::new();
            let mut joining = false;
            for l in func.split_once('{').unwrap().1.lines().map(str::trim) {
                match statements.last_mut() {
                    Some(last) if joining => last.push_str(l),
                    _ => statements.push(l.to_owned()),
                }
                joining = l.ends_with('.');
            }
            let mut vars = BTreeMap::new();
            for line in statements {
                let parsed: Result<Option<Check>, String> = (|| {
                    if line.is_empty()
                        || line == "}"
                        || line == ")"
                        || line.starts_with("t.Parallel")
                        || line.starts_with("checkConfig")
                        || line.starts_with("res := falco.Test(")
                        || line.starts_with("tests.NewFalcoExecutableRunner")
                        || line.starts_with("falco.With")
                    {
                        return Ok(None);
                    }
                    if let Some((var, expr)) = line.split_once(" := ") {
                        vars.insert(var.trim().to_owned(), chain(expr, &vars)?);
                        return Ok(None);
                    }
                    if let Some(args) = line
                        .strip_prefix("assert.NotNil(t, ")
                        .or_else(|| line.strip_prefix("require.NotNil(t, "))
                    {
                        // The chain ends at the first top-level comma (a message may follow).
                        let expr = top_level_args(args.strip_suffix(')').unwrap_or(args))[0].clone();
                        let (errors, filters) = chain(&expr, &vars)?;
                        return Ok(Some(Check::Entries { errors, filters, count: None }));
                    }
                    if let Some(args) = line.strip_prefix("assert.Equal(t, ") {
                        let args = top_level_args(args.strip_suffix(')').unwrap_or(args));
                        let n: i64 = args[0].trim().parse().map_err(|_| format!("cannot read {line}"))?;
                        let what = args[1].trim();
                        if what == "res.ExitCode()" {
                            return Ok(Some(Check::ExitCode(n as i32)));
                        }
                        if let Some(expr) = what.strip_suffix(".Count()") {
                            let (errors, filters) = chain(expr, &vars)?;
                            return Ok(Some(Check::Entries { errors, filters, count: Some(n as usize) }));
                        }
                        return Err(format!("cannot read {line}"));
                    }
                    for (prefix, want) in [("assert.True(t, ", true), ("assert.False(t, ", false)] {
                        if let Some(args) = line.strip_prefix(prefix) {
                            let expr = top_level_args(args.strip_suffix(')').unwrap_or(args))[0].clone();
                            let file = expr
                                .strip_prefix("res.RuleValidation().At(")
                                .and_then(|r| r.strip_suffix(").Successful"))
                                .and_then(|n| n.parse().ok())
                                .ok_or_else(|| format!("cannot read {line}"))?;
                            return Ok(Some(Check::Successful { file, want }));
                        }
                    }
                    if line.starts_with("assert.Error(t, res.Err()") {
                        return Ok(Some(Check::Failed(true)));
                    }
                    if line.starts_with("assert.NoError(t, res.Err()") {
                        return Ok(Some(Check::Failed(false)));
                    }
                    Err(format!("cannot read {line}"))
                })();
                match parsed {
                    Ok(Some(c)) => case.checks.push(c),
                    Ok(None) => {}
                    Err(e) => case.unreadable = Some(e),
                }
            }
            cases.push(case);
        }
    }
    cases
}

/// Splits call arguments at top-level commas (outside strings and parentheses).
fn top_level_args(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let (mut depth, mut in_str, mut prev) = (0, None::<char>, ' ');
    for c in s.chars() {
        match in_str {
            Some(q) if c == q && (q == '`' || prev != '\\') => in_str = None,
            Some(_) => {}
            None => match c {
                '"' | '`' => in_str = Some(c),
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(String::new());
                    prev = c;
                    continue;
                }
                _ => {}
            },
        }
        out.last_mut().unwrap().push(c);
        prev = c;
    }
    out
}

fn passes(entry: &Value, filters: &[(String, String)]) -> bool {
    let locations = entry["context"]["locations"].as_array().cloned().unwrap_or_default();
    filters.iter().all(|(method, v)| match method.as_str() {
        "OfCode" => entry["code"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(v)),
        "OfMessage" => entry["message"].as_str() == Some(v.as_str()),
        "OfItemName" => locations.iter().any(|l| l["item_name"].as_str() == Some(v.as_str())),
        "OfItemType" => {
            locations.iter().any(|l| l["item_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(v)))
        }
        _ => false,
    })
}

/// Runs one case; returns what failed (empty when it passes).
fn run(case: &Case, files: &BTreeMap<String, (String, String)>, dir: &Path) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lanner"));
    cmd.args(["validate", "--json"]);
    for (i, r) in case.rules.iter().enumerate() {
        let (file, content) = &files[r];
        let path = dir.join(format!("{}-{i}-{file}", case.name));
        std::fs::write(&path, content).unwrap();
        cmd.arg("-r").arg(path);
    }
    let out = cmd.output().expect("run lanner");
    let json: Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => return vec![format!("output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))],
    };
    let code = out.status.code().unwrap_or(-1);
    let results = json["falco_load_results"].as_array().cloned().unwrap_or_default();
    let all = |errors: bool| -> Vec<Value> {
        results
            .iter()
            .flat_map(|r| {
                r[if errors { "errors" } else { "warnings" }].as_array().cloned().unwrap_or_default()
            })
            .collect()
    };
    let mut failed = Vec::new();
    for check in &case.checks {
        match check {
            Check::Entries { errors, filters, count } => {
                let got = all(*errors);
                let n = got.iter().filter(|e| passes(e, filters)).count();
                let ok = match count {
                    Some(c) => n == *c,
                    None => n > 0,
                };
                if !ok {
                    let kind = if *errors { "errors" } else { "warnings" };
                    let want = count.map_or("some".to_owned(), |c| c.to_string());
                    failed.push(format!("want {want} {kind} {filters:?}, found {n}; all {kind}: {got:?}"));
                }
            }
            Check::Successful { file, want } => {
                let got = results.get(*file).map(|r| r["successful"].clone()).unwrap_or(Value::Null);
                if got != Value::Bool(*want) {
                    failed.push(format!("file {file} successful={got}, want {want}"));
                }
            }
            Check::ExitCode(want) => {
                if code != *want {
                    failed.push(format!("exit code {code}, want {want}"));
                }
            }
            Check::Failed(want) => {
                if (code != 0) != *want {
                    failed.push(format!(
                        "exit code {code}, want {}",
                        if *want { "failure" } else { "success" }
                    ));
                }
            }
        }
    }
    failed
}

#[test]
fn falcosecurity_testing_rule_validation_cases() {
    let Some(repo) = Repo::find() else { return };
    let files = rules_files(&repo);
    let cases = cases(&repo);
    assert!(
        !cases.is_empty(),
        "no rules-validation test found in falcosecurity/testing: has its layout changed?"
    );
    let dir = std::env::temp_dir().join(format!("lanner-falco-testing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut passed, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for case in &cases {
        if let Some(why) = &case.unreadable {
            failures.push(format!("{}: cannot read Falco's assertion: {why}", case.name));
            continue;
        }
        if let Some(why) = &case.unsupported {
            skipped.push(format!("{}: {why}", case.name));
            continue;
        }
        if let Some(missing) = case.rules.iter().find(|r| !files.contains_key(*r)) {
            skipped.push(format!("{}: rules file {missing} not found in tests/data/rules", case.name));
            continue;
        }
        let failed = run(case, &files, &dir);
        if failed.is_empty() {
            passed += 1;
        } else {
            failures.push(format!("{}:\n  {}", case.name, failed.join("\n  ")));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    eprintln!(
        "falcosecurity/testing rules validation: {} cases ran, {passed} passed, {} failed, {} skipped",
        cases.len() - skipped.len(),
        failures.len(),
        skipped.len()
    );
    for s in &skipped {
        eprintln!("SKIPPED {s}");
    }
    assert!(failures.is_empty(), "failing cases:\n{}", failures.join("\n"));
}

/// Falco's tests that run rules files (`falco.WithRules`) and expect Falco to exit 0: Falco
/// loaded those files without error, so `lanner validate` must find none either (warnings are
/// allowed: a file may name a source whose plugin the test loads through its config).
#[test]
fn falcosecurity_testing_rules_files_falco_loads_validate_without_errors() {
    let Some(repo) = Repo::find() else { return };
    let files = rules_files(&repo);
    let mut sets: std::collections::BTreeSet<Vec<String>> = Default::default();
    let mut skipped = Vec::new();
    for path in repo.list("tests/falco").into_iter().filter(|p| p.ends_with("_test.go")) {
        let src = repo.read(&path);
        for func in src.split("\nfunc ").skip(1) {
            let name = func.split('(').next().unwrap().trim();
            let Some(args) = call_args(func, "falco.WithRules(") else { continue };
            if !func.contains("assert.Equal(t, 0, res.ExitCode())") {
                continue;
            }
            let rules: Vec<String> = top_level_args(args).iter().map(|a| a.trim().to_owned()).collect();
            match rules.iter().find(|r| !r.strip_prefix("rules.").is_some_and(|r| files.contains_key(r))) {
                Some(other) => {
                    skipped.push(format!("{name}: rules {other} are not a file of tests/data/rules"))
                }
                None => {
                    sets.insert(rules.iter().map(|r| r.trim_start_matches("rules.").to_owned()).collect());
                }
            }
        }
    }
    assert!(!sets.is_empty(), "no test runs rules files: has falcosecurity/testing's layout changed?");
    let dir = std::env::temp_dir().join(format!("lanner-falco-testing-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for set in &sets {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lanner"));
        cmd.args(["validate", "--json"]);
        for (i, r) in set.iter().enumerate() {
            let (file, content) = &files[r];
            let path = dir.join(format!("{i}-{r}-{file}"));
            std::fs::write(&path, content).unwrap();
            cmd.arg("-r").arg(path);
        }
        let out = cmd.output().expect("run lanner");
        let json: Value = serde_json::from_slice(&out.stdout).expect("validate prints JSON");
        let errors: Vec<String> = json["falco_load_results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["errors"].as_array().unwrap().iter())
            .map(|e| format!("{} {}: {}", e["code"], e["context"]["locations"][0]["item_name"], e["message"]))
            .collect();
        if !errors.is_empty() {
            failures.push(format!("{set:?}:\n  {}", errors.join("\n  ")));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    eprintln!(
        "falcosecurity/testing rules files Falco loads: {} sets validated, {} with errors, {} tests skipped",
        sets.len(),
        failures.len(),
        skipped.len()
    );
    for s in &skipped {
        eprintln!("SKIPPED {s}");
    }
    assert!(failures.is_empty(), "errors where Falco loads the files:\n{}", failures.join("\n"));
}
