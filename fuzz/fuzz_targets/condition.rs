//! Fuzzes the condition parser.
//!
//! Properties: parsing never panics, and a condition that parses has a canonical text
//! (`Ast`'s Display, Falco's `condition_compiled`) that parses again to the same tree, up to
//! what the canonical text does not keep:
//! - byte offsets (`at`), which point into the text that was parsed;
//! - whether a literal was quoted: the canonical text quotes a value only when it has to
//!   (empty, or a character that cannot be bare), so `"x"` prints as `x`. That matters only
//!   before lists are expanded, and canonical text is printed after expansion.
//!
//! The canonical text of the re-parsed tree must also be the same text (a fixed point).
#![no_main]

use lanner_engine::ast::{Ast, Check, FieldExpr, Literal, Rhs, is_bare_char};
use lanner_engine::parser::parse_condition;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The parser takes text; non-UTF-8 bytes are not a condition anyone can write.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ast) = parse_condition(text) else {
        return;
    };
    let canon = ast.to_string();
    let reparsed = match parse_condition(&canon) {
        Ok(a) => a,
        Err(e) => panic!(
            "canonical text does not re-parse\n input: {text:?}\n canonical: {canon:?}\n error: {e} (at {})",
            e.at
        ),
    };
    assert_eq!(
        normalize(&ast),
        normalize(&reparsed),
        "canonical text re-parses to another tree\n input: {text:?}\n canonical: {canon:?}"
    );
    let canon2 = reparsed.to_string();
    assert_eq!(canon, canon2, "canonical text is not a fixed point\n input: {text:?}");
});

/// The tree with what canonical text drops set to what re-parsing it gives.
fn normalize(ast: &Ast) -> Ast {
    match ast {
        Ast::And(items) => Ast::And(items.iter().map(normalize).collect()),
        Ast::Or(items) => Ast::Or(items.iter().map(normalize).collect()),
        Ast::Not(inner) => Ast::Not(Box::new(normalize(inner))),
        Ast::Macro { name, .. } => Ast::Macro { name: name.clone(), at: 0 },
        Ast::Check(c) => Ast::Check(Check {
            lhs: field(&c.lhs),
            op: c.op,
            rhs: match &c.rhs {
                Rhs::None => Rhs::None,
                Rhs::Value(l) => Rhs::Value(literal(l)),
                Rhs::List(items) => Rhs::List(items.iter().map(literal).collect()),
                Rhs::Field(f) => Rhs::Field(field(f)),
            },
        }),
    }
}

fn field(f: &FieldExpr) -> FieldExpr {
    FieldExpr { at: 0, ..f.clone() }
}

fn literal(l: &Literal) -> Literal {
    let bare = !l.text.is_empty() && l.text.chars().all(is_bare_char);
    Literal { text: l.text.clone(), quoted: !bare }
}
