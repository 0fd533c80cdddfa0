//! Definitions to compiled rules: macros and lists expanded, exceptions appended, fields
//! resolved against the registry, values typed, event types inferred.

use crate::ast::{Ast, Check as AstCheck, FieldExpr, Literal, Op, Rhs, Transformer};
use crate::diag::{Code, Diagnostic, ItemType, Location};
use crate::eval::{Check, Cmp, Expr, Operand, PathSet, StrSet, Test};
use crate::loader::{Definitions, ExcFields, ExcValue, ExceptionDef, Origin, RuleDef, Text};
use crate::output::{OutputFormat, Token, tokenize};

/// Falco's old placeholder for container details in outputs.
const CONTAINER_INFO: &str = "%container.info";
use crate::parser::{ParseError, parse_condition};
use crate::yaml::Pos;
use crate::{CompiledRule, EngineConfig, ListInfo, MacroInfo};
use aho_corasick::AhoCorasick;
use globset::GlobBuilder;
use ipnet::IpNet;
use lanner_event::{ArgKind, FieldArg, FieldRef, FieldType, evttype};
use memchr::memmem;
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// The deepest condition, macros expanded, that compiles: every later pass recurses over it,
/// and its canonical text (one parenthesis group per level) must parse again under the
/// parser's limit of 100.
pub(crate) const MAX_AST_DEPTH: usize = 98;

/// Falco warns when a rule can match more than this many event types.
const MAX_EVTTYPES_WITHOUT_WARNING: usize = 100;

/// Why a piece of a condition did not compile.
enum CErr {
    /// An unknown field or event type: a warning for rules with `skip-if-unknown-filter`.
    Unknown(String),
    /// Anything else, with its code.
    Invalid(Code, String),
    /// Already reported where it was defined (a broken macro or list): skip quietly.
    Reported,
}

pub(crate) struct Output {
    pub rules: Vec<CompiledRule>,
    pub macros: Vec<MacroInfo>,
    pub lists: Vec<ListInfo>,
    pub diags: Vec<Diagnostic>,
}

struct Compiler<'a> {
    defs: &'a Definitions,
    cfg: &'a EngineConfig,
    macro_asts: HashMap<&'a str, Ast>,
    broken_macros: HashSet<&'a str>,
    broken_lists: HashSet<&'a str>,
    diags: Vec<Diagnostic>,
}

fn loc(ty: ItemType, name: &str, origin: &Origin) -> Location {
    Location { item_type: ty, item_name: name.to_string(), file: origin.file.clone(), pos: origin.pos }
}

/// Where an offset inside a condition is in the file, when the condition sits on one line.
fn locate(text: &Text, at: usize) -> Pos {
    let mut pos = text.origin.pos;
    if text.plain && !text.text[..at.min(text.text.len())].contains('\n') {
        pos.column += at;
        pos.offset += at;
    }
    pos
}

/// A list item as written in YAML: quoted items are literal text, bare ones may name lists.
fn list_item(s: &str) -> Literal {
    let b = s.as_bytes();
    if b.len() >= 2
        && (b[0] == b'"' || b[0] == b'\'')
        && b[b.len() - 1] == b[0]
        && let Ok(Ast::Check(AstCheck { rhs: Rhs::Value(lit), .. })) = parse_condition(&format!("a.b = {s}"))
    {
        return lit;
    }
    Literal { text: s.to_string(), quoted: false }
}

fn walk<'x>(ast: &'x Ast, f: &mut impl FnMut(&'x Ast)) {
    f(ast);
    match ast {
        Ast::And(v) | Ast::Or(v) => v.iter().for_each(|a| walk(a, f)),
        Ast::Not(a) => walk(a, f),
        _ => {}
    }
}

fn bitmap_all() -> Vec<u64> {
    let n = evttype::count();
    let mut v = vec![u64::MAX; n.div_ceil(64)];
    if !n.is_multiple_of(64) {
        *v.last_mut().unwrap() = (1u64 << (n % 64)) - 1;
    }
    v
}

fn bitmap_count(b: &[u64]) -> usize {
    b.iter().map(|w| w.count_ones() as usize).sum()
}

pub(crate) fn compile(defs: &Definitions, cfg: &EngineConfig) -> Output {
    let mut c = Compiler {
        defs,
        cfg,
        macro_asts: HashMap::new(),
        broken_macros: HashSet::new(),
        broken_lists: HashSet::new(),
        diags: Vec::new(),
    };
    c.check_requirements();
    c.check_lists();
    c.check_macros();
    let mut rules = Vec::new();
    for rule in &defs.rules {
        let errors_before = c.diags.iter().filter(|d| d.is_error()).count();
        if let Some(r) = c.compile_rule(rule) {
            rules.push(r);
        }
        // Falco stops compiling at a rule's first error; tools that count errors (and Falco's
        // own regression tests) expect one error there, not one per broken rule after it.
        // The load has failed either way, so no rule is dropped silently.
        if c.diags.iter().filter(|d| d.is_error()).count() > errors_before {
            break;
        }
    }
    let (macros, lists) = c.usage(&rules);
    Output { rules, macros, lists, diags: c.diags }
}

