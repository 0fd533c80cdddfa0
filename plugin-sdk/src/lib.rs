//! Write Lanner plugins in Rust.
//!
//! A plugin is a `wasm32-wasip2` crate that depends on this one, implements [`Plugin`] and one
//! of [`Extractor`], [`Source`] (a source also extracts fields over its own events) or
//! [`Sink`], and exports its type with [`export_extractor!`], [`export_source!`] or
//! [`export_sink!`]. `cargo build --target wasm32-wasip2 --release` then produces the component
//! Lanner loads. The generated bindings of the `lanner:plugin@0.3.0` WIT package (the 0.1.0
//! interfaces, packed extraction from 0.2.0 for extractors and sources, and live streams from
//! 0.3.0 for sources) stay private: authors see the plain types of this crate only. Sinks are
//! built on the sink world of `lanner:plugin@0.6.0`, whose alerts carry typed field values
//! ([`Alert::typed_fields`]).
//!
//! The crate carries the WIT it is generated from (`wit/`, a link to the repository's `wit/`
//! that `cargo package` follows), so it builds from a git or path dependency anywhere. A panic
//! in the plugin reaches the host's log at error level, with its message and location, before
//! the trap ends the call (the host counts it as a failure).
//!
//! ```ignore
//! use lanner_plugin_sdk::{Event, Extractor, Field, FieldType, Info, Plugin, Request, Value};
//!
//! struct Upper;
//!
//! impl Plugin for Upper {
//!     fn info() -> Info {
//!         Info::new("upper", "0.1.0", "The payload in upper case")
//!     }
//!     fn init(_config: &str) -> Result<Self, String> {
//!         Ok(Upper)
//!     }
//! }
//!
//! impl Extractor for Upper {
//!     fn fields() -> Vec<Field> {
//!         vec![Field::new("upper.data", FieldType::String, "The payload, upper-cased")]
//!     }
//!     fn extract(&mut self, event: &Event, requests: &[Request], out: &mut Vec<Option<Value>>) -> Result<(), String> {
//!         for _ in requests {
//!             out.push(Some(Value::Str(String::from_utf8_lossy(&event.data).to_uppercase())));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! lanner_plugin_sdk::export_extractor!(Upper);
//! ```
#![deny(missing_docs)]

mod alert;
pub mod errors;
pub mod format;
pub mod http;
pub mod syscall;
#[cfg(feature = "unix")]
pub mod unix;

/// The version of the WIT interface this SDK implements: 0.5.0 with the `unix` feature (its
/// worlds import unix sockets and export field hints, which only hosts of 0.5.0 or later
/// serve), 0.3.0 without; 0.6.0 for sinks (typed alert values).
#[cfg(not(any(feature = "unix", feature = "sink")))]
pub const API_VERSION: &str = "0.3.0";
/// The version of the WIT interface this SDK implements: 0.5.0 with the `unix` feature (its
/// worlds import unix sockets and export field hints, which only hosts of 0.5.0 or later
/// serve), 0.3.0 without; 0.6.0 for sinks (typed alert values).
#[cfg(all(feature = "unix", not(feature = "sink")))]
pub const API_VERSION: &str = "0.5.0";
/// The version of the WIT interface this SDK implements: 0.5.0 with the `unix` feature (its
/// worlds import unix sockets and export field hints, which only hosts of 0.5.0 or later
/// serve), 0.3.0 without; 0.6.0 for sinks (typed alert values).
#[cfg(feature = "sink")]
pub const API_VERSION: &str = "0.6.0";

/// JSON, for configurations and payloads.
pub use serde_json as json;

#[cfg(any(
    all(feature = "extractor", feature = "source"),
    all(feature = "extractor", feature = "sink"),
    all(feature = "source", feature = "sink"),
    not(any(feature = "extractor", feature = "source", feature = "sink"))
))]
compile_error!("enable exactly one of the features `extractor`, `source`, `sink`: a component is one world");

