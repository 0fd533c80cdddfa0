//! Compiled conditions and their evaluation. Everything that can be decided at load time is:
//! fields are ids, values are typed, sets and matchers are built once. Evaluating an event
//! allocates only when a transformer has to produce new text.

use crate::ast::{Op, Transformer};
use aho_corasick::AhoCorasick;
use base64::Engine as _;
use globset::GlobMatcher;
use ipnet::IpNet;
use lanner_event::{Event, EventTypeId, FieldRef, FieldText, Value};
use memchr::memmem;
use regex::Regex;
use rustc_hash::FxHashSet;
use std::borrow::Cow;
use std::net::IpAddr;

/// A compiled condition.
#[derive(Debug)]
pub(crate) enum Expr {
    And(Box<[Expr]>),
    Or(Box<[Expr]>),
    Not(Box<Expr>),
    /// `evt.type` compared with event type names, resolved to a bitmap of ids.
    EvtType(Box<[u64]>),
    Check(Box<Check>),
}

/// A field read from the event, then transformed.
#[derive(Debug, Clone)]
pub(crate) struct Operand {
    pub field: FieldRef,
    pub transformers: Box<[Transformer]>,
    /// The value of a static field (`static_fields`), the same for every event: answered
    /// here rather than asked of events, which know nothing of the configuration.
    pub fixed: Option<std::sync::Arc<str>>,
}

#[derive(Debug)]
pub(crate) struct Check {
    pub lhs: Operand,
    pub test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn from_op(op: Op) -> Option<Cmp> {
        Some(match op {
            Op::Eq => Cmp::Eq,
            Op::Ne => Cmp::Ne,
            Op::Lt => Cmp::Lt,
            Op::Le => Cmp::Le,
            Op::Gt => Cmp::Gt,
            Op::Ge => Cmp::Ge,
            _ => return None,
        })
    }

    fn holds<T: PartialOrd + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// A set of strings: a short list is scanned, a long one hashed.
#[derive(Debug)]
pub(crate) enum StrSet {
    Small(Box<[Box<str>]>),
    Hashed(FxHashSet<Box<str>>),
}

impl StrSet {
    pub fn new(items: Vec<String>) -> Self {
        if items.len() <= 8 {
            StrSet::Small(items.into_iter().map(String::into_boxed_str).collect())
        } else {
            StrSet::Hashed(items.into_iter().map(String::into_boxed_str).collect())
        }
    }

    pub fn contains(&self, s: &str) -> bool {
        match self {
            StrSet::Small(items) => items.iter().any(|i| &**i == s),
            StrSet::Hashed(set) => set.contains(s),
        }
    }
}

/// Path prefixes for `pmatch`: a path matches when it equals a prefix or lies below one.
/// Each ancestor of the path is looked up once, so the cost is the path's depth, not the
/// number of prefixes.
#[derive(Debug)]
pub(crate) struct PathSet {
    prefixes: FxHashSet<Box<str>>,
    has_root: bool,
}

impl PathSet {
    pub fn new(items: Vec<String>) -> Self {
        let mut has_root = false;
        let mut prefixes = FxHashSet::default();
        for i in items {
            let t = i.trim_end_matches('/');
            if t.is_empty() {
                has_root = true;
            } else {
                prefixes.insert(t.into());
            }
        }
        PathSet { prefixes, has_root }
    }

