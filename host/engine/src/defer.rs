//! Deciding a syscall event without the fields that are costly to read (a plugin's), so that
//! those are read only for the events that need them, and for many such events at once.
//!
//! A [`DeferPlan`] says, per event type, which fields are deferred (answered later, in a
//! batch) and which must be kept from the event at once because the event is gone by the time
//! the batch is read (its process or fd may have changed). [`Ruleset::evaluate_known`] then
//! decides an event from its known fields alone when it can: every candidate rule false, or a
//! match whose output prints no deferred field. Otherwise the caller keeps the event's fields
//! ([`DeferPlan::snapshot_fields`]) and evaluates it in full once the batch's deferred fields
//! are read.

use crate::ruleset::{CompiledRule, MatchMode, Ruleset};
use lanner_event::{Event, EventTypeId, FieldRef};

/// Which fields are deferred, and what each event type needs kept.
#[derive(Debug, Default)]
pub struct DeferPlan {
    /// Per field id: deferred or not.
    deferred: Vec<bool>,
    /// Per event type: the fields its candidate rules read (condition and output) that are
    /// not deferred, `None` when no candidate reads a deferred field.
    types: Vec<Option<Box<[FieldRef]>>>,
    /// Per rule: whether its output prints a deferred field.
    output_deferred: Vec<bool>,
    /// Per rule: whether its condition reads a deferred field.
    condition_deferred: Vec<bool>,
}

impl DeferPlan {
    /// Whether a field is deferred.
    pub fn is_deferred(&self, f: &FieldRef) -> bool {
        self.deferred.get(f.id.0 as usize).copied().unwrap_or(false)
    }

    /// Whether events of this type may need deferred fields.
    pub fn defers(&self, etype: EventTypeId) -> bool {
        matches!(self.types.get(etype as usize), Some(Some(_)))
    }

    /// Whether no rule reads a deferred field.
    pub fn is_empty(&self) -> bool {
        self.types.iter().all(Option::is_none)
    }

    /// The fields to keep from an event of this type when it is deferred.
    pub fn snapshot_fields(&self, etype: EventTypeId) -> &[FieldRef] {
        self.types.get(etype as usize).and_then(|t| t.as_deref()).unwrap_or(&[])
    }

    /// The deferred fields any rule reads (condition or output) for events of this type.
    pub fn deferred_fields(&self, rs: &Ruleset, etype: EventTypeId) -> Vec<FieldRef> {
        let mut out = Vec::new();
        for &i in rs.syscall.by_type.get(etype as usize).map_or(&[][..], |c| c) {
            for_each_rule_field(&rs.rules[i as usize], &mut |f| {
                if self.is_deferred(f) && !out.contains(f) {
                    out.push(f.clone());
                }
            });
        }
        out
    }
}

fn for_each_rule_field(r: &CompiledRule, f: &mut dyn FnMut(&FieldRef)) {
    r.expr.for_each_field(f);
    r.output_field_refs().for_each(f);
}

/// What [`Ruleset::evaluate_known`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The known fields decided the event; its matches were reported.
    Decided,
    /// A deferred field is needed; nothing was reported.
    Undecided,
}

impl Ruleset {
    /// A plan for the fields `deferred` accepts (for example a plugin's), over the syscall
    /// rules.
    pub fn defer_plan(&self, deferred: &dyn Fn(&FieldRef) -> bool) -> DeferPlan {
        let mut plan = DeferPlan {
            output_deferred: vec![false; self.rules.len()],
            condition_deferred: vec![false; self.rules.len()],
            ..DeferPlan::default()
        };
        for (i, r) in self.rules.iter().enumerate() {
            let mut mark = |f: &FieldRef, flag: &mut bool| {
                if deferred(f) {
                    *flag = true;
                    let id = f.id.0 as usize;
                    if plan.deferred.len() <= id {
                        plan.deferred.resize(id + 1, false);
                    }
                    plan.deferred[id] = true;
                }
            };
            let mut cond = false;
            r.expr.for_each_field(&mut |f| mark(f, &mut cond));
            let mut out = false;
            r.output_field_refs().for_each(|f| mark(f, &mut out));
            plan.condition_deferred[i] = cond;
            plan.output_deferred[i] = out;
        }
        plan.types = self
            .syscall
            .by_type
            .iter()
            .map(|candidates| {
                let reads = candidates
                    .iter()
                    .any(|&i| plan.condition_deferred[i as usize] || plan.output_deferred[i as usize]);
                if !reads {
                    return None;
                }
                let mut keep: Vec<FieldRef> = Vec::new();
                for &i in candidates.iter() {
                    for_each_rule_field(&self.rules[i as usize], &mut |f| {
                        if !plan.is_deferred(f) && !keep.contains(f) {
                            keep.push(f.clone());
                        }
                    });
                }
                Some(keep.into_boxed_slice())
            })
            .collect();
        plan
    }

    /// Evaluates a syscall event with its known fields only (those `plan` does not defer):
    /// reports its matches through `on_match` and answers [`Decision::Decided`] when they
    /// decide it, as [`Ruleset::evaluate`] would have; answers [`Decision::Undecided`] and
    /// reports nothing when a deferred field could change the result or is printed by a
    /// matching rule's output. The cheap parts of each condition are evaluated first: a rule
    /// whose known parts are false needs nothing more.
    pub fn evaluate_known<'r, E: Event + ?Sized>(
        &'r self,
        ev: &E,
        plan: &DeferPlan,
        mut on_match: impl FnMut(&'r CompiledRule),
    ) -> Decision {
        let known = |f: &FieldRef| !plan.is_deferred(f);
        let mut matched: [u32; 8] = [0; 8];
        let mut n = 0usize;
        let mut overflow: Vec<u32> = Vec::new();
        for &i in self.candidates(ev) {
            let rule = &self.rules[i as usize];
            let verdict = if plan.condition_deferred.get(i as usize).copied().unwrap_or(false) {
                rule.expr.eval_partial(ev, &known)
            } else {
                Some(rule.expr.eval(ev))
            };
            match verdict {
                Some(false) => continue,
                None => return Decision::Undecided,
                Some(true) => {
                    if plan.output_deferred.get(i as usize).copied().unwrap_or(false) {
                        return Decision::Undecided;
                    }
                    if n < matched.len() {
                        matched[n] = i;
                        n += 1;
                    } else {
                        overflow.push(i);
                    }
                    if self.mode == MatchMode::First {
                        break;
                    }
                }
            }
        }
        for &i in matched[..n].iter().chain(&overflow) {
            on_match(&self.rules[i as usize]);
        }
        Decision::Decided
    }
}