impl<'a> Compiler<'a> {
    fn report(&mut self, code: Code, message: impl Into<String>, locations: Vec<Location>) {
        self.diags.push(Diagnostic { code, message: message.into(), locations });
    }

    fn check_requirements(&mut self) {
        for (version, origin) in &self.defs.required_engine {
            if version > &self.cfg.engine_version {
                self.report(
                    Code::LoadErrValidate,
                    format!(
                        "Rules require engine version {version}, but engine version is {}",
                        self.cfg.engine_version
                    ),
                    vec![loc(ItemType::RequiredEngineVersion, "", origin)],
                );
            }
        }
        for req in &self.defs.required_plugins {
            let satisfied = req.accepted.iter().any(|(name, min)| {
                self.cfg.plugins.iter().any(|(pname, pver)| {
                    pname == name
                        && match (semver::Version::parse(pver), semver::Version::parse(min)) {
                            (Ok(have), Ok(need)) => have.major == need.major && have >= need,
                            _ => pver == min,
                        }
                })
            });
            if !satisfied {
                let wanted: Vec<String> = req.accepted.iter().map(|(n, v)| format!("{n} (>= {v})")).collect();
                let have: Vec<String> = self.cfg.plugins.iter().map(|(n, v)| format!("{n} {v}")).collect();
                let have = if have.is_empty() { "none".to_string() } else { have.join(", ") };
                self.report(
                    Code::LoadErrValidate,
                    format!(
                        "Plugin requirement not satisfied, must load one of: {}; loaded or built in: {have}",
                        wanted.join(", ")
                    ),
                    vec![loc(ItemType::RequiredPluginVersions, &req.accepted[0].0, &req.origin)],
                );
            }
        }
    }

    /// Reports lists that include themselves, directly or through others.
    fn check_lists(&mut self) {
        let defs = self.defs;
        for l in &defs.lists {
            let mut path = vec![l.name.as_str()];
            if let Some(cycle) = Self::list_cycle(defs, &mut path) {
                self.broken_lists.insert(&l.name);
                self.report(
                    Code::LoadErrValidate,
                    format!("List '{}' has a cyclic reference: {cycle}", l.name),
                    vec![loc(ItemType::List, &l.name, &l.origin)],
                );
            }
        }
    }