/// The generated bindings of the selected world (private to the SDK and its macros).
/// `lanner::plugin0_1_0` holds the 0.1.0 interfaces the later worlds reuse,
/// `lanner::plugin0_2_0` the packed extraction, `lanner::plugin0_3_0` the live streams and,
/// with the `unix` feature, `lanner::plugin0_4_0` the unix socket import and
/// `lanner::plugin0_5_0` the field hints.
#[doc(hidden)]
pub mod bindings {
    #[cfg(all(feature = "extractor", not(feature = "unix")))]
    wit_bindgen::generate!({
        path: ["wit", "wit/v0.2.0", "wit/v0.3.0"],
        world: "lanner:plugin/extractor@0.3.0",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "lanner_plugin_sdk::bindings",
    });
    #[cfg(all(feature = "extractor", feature = "unix"))]
    wit_bindgen::generate!({
        path: ["wit", "wit/v0.2.0", "wit/v0.3.0", "wit/v0.4.0", "wit/v0.5.0"],
        world: "lanner:plugin/extractor@0.5.0",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "lanner_plugin_sdk::bindings",
    });
    #[cfg(all(feature = "source", not(feature = "unix")))]
    wit_bindgen::generate!({
        path: ["wit", "wit/v0.2.0", "wit/v0.3.0"],
        world: "lanner:plugin/source@0.3.0",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "lanner_plugin_sdk::bindings",
    });
    #[cfg(all(feature = "source", feature = "unix"))]
    wit_bindgen::generate!({
        path: ["wit", "wit/v0.2.0", "wit/v0.3.0", "wit/v0.4.0", "wit/v0.5.0"],
        world: "lanner:plugin/source@0.5.0",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "lanner_plugin_sdk::bindings",
    });
    // Sinks, with or without `unix`: the 0.6.0 world (typed alert values), which imports
    // unix sockets.
    #[cfg(feature = "sink")]
    wit_bindgen::generate!({
        path: ["wit", "wit/v0.2.0", "wit/v0.3.0", "wit/v0.4.0", "wit/v0.5.0", "wit/v0.6.0"],
        world: "lanner:plugin/sink@0.6.0",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "lanner_plugin_sdk::bindings",
    });
}

use bindings::lanner::plugin0_1_0::{host as wit_host, types as wit};

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text.
    String,
    /// A signed 64-bit integer.
    Int64,
    /// An unsigned 64-bit integer.
    UInt64,
    /// A boolean.
    Bool,
    /// A list of text values.
    StringList,
    /// Raw bytes.
    Bytes,
}

/// The argument a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// None.
    None,
    /// A required number in brackets: `x.item[2]`.
    Index,
    /// A required name in brackets: `x.header[Host]`.
    Key,
    /// An optional name in brackets: `json.value` or `json.value[/a/b]`.
    OptionalKey,
}

/// A field a plugin declares.
#[derive(Debug, Clone)]
pub struct Field {
    /// Dotted name, such as `json.value`.
    pub name: String,
    /// Its type.
    pub ftype: FieldType,
    /// Its argument.
    pub arg: Arg,
    /// What it means.
    pub description: String,
}

impl Field {
    /// A field without argument.
    pub fn new(name: &str, ftype: FieldType, description: &str) -> Self {
        Field { name: name.into(), ftype, arg: Arg::None, description: description.into() }
    }

    /// The same field, taking an argument.
    pub fn with_arg(mut self, arg: Arg) -> Self {
        self.arg = arg;
        self
    }
}

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A boolean.
    Bool(bool),
    /// A list of text values.
    StrList(Vec<String>),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

/// An event: its source, time and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The source it came from.
    pub source: String,
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// The payload.
    pub data: Vec<u8>,
}

/// One field to extract: its index in [`Extractor::fields`] and its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Index into the declared fields.
    pub field: u32,
    /// The argument, as written in brackets.
    pub arg: Option<String>,
}

/// What a plugin says about itself.
#[derive(Debug, Clone)]
pub struct Info {
    /// Unique name (matched by `required_plugin_versions`).
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// One line.
    pub description: String,
    /// JSON schema of the configuration; empty accepts anything.
    pub config_schema: String,
}

impl Info {
    /// Info without configuration schema.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Info {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            config_schema: String::new(),
        }
    }

    /// The same, with a JSON schema for the configuration.
    pub fn with_schema(mut self, schema: &str) -> Self {
        self.config_schema = schema.into();
        self
    }
}

pub use alert::{Alert, FieldValue};

