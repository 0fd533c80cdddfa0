//! Load errors and warnings carry Falco's code, item type, item name and message, so that
//! tooling written against `falco -V --json` reads Lanner's. Each case is a small rules file of
//! our own showing one shape Falco's loader rejects; the expected facts come from Falco's
//! loader (userspace/engine/rule_loader_reader.cpp and rule_loader_collector.cpp).

use lanner_engine::{Diagnostic, EngineConfig, LoadOutcome, RulesSource};

fn load(files: &[&str]) -> LoadOutcome {
    let srcs: Vec<RulesSource> = files
        .iter()
        .enumerate()
        .map(|(i, c)| RulesSource { name: format!("parity{i}.yaml"), content: c.to_string() })
        .collect();
    lanner_engine::load(&EngineConfig::syscall(), &srcs)
}

/// The one diagnostic with this code, item type and message; fails listing what was found.
fn expect<'a>(
    out: &'a LoadOutcome,
    code: &str,
    item_type: &str,
    item_name: &str,
    message: &str,
) -> &'a Diagnostic {
    let all: Vec<&Diagnostic> = out.diagnostics().collect();
    all.iter()
        .copied()
        .find(|d| {
            let item = d.item().unwrap();
            d.code.as_str() == code
                && item.item_type.as_str() == item_type
                && item.item_name == item_name
                && d.message == message
        })
        .unwrap_or_else(|| {
            panic!(
                "no {code} on {item_type} '{item_name}' saying {message:?}; got:\n{}",
                all.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
            )
        })
}

const RULE_HEAD: &str = "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n";

#[test]
fn a_top_level_scalar_is_not_yaml_rules_content() {
    let out = load(&["just some words\n"]);
    let d = expect(&out, "LOAD_ERR_YAML_VALIDATE", "rules content", "", "Rules content is not yaml");
    assert_eq!(d.item().unwrap().pos.line, 1);
    assert!(!out.is_ok());
}

#[test]
fn a_top_level_mapping_is_not_an_array_of_objects() {
    let out = load(&["rule: R\ndesc: d\n"]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "rules content", "", "Rules content is not yaml array of objects");
}

#[test]
fn an_item_that_is_not_a_mapping_is_a_rules_content_item_error() {
    let out = load(&["- list: ok\n  items: [a]\n- a bare string\n"]);
    let d = expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "rules content item",
        "",
        "Unexpected element type. Each element should be a yaml associative array.",
    );
    assert_eq!(d.item().unwrap().pos.line, 3, "points at the offending item");
}

#[test]
fn yaml_syntax_errors_use_falcos_yaml_cpp_words() {
    let out = load(&["- rule: a: b\n"]);
    expect(
        &out,
        "LOAD_ERR_YAML_PARSE",
        "rules content",
        "",
        "yaml-cpp: error at line 1, column 10: illegal map value",
    );
    let out = load(&["- list: l\n  items: [a, b\n"]);
    let d = out.diagnostics().next().unwrap();
    assert_eq!(d.code.as_str(), "LOAD_ERR_YAML_PARSE");
    assert!(d.message.ends_with(": end of sequence flow not found"), "{}", d.message);
}

#[test]
fn an_exception_without_fields_needs_them_unless_appended() {
    let rules = format!("{RULE_HEAD}  exceptions:\n    - name: no_fields\n      values: [[x]]\n");
    let out = load(&[&rules]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "exception", "no_fields", "Item has no mapping for key 'fields'");

    // Appending values to an exception the rule already has needs no fields.
    let base = format!("{RULE_HEAD}  exceptions:\n    - name: ex\n      fields: [proc.name]\n");
    let add = "- rule: R\n  exceptions:\n    - name: ex\n      values: [[cat]]\n  override:\n    exceptions: append\n";
    let out = load(&[&base, add]);
    assert!(out.is_ok(), "{:?}", out.diagnostics().map(|d| d.to_string()).collect::<Vec<_>>());
}

#[test]
fn exception_names_are_required_scalars() {
    let out = load(&[&format!("{RULE_HEAD}  exceptions:\n    - fields: [proc.name]\n")]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "exception", "", "Item has no mapping for key 'name'");
    let out = load(&[&format!("{RULE_HEAD}  exceptions:\n    - name:\n      fields: [proc.name]\n")]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "exception", "", "Mapping for key 'name' is empty");
    let out = load(&[&format!("{RULE_HEAD}  exceptions:\n    - name: [a, b]\n      fields: [proc.name]\n")]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "value for", "name", "Value is not a scalar value");
}

#[test]
fn exceptions_must_be_a_sequence_of_mappings() {
    let out = load(&[&format!("{RULE_HEAD}  exceptions: not_a_list\n")]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "exceptions", "", "Rule exceptions must be a sequence");
    let out = load(&[&format!("{RULE_HEAD}  exceptions:\n    - just_a_name\n")]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "exception", "", "Rule exception must be a mapping");
    let out = load(&[&format!(
        "{RULE_HEAD}  exceptions:\n    - name: ex\n      fields: [proc.name]\n      values: cat\n"
    )]);
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "exception values",
        "",
        "Rule exception values must be a sequence",
    );
}

#[test]
fn an_unknown_exception_comparison_names_the_operator() {
    let out = load(&[&format!(
        "{RULE_HEAD}  exceptions:\n    - name: ex\n      fields: [proc.name]\n      comps: [is-like]\n"
    )]);
    expect(&out, "LOAD_ERR_VALIDATE", "exception", "ex", "'is-like' is not a supported comparison operator");
}

#[test]
fn compilation_stops_at_the_first_broken_rule() {
    let broken = |n: &str| {
        format!("- rule: {n}\n  desc: d\n  condition: proc.nosuchfield = x\n  output: o\n  priority: INFO\n")
    };
    let out = load(&[&format!("{}{}", broken("First"), broken("Second"))]);
    let errors: Vec<&Diagnostic> = out.diagnostics().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code.as_str(), "LOAD_ERR_COMPILE_CONDITION");
    assert_eq!(errors[0].item().unwrap().item_name, "First");
    assert!(!out.is_ok(), "the load fails, so the second rule is not dropped silently");
}
