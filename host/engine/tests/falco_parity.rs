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

/// A diagnostic with this code and message, one of whose locations is this item (Falco lists
/// the enclosing items too, and tools match any of them); fails listing what was found.
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
            d.code.as_str() == code
                && d.message == message
                && d.locations.iter().any(|l| l.item_type.as_str() == item_type && l.item_name == item_name)
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

#[test]
fn unknown_keys_and_items_are_named_as_falco_names_them() {
    let out = load(&[&format!("{RULE_HEAD}  priorty: HIGH\n- lists: l\n  items: [a]\n")]);
    let d = expect(&out, "LOAD_UNKNOWN_KEY", "rule", "R", "Unknown key 'priorty'. The key will be ignored.");
    assert_eq!(d.locations[0].pos.line, 6, "points at the key");
    expect(&out, "LOAD_UNKNOWN_ITEM", "rules content item", "", "Unknown top level item");
    assert!(out.is_ok(), "warnings only");
}

#[test]
fn an_item_is_what_its_first_kind_key_in_falcos_order_says() {
    // Falco checks list before rule, whatever order the keys are written in.
    let out = load(&["- rule: R\n  list: L\n  items: [a]\n"]);
    expect(&out, "LOAD_UNKNOWN_KEY", "list", "L", "Unknown key 'rule'. The key will be ignored.");
}

#[test]
fn scalar_keys_are_decoded_with_falcos_messages() {
    let out = load(&["- macro:\n  condition: evt.type = open\n"]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "macro", "", "Mapping for key 'macro' is empty");
    let out = load(&["- macro: m\n  condition: [a]\n"]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "value for", "condition", "Value is not a scalar value");
    let out = load(&["- rule: R\n  desc: ''\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "value for", "desc", "Value must be non-empty");
    let out = load(&[&format!("{RULE_HEAD}  enabled: maybe\n")]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "value for", "enabled", "Can't decode YAML scalar value");
    let out = load(&["- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: LOUD\n"]);
    let d = expect(&out, "LOAD_ERR_YAML_VALIDATE", "rule priority", "", "Invalid priority");
    assert_eq!(d.locations[0].item_name, "R", "the rule comes first");
}

#[test]
fn sequences_are_decoded_with_falcos_messages() {
    let out = load(&["- list: l\n  items: a\n"]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "value for", "items", "Value is not a sequence");
    let out = load(&["- list: l\n  items: [a, [b]]\n"]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "list item", "", "sequence value is not scalar");
    let out = load(&[&format!("{RULE_HEAD}  tags: one\n")]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "value for", "tags", "Value is not a sequence");
}

#[test]
fn override_mistakes_use_falcos_messages() {
    let add = |tail: &str| load(&[RULE_HEAD, &format!("- rule: R\n{tail}")]);
    let out = add("  priority: ERROR\n  override:\n    priority: append\n");
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "overrides",
        "priority",
        "Key 'priority' cannot be appended to, use 'replace' instead",
    );
    let out = add("  source: k8s\n  override:\n    source: replace\n");
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "overrides", "source", "Key 'source' cannot be replaced");
    let out = add("  condition: and proc.name = x\n  override:\n    condition: prepend\n");
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "value for",
        "condition",
        "Invalid override operation for key 'condition': 'prepend'. Allowed values are: append replace ",
    );
    let out = add("  override:\n    desc: replace\n");
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "rule",
        "R",
        "An replace override for 'desc' was specified but 'desc' is not defined",
    );
    let out = add("  desc: new\n  output: new\n  override:\n    desc: replace\n");
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "rule",
        "R",
        "Unexpected key 'output': no corresponding entry under 'override' is defined.",
    );
    let out = load(&["- rule: Nowhere\n  desc: x\n  override:\n    desc: replace\n"]);
    expect(
        &out,
        "LOAD_ERR_VALIDATE",
        "rule",
        "Nowhere",
        "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists",
    );
    let out = load(&["- macro: m\n  condition: and x\n  override:\n    condition: append\n"]);
    expect(
        &out,
        "LOAD_ERR_VALIDATE",
        "macro",
        "m",
        "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists",
    );
}