/// Log levels of [`log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// Writes to the host's log, tagged with the plugin's name.
pub fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => wit::LogLevel::Trace,
        Level::Debug => wit::LogLevel::Debug,
        Level::Info => wit::LogLevel::Info,
        Level::Warn => wit::LogLevel::Warn,
        Level::Error => wit::LogLevel::Error,
    };
    wit_host::log(level, message);
}

/// Every plugin: who it is, and how it starts from its configuration.
pub trait Plugin: Sized + 'static {
    /// Who the plugin is.
    fn info() -> Info;
    /// Builds the plugin from its JSON configuration (already validated by the host against
    /// [`Info::config_schema`]). An error is reported with the plugin's name.
    fn init(config: &str) -> Result<Self, String>;
}

/// A plugin that provides fields.
pub trait Extractor: Plugin {
    /// The fields it provides; requests refer to them by index.
    fn fields() -> Vec<Field> {
        Vec::new()
    }
    /// The event sources it can read. Empty (the default) means every source, `syscall`
    /// included, as in Falco: syscall events then reach [`Extractor::extract`] too, with the
    /// JSON payload of [`syscall`]. Name the sources to be called for those only.
    fn event_sources() -> Vec<String> {
        Vec::new()
    }
    /// Names of its fields that belong in every alert of those sources (Falco's suggested
    /// output): the host appends `name_with_underscores=%name` to each rule's output. Reaches
    /// the host only when built with the `unix` feature (interface 0.5.0).
    fn suggested_output() -> Vec<String> {
        Vec::new()
    }
    /// Pushes one value (or `None`) per request, in order, for one event. Called once per
    /// event of a batch, so a plugin parses each payload once.
    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        let _ = event;
        out.extend(requests.iter().map(|_| None));
        Ok(())
    }
}

/// What a stream has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// Up to the `max` asked for. An empty list is taken as [`Batch::Idle`].
    Events(Vec<Event>),
    /// None yet, and more may come (a followed file at its end, an empty queue): the host asks
    /// again a little later, and the stream stays open.
    Idle,
    /// The stream has ended: the host does not ask again.
    Ended,
}

/// An open stream of a source's events.
pub trait EventStream: 'static {
    /// What the stream has now, up to `max` events. Return rather than wait: a call has a
    /// CPU time limit, and the host asks again soon after [`Batch::Idle`].
    ///
    /// Hosts of the 0.1.0 interface only know "events" and "ended": to them, idle ends the
    /// stream.
    fn next(&mut self, max: u32) -> Result<Batch, String>;
}

/// A plugin that produces events (and extracts fields over them, through [`Extractor`]).
pub trait Source: Extractor {
    /// Its open streams.
    type Stream: EventStream;
    /// The source name rules use (`source: NAME`).
    fn source_name() -> String;
    /// Opens a stream; `params` is source-specific.
    fn open(&mut self, params: &str) -> Result<Self::Stream, String>;
}

/// A plugin that delivers alerts.
pub trait Sink: Plugin {
    /// Delivers a batch of alerts.
    fn deliver(&mut self, alerts: Vec<Alert>) -> Result<(), String>;
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    use std::cell::RefCell;

    pub use crate::bindings;

    /// The plugin's single instance (the component runs on one thread).
    pub struct Slot<T>(pub RefCell<Option<T>>);
    // SAFETY: a wasm32-wasip2 component runs on one thread; the slot is touched only by the
    // export functions, one call at a time, so the RefCell is never shared across threads.
    unsafe impl<T> Sync for Slot<T> {}

    impl<T> Default for Slot<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T> Slot<T> {
        pub const fn new() -> Self {
            Slot(RefCell::new(None))
        }

        pub fn with<R>(&self, f: impl FnOnce(&mut T) -> Result<R, String>) -> Result<R, String> {
            match self.0.borrow_mut().as_mut() {
                Some(p) => f(p),
                None => Err("the plugin is not initialized (init was not called or failed)".into()),
            }
        }
    }

