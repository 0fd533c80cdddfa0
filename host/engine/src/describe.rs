//! JSON documents in Falco's formats: validation results (`falco -V --json`) and rule
//! descriptions (`falco -L` with JSON output), so tooling written for Falco reads ours.

use crate::{Diagnostic, FileResult, ItemType, Ruleset};
use serde_json::{Value, json};

/// One error or warning as Falco prints it. Falco's locations start with the whole file
/// ("rules content", at position 0) and count lines and columns from 0 (yaml-cpp's marks);
/// tools that parse `falco -V --json` rely on both, so the JSON follows Falco while the
/// human-readable text keeps 1-based positions.
fn diagnostic(d: &Diagnostic, files: &[FileResult]) -> Value {
    let location =
        |item_type: &str, item_name: &str, file: &str, line: usize, column: usize, offset: usize| {
            json!({
                "item_type": item_type,
                "item_name": item_name,
                "position": { "name": file, "line": line, "column": column, "offset": offset },
            })
        };
    let mut locations = Vec::new();
    if let Some(first) = d.locations.first()
        && first.item_type != ItemType::RulesContent
    {
        locations.push(location(ItemType::RulesContent.as_str(), "", &first.file, 0, 0, 0));
    }
    for l in &d.locations {
        locations.push(location(
            l.item_type.as_str(),
            &l.item_name,
            &l.file,
            l.pos.line.saturating_sub(1),
            l.pos.column.saturating_sub(1),
            l.pos.offset,
        ));
    }
    json!({
        "code": d.code.as_str(),
        "codedesc": d.code.description(),
        "message": d.message,
        "context": { "locations": locations, "snippet": snippet(d, files) },
    })
}

/// Widest snippet, in bytes, as Falco's default.
const SNIPPET_WIDTH: usize = 160;

/// The line that the diagnostic's most precise location points into, and under it a caret
/// at the position, in the shape Falco puts in `context.snippet`: at most half the width
/// either side of the position, with `...` where the line was cut.
fn snippet(d: &Diagnostic, files: &[FileResult]) -> String {
    let Some(loc) = d.locations.last() else { return "<No context available>\n".into() };
    let Some(file) = files.iter().find(|f| f.name == loc.file) else {
        return format!("<No context for file + {}>\n", loc.file);
    };
    let text = file.content.as_bytes();
    if text.is_empty() {
        return "<No context available>\n".into();
    }
    // A position at a line end (or past the end) belongs to the text before it.
    let mut pos = loc.pos.offset.min(text.len() - 1);
    while pos > 0 && text[pos] == b'\n' {
        pos -= 1;
    }
    let half = SNIPPET_WIDTH / 2;
    let mut from = pos;
    while from > 0 && text[from - 1] != b'\n' && pos - from < half {
        from -= 1;
    }
    let mut to = pos;
    while to + 1 < text.len() && text[to + 1] != b'\n' && to - pos < half {
        to += 1;
    }
    let mut line = String::from_utf8_lossy(&text[from..=to]).into_owned();
    if pos - from >= half && line.is_char_boundary(3) {
        line.replace_range(..3, "...");
    }
    if to - pos >= half && line.len() >= 3 && line.is_char_boundary(line.len() - 3) {
        let n = line.len();
        line.replace_range(n - 3.., "...");
    }
    format!("{line}\n{}^\n", " ".repeat(pos - from))
}

/// `{"falco_load_results": [{"name", "successful", "errors", "warnings"}]}`.
pub fn validation(files: &[FileResult]) -> Value {
    json!({
        "falco_load_results": files.iter().map(|f| json!({
            "name": f.name,
            "successful": f.successful,
            "errors": f.errors().map(|d| diagnostic(d, files)).collect::<Vec<_>>(),
            "warnings": f.warnings().map(|d| diagnostic(d, files)).collect::<Vec<_>>(),
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