#[test]
fn exception_shapes_falco_refuses() {
    let with = |ex: &str| format!("{RULE_HEAD}  exceptions:\n    - name: ex\n{ex}");
    let out = load(&[&with("      fields: proc.name\n      comps: [in]\n")]);
    expect(&out, "LOAD_ERR_VALIDATE", "exception", "ex", "Fields and comps must both be strings");
    let out = load(&[&with("      fields: proc.name\n      comps: startswith\n")]);
    expect(
        &out,
        "LOAD_ERR_VALIDATE",
        "exception",
        "ex",
        "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator (e.g. startswith oneof)",
    );
    // Found when compiling: still the rule first, then the exception.
    let out = load(&[&with("      fields: [proc.nosuch]\n      values: [[x]]\n")]);
    let d =
        expect(&out, "LOAD_ERR_VALIDATE", "exception", "ex", "'proc.nosuch' is not a supported filter field");
    assert_eq!((d.locations[0].item_type.as_str(), d.locations[0].item_name.as_str()), ("rule", "R"));
    // Operators are trimmed before they are checked.
    let out = load(&[&with("      fields: [proc.name]\n      comps: [' = ']\n      values: [[cat]]\n")]);
    assert!(out.is_ok(), "{:?}", out.diagnostics().map(|d| d.to_string()).collect::<Vec<_>>());

    let base = with("      fields: [proc.name]\n      values: [[cat]]\n");
    let append = |ex: &str| {
        load(&[&base, &format!("- rule: R\n  exceptions:\n{ex}  override:\n    exceptions: append\n")])
    };
    let out = append("    - name: ex\n      fields: [proc.pname]\n      values: [[sh]]\n");
    expect(
        &out,
        "LOAD_ERR_VALIDATE",
        "exception",
        "ex",
        "Can not append exception fields to existing exception, only values",
    );
    let out = append("    - name: ex\n      comps: [startswith]\n      values: [[sh]]\n");
    expect(
        &out,
        "LOAD_ERR_VALIDATE",
        "exception",
        "ex",
        "Can not append exception comps to existing exception, only values",
    );
    let out = append("    - name: other\n      fields: [proc.pname]\n");
    expect(
        &out,
        "LOAD_ERR_VALIDATE",
        "exception",
        "other",
        "Rule exception must have values property with a list of values",
    );

    let out = load(&[&with("      fields: [proc.name]\n    - name: ex\n      fields: [proc.pname]\n")]);
    expect(
        &out,
        "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
        "exception",
        "ex",
        "Multiple definitions of exception 'ex' in the same rule",
    );
}

#[test]
fn requirement_items_are_decoded_with_falcos_messages() {
    let out = load(&["- required_engine_version:\n"]);
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "required_engine_version",
        "",
        "Mapping for key 'required_engine_version' is empty",
    );
    let out = load(&["- required_engine_version: 10\n  note: x\n"]);
    expect(
        &out,
        "LOAD_UNKNOWN_KEY",
        "required_engine_version",
        "",
        "Unknown key 'note'. The key will be ignored.",
    );
    let out = load(&["- required_plugin_versions: container\n"]);
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "required plugin versions",
        "",
        "Value of required_plugin_versions must be a sequence",
    );
    let out = load(&["- required_plugin_versions:\n  - container\n"]);
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "required plugin versions entry",
        "",
        "Plugin version must be a mapping",
    );
    let out = load(&["- required_plugin_versions:\n  - name: container\n"]);
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "required plugin versions entry",
        "container",
        "Item has no mapping for key 'version'",
    );
    let out = load(&[
        "- required_plugin_versions:\n  - name: container\n    version: 0.1.0\n    alternatives: other\n",
    ]);
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "required plugin versions entry",
        "container",
        "Value of plugin version alternatives must be a sequence",
    );
    let out = load(&[
        "- required_plugin_versions:\n  - name: container\n    version: 0.1.0\n    alternatives: [other]\n",
    ]);
    expect(
        &out,
        "LOAD_ERR_YAML_VALIDATE",
        "required plugin versions alternative",
        "",
        "Plugin version alternative must be a mapping",
    );
}