    fn list_cycle<'d>(defs: &'d Definitions, path: &mut Vec<&'d str>) -> Option<String> {
        let name = *path.last().unwrap();
        let list = &defs.lists[defs.list_index[name]];
        for item in &list.items {
            let lit = list_item(item);
            if lit.quoted || !defs.list_index.contains_key(&lit.text) {
                continue;
            }
            let next = defs.lists[defs.list_index[&lit.text]].name.as_str();
            if next == path[0] {
                return Some(format!("{} -> {next}", path.join(" -> ")));
            }
            if path.contains(&next) || path.len() > 64 {
                continue;
            }
            path.push(next);
            let found = Self::list_cycle(defs, path);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Parses every macro once, and reports parse errors, undefined references and cycles.
    fn check_macros(&mut self) {
        let defs = self.defs;
        for m in &defs.macros {
            match parse_condition(&m.condition.text) {
                Ok(ast) => {
                    self.macro_asts.insert(&m.name, ast);
                }
                Err(e) => {
                    self.broken_macros.insert(&m.name);
                    let at = locate(&m.condition, e.at);
                    self.report(
                        Code::LoadErrCompileCondition,
                        e.message,
                        vec![
                            loc(ItemType::Macro, &m.name, &m.origin),
                            Location {
                                item_type: ItemType::ConditionExpression,
                                item_name: String::new(),
                                file: m.condition.origin.file.clone(),
                                pos: at,
                            },
                        ],
                    );
                }
            }
        }
        for m in &defs.macros {
            let Some(ast) = self.macro_asts.get(m.name.as_str()) else { continue };
            let mut undefined = Vec::new();
            walk(ast, &mut |a| {
                if let Ast::Macro { name, .. } = a
                    && !defs.macro_index.contains_key(name)
                    && !undefined.contains(name)
                {
                    undefined.push(name.clone());
                }
            });
            for u in undefined {
                self.broken_macros.insert(&m.name);
                self.report(
                    Code::LoadErrValidate,
                    format!("Undefined macro '{u}' used in filter."),
                    vec![loc(ItemType::Macro, &m.name, &m.origin)],
                );
            }
        }
        for m in &defs.macros {
            let mut path = vec![m.name.clone()];
            if let Some(cycle) = self.macro_cycle(&mut path) {
                self.broken_macros.insert(&m.name);
                self.report(
                    Code::LoadErrValidate,
                    format!("Macro '{}' has a cyclic reference: {cycle}", m.name),
                    vec![loc(ItemType::Macro, &m.name, &m.origin)],
                );
            }
        }
    }

    fn macro_cycle(&self, path: &mut Vec<String>) -> Option<String> {
        let ast = self.macro_asts.get(path.last().unwrap().as_str())?;
        let mut refs = Vec::new();
        walk(ast, &mut |a| {
            if let Ast::Macro { name, .. } = a {
                refs.push(name.clone());
            }
        });
        for r in refs {
            if r == path[0] {
                return Some(format!("{} -> {r}", path.join(" -> ")));
            }
            if path.contains(&r) || path.len() > 64 {
                continue;
            }
            path.push(r);
            let found = self.macro_cycle(path);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Replaces macro references by their conditions and list names by their items.
    fn expand(&self, ast: &Ast, depth: usize) -> Result<Ast, CErr> {
        if depth > MAX_AST_DEPTH {
            return Err(CErr::Invalid(
                Code::LoadErrCompileCondition,
                format!("condition nests deeper than {MAX_AST_DEPTH} levels once macros are expanded"),
            ));
        }
        Ok(match ast {
            Ast::And(v) => Ast::And(v.iter().map(|a| self.expand(a, depth + 1)).collect::<Result<_, _>>()?),
            Ast::Or(v) => Ast::Or(v.iter().map(|a| self.expand(a, depth + 1)).collect::<Result<_, _>>()?),
            Ast::Not(a) => Ast::Not(Box::new(self.expand(a, depth + 1)?)),
            Ast::Macro { name, .. } => {
                if !self.defs.macro_index.contains_key(name) {
                    return Err(CErr::Invalid(
                        Code::LoadErrValidate,
                        format!("Undefined macro '{name}' used in filter."),
                    ));
                }
                if self.broken_macros.contains(name.as_str()) {
                    return Err(CErr::Reported);
                }
                let inner = self.macro_asts.get(name.as_str()).ok_or(CErr::Reported)?;
                self.expand(inner, depth + 1)?
            }
            Ast::Check(c) => {
                let mut c = c.clone();
                if let Rhs::List(items) = &c.rhs {
                    c.rhs = Rhs::List(self.expand_items(items, 0)?);
                }
                Ast::Check(c)
            }
        })
    }

    fn expand_items(&self, items: &[Literal], depth: usize) -> Result<Vec<Literal>, CErr> {
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            match (it.quoted, self.defs.list_index.get(&it.text)) {
                (false, Some(&i)) => {
                    let list = &self.defs.lists[i];
                    if self.broken_lists.contains(list.name.as_str()) || depth > 64 {
                        return Err(CErr::Reported);
                    }
                    let sub: Vec<Literal> = list.items.iter().map(|s| list_item(s)).collect();
                    out.extend(self.expand_items(&sub, depth + 1)?);
                }
                _ => out.push(it.clone()),
            }
        }
        Ok(out)
    }

    /// An exception as a condition: `(f1 c1 v1 and f2 c2 v2) or (...)`.
    fn exception_ast(&self, ex: &ExceptionDef) -> Result<Option<Ast>, (CErr, ItemType)> {
        let fields: Vec<&str> = match &ex.fields {
            ExcFields::Single(f) => vec![f.as_str()],
            ExcFields::Tuple(f) => f.iter().map(String::as_str).collect(),
        };
        let mut parsed = Vec::new();
        for f in &fields {
            let fe = match parse_condition(&format!("{f} exists")) {
                Ok(Ast::Check(c)) => c.lhs,
                _ => {
                    return Err((
                        CErr::Invalid(
                            Code::LoadErrValidate,
                            format!("'{f}' is not a supported filter field"),
                        ),
                        ItemType::Exception,
                    ));
                }
            };
            if self.resolve(&fe).is_err() {
                return Err((
                    CErr::Invalid(Code::LoadErrValidate, format!("'{f}' is not a supported filter field")),
                    ItemType::Exception,
                ));
            }
            parsed.push(fe);
        }
        let comps: Vec<Op> = ex.comps.iter().map(|c| Op::from_text(c).expect("checked at load")).collect();
        let check = |field: &FieldExpr, op: Op, value: &ExcValue| -> Result<Ast, (CErr, ItemType)> {
            let rhs = match (op.takes_list(), value) {
                (true, ExcValue::One(v)) => Rhs::List(vec![Literal { text: v.clone(), quoted: false }]),
                (true, ExcValue::Many(v)) => Rhs::List(v.iter().map(|s| list_item(s)).collect()),
                (false, ExcValue::One(v)) => Rhs::Value(list_item(v)),
                (false, ExcValue::Many(_)) => {
                    return Err((
                        CErr::Invalid(
                            Code::LoadErrValidate,
                            format!(
                                "Exception value for comparison '{}' must be a single value, not a list",
                                op.as_str()
                            ),
                        ),
                        ItemType::Exception,
                    ));
                }
            };
            let rhs = match rhs {
                Rhs::List(items) => {
                    Rhs::List(self.expand_items(&items, 0).map_err(|e| (e, ItemType::Exception))?)
                }
                other => other,
            };
            Ok(Ast::Check(AstCheck { lhs: field.clone(), op, rhs }))
        };
        let mut alternatives = Vec::new();
        match &ex.fields {
            ExcFields::Single(_) if comps[0].takes_list() => {
                let all: Vec<String> = ex
                    .values
                    .iter()
                    .flat_map(|t| match &t[0] {
                        ExcValue::One(v) => vec![v.clone()],
                        ExcValue::Many(v) => v.clone(),
                    })
                    .collect();
                if !all.is_empty() {
                    alternatives.push(check(&parsed[0], comps[0], &ExcValue::Many(all))?);
                }
            }
            _ => {
                for tuple in &ex.values {
                    let mut parts = Vec::new();
                    for ((field, op), value) in parsed.iter().zip(&comps).zip(tuple) {
                        parts.push(check(field, *op, value)?);
                    }
                    alternatives.push(if parts.len() == 1 { parts.pop().unwrap() } else { Ast::And(parts) });
                }
            }
        }
        Ok(match alternatives.len() {
            0 => None,
            1 => alternatives.pop(),
            _ => Some(Ast::Or(alternatives)),
        })
    }

    fn compile_rule(&mut self, rule: &'a RuleDef) -> Option<CompiledRule> {
        let item = loc(ItemType::Rule, &rule.name, &rule.origin);
        if !self.cfg.sources.iter().any(|s| s == &rule.source) {
            self.report(
                Code::LoadUnknownSource,
                format!("Unknown source {}, skipping", rule.source),
                vec![item],
            );
            return None;
        }
        let cond_loc = |at: usize| Location {
            item_type: ItemType::ConditionExpression,
            item_name: String::new(),
            file: rule.condition.origin.file.clone(),
            pos: locate(&rule.condition, at),
        };
        let ast = match parse_condition(&rule.condition.text) {
            Ok(a) => a,
            Err(ParseError { message, at }) => {
                self.report(Code::LoadErrCompileCondition, message, vec![item, cond_loc(at)]);
                return None;
            }
        };
        let mut full = match self.expand(&ast, 0) {
            Ok(a) => a,
            Err(e) => {
                self.cerr(e, rule, vec![item, cond_loc(0)]);
                return None;
            }
        };
        let mut exception_fields = Vec::new();
        let mut negated = Vec::new();
        for ex in &rule.exceptions {
            match self.exception_ast(ex) {
                Ok(Some(a)) => negated.push(Ast::Not(Box::new(a))),
                Ok(None) => {}
                Err((e, ty)) => {
                    self.cerr(e, rule, vec![item.clone(), loc(ty, &ex.name, &ex.origin)]);
                    return None;
                }
            }
            match &ex.fields {
                ExcFields::Single(f) => exception_fields.push(f.clone()),
                ExcFields::Tuple(f) => exception_fields.extend(f.iter().cloned()),
            }
        }
        if !negated.is_empty() {
            let mut all = vec![full];
            all.extend(negated);
            full = Ast::And(all);
        }
        let syscall = rule.source == lanner_event::SYSCALL_SOURCE;
        let expr = match self.compile_expr(&full, syscall) {
            Ok(e) => e,
            Err(e) => {
                self.cerr(e, rule, vec![item, cond_loc(0)]);
                return None;
            }
        };
        let full_output = self.full_output(rule, &item);
        let output = self.format(&full_output, rule, &item)?;
        // Falco's append_output extra_fields: JSON-only fields, the last entry of a key winning.
        let mut extra_fields: Vec<(String, OutputFormat, bool)> = Vec::new();
        for ef in self.cfg.extra_fields.iter().filter(|f| f.matches(&rule.name, &rule.source, &rule.tags)) {
            let format = if ef.raw { format!("%{}", ef.key) } else { ef.format.clone() };
            let compiled = self.format(&format, rule, &item)?;
            extra_fields.retain(|(k, _, _)| k != &ef.key);
            extra_fields.push((ef.key.clone(), compiled, ef.raw));
        }

        let events = if syscall {
            let bits = evttypes(&full, false);
            let n = bitmap_count(&bits);
            if rule.warn_evttypes && n > MAX_EVTTYPES_WITHOUT_WARNING {
                self.report(
                    Code::LoadNoEvttype,
                    "Rule matches too many evt.type values. This has a significant performance penalty.",
                    vec![item.clone()],
                );
            }
            Some(bits)
        } else {
            None
        };
        let mut condition_fields = Vec::new();
        let mut na = false;
        walk(&full, &mut |a| {
            if let Ast::Check(c) = a {
                let f = c.lhs.to_string();
                if !condition_fields.contains(&f) {
                    condition_fields.push(f);
                }
                match &c.rhs {
                    Rhs::Value(l) if l.text == "<NA>" => na = true,
                    Rhs::List(items) if items.iter().any(|l| l.text == "<NA>") => na = true,
                    _ => {}
                }
            }
        });
        if na {
            self.report(
                Code::LoadUnsafeNaCheck,
                "comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule. Use the \"exists\" operator instead.",
                vec![item.clone()],
            );
        }
        if let Some(avail) = &self.cfg.availability {
            for (code, message) in avail.check(&self.cfg.registry, &rule.source, &expr, events.as_deref()) {
                self.report(code, message, vec![item.clone()]);
            }
        }
        let mut seen = HashSet::new();
        exception_fields.retain(|f| seen.insert(f.clone()));
        Some(CompiledRule {
            name: rule.name.clone(),
            desc: rule.desc.clone(),
            condition: rule.condition.text.clone(),
            output_template: rule.output.text.trim().to_string(),
            priority: rule.priority,
            enabled: rule.enabled,
            tags: rule.tags.clone(),
            source: rule.source.clone(),
            condition_compiled: full.to_string(),
            event_bits: events,
            condition_fields,
            output_fields: output.fields.clone(),
            exception_fields,
            exception_names: rule.exceptions.iter().map(|e| e.name.clone()).collect(),
            file: rule.origin.file.clone(),
            line: rule.origin.pos.line,
            capture: rule.capture,
            extra_fields,
            expr,
            output,
        })
    }

    /// An output template compiled against the registry; an invalid token is reported
    /// against the rule (Falco's LOAD_ERR_COMPILE_OUTPUT, or a warning when the rule skips
    /// unknown filters) and the rule is left out.
    fn format(&mut self, text: &str, rule: &RuleDef, item: &Location) -> Option<OutputFormat> {
        let tokens = tokenize(text);
        let mut operands = HashMap::new();
        for t in &tokens {
            if let Token::Field(name) = t {
                // Falco's formatter takes transformers too (`%tolower(proc.name)`); no space
                // may separate a transformer from its '(' there, which tokenize ensures.
                let fe = parse_condition(&format!("{name} exists")).ok().and_then(|a| match a {
                    Ast::Check(c) => Some(c.lhs),
                    _ => None,
                });
                match fe.as_ref().map(|fe| (fe, self.operand(fe))) {
                    Some((fe, Ok((op, _)))) => {
                        // Falco reports a transformed field under the inner field's name, with
                        // the untransformed value (libsinsp's formatter leaves
                        // `resolve_transformed_fields` off and Falco never turns it on).
                        let key = if fe.transformers.is_empty() {
                            name.clone()
                        } else {
                            FieldExpr { transformers: Vec::new(), ..fe.clone() }.to_string()
                        };
                        operands.insert(name.clone(), (op, key));
                    }
                    other => {
                        let why = match other {
                            // A type error of a transformer is worth saying; an unknown field
                            // is named by the token already.
                            Some((_, Err(CErr::Invalid(_, m)))) => format!(": {m}"),
                            _ => String::new(),
                        };
                        let msg = format!("invalid formatting token {name}{why}");
                        let output_loc = Location {
                            item_type: ItemType::Output,
                            item_name: String::new(),
                            file: rule.output.origin.file.clone(),
                            pos: rule.output.origin.pos,
                        };
                        if rule.skip_if_unknown_filter {
                            self.report(Code::LoadUnknownFilter, msg, vec![item.clone(), output_loc]);
                        } else {
                            self.report(Code::LoadErrCompileOutput, msg, vec![item.clone(), output_loc]);
                        }
                        return None;
                    }
                }
            }
        }
        Some(OutputFormat::new(tokens, |n| operands[n].clone()))
    }

    /// The rule's output with the configured extra formats appended, as Falco builds it;
    /// the deprecated `%container.info` is dropped with a warning (the container plugin's
    /// suggested fields take its place).
    fn full_output(&mut self, rule: &RuleDef, item: &Location) -> String {
        let mut text = rule.output.text.trim().to_string();
        for extra in &self.cfg.extra_outputs {
            if extra.matches(&rule.name, &rule.source, &rule.tags) && !extra.format.is_empty() {
                text.push(' ');
                text.push_str(&extra.format);
            }
        }
        if text.contains(CONTAINER_INFO) {
            self.report(
                Code::LoadDeprecatedItem,
                "%container.info is deprecated: the container plugin's suggested fields are appended to outputs instead",
                vec![item.clone()],
            );
            text = text.replace(CONTAINER_INFO, "");
        }
        text
    }

    fn cerr(&mut self, e: CErr, rule: &RuleDef, locations: Vec<Location>) {
        match e {
            CErr::Unknown(msg) if rule.skip_if_unknown_filter => {
                self.report(Code::LoadUnknownFilter, msg, locations)
            }
            CErr::Unknown(msg) => self.report(Code::LoadErrCompileCondition, msg, locations),
            CErr::Invalid(code, msg) => self.report(code, msg, locations),
            CErr::Reported => {}
        }
    }

    /// A field reference: name and argument checked against the registry.
    fn resolve(&self, fe: &FieldExpr) -> Result<(FieldRef, FieldType), CErr> {
        let reg = &self.cfg.registry;
        let Some((id, dotted)) = reg.resolve(&fe.name) else {
            return Err(CErr::Unknown(format!("filter_check called with nonexistent field {}", fe.name)));
        };
        let def = reg.def(id);
        let arg_text = match (dotted, fe.arg.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(CErr::Invalid(
                    Code::LoadErrCompileCondition,
                    format!("field {} has two arguments", fe.name),
                ));
            }
            (Some(a), None) | (None, Some(a)) => Some(a),
            (None, None) => None,
        };
        let arg = match (def.arg.kind, arg_text) {
            (_, None) if def.arg.required => {
                return Err(CErr::Invalid(
                    Code::LoadErrCompileCondition,
                    format!("field {} requires an argument", def.name),
                ));
            }
            (_, None) => FieldArg::None,
            (ArgKind::None, Some(_)) => {
                return Err(CErr::Invalid(
                    Code::LoadErrCompileCondition,
                    format!("field {} does not take an argument", def.name),
                ));
            }
            (ArgKind::Index, Some(a)) => match a.trim().parse::<u32>() {
                Ok(i) => FieldArg::Index(i),
                Err(_) => {
                    return Err(CErr::Invalid(
                        Code::LoadErrCompileCondition,
                        format!("field {} needs a numeric argument, not '{a}'", def.name),
                    ));
                }
            },
            (ArgKind::Key, Some(a)) => FieldArg::Key(a.into()),
            (ArgKind::IndexOrKey, Some(a)) => match a.trim().parse::<u32>() {
                Ok(i) => FieldArg::Index(i),
                Err(_) => FieldArg::Key(a.into()),
            },
        };
        Ok((FieldRef { id, arg }, def.ftype))
    }

    /// A field with its transformers, and the type of the value they produce.
    fn operand(&self, fe: &FieldExpr) -> Result<(Operand, FieldType), CErr> {
        let (field, mut ty) = self.resolve(fe)?;
        for t in &fe.transformers {
            ty = match (t, ty) {
                (Transformer::Len, ty) if ty.is_text() || ty == FieldType::Bytes => FieldType::UInt64,
                (Transformer::B64, FieldType::Bytes) => FieldType::Bytes,
                (_, ty) if ty.is_text() => FieldType::String,
                (t, ty) => {
                    return Err(CErr::Invalid(
                        Code::LoadErrCompileCondition,
                        format!("transformer {} cannot be applied to {} of type {ty}", t.as_str(), fe.name),
                    ));
                }
            };
        }
        let def = self.cfg.registry.def(field.id);
        let fixed = (def.provider == crate::STATIC_PROVIDER)
            .then(|| def.name.strip_prefix(crate::STATIC_PREFIX).and_then(|n| self.cfg.static_fields.get(n)))
            .flatten()
            .map(|v| std::sync::Arc::from(v.as_str()));
        Ok((Operand { field, transformers: fe.transformers.clone().into(), fixed }, ty))
    }

    fn compile_expr(&self, ast: &Ast, syscall: bool) -> Result<Expr, CErr> {
        Ok(match ast {
            // Macros nest `and`s in `and`s: flatten them so evaluation walks one level.
            Ast::And(v) | Ast::Or(v) => {
                let and = matches!(ast, Ast::And(_));
                let mut out = Vec::with_capacity(v.len());
                for a in v {
                    match (self.compile_expr(a, syscall)?, and) {
                        (Expr::And(inner), true) | (Expr::Or(inner), false) => out.extend(inner.into_vec()),
                        (e, _) => out.push(e),
                    }
                }
                if and { Expr::And(out.into()) } else { Expr::Or(out.into()) }
            }
            Ast::Not(a) => match self.compile_expr(a, syscall)? {
                Expr::Not(inner) => *inner,
                e => Expr::Not(Box::new(e)),
            },
            Ast::Macro { .. } => return Err(CErr::Reported),
            Ast::Check(c) => {
                if syscall && is_evttype_check(c) {
                    let names = evttype_values(c);
                    let mut bits = vec![0u64; evttype::count().div_ceil(64)];
                    for n in names {
                        let Some(id) = evttype::id_of(n) else {
                            return Err(CErr::Unknown(format!("unknown event type {n}")));
                        };
                        bits[id as usize / 64] |= 1 << (id as usize % 64);
                    }
                    let e = Expr::EvtType(bits.into());
                    return Ok(if c.op == Op::Ne { Expr::Not(Box::new(e)) } else { e });
                }
                let (lhs, ty) = self.operand(&c.lhs)?;
                let test = self.test(c, ty)?;
                Expr::Check(Box::new(Check { lhs, test }))
            }
        })
    }

    fn test(&self, c: &AstCheck, ty: FieldType) -> Result<Test, CErr> {
        let field = c.lhs.to_string();
        let bad_op = || {
            CErr::Invalid(
                Code::LoadErrCompileCondition,
                format!("operator '{}' is not supported for field {field} of type {ty}", c.op.as_str()),
            )
        };
        let invalid = |m: String| CErr::Invalid(Code::LoadErrCompileCondition, m);
        let num = |s: &str| -> Result<i128, CErr> {
            s.trim()
                .parse::<i128>()
                .map_err(|_| invalid(format!("'{s}' is not a valid number for field {field} of type {ty}")))
        };
        let net = |s: &str| -> Result<IpNet, CErr> {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| invalid(format!("'{s}' is not a valid IP address or network for field {field}")))
        };
        let hex = |s: &str| -> Result<Vec<u8>, CErr> {
            let s = s.trim();
            if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "'{s}' is not a hex byte string for operator '{}'",
                    c.op.as_str()
                )));
            }
            Ok((0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect())
        };
        let text = ty.is_text() || ty == FieldType::Bytes;
        match (&c.rhs, c.op) {
            (_, Op::Exists) => Ok(Test::Exists),
            (Rhs::Field(f), op) => {
                let cmp = Cmp::from_op(op).ok_or_else(bad_op)?;
                let (rhs, _) = self.operand(f)?;
                Ok(Test::Field(cmp, rhs))
            }
            (Rhs::Value(lit), op) => {
                let v = lit.text.as_str();
                if let Some(cmp) = Cmp::from_op(op) {
                    return match ty {
                        t if t.is_numeric() => Ok(Test::Num(cmp, num(v)?)),
                        FieldType::Bool => match v {
                            "true" => Ok(Test::Bool(cmp, true)),
                            "false" => Ok(Test::Bool(cmp, false)),
                            _ => Err(invalid(format!(
                                "'{v}' is not a valid boolean for field {field}: use true or false"
                            ))),
                        },
                        FieldType::IpAddr | FieldType::IpNet => {
                            if !matches!(cmp, Cmp::Eq | Cmp::Ne) {
                                return Err(bad_op());
                            }
                            Ok(Test::Ip(cmp, net(v)?))
                        }
                        _ => Ok(Test::Str(cmp, v.into())),
                    };
                }
                if !text {
                    return Err(bad_op());
                }
                Ok(match op {
                    Op::Contains => Test::Contains(memmem::Finder::new(v.as_bytes()).into_owned()),
                    Op::IContains => Test::IContains(
                        AhoCorasick::builder()
                            .ascii_case_insensitive(true)
                            .build([v])
                            .map_err(|e| invalid(e.to_string()))?,
                    ),
                    Op::StartsWith => Test::StartsWith(v.into()),
                    Op::EndsWith => Test::EndsWith(v.into()),
                    Op::BContains => Test::BContains(memmem::Finder::new(&hex(v)?).into_owned()),
                    Op::BStartsWith => Test::BStartsWith(hex(v)?.into()),
                    Op::Glob | Op::IGlob => {
                        let g = GlobBuilder::new(v)
                            .case_insensitive(op == Op::IGlob)
                            .literal_separator(false)
                            .backslash_escape(true)
                            .build()
                            .map_err(|e| invalid(format!("invalid glob '{v}': {e}")))?;
                        Test::Glob(g.compile_matcher())
                    }
                    Op::Regex => {
                        let r = Regex::new(&format!("^(?:{v})$"))
                            .map_err(|e| invalid(format!("invalid regular expression '{v}': {e}")))?;
                        Test::Regex(r)
                    }
                    _ => return Err(bad_op()),
                })
            }
            (Rhs::List(items), op) => {
                let texts: Vec<String> = items.iter().map(|l| l.text.clone()).collect();
                match (op, ty) {
                    (Op::In | Op::Intersects, t) if t.is_numeric() || t == FieldType::Bool => {
                        let mut set = rustc_hash::FxHashSet::default();
                        for s in &texts {
                            let n = match (t, s.as_str()) {
                                (FieldType::Bool, "true") => 1,
                                (FieldType::Bool, "false") => 0,
                                _ => num(s)?,
                            };
                            set.insert(n);
                        }
                        Ok(Test::NumIn(set))
                    }
                    (Op::In | Op::Intersects, FieldType::IpAddr | FieldType::IpNet) => {
                        Ok(Test::IpIn(texts.iter().map(|s| net(s)).collect::<Result<Vec<_>, _>>()?.into()))
                    }
                    (Op::In, _) if text => Ok(Test::StrIn(StrSet::new(texts))),
                    (Op::Intersects, _) if text => Ok(Test::Intersects(StrSet::new(texts))),
                    (Op::PMatch, _) if text => Ok(Test::PMatch(PathSet::new(texts))),
                    _ => Err(bad_op()),
                }
            }
            (Rhs::None, _) => Err(invalid(format!("operator '{}' needs a value", c.op.as_str()))),
        }
    }

    /// Which macros and lists are used, for descriptions and for Falco's unused warnings.
    fn usage(&mut self, _rules: &[CompiledRule]) -> (Vec<MacroInfo>, Vec<ListInfo>) {
        let defs = self.defs;
        let mut used_macros: HashSet<&str> = HashSet::new();
        let mut used_lists: HashSet<String> = HashSet::new();
        let note_lists = |a: &Ast, used_lists: &mut HashSet<String>| {
            if let Ast::Check(AstCheck { rhs: Rhs::List(items), .. }) = a {
                for it in items {
                    if !it.quoted && defs.list_index.contains_key(&it.text) {
                        used_lists.insert(it.text.clone());
                    }
                }
            }
        };
        let mut macro_refs: HashMap<&str, (Vec<String>, Vec<String>)> = HashMap::new();
        for m in &defs.macros {
            let Some(ast) = self.macro_asts.get(m.name.as_str()) else { continue };
            let mut ms = Vec::new();
            let mut ls = HashSet::new();
            walk(ast, &mut |a| {
                if let Ast::Macro { name, .. } = a {
                    ms.push(name.clone());
                }
                note_lists(a, &mut ls);
            });
            for n in &ms {
                if let Some(def) = defs.macros.get(*defs.macro_index.get(n).unwrap_or(&usize::MAX)) {
                    used_macros.insert(&def.name);
                }
            }
            used_lists.extend(ls.iter().cloned());
            macro_refs.insert(&m.name, (ms, ls.into_iter().collect()));
        }
        for r in &defs.rules {
            if let Ok(ast) = parse_condition(&r.condition.text) {
                walk(&ast, &mut |a| {
                    if let Ast::Macro { name, .. } = a
                        && let Some(&i) = defs.macro_index.get(name)
                    {
                        used_macros.insert(&defs.macros[i].name);
                    }
                    note_lists(a, &mut used_lists);
                });
            }
            for ex in &r.exceptions {
                for t in &ex.values {
                    for v in t {
                        let items: Vec<&String> = match v {
                            ExcValue::One(s) => vec![s],
                            ExcValue::Many(v) => v.iter().collect(),
                        };
                        for s in items {
                            if defs.list_index.contains_key(s) {
                                used_lists.insert(s.clone());
                            }
                        }
                    }
                }
            }
        }
        for l in &defs.lists {
            for it in &l.items {
                let lit = list_item(it);
                if !lit.quoted && defs.list_index.contains_key(&lit.text) && lit.text != l.name {
                    used_lists.insert(lit.text);
                }
            }
        }
        let mut macros = Vec::new();
        for m in &defs.macros {
            let used = used_macros.contains(m.name.as_str());
            if !used {
                self.report(
                    Code::LoadUnusedMacro,
                    "Macro not referred to by any other rule/macro",
                    vec![loc(ItemType::Macro, &m.name, &m.origin)],
                );
            }
            let (ms, ls) = macro_refs.remove(m.name.as_str()).unwrap_or_default();
            let compiled = self.macro_asts.get(m.name.as_str()).and_then(|a| self.expand(a, 0).ok());
            macros.push(MacroInfo {
                name: m.name.clone(),
                condition: m.condition.text.clone(),
                used,
                macros: ms,
                lists: ls,
                condition_compiled: compiled.as_ref().map(|a| a.to_string()),
                events: compiled.as_ref().map(|a| evttypes(a, false)),
            });
        }
        let mut lists = Vec::new();
        for l in &defs.lists {
            let used = used_lists.contains(&l.name);
            if !used {
                self.report(
                    Code::LoadUnusedList,
                    "List not referred to by any other rule/macro",
                    vec![loc(ItemType::List, &l.name, &l.origin)],
                );
            }
            let items: Vec<Literal> = l.items.iter().map(|s| list_item(s)).collect();
            let sub: Vec<String> = items
                .iter()
                .filter(|i| !i.quoted && defs.list_index.contains_key(&i.text))
                .map(|i| i.text.clone())
                .collect();
            let compiled = self
                .expand_items(&items, 0)
                .map(|v| v.into_iter().map(|l| l.text).collect())
                .unwrap_or_default();
            lists.push(ListInfo {
                name: l.name.clone(),
                items: l.items.clone(),
                used,
                lists: sub,
                items_compiled: compiled,
            });
        }
        (macros, lists)
    }
}