    pub fn matches(&self, path: &str) -> bool {
        if self.has_root && path.starts_with('/') {
            return true;
        }
        let mut p = path.trim_end_matches('/');
        loop {
            if self.prefixes.contains(p) {
                return true;
            }
            match p.rfind('/') {
                Some(0) | None => return false,
                Some(i) => p = &p[..i],
            }
        }
    }
}

/// What a field's value is tested against.
#[derive(Debug)]
pub(crate) enum Test {
    Exists,
    Str(Cmp, Box<str>),
    Contains(memmem::Finder<'static>),
    IContains(AhoCorasick),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    BContains(memmem::Finder<'static>),
    BStartsWith(Box<[u8]>),
    Glob(GlobMatcher),
    Regex(Regex),
    StrIn(StrSet),
    Intersects(StrSet),
    PMatch(PathSet),
    Num(Cmp, i128),
    NumIn(FxHashSet<i128>),
    Bool(Cmp, bool),
    Ip(Cmp, IpNet),
    IpIn(Box<[IpNet]>),
    /// `val(field)`: compared with another field of the same event.
    Field(Cmp, Operand),
}

impl Test {
    /// Whether the test compares text (so [`Check::test_str`] can answer it).
    fn is_text(&self) -> bool {
        matches!(
            self,
            Test::Exists
                | Test::Str(..)
                | Test::Contains(_)
                | Test::IContains(_)
                | Test::StartsWith(_)
                | Test::EndsWith(_)
                | Test::Glob(_)
                | Test::Regex(_)
                | Test::StrIn(_)
                | Test::Intersects(_)
                | Test::PMatch(_)
        )
    }
}

impl Expr {
    pub fn eval<E: Event + ?Sized>(&self, ev: &E) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.eval(ev)),
            Expr::Or(items) => items.iter().any(|e| e.eval(ev)),
            Expr::Not(e) => !e.eval(ev),
            Expr::EvtType(bits) => bit(bits, ev.event_type()),
            Expr::Check(c) => c.eval(ev),
        }
    }
}

impl Expr {
    /// Evaluates with three-valued (Kleene) logic against an event of which only the fields
    /// that `known` accepts are known: `Some(result)` when those fields decide the condition
    /// whatever the others hold, `None` when they do not.
    pub fn eval_partial<E: Event + ?Sized>(&self, ev: &E, known: &dyn Fn(&FieldRef) -> bool) -> Option<bool> {
        self.kleene(&|leaf| match leaf {
            Expr::EvtType(bits) => Some(bit(bits, ev.event_type())),
            Expr::Check(c) => {
                let rhs_known = match &c.test {
                    Test::Field(_, rhs) => known(&rhs.field),
                    _ => true,
                };
                (known(&c.lhs.field) && rhs_known).then(|| c.eval(ev))
            }
            _ => None,
        })
    }

    /// What the condition is when the fields `never` accepts have no value on any event (a
    /// check of a missing field is false, as in Falco): `Some(false)` when it can never hold,
    /// `None` when it depends on other fields.
    pub fn without(&self, never: &dyn Fn(&FieldRef) -> bool) -> Option<bool> {
        self.kleene(&|leaf| match leaf {
            Expr::Check(c) => {
                let rhs_never = matches!(&c.test, Test::Field(_, rhs) if never(&rhs.field));
                (never(&c.lhs.field) || rhs_never).then_some(false)
            }
            _ => None,
        })
    }

    /// Three-valued (Kleene) evaluation: `and`, `or` and `not` combine what `leaf` says of
    /// each event-type test and field check (`None`: unknown).
    fn kleene(&self, leaf: &dyn Fn(&Expr) -> Option<bool>) -> Option<bool> {
        match self {
            Expr::And(items) => {
                let mut all = Some(true);
                for e in items.iter() {
                    match e.kleene(leaf) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => all = None,
                    }
                }
                all
            }
            Expr::Or(items) => {
                let mut any = Some(false);
                for e in items.iter() {
                    match e.kleene(leaf) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => any = None,
                    }
                }
                any
            }
            Expr::Not(e) => e.kleene(leaf).map(|b| !b),
            Expr::EvtType(_) | Expr::Check(_) => leaf(self),
        }
    }
}

impl Expr {
    /// Calls `f` with every field the condition reads.
    pub fn for_each_field(&self, f: &mut dyn FnMut(&FieldRef)) {
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| e.for_each_field(f)),
            Expr::Not(e) => e.for_each_field(f),
            Expr::EvtType(_) => {}
            Expr::Check(c) => {
                f(&c.lhs.field);
                if let Test::Field(_, rhs) = &c.test {
                    f(&rhs.field);
                }
            }
        }
    }
}