#[test]
fn validation_json_locations_are_falcos() {
    // Line 7, column 7 in an editor: the exception's mapping (`name: ex`).
    let out = load(&[&format!("{RULE_HEAD}  exceptions:\n    - name: ex\n      comps: [=]\n")]);
    let json = lanner_engine::describe::validation(&out.files);
    let err = &json["falco_load_results"][0]["errors"][0];
    assert_eq!(err["code"], "LOAD_ERR_YAML_VALIDATE");
    let locs = err["context"]["locations"].as_array().unwrap();
    // The whole file first, at position 0, as Falco's context starts.
    assert_eq!(locs[0]["item_type"], "rules content");
    assert_eq!(locs[0]["position"]["line"], 0);
    assert_eq!(locs[0]["position"]["name"], "parity0.yaml");
    // Then the rule that holds the exception, then the exception, with yaml-cpp's 0-based
    // lines and columns.
    assert_eq!(locs[1]["item_type"], "rule");
    assert_eq!(locs[1]["item_name"], "R");
    assert_eq!(locs[1]["position"]["line"], 0);
    assert_eq!(locs[2]["item_type"], "exception");
    assert_eq!(locs[2]["item_name"], "ex");
    assert_eq!(locs[2]["position"]["line"], 6);
    assert_eq!(locs[2]["position"]["column"], 6);
    // The line the error points into, with a caret under the position.
    assert_eq!(err["context"]["snippet"], "    - name: ex\n      ^\n");
    // The human-readable form keeps 1-based positions, and names both.
    let text = out.diagnostics().next().unwrap().to_string();
    assert!(
        text.starts_with("parity0.yaml:7:7: error: rule 'R' exception 'ex': LOAD_ERR_YAML_VALIDATE"),
        "{text}"
    );
}

#[test]
fn deprecated_forms_still_work_and_say_so() {
    let out = load(&[
        "- list: l\n  items: [open]\n- list: l\n  items: [openat]\n  append: true\n- macro: m\n  condition: evt.type in (l)\n- rule: R\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n- rule: R\n  enabled: false\n",
    ]);
    expect(
        &out,
        "LOAD_DEPRECATED_ITEM",
        "list",
        "l",
        "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.",
    );
    expect(
        &out,
        "LOAD_DEPRECATED_ITEM",
        "rule",
        "R",
        "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').",
    );
    assert!(out.is_ok());
    assert!(!out.ruleset.rules()[0].enabled, "the standalone form still disables the rule");

    // Without condition, output, desc or priority, a rule item is the standalone form: it
    // needs `enabled`.
    let out = load(&[RULE_HEAD, "- rule: R\n  tags: [x]\n"]);
    expect(&out, "LOAD_ERR_YAML_VALIDATE", "rule", "R", "Item has no mapping for key 'enabled'");
}

#[test]
fn snippets_of_long_lines_are_cut_around_the_position() {
    let items: Vec<String> = (0..60).map(|i| format!("item{i:02}")).collect();
    let out = load(&[&format!("- list: l\n  items: [{}, [b]]\n", items.join(", "))]);
    let json = lanner_engine::describe::validation(&out.files);
    let err = &json["falco_load_results"][0]["errors"][0];
    assert_eq!(err["message"], "sequence value is not scalar");
    let snippet = err["context"]["snippet"].as_str().unwrap();
    let (line, caret) = snippet.trim_end_matches('\n').split_once('\n').unwrap();
    assert!(line.starts_with("...") && line.ends_with("[b]]"), "{line}");
    assert_eq!(line.len(), 80 + 4, "half the width before the position, the rest of the line after");
    assert_eq!(&line[caret.len() - 1..caret.len()], "[", "the caret is under the offending item");
}

#[test]
fn collector_checks_falco_makes() {
    let out = load(&[
        RULE_HEAD,
        "- rule: R\n  desc: d\n  condition: ka.verb = get\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    ]);
    expect(&out, "LOAD_ERR_VALIDATE", "rule", "R", "Rule has been re-defined with a different source");
    let out = load(&["- required_plugin_versions:\n  - name: container\n    version: latest\n"]);
    expect(
        &out,
        "LOAD_ERR_VALIDATE",
        "required plugin versions entry",
        "container",
        "Invalid required version 'latest' for plugin 'container'",
    );
    let out = load(&[
        "- required_plugin_versions:\n  - name: container\n    version: 0.1.0\n    alternatives:\n      - name: container\n        version: 0.2.0\n",
    ]);
    expect(
        &out,
        "LOAD_ERR_VALIDATE",
        "required plugin versions entry",
        "container",
        "Defined multiple alternative version requirements for plugin 'container'",
    );
}