    /// Sends a panic's message and location to the host's log at error level before the
    /// trap: the host only sees "wasm trap: unreachable", and a panic's own message written
    /// to stderr goes nowhere, so without it the author learns nothing of what failed. Set
    /// at the first call into the plugin (the host calls `info` or `init` first on every
    /// instance); the hook set before it (the default one, printing to stderr) still runs.
    pub fn install_panic_hook() {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |panic| {
                let message = panic.payload_as_str().unwrap_or("(a panic payload that is not text)");
                let line = match panic.location() {
                    Some(at) => format!("panicked at {}:{}:{}: {message}", at.file(), at.line(), at.column()),
                    None => format!("panicked: {message}"),
                };
                wit_host::log(wit::LogLevel::Error, &line);
                previous(panic);
            }));
        });
    }

    pub fn info<T: Plugin>() -> wit::PluginInfo {
        install_panic_hook();
        let i = T::info();
        wit::PluginInfo {
            name: i.name,
            version: i.version,
            api_version: API_VERSION.into(),
            description: i.description,
            config_schema: i.config_schema,
        }
    }

    pub fn init<T: Plugin>(slot: &Slot<T>, config: String) -> Result<(), String> {
        install_panic_hook();
        let p = T::init(&config)?;
        *slot.0.borrow_mut() = Some(p);
        Ok(())
    }

    pub fn fields<T: Extractor>() -> Vec<wit::FieldDecl> {
        T::fields()
            .into_iter()
            .map(|f| wit::FieldDecl {
                name: f.name,
                type_: match f.ftype {
                    FieldType::String => wit::FieldType::String,
                    FieldType::Int64 => wit::FieldType::Int64,
                    FieldType::UInt64 => wit::FieldType::Uint64,
                    FieldType::Bool => wit::FieldType::Bool,
                    FieldType::StringList => wit::FieldType::StringList,
                    FieldType::Bytes => wit::FieldType::Bytes,
                },
                arg: match f.arg {
                    Arg::None => wit::ArgKind::None,
                    Arg::Index => wit::ArgKind::Index,
                    Arg::Key => wit::ArgKind::Key,
                    Arg::OptionalKey => wit::ArgKind::OptionalKey,
                },
                description: f.description,
            })
            .collect()
    }

    pub fn event_in(e: wit::Event) -> Event {
        Event { source: e.source, timestamp_ns: e.timestamp_ns, data: e.data }
    }

    pub fn event_out(e: Event) -> wit::Event {
        wit::Event { source: e.source, timestamp_ns: e.timestamp_ns, data: e.data }
    }

    /// A batch's events for the interface (none for idle); `None` when the stream ended.
    pub fn events_out(batch: Batch) -> Option<Vec<wit::Event>> {
        match batch {
            Batch::Events(events) => Some(events.into_iter().map(event_out).collect()),
            Batch::Idle => Some(Vec::new()),
            Batch::Ended => None,
        }
    }

    fn value_out(v: Value) -> wit::Value {
        match v {
            Value::Str(s) => wit::Value::Str(s),
            Value::Int(i) => wit::Value::Int(i),
            Value::UInt(u) => wit::Value::Uint(u),
            Value::Bool(b) => wit::Value::Boolean(b),
            Value::StrList(l) => wit::Value::StrList(l),
            Value::Bytes(b) => wit::Value::Bytes(b),
        }
    }

    pub fn extract<T: Extractor>(
        slot: &Slot<T>,
        events: Vec<wit::Event>,
        requests: Vec<wit::FieldRequest>,
    ) -> Result<Vec<Option<wit::Value>>, String> {
        let requests: Vec<Request> =
            requests.into_iter().map(|r| Request { field: r.field, arg: r.arg }).collect();
        slot.with(|p| {
            let mut out = Vec::with_capacity(events.len() * requests.len());
            let mut row = Vec::with_capacity(requests.len());
            for e in events {
                row.clear();
                p.extract(&event_in(e), &requests, &mut row)?;
                if row.len() != requests.len() {
                    return Err(format!(
                        "extract returned {} values for {} requests",
                        row.len(),
                        requests.len()
                    ));
                }
                out.extend(row.drain(..).map(|v| v.map(value_out)));
            }
            Ok(out)
        })
    }

    #[cfg(not(feature = "sink"))]
    pub use packed::extract_packed;

    #[cfg(not(feature = "sink"))]
    mod packed {
        use super::*;
        use crate::bindings::exports::lanner::plugin0_2_0::packed_extractor::{PackedEvents, PackedValues};

        fn push_text(out: &mut PackedValues, b: &[u8]) {
            out.text.extend_from_slice(b);
            out.ends.push(out.text.len() as u32);
        }

        fn push(out: &mut PackedValues, v: Option<Value>) {
            let kind = match v {
                None => 0,
                Some(Value::Str(s)) => {
                    push_text(out, s.as_bytes());
                    1
                }
                Some(Value::Int(i)) => {
                    out.numbers.push(i as u64);
                    2
                }
                Some(Value::UInt(u)) => {
                    out.numbers.push(u);
                    3
                }
                Some(Value::Bool(b)) => {
                    out.numbers.push(b as u64);
                    4
                }
                Some(Value::StrList(l)) => {
                    out.numbers.push(l.len() as u64);
                    for s in &l {
                        push_text(out, s.as_bytes());
                    }
                    5
                }
                Some(Value::Bytes(b)) => {
                    push_text(out, &b);
                    6
                }
            };
            out.kinds.push(kind);
        }

        /// `extract` over a packed batch: one [`Event`] reused for every event (its buffers
        /// cleared and refilled), the values appended to the packed lists.
        pub fn extract_packed<T: Extractor>(
            slot: &Slot<T>,
            batch: PackedEvents,
            requests: Vec<wit::FieldRequest>,
        ) -> Result<PackedValues, String> {
            let requests: Vec<Request> =
                requests.into_iter().map(|r| Request { field: r.field, arg: r.arg }).collect();
            let n = batch.timestamps.len();
            if batch.source_index.len() != n || batch.data_ends.len() != n {
                return Err("malformed packed batch: per-event lists of different lengths".into());
            }
            slot.with(|p| {
                // Every list sized for a batch of one value each per request (most fields are
                // a number or a string), so that they rarely grow and copy inside the call.
                let values = n * requests.len();
                let mut out = PackedValues {
                    kinds: Vec::with_capacity(values),
                    numbers: Vec::with_capacity(values),
                    text: Vec::with_capacity(values * 8),
                    ends: Vec::with_capacity(values),
                };
                let mut row = Vec::with_capacity(requests.len());
                let mut event = Event { source: String::new(), timestamp_ns: 0, data: Vec::new() };
                let mut source = usize::MAX;
                let mut start = 0;
                for i in 0..n {
                    let end = batch.data_ends[i] as usize;
                    let payload = batch
                        .data
                        .get(start..end)
                        .ok_or("malformed packed batch: payload offsets out of order or bounds")?;
                    start = end;
                    let si = batch.source_index[i] as usize;
                    if si != source {
                        let s = batch.sources.get(si).ok_or("malformed packed batch: source index")?;
                        event.source.clear();
                        event.source.push_str(s);
                        source = si;
                    }
                    event.timestamp_ns = batch.timestamps[i];
                    event.data.clear();
                    event.data.extend_from_slice(payload);
                    row.clear();
                    p.extract(&event, &requests, &mut row)?;
                    if row.len() != requests.len() {
                        return Err(format!(
                            "extract returned {} values for {} requests",
                            row.len(),
                            requests.len()
                        ));
                    }
                    for v in row.drain(..) {
                        push(&mut out, v);
                    }
                }
                Ok(out)
            })
        }
    }

    #[cfg(feature = "sink")]
    pub use crate::alert::alert_in;
}

