//! Condition text to syntax tree. Falco's grammar: `or` binds loosest, then `and`, then `not`;
//! a check is `field op value`, `field op (list)`, `field exists`, or a macro's name.

use crate::ast::{Ast, Check, FieldExpr, Literal, Op, Rhs, Transformer, is_bare_char};

/// Why a condition does not parse, and where (byte offset in the condition).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the condition text.
    pub at: usize,
}

/// Parses a condition.
pub fn parse_condition(text: &str) -> Result<Ast, ParseError> {
    let mut p = Parser { s: text, i: 0, last: String::new(), depth: 0 };
    p.ws();
    if p.i >= p.s.len() {
        return Err(p.err("empty condition"));
    }
    let ast = p.or()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(ParseError {
            message: format!("unexpected token after '{}', expecting 'or', 'and'", p.last),
            at: p.i,
        });
    }
    Ok(ast)
}

/// Deep nesting would overflow the stack: a limit far above any real rule, and above the
/// depth of any condition that compiles (see `compile::MAX_AST_DEPTH`), so that canonical
/// text always parses again.
const MAX_DEPTH: usize = 100;

struct Parser<'a> {
    s: &'a str,
    i: usize,
    /// The text of the last token read, for "unexpected token after" messages.
    last: String,
    depth: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Parser<'a> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError { message: message.into(), at: self.i }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn ws(&mut self) {
        let rest = self.rest();
        self.i += rest.len() - rest.trim_start().len();
    }

    /// Consumes a keyword (`and`, `or`, `not`) that is followed by a non-word character.
    fn keyword(&mut self, kw: &str) -> bool {
        let rest = self.rest();
        // Compare bytes: the text after a keyword-length prefix may start mid-character.
        if rest.len() >= kw.len()
            && rest.as_bytes()[..kw.len()].eq_ignore_ascii_case(kw.as_bytes())
            && rest.is_char_boundary(kw.len())
            && !rest[kw.len()..].starts_with(|c: char| is_ident_char(c) || c == '.')
        {
            self.i += kw.len();
            self.last = kw.to_string();
            return true;
        }
        false
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("condition nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Ast, ParseError> {
        self.enter()?;
        let mut items = vec![self.and()?];
        loop {
            self.ws();
            if !self.keyword("or") {
                break;
            }
            self.ws();
            items.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if items.len() == 1 { items.pop().unwrap() } else { Ast::Or(items) })
    }

    fn and(&mut self) -> Result<Ast, ParseError> {
        let mut items = vec![self.not()?];
        loop {
            self.ws();
            if !self.keyword("and") {
                break;
            }
            self.ws();
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap() } else { Ast::And(items) })
    }

    fn not(&mut self) -> Result<Ast, ParseError> {
        self.ws();
        let start = self.i;
        if self.keyword("not") {
            if self.peek().is_some_and(|c| c.is_whitespace() || c == '(') {
                self.enter()?;
                let inner = self.not()?;
                self.depth -= 1;
                return Ok(Ast::Not(Box::new(inner)));
            }
            self.i = start;
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Ast, ParseError> {
        self.ws();
        match self.peek() {
            None => Err(self.err(format!(
                "unexpected end of condition after '{}', expecting a check, a macro or '('",
                self.last
            ))),
            Some('(') => {
                self.i += 1;
                self.last = "(".into();
                let inner = self.or()?;
                self.ws();
                if self.peek() != Some(')') {
                    return Err(match self.peek() {
                        None => self.err("missing closing parenthesis"),
                        Some(_) => self.err(format!(
                            "unexpected token after '{}', expecting 'or', 'and' or ')'",
                            self.last
                        )),
                    });
                }
                self.i += 1;
                self.last = ")".into();
                Ok(inner)
            }
            Some(c) if is_ident_start(c) => {
                let at = self.i;
                let word = self.ident();
                if Transformer::from_name(&word).is_some() && self.peek() == Some('(') {
                    self.i = at;
                    let lhs = self.field_expr()?;
                    return self.check(lhs);
                }
                if self.peek() == Some('.') {
                    self.i = at;
                    let lhs = self.field_expr()?;
                    return self.check(lhs);
                }
                if self.peek() == Some('[') {
                    return Err(self.err(format!(
                        "'{word}' is not a field: field names have a class, such as proc.name"
                    )));
                }
                if ["and", "or", "not"].contains(&word.to_ascii_lowercase().as_str()) {
                    return Err(ParseError {
                        message: format!(
                            "unexpected '{word}' after '{}', expecting a check, a macro or '('",
                            self.last
                        ),
                        at,
                    });
                }
                self.last = word.clone();
                Ok(Ast::Macro { name: word, at })
            }
            Some(c) => Err(self
                .err(format!("unexpected '{c}' after '{}', expecting a check, a macro or '('", self.last))),
        }
    }

    fn ident(&mut self) -> String {
        let rest = self.rest();
        let len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
        self.i += len;
        rest[..len].to_string()
    }

    /// A field, optionally inside transformers: `proc.aname[2]`, `tolower(proc.name)`.
    fn field_expr(&mut self) -> Result<FieldExpr, ParseError> {
        let at = self.i;
        let word = self.ident();
        if self.peek() == Some('(') {
            let Some(t) = Transformer::from_name(&word) else {
                return Err(ParseError { message: format!("unknown transformer '{word}'"), at });
            };
            self.i += 1;
            self.enter()?;
            self.ws();
            let mut inner = self.field_expr()?;
            self.depth -= 1;
            self.ws();
            if self.peek() != Some(')') {
                return Err(self.err(format!("missing ')' after the argument of {word}")));
            }
            self.i += 1;
            inner.transformers.push(t);
            inner.at = at;
            self.last = ")".into();
            return Ok(inner);
        }
        let mut name = word;
        while self.peek() == Some('.') {
            self.i += 1;
            let part = self.ident();
            if part.is_empty() {
                return Err(self.err(format!("invalid field name '{name}.'")));
            }
            name.push('.');
            name.push_str(&part);
        }
        if !name.contains('.') {
            return Err(ParseError {
                message: format!("'{name}' is not a field: field names have a class, such as proc.name"),
                at,
            });
        }
        let mut arg = None;
        if self.peek() == Some('[') {
            let rest = self.rest();
            let Some(end) = rest.find(']') else {
                return Err(self.err(format!("missing ']' after the argument of {name}")));
            };
            arg = Some(rest[1..end].to_string());
            self.i += end + 1;
        }
        self.last = match &arg {
            Some(a) => format!("{name}[{a}]"),
            None => name.clone(),
        };
        Ok(FieldExpr { name, arg, transformers: Vec::new(), at })
    }

    fn operator(&mut self) -> Option<Op> {
        let rest = self.rest();
        for (sym, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if rest.starts_with(sym) {
                self.i += sym.len();
                self.last = sym.to_string();
                return Some(op);
            }
        }
        let len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let word = &rest[..len];
        let op = Op::WORDS.iter().find(|(w, _)| *w == word).map(|(_, op)| *op)?;
        self.i += len;
        self.last = word.to_string();
        Some(op)
    }

    fn check(&mut self, lhs: FieldExpr) -> Result<Ast, ParseError> {
        self.ws();
        let Some(op) = self.operator() else {
            return Err(self.err(format!("expected an operator after '{}'", self.last)));
        };
        let rhs = if op == Op::Exists {
            Rhs::None
        } else if op.takes_list() {
            self.ws();
            if self.peek() != Some('(') {
                return Err(self.err(format!("expected a list in parentheses after '{}'", op.as_str())));
            }
            Rhs::List(self.list()?)
        } else {
            self.ws();
            if self.rest().starts_with("val(") {
                self.i += 4;
                self.ws();
                let f = self.field_expr()?;
                self.ws();
                if self.peek() != Some(')') {
                    return Err(self.err("missing ')' after the field of val("));
                }
                self.i += 1;
                self.last = ")".into();
                Rhs::Field(f)
            } else {
                Rhs::Value(self.value(op)?)
            }
        };
        Ok(Ast::Check(Check { lhs, op, rhs }))
    }

    fn list(&mut self) -> Result<Vec<Literal>, ParseError> {
        self.i += 1; // '('
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(')') {
            self.i += 1;
            self.last = ")".into();
            return Ok(items);
        }
        loop {
            self.ws();
            items.push(self.value(Op::In)?);
            self.ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(')') => {
                    self.i += 1;
                    self.last = ")".into();
                    return Ok(items);
                }
                None => return Err(self.err("missing ')' at the end of a list")),
                Some(c) => {
                    return Err(self.err(format!(
                        "unexpected '{c}' in a list after '{}', expecting ',' or ')'",
                        self.last
                    )));
                }
            }
        }
    }

    fn value(&mut self, op: Op) -> Result<Literal, ParseError> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                let start = self.i;
                self.i += 1;
                let mut text = String::new();
                loop {
                    let Some(c) = self.peek() else {
                        self.i = start;
                        return Err(self.err("unterminated quoted string"));
                    };
                    self.i += c.len_utf8();
                    if c == '\\' {
                        match self.peek() {
                            Some(e @ ('"' | '\'' | '\\')) => {
                                text.push(e);
                                self.i += 1;
                            }
                            _ => text.push('\\'),
                        }
                    } else if c == q {
                        break;
                    } else {
                        text.push(c);
                    }
                }
                self.last = text.clone();
                Ok(Literal { text, quoted: true })
            }
            _ => {
                let rest = self.rest();
                let len = rest.find(|c: char| !is_bare_char(c)).unwrap_or(rest.len());
                if len == 0 {
                    return Err(match self.peek() {
                        None => self.err(format!("expected a value after '{}'", op.as_str())),
                        Some(c) => {
                            self.err(format!("unexpected '{c}' after '{}', expecting a value", self.last))
                        }
                    });
                }
                self.i += len;
                self.last = rest[..len].to_string();
                Ok(Literal { text: rest[..len].to_string(), quoted: false })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        parse_condition(s).unwrap().to_string()
    }

    #[test]
    fn canonical_text() {
        assert_eq!(
            canon("evt.type=open and proc.name in (ash,bash, pwsh)"),
            "(evt.type = open and proc.name in (ash, bash, pwsh))"
        );
        assert_eq!(canon("not a or b and c"), "(not a or (b and c))");
        assert_eq!(canon("proc.aname[2]=\"x y\""), "proc.aname[2] = \"x y\"");
        assert_eq!(canon("tolower(proc.name) = val(proc.pname)"), "tolower(proc.name) = val(proc.pname)");
        assert_eq!(canon("fd.name exists"), "fd.name exists");
        assert_eq!(
            canon("proc.pname in (runc:[0:PARENT], '\"(systemd)\"')"),
            "proc.pname in (runc:[0:PARENT], \"\\\"(systemd)\\\"\")"
        );
        assert_eq!(canon("not(a)"), "not a");
        assert_eq!(canon("fd.num>=0"), "fd.num >= 0");
    }

    #[test]
    fn trailing_token() {
        let e = parse_condition("evt.type=execve foo").unwrap_err();
        assert_eq!(e.message, "unexpected token after 'execve', expecting 'or', 'and'");
        assert_eq!(e.at, 16);
    }

    #[test]
    fn errors_do_not_panic() {
        // Found by fuzzing: a keyword test sliced inside a multi-byte character.
        assert!(parse_condition("a€").is_err());
        assert!(parse_condition("x=1€").is_err());
        assert!(parse_condition("evt.type = open — comment").is_err());
        for bad in [
            "",
            "(",
            "a and",
            "proc.name =",
            "proc.name in (a,",
            "proc.name in a",
            "\"x",
            "proc.name[",
            "len(",
            "not",
            "a b",
            "proc.name = 'x",
            ")",
            "proc. = 1",
            "a[1]",
        ] {
            assert!(parse_condition(bad).is_err(), "{bad}");
        }
        let deep = "(".repeat(10_000) + "a" + &")".repeat(10_000);
        assert!(parse_condition(&deep).is_err());
    }
}