pub(crate) fn bit(bits: &[u64], id: EventTypeId) -> bool {
    let i = id as usize;
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

impl Operand {
    /// The untransformed value.
    pub fn raw<'e, E: Event + ?Sized>(&'e self, ev: &'e E) -> Option<Value<'e>> {
        match &self.fixed {
            Some(v) => Some(Value::Str(Cow::Borrowed(v))),
            None => ev.field(&self.field),
        }
    }

    pub fn extract<'e, E: Event + ?Sized>(&'e self, ev: &'e E) -> Option<Value<'e>> {
        let v = self.raw(ev)?;
        if self.transformers.is_empty() {
            return Some(v);
        }
        let mut v = v;
        for t in self.transformers.iter() {
            v = transform(*t, v)?;
        }
        Some(v)
    }
}

fn transform(t: Transformer, v: Value<'_>) -> Option<Value<'_>> {
    if let Value::List(items) = v {
        if t == Transformer::Len {
            return Some(Value::UInt(items.len() as u64));
        }
        return Some(Value::List(items.into_iter().filter_map(|i| transform(t, i)).collect()));
    }
    let s = text_of(&v);
    Some(match t {
        Transformer::ToLower => Value::Str(Cow::Owned(s.to_lowercase())),
        Transformer::ToUpper => Value::Str(Cow::Owned(s.to_uppercase())),
        Transformer::Basename => {
            let b = s.rsplit('/').next().unwrap_or("");
            Value::Str(Cow::Owned(b.to_string()))
        }
        Transformer::Len => Value::UInt(s.len() as u64),
        Transformer::B64 => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(s.trim().as_bytes()).ok()?;
            match String::from_utf8(bytes) {
                Ok(s) => Value::Str(Cow::Owned(s)),
                Err(e) => Value::Bytes(Cow::Owned(e.into_bytes())),
            }
        }
    })
}

/// A value as text, for string operators applied to whatever the field holds.
fn text_of<'v>(v: &'v Value<'_>) -> Cow<'v, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s),
        Value::Bytes(b) => String::from_utf8_lossy(b),
        other => Cow::Owned(other.to_string()),
    }
}

