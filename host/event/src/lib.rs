//! Lanner's boundary types, shared by every part of the pipeline.
//!
//! This crate owns what crosses a seam: an [`Event`] (anything that can answer field requests),
//! a field [`Value`], the [`FieldRegistry`] that names every field a rule may use, the syscall
//! event-type table, [`Priority`] and [`Alert`]. It must not know about eBPF, WASM, tokio or the
//! rule language, so that capture, plugins, the engine and outputs can depend on it and on
//! nothing of each other.
#![deny(missing_docs)]

mod alert;
mod event;
pub mod evttype;
mod fields;
mod priority;
mod sink;
pub mod syscall_fields;
mod timefmt;
mod value;

pub use alert::{Alert, OutputField};
pub use event::{Event, FieldArg, FieldRef, FieldText};
pub use evttype::EventTypeId;
pub use fields::{ArgKind, ArgSpec, FieldDef, FieldId, FieldRegistry, FieldType, RegistryError};
pub use priority::{ParsePriorityError, Priority};
pub use sink::{AlertSink, SinkError};
pub use timefmt::{format_rfc3339, format_time_of_day, parse_rfc3339};
pub use value::Value;

/// The event source name of kernel syscall events, the default `source` of a rule.
pub const SYSCALL_SOURCE: &str = "syscall";

/// Falco plugins whose fields Lanner declares built in, with the plugin version whose fields
/// they match. The claim holds only while the plugin itself is loaded (`plugins/container`
/// for `container`): the binary checks rules files' `required_plugin_versions` against the
/// loaded plugins and leaves these out otherwise, so that a rules file requiring `container`
/// gets Falco's error without it. The engine alone (`EngineConfig::syscall`, its tests and
/// benchmarks) keeps them.
pub const BUILTIN_PLUGIN_EQUIVALENTS: &[(&str, &str)] = &[("container", "0.4.0")];
