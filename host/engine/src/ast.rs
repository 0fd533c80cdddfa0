//! The syntax tree of a condition, and its canonical text (Falco's `condition_compiled`).

use std::fmt;

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    /// All of these.
    And(Vec<Ast>),
    /// Any of these.
    Or(Vec<Ast>),
    /// Not this.
    Not(Box<Ast>),
    /// A reference to a macro, by name.
    Macro {
        /// The macro's name.
        name: String,
        /// Byte offset in the condition text.
        at: usize,
    },
    /// A comparison of a field.
    Check(Check),
}

/// `field op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The field, with its transformers.
    pub lhs: FieldExpr,
    /// The operator.
    pub op: Op,
    /// The value it is compared with.
    pub rhs: Rhs,
}

/// A field as written: `proc.aname[2]`, `evt.arg.flags`, `tolower(proc.name)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldExpr {
    /// The name as written, including a dotted argument (`evt.arg.flags`).
    pub name: String,
    /// The argument written in brackets, if any.
    pub arg: Option<String>,
    /// Transformers, innermost first.
    pub transformers: Vec<Transformer>,
    /// Byte offset in the condition text.
    pub at: usize,
}

/// A function applied to a field's value before comparing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformer {
    /// Lower-case text.
    ToLower,
    /// Upper-case text.
    ToUpper,
    /// Base64-decode text.
    B64,
    /// The last path component.
    Basename,
    /// The length of text or of a list.
    Len,
}

impl Transformer {
    /// Parses a transformer's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "tolower" => Transformer::ToLower,
            "toupper" => Transformer::ToUpper,
            "b64" => Transformer::B64,
            "basename" => Transformer::Basename,
            "len" => Transformer::Len,
            _ => return None,
        })
    }

    /// The transformer's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transformer::ToLower => "tolower",
            Transformer::ToUpper => "toupper",
            Transformer::B64 => "b64",
            Transformer::Basename => "basename",
            Transformer::Len => "len",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    In,
    Intersects,
    PMatch,
    Exists,
    Regex,
}

impl Op {
    /// Operators written as words.
    pub const WORDS: [(&'static str, Op); 13] = [
        ("contains", Op::Contains),
        ("icontains", Op::IContains),
        ("bcontains", Op::BContains),
        ("startswith", Op::StartsWith),
        ("bstartswith", Op::BStartsWith),
        ("endswith", Op::EndsWith),
        ("glob", Op::Glob),
        ("iglob", Op::IGlob),
        ("in", Op::In),
        ("intersects", Op::Intersects),
        ("pmatch", Op::PMatch),
        ("exists", Op::Exists),
        ("regex", Op::Regex),
    ];

    /// The operator as printed in canonical text.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::BContains => "bcontains",
            Op::StartsWith => "startswith",
            Op::BStartsWith => "bstartswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::PMatch => "pmatch",
            Op::Exists => "exists",
            Op::Regex => "regex",
        }
    }

    /// Whether the operator takes a list of values.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }

    /// Parses an operator as written in an exception's `comps`.
    pub fn from_text(s: &str) -> Option<Op> {
        Some(match s {
            "=" | "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => return Op::WORDS.iter().find(|(w, _)| *w == s).map(|(_, op)| *op),
        })
    }
}

/// What a field is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// Nothing (`exists`).
    None,
    /// One value.
    Value(Literal),
    /// A list of values; bare items may name lists.
    List(Vec<Literal>),
    /// Another field's value: `val(proc.pname)`.
    Field(FieldExpr),
}

/// A value as written, and whether it was quoted (a quoted item never names a list).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Literal {
    /// The text, unquoted and unescaped.
    pub text: String,
    /// Whether it was written in quotes.
    pub quoted: bool,
}

/// Whether a character may appear in an unquoted value.
pub fn is_bare_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '(' | ')' | ',' | '"' | '\'' | '='))
}

fn write_literal(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if !text.is_empty() && text.chars().all(is_bare_char) {
        return f.write_str(text);
    }
    f.write_str("\"")?;
    for c in text.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in self.transformers.iter().rev() {
            write!(f, "{}(", t.as_str())?;
        }
        f.write_str(&self.name)?;
        if let Some(arg) = &self.arg {
            write!(f, "[{arg}]")?;
        }
        for _ in &self.transformers {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for Ast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ast::And(items) | Ast::Or(items) => {
                let sep = if matches!(self, Ast::And(_)) { " and " } else { " or " };
                f.write_str("(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            Ast::Not(inner) => write!(f, "not {inner}"),
            Ast::Macro { name, .. } => f.write_str(name),
            Ast::Check(c) => {
                write!(f, "{} {}", c.lhs, c.op.as_str())?;
                match &c.rhs {
                    Rhs::None => Ok(()),
                    Rhs::Value(l) => {
                        f.write_str(" ")?;
                        write_literal(f, &l.text)
                    }
                    Rhs::List(items) => {
                        f.write_str(" (")?;
                        for (i, l) in items.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write_literal(f, &l.text)?;
                        }
                        f.write_str(")")
                    }
                    Rhs::Field(field) => write!(f, " val({field})"),
                }
            }
        }
    }
}