fn is_evttype_check(c: &AstCheck) -> bool {
    c.lhs.name == "evt.type"
        && c.lhs.arg.is_none()
        && c.lhs.transformers.is_empty()
        && matches!(c.op, Op::Eq | Op::Ne | Op::In)
        && matches!(c.rhs, Rhs::Value(_) | Rhs::List(_))
}

fn evttype_values(c: &AstCheck) -> Vec<&str> {
    match &c.rhs {
        Rhs::Value(l) => vec![l.text.as_str()],
        Rhs::List(items) => items.iter().map(|l| l.text.as_str()).collect(),
        _ => Vec::new(),
    }
}

/// The event types a condition can match, Falco's way: `and` intersects, `or` unites, and
/// under `not` the two swap (De Morgan) while `evt.type` checks take their complement. A
/// check on any other field can match every type.
pub(crate) fn evttypes(ast: &Ast, negated: bool) -> Vec<u64> {
    match ast {
        Ast::And(v) | Ast::Or(v) => {
            let unite = matches!(ast, Ast::Or(_)) != negated;
            let mut acc: Option<Vec<u64>> = None;
            for a in v {
                let b = evttypes(a, negated);
                acc = Some(match acc {
                    None => b,
                    Some(x) => x.iter().zip(&b).map(|(p, q)| if unite { p | q } else { p & q }).collect(),
                });
            }
            acc.unwrap_or_else(bitmap_all)
        }
        Ast::Not(a) => evttypes(a, !negated),
        Ast::Check(c) if is_evttype_check(c) => {
            let mut bits = vec![0u64; evttype::count().div_ceil(64)];
            for n in evttype_values(c) {
                if let Some(id) = evttype::id_of(n) {
                    bits[id as usize / 64] |= 1 << (id as usize % 64);
                }
            }
            if (c.op == Op::Ne) != negated {
                let all = bitmap_all();
                bits = bits.iter().zip(&all).map(|(b, a)| !b & a).collect();
            }
            bits
        }
        _ => bitmap_all(),
    }
}

/// The names of the event types in a bitmap.
pub(crate) fn bitmap_names(bits: &[u64]) -> Vec<String> {
    (0..evttype::count())
        .filter(|&i| crate::eval::bit(bits, i as u16))
        .map(|i| evttype::name_of(i as u16).to_string())
        .collect()
}
