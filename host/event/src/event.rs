use crate::{EventTypeId, FieldId, Value};
use std::borrow::Cow;

/// The argument of a field reference: `proc.aname[2]` has `Index(2)`, `proc.env[HOME]` and
/// `evt.arg.flags` have `Key("HOME")` / `Key("flags")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldArg {
    /// No argument.
    None,
    /// A numeric argument.
    Index(u32),
    /// A textual argument.
    Key(Box<str>),
}

/// A field as a compiled rule asks for it: resolved once at load time, so that events answer
/// by id and never parse names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    /// The field's id in the registry.
    pub id: FieldId,
    /// Its argument.
    pub arg: FieldArg,
}

/// Anything the engine can evaluate rules against.
///
/// Capture's events answer from their own arguments and the process table; replayed events
/// from their recorded values; plugin events through their extractors.
pub trait Event {
    /// The event source this event belongs to (`syscall` for kernel events).
    fn source(&self) -> &str;
    /// The event type, for syscall events (it selects which rules can match).
    fn event_type(&self) -> EventTypeId;
    /// Event time, nanoseconds since the Unix epoch.
    fn timestamp_ns(&self) -> u64;
    /// The value of one field, or `None` when the event has none.
    fn field(&self, field: &FieldRef) -> Option<Value<'_>>;

    /// The names of the event's parameters, in order; `evt.arg.NAME` answers each. For
    /// consumers that take a whole event rather than fields (extractor plugins on syscall
    /// events). Events without parameters keep the default, none.
    fn param_names(&self) -> Vec<Cow<'_, str>> {
        Vec::new()
    }

    /// The value of one field, with text handed out as a plain `&str`. String comparisons
    /// are most of what rules do; events that hold text can answer here without building
    /// a [`Value`]. The default goes through [`Event::field`].
    fn field_text(&self, field: &FieldRef) -> FieldText<'_> {
        match self.field(field) {
            None => FieldText::Missing,
            Some(Value::Str(Cow::Borrowed(s))) => FieldText::Str(s),
            Some(v) => FieldText::Value(v),
        }
    }
}

/// A field's value as [`Event::field_text`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldText<'a> {
    /// The event has no value for the field.
    Missing,
    /// Text held by the event.
    Str(&'a str),
    /// Any other value (numbers, lists, computed text).
    Value(Value<'a>),
}
