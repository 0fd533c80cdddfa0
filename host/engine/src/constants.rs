//! The constants enabled rules compare a field with, for the parts of Lanner that must prepare
//! a field's answers ahead of the events: `fd.sip.name = example.com` needs example.com
//! resolved before a connection to it can match, and resolving on the event path would stall
//! capture.

use crate::ast::{Ast, Op, Rhs};
use crate::parser::parse_condition;
use crate::ruleset::Ruleset;

/// Every value the enabled rules compare `field` with by `=`, `!=` or `in` (the comparisons
/// Falco allows on the `fd.*ip.name` fields), lists and macros expanded; sorted, without
/// repeats.
pub fn compared_constants(ruleset: &Ruleset, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    for rule in ruleset.rules().iter().filter(|r| r.enabled) {
        // A compiled condition always parses: it is the canonical text of a parsed one.
        if let Ok(ast) = parse_condition(&rule.condition_compiled) {
            collect(&ast, field, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn collect(ast: &Ast, field: &str, out: &mut Vec<String>) {
    match ast {
        Ast::And(items) | Ast::Or(items) => items.iter().for_each(|a| collect(a, field, out)),
        Ast::Not(a) => collect(a, field, out),
        Ast::Macro { .. } => {}
        Ast::Check(c) if c.lhs.name == field && matches!(c.op, Op::Eq | Op::Ne | Op::In) => match &c.rhs {
            Rhs::Value(v) => out.push(v.text.clone()),
            Rhs::List(items) => out.extend(items.iter().map(|v| v.text.clone())),
            Rhs::None | Rhs::Field(_) => {}
        },
        Ast::Check(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EngineConfig, RulesSource, load};

    #[test]
    fn names_come_from_enabled_rules_through_lists_and_macros() {
        let rules = r#"
- list: api_hosts
  items: [kubernetes.default, "api.example.com"]
- macro: to_api
  condition: fd.sip.name in (api_hosts)
- rule: Contact API
  desc: d
  condition: evt.type = connect and to_api and not fd.sip.name = skipped.example.com
  output: o
  priority: INFO
- rule: Other End
  desc: d
  condition: evt.type = connect and fd.cip.name = client.example.com and fd.sip.name startswith no.example.com
  output: o
  priority: INFO
- rule: Disabled
  desc: d
  condition: evt.type = connect and fd.sip.name = disabled.example.com
  output: o
  priority: INFO
  enabled: false
"#;
        let outcome = load(
            &EngineConfig::syscall(),
            &[RulesSource { name: "rules.yaml".into(), content: rules.into() }],
        );
        let rs = outcome.into_result().unwrap();
        assert_eq!(
            compared_constants(&rs, "fd.sip.name"),
            ["api.example.com", "kubernetes.default", "skipped.example.com"]
        );
        assert_eq!(compared_constants(&rs, "fd.cip.name"), ["client.example.com"]);
        assert!(compared_constants(&rs, "fd.rip.name").is_empty());
    }
}
