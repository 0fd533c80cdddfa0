//! Lanner's WASM plugin runtime.
//!
//! It owns wasmtime: the engine (Cranelift, component model, epoch interruption), the
//! bindings of the `lanner:plugin` WIT packages (0.1.0 in `wit/` at the repository root, 0.2.0
//! to 0.6.0 beside it), one
//! store per plugin instance with its memory limit and per-call CPU deadline, the capability
//! grants (WASI preopens, an outbound HTTP allow-list, named environment variables), restart
//! with exponential backoff and disabling after repeated failures, the precompiled-component
//! cache and the drop-in folder. It adapts plugins to the seams of `lanner-event`: plugin
//! fields enter a [`lanner_event::FieldRegistry`], source plugins' events are
//! [`lanner_event::Event`]s. It must not know the rule engine, capture or the binary.
#![deny(missing_docs)]

#[allow(missing_docs)]
pub mod bindings;
pub mod config;
mod deadline;
mod error;
pub mod events;
pub mod http;
mod limits;
mod plugin;
mod runtime;
pub mod set;
pub mod sink;
pub mod syscall;
pub mod tcp;
#[doc(hidden)]
pub mod testing;
mod unix;
mod wasi_errors;
pub mod watch;

pub use config::PluginConfig;
pub use error::PluginError;
pub use events::{DeferredBatch, DeferredEvent, EventBatch, FieldMap, PluginEvent, RawEvent, Snapshot};
pub use lanner_plugin_answers::Extracted;
pub use plugin::{
    API_VERSION, API_VERSIONS, Incident, Plugin, PluginField, PluginKind, PluginState, SourceBatch,
    SourceStream, Stats,
};
pub use runtime::{CompileOrigin, EPOCH_TICK, Runtime, RuntimeOptions};
pub use set::{LoadReport, PluginSet};
pub use syscall::PayloadBuilder;
pub use wasi_errors::wasi_error_name;