fn num_of(v: &Value<'_>) -> Option<i128> {
    match v {
        Value::Int(i) => Some(*i as i128),
        Value::UInt(u) => Some(*u as i128),
        Value::Bool(b) => Some(*b as i128),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_of(v: &Value<'_>) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Int(i) => Some(*i != 0),
        Value::UInt(u) => Some(*u != 0),
        Value::Str(s) => match s.as_ref() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn ip_of(v: &Value<'_>) -> Option<IpAddr> {
    match v {
        Value::Ip(ip) => Some(*ip),
        Value::Str(s) => s.parse().ok(),
        _ => None,
    }
}

impl Check {
    fn eval<E: Event + ?Sized>(&self, ev: &E) -> bool {
        // Fast path: a text test on an untransformed field the event holds as text.
        if self.lhs.transformers.is_empty() && self.test.is_text() {
            if let Some(v) = &self.lhs.fixed {
                return self.test_str(v);
            }
            return match ev.field_text(&self.lhs.field) {
                FieldText::Missing => false,
                FieldText::Str(s) => self.test_str(s),
                FieldText::Value(v) => self.eval_value(v),
            };
        }
        match self.lhs.extract(ev) {
            None => false,
            Some(v) => match &self.test {
                Test::Field(cmp, rhs) => match rhs.extract(ev) {
                    Some(r) => compare_values(*cmp, &v, &r),
                    None => false,
                },
                _ => self.eval_value(v),
            },
        }
    }

    fn eval_value(&self, v: Value<'_>) -> bool {
        if let Test::Exists = self.test {
            return true;
        }
        match &v {
            // A list field (all ancestors, say) matches when any of its values does;
            // `!=` holds when none is equal.
            Value::List(items) => match self.test {
                Test::Str(Cmp::Ne, _)
                | Test::Num(Cmp::Ne, _)
                | Test::Bool(Cmp::Ne, _)
                | Test::Ip(Cmp::Ne, _) => items.iter().all(|i| self.test_one(i)),
                _ => items.iter().any(|i| self.test_one(i)),
            },
            _ => self.test_one(&v),
        }
    }

    fn test_str(&self, s: &str) -> bool {
        match &self.test {
            Test::Exists => true,
            Test::Str(cmp, want) => cmp.holds(s, want.as_ref()),
            Test::Contains(f) => f.find(s.as_bytes()).is_some(),
            Test::IContains(ac) => ac.is_match(s),
            Test::StartsWith(p) => s.starts_with(p.as_ref()),
            Test::EndsWith(p) => s.ends_with(p.as_ref()),
            Test::Glob(g) => g.is_match(s),
            Test::Regex(r) => r.is_match(s),
            Test::StrIn(set) | Test::Intersects(set) => set.contains(s),
            Test::PMatch(set) => set.matches(s),
            _ => self.test_one(&Value::Str(Cow::Borrowed(s))),
        }
    }

    fn test_one(&self, v: &Value<'_>) -> bool {
        match &self.test {
            Test::Exists => true,
            Test::Str(cmp, want) => cmp.holds(text_of(v).as_ref(), want.as_ref()),
            Test::Contains(f) => f.find(text_of(v).as_bytes()).is_some(),
            Test::IContains(ac) => ac.is_match(text_of(v).as_ref()),
            Test::StartsWith(p) => text_of(v).starts_with(p.as_ref()),
            Test::EndsWith(p) => text_of(v).ends_with(p.as_ref()),
            Test::BContains(f) => match v {
                Value::Bytes(b) => f.find(b).is_some(),
                other => f.find(text_of(other).as_bytes()).is_some(),
            },
            Test::BStartsWith(p) => match v {
                Value::Bytes(b) => b.starts_with(p),
                other => text_of(other).as_bytes().starts_with(p),
            },
            Test::Glob(g) => g.is_match(text_of(v).as_ref()),
            Test::Regex(r) => r.is_match(text_of(v).as_ref()),
            Test::StrIn(set) | Test::Intersects(set) => set.contains(text_of(v).as_ref()),
            Test::PMatch(set) => set.matches(text_of(v).as_ref()),
            Test::Num(cmp, want) => num_of(v).is_some_and(|n| cmp.holds(&n, want)),
            Test::NumIn(set) => num_of(v).is_some_and(|n| set.contains(&n)),
            Test::Bool(cmp, want) => bool_of(v).is_some_and(|b| cmp.holds(&b, want)),
            Test::Ip(cmp, net) => ip_of(v).is_some_and(|ip| match cmp {
                Cmp::Eq => net.contains(&ip),
                Cmp::Ne => !net.contains(&ip),
                _ => false,
            }),
            Test::IpIn(nets) => ip_of(v).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
            Test::Field(..) => false,
        }
    }
}

fn compare_values(cmp: Cmp, a: &Value<'_>, b: &Value<'_>) -> bool {
    match (num_of(a), num_of(b)) {
        (Some(x), Some(y)) if !matches!(a, Value::Str(_)) || !matches!(b, Value::Str(_)) => cmp.holds(&x, &y),
        _ => cmp.holds(text_of(a).as_ref(), text_of(b).as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmatch_is_prefix_by_component() {
        let s = PathSet::new(vec!["/etc".into(), "/usr/bin/".into()]);
        assert!(s.matches("/etc"));
        assert!(s.matches("/etc/shadow"));
        assert!(s.matches("/usr/bin/ls"));
        assert!(!s.matches("/etcfoo"));
        assert!(!s.matches("/usr/lib/x"));
        assert!(!s.matches("relative"));
        let root = PathSet::new(vec!["/".into()]);
        assert!(root.matches("/anything"));
    }

    #[test]
    fn sets() {
        let small = StrSet::new(vec!["a".into(), "b".into()]);
        assert!(small.contains("b") && !small.contains("c"));
        let big = StrSet::new((0..100).map(|i| i.to_string()).collect());
        assert!(big.contains("42") && !big.contains("420"));
    }
}
