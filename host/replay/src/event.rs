use lanner_event::{
    ArgKind, Event, EventTypeId, FieldArg, FieldId, FieldRef, FieldRegistry, FieldText, Value, evttype,
};
use std::borrow::Cow;

/// A field's recorded value: plain, or per argument.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Recorded {
    Plain(Value<'static>),
    /// Element N answers `field[N]`.
    Indexed(Vec<Value<'static>>),
    /// Entry K answers `field[K]`.
    Keyed(Vec<(String, Value<'static>)>),
}

/// An event read from an event file: it answers fields from its recorded values.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub(crate) source: String,
    pub(crate) etype: EventTypeId,
    pub(crate) type_name: String,
    pub(crate) ts: u64,
    pub(crate) num: u64,
    /// A plugin event's payload (`data` or `data_base64`): extractors answer its fields, as
    /// for an event a source plugin produced.
    pub(crate) payload: Option<Vec<u8>>,
    /// Field ids, sorted, kept apart from the values so that a lookup searches a few
    /// contiguous bytes rather than striding over every value.
    pub(crate) ids: Vec<FieldId>,
    /// The argument and value of each id in `ids`, in the same order.
    pub(crate) values: Vec<(FieldArg, Recorded)>,
    /// For each field id up to the largest recorded, the index of its first entry in `ids`
    /// (`u16::MAX` when absent): a lookup is one load, not a search.
    pub(crate) slots: Box<[u16]>,
    /// Ids of the derived fields, resolved once per registry.
    pub(crate) derived: Derived,
}

/// The ids of the fields an event answers without recording them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Derived {
    pub evt_type: Option<FieldId>,
    pub evt_num: Option<FieldId>,
    pub evt_source: Option<FieldId>,
    pub evt_rawtime: Option<FieldId>,
    pub evt_time: Option<FieldId>,
    pub evt_dir: Option<FieldId>,
    pub evt_arg: Option<FieldId>,
    /// Fields whose index 0 is the process itself and whose plain form means "every ancestor".
    pub ancestors: [Option<FieldId>; 4],
}

impl Derived {
    pub fn new(reg: &FieldRegistry) -> Self {
        Derived {
            evt_type: reg.get("evt.type"),
            evt_num: reg.get("evt.num"),
            evt_source: reg.get("evt.source"),
            evt_rawtime: reg.get("evt.rawtime"),
            evt_time: reg.get("evt.time"),
            evt_dir: reg.get("evt.dir"),
            evt_arg: reg.get("evt.arg"),
            ancestors: [
                reg.get("proc.aname"),
                reg.get("proc.apid"),
                reg.get("proc.aexe"),
                reg.get("proc.aexepath"),
            ],
        }
    }
}

fn borrow<'a>(v: &'a Value<'static>) -> Value<'a> {
    match v {
        Value::Str(s) => Value::Str(Cow::Borrowed(s)),
        Value::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
        Value::List(l) => Value::List(l.iter().map(borrow).collect()),
        other => other.clone(),
    }
}

impl RecordedEvent {
    /// The event type's name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The event's sequence number.
    pub fn num(&self) -> u64 {
        self.num
    }

    /// A plugin event's payload, when the line gave one: such an event goes to the extractors
    /// as a source plugin's event would, its fields are theirs.
    pub fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    /// Takes the payload out (an event handed on to the extractors needs no copy of it).
    pub fn take_payload(&mut self) -> Option<Vec<u8>> {
        self.payload.take()
    }

    fn lookup(&self, f: &FieldRef) -> Option<Value<'_>> {
        let start = match self.slots.get(f.id.0 as usize) {
            Some(&s) if s != u16::MAX => s as usize,
            _ => return None,
        };
        let mut plain = None;
        let same = self.ids[start..].iter().take_while(|id| **id == f.id).count();
        for (arg, rec) in &self.values[start..start + same] {
            if *arg == f.arg {
                return match rec {
                    Recorded::Plain(v) => Some(borrow(v)),
                    Recorded::Indexed(items) => self.whole_list(f.id, items),
                    Recorded::Keyed(_) => None,
                };
            }
            if *arg == FieldArg::None {
                plain = Some(rec);
            }
        }
        match (plain?, &f.arg) {
            (Recorded::Indexed(items), FieldArg::Index(i)) => items.get(*i as usize).map(borrow),
            (Recorded::Indexed(items), FieldArg::None) => self.whole_list(f.id, items),
            (Recorded::Keyed(entries), FieldArg::Key(k)) => {
                entries.iter().find(|(name, _)| name == k.as_ref()).map(|(_, v)| borrow(v))
            }
            (Recorded::Keyed(entries), FieldArg::Index(i)) => {
                entries.get(*i as usize).map(|(_, v)| borrow(v))
            }
            _ => None,
        }
    }

    fn whole_list<'a>(&self, id: FieldId, items: &'a [Value<'static>]) -> Option<Value<'a>> {
        let skip = usize::from(self.derived.ancestors.contains(&Some(id)));
        Some(Value::List(items.iter().skip(skip).map(borrow).collect()))
    }
}

pub(crate) fn arg_kind_ok(kind: ArgKind, arg: &FieldArg) -> bool {
    matches!(
        (kind, arg),
        (_, FieldArg::None)
            | (ArgKind::Index | ArgKind::IndexOrKey, FieldArg::Index(_))
            | (ArgKind::Key | ArgKind::IndexOrKey, FieldArg::Key(_))
    )
}

impl Event for RecordedEvent {
    fn source(&self) -> &str {
        &self.source
    }

    fn event_type(&self) -> EventTypeId {
        self.etype
    }

    fn timestamp_ns(&self) -> u64 {
        self.ts
    }

    fn field_text(&self, f: &FieldRef) -> FieldText<'_> {
        if f.arg == FieldArg::None
            && let Some(&slot) = self.slots.get(f.id.0 as usize)
            && slot != u16::MAX
            && let (FieldArg::None, Recorded::Plain(Value::Str(s))) = &self.values[slot as usize]
        {
            return FieldText::Str(s);
        }
        match self.field(f) {
            None => FieldText::Missing,
            Some(v) => FieldText::Value(v),
        }
    }

    fn param_names(&self) -> Vec<Cow<'_, str>> {
        let Some(id) = self.derived.evt_arg else { return Vec::new() };
        let mut names: Vec<Cow<'_, str>> = Vec::new();
        for (fid, (arg, rec)) in self.ids.iter().zip(&self.values) {
            if *fid != id {
                continue;
            }
            match (arg, rec) {
                (FieldArg::Key(k), _) => names.push(Cow::Borrowed(k)),
                (FieldArg::None, Recorded::Keyed(entries)) => {
                    names.extend(entries.iter().map(|(k, _)| Cow::Borrowed(k.as_str())))
                }
                _ => {}
            }
        }
        names
    }

    fn field(&self, f: &FieldRef) -> Option<Value<'_>> {
        if let Some(v) = self.lookup(f) {
            return Some(v);
        }
        let d = &self.derived;
        let id = Some(f.id);
        if id == d.evt_type {
            Some(Value::Str(Cow::Borrowed(&self.type_name)))
        } else if id == d.evt_num {
            Some(Value::UInt(self.num))
        } else if id == d.evt_source {
            Some(Value::Str(Cow::Borrowed(&self.source)))
        } else if id == d.evt_rawtime {
            Some(Value::UInt(self.ts))
        } else if id == d.evt_time {
            Some(Value::Str(Cow::Owned(lanner_event::format_time_of_day(self.ts))))
        } else if id == d.evt_dir {
            Some(Value::Str(Cow::Borrowed("<")))
        } else {
            None
        }
    }
}

/// The syscall event type id of a name, for non-syscall sources the generic plugin event.
pub(crate) fn type_id(source: &str, name: &str) -> Option<EventTypeId> {
    if source == lanner_event::SYSCALL_SOURCE { evttype::id_of(name) } else { evttype::id_of("pluginevent") }
}