/// What every export macro declares: the plugin slot, the exports type and the `plugin`
/// interface. Items, not locals, so the calling macro's impls can name them.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ($t:ty) => {
        use $crate::__private as __p;
        use $crate::__private::bindings::exports::lanner::plugin0_1_0 as __e;
        use $crate::__private::bindings::lanner::plugin0_1_0::types as __w;
        static SLOT: __p::Slot<$t> = __p::Slot::new();
        struct __Exports;
        impl __e::plugin::Guest for __Exports {
            fn info() -> __w::PluginInfo {
                __p::info::<$t>()
            }
            fn init(config: String) -> Result<(), String> {
                __p::init::<$t>(&SLOT, config)
            }
        }
    };
}

/// The field extraction exports (0.1.0 `field-extractor` and 0.2.0 `packed-extractor`) that
/// the extractor and source worlds share; expanded after [`__export_plugin!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __export_extraction {
    ($t:ty) => {
        impl __e::field_extractor::Guest for __Exports {
            fn fields() -> Vec<__w::FieldDecl> {
                __p::fields::<$t>()
            }
            fn event_sources() -> Vec<String> {
                <$t as $crate::Extractor>::event_sources()
            }
            fn extract(
                events: Vec<__w::Event>,
                requests: Vec<__w::FieldRequest>,
            ) -> Result<Vec<Option<__w::Value>>, String> {
                __p::extract::<$t>(&SLOT, events, requests)
            }
        }
        $crate::__export_hints!($t);
        impl $crate::__private::bindings::exports::lanner::plugin0_2_0::packed_extractor::Guest for __Exports {
            fn extract_packed(
                batch: $crate::__private::bindings::exports::lanner::plugin0_2_0::packed_extractor::PackedEvents,
                requests: Vec<__w::FieldRequest>,
            ) -> Result<$crate::__private::bindings::exports::lanner::plugin0_2_0::packed_extractor::PackedValues, String> {
                __p::extract_packed::<$t>(&SLOT, batch, requests)
            }
        }
    };
}

