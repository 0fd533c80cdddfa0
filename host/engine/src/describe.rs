//! JSON documents in Falco's formats: validation results (`falco -V --json`) and rule
//! descriptions (`falco -L` with JSON output), so tooling written for Falco reads ours.

use crate::{Diagnostic, FileResult, Ruleset};
use serde_json::{Value, json};

fn diagnostic(d: &Diagnostic) -> Value {
    json!({
        "code": d.code.as_str(),
        "codedesc": d.code.description(),
        "message": d.message,
        "context": {
            "locations": d.locations.iter().map(|l| json!({
                "item_type": l.item_type.as_str(),
                "item_name": l.item_name,
                "position": {
                    "name": l.file,
                    "line": l.pos.line,
                    "column": l.pos.column,
                    "offset": l.pos.offset,
                },
            })).collect::<Vec<_>>(),
        },
    })
}

/// `{"falco_load_results": [{"name", "successful", "errors", "warnings"}]}`.
pub fn validation(files: &[FileResult]) -> Value {
    json!({
        "falco_load_results": files.iter().map(|f| json!({
            "name": f.name,
            "successful": f.successful,
            "errors": f.errors().map(diagnostic).collect::<Vec<_>>(),
            "warnings": f.warnings().map(diagnostic).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// `{"rules": [{"info", "details"}], "macros": [...], "lists": [...]}`.
pub fn rules(rs: &Ruleset) -> Value {
    let rules: Vec<Value> = rs
        .rules()
        .iter()
        .map(|r| {
            json!({
                "info": {
                    "name": r.name,
                    "condition": r.condition,
                    "output": r.output_template,
                    "desc": r.desc,
                    "priority": r.priority.as_str(),
                    "source": r.source,
                    "enabled": r.enabled,
                    "tags": r.tags,
                    "exceptions": r.exception_names,
                },
                "details": {
                    "condition_compiled": r.condition_compiled,
                    "output_compiled": r.output_template,
                    "events": r.event_types().unwrap_or_default(),
                    "condition_fields": r.condition_fields,
                    "output_fields": r.output_fields,
                    "exception_fields": r.exception_fields,
                    "file": r.file,
                    "line": r.line,
                },
            })
        })
        .collect();
    let macros: Vec<Value> = rs
        .macros()
        .iter()
        .map(|m| {
            json!({
                "info": { "name": m.name, "condition": m.condition },
                "details": {
                    "used": m.used,
                    "macros": m.macros,
                    "lists": m.lists,
                    "condition_compiled": m.condition_compiled,
                    "events": m.event_types(),
                },
            })
        })
        .collect();
    let lists: Vec<Value> = rs
        .lists()
        .iter()
        .map(|l| {
            json!({
                "info": { "name": l.name, "items": l.items },
                "details": { "used": l.used, "lists": l.lists, "items_compiled": l.items_compiled },
            })
        })
        .collect();
    json!({ "rules": rules, "macros": macros, "lists": lists })
}