/// The field hints export (0.5.0, with the `unix` feature).
#[cfg(feature = "unix")]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_hints {
    ($t:ty) => {
        impl $crate::__private::bindings::exports::lanner::plugin0_5_0::field_hints::Guest for __Exports {
            fn suggested_output() -> Vec<String> {
                <$t as $crate::Extractor>::suggested_output()
            }
        }
    };
}

/// Without the `unix` feature the world (0.3.0) has no field hints.
#[cfg(not(feature = "unix"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_hints {
    ($t:ty) => {};
}

/// Exports a type implementing [`Extractor`] as the plugin's component.
#[macro_export]
macro_rules! export_extractor {
    ($t:ty) => {
        const _: () = {
            $crate::__export_plugin!($t);
            $crate::__export_extraction!($t);
            $crate::__private::bindings::__export_world!(
                __Exports with_types_in $crate::__private::bindings
            );
        };
    };
}

/// Exports a type implementing [`Source`] as the plugin's component.
#[macro_export]
macro_rules! export_source {
    ($t:ty) => {
        const _: () = {
            $crate::__export_plugin!($t);
            $crate::__export_extraction!($t);
            use $crate::__private::bindings::exports::lanner::plugin0_3_0::live_source as __live;
            // One stream type behind both interfaces' resources: 0.1.0's `event-stream`
            // (events or ended) and 0.3.0's `live-stream` (events, idle or ended).
            struct __Stream(::std::cell::RefCell<<$t as $crate::Source>::Stream>);
            struct __LiveStream(::std::cell::RefCell<<$t as $crate::Source>::Stream>);
            impl __e::event_source::GuestEventStream for __Stream {
                fn next_batch(&self, max: u32) -> Result<Vec<__w::Event>, String> {
                    let batch = $crate::EventStream::next(&mut *self.0.borrow_mut(), max)?;
                    Ok(__p::events_out(batch).unwrap_or_default())
                }
            }
            impl __e::event_source::Guest for __Exports {
                type EventStream = __Stream;
                fn source_name() -> String {
                    <$t as $crate::Source>::source_name()
                }
                fn open(params: String) -> Result<__e::event_source::EventStream, String> {
                    let s = SLOT.with(|p| <$t as $crate::Source>::open(p, &params))?;
                    Ok(__e::event_source::EventStream::new(__Stream(::std::cell::RefCell::new(s))))
                }
            }
            impl __live::GuestLiveStream for __LiveStream {
                fn next(&self, max: u32) -> Result<__live::Batch, String> {
                    let batch = $crate::EventStream::next(&mut *self.0.borrow_mut(), max)?;
                    Ok(match batch {
                        $crate::Batch::Ended => __live::Batch::Ended,
                        other => match __p::events_out(other) {
                            Some(events) if !events.is_empty() => __live::Batch::Events(events),
                            _ => __live::Batch::Idle,
                        },
                    })
                }
            }
            impl __live::Guest for __Exports {
                type LiveStream = __LiveStream;
                fn open_live(params: String) -> Result<__live::LiveStream, String> {
                    let s = SLOT.with(|p| <$t as $crate::Source>::open(p, &params))?;
                    Ok(__live::LiveStream::new(__LiveStream(::std::cell::RefCell::new(s))))
                }
            }
            $crate::__private::bindings::__export_world!(
                __Exports with_types_in $crate::__private::bindings
            );
        };
    };
}
