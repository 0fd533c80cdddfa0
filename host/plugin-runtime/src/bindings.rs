//! Host bindings of the `lanner:plugin@0.1.0` WIT package, one module per world, of the
//! packed extraction of 0.2.0, of the live sources of 0.3.0, of the unix sockets of 0.4.0, of
//! the field hints of 0.5.0 and of the typed sink world of 0.6.0. The shared
//! `types` and `host` interfaces are generated once (by the extractor world) and reused.

pub mod extractor {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "extractor",
    });
}

pub mod source {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "source",
        with: {
            "lanner:plugin/types": crate::bindings::extractor::lanner::plugin::types,
            "lanner:plugin/host": crate::bindings::extractor::lanner::plugin::host,
        },
    });
}

pub mod sink {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "sink",
        with: {
            "lanner:plugin/types": crate::bindings::extractor::lanner::plugin::types,
            "lanner:plugin/host": crate::bindings::extractor::lanner::plugin::host,
        },
    });
}

pub use extractor::lanner::plugin::types;

/// Host bindings of `lanner:plugin@0.2.0` (`wit/v0.2.0`): the 0.1.0 interfaces it reuses map to
/// the modules above; only its new `packed-extractor` interface is used from here.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: ["../../wit", "../../wit/v0.2.0"],
        world: "lanner:plugin/extractor@0.2.0",
        with: {
            "lanner:plugin/types@0.1.0": crate::bindings::extractor::lanner::plugin::types,
            "lanner:plugin/host@0.1.0": crate::bindings::extractor::lanner::plugin::host,
        },
    });
}

pub use v0_2::exports::lanner::plugin0_2_0::packed_extractor;

/// Host bindings of `lanner:plugin@0.3.0` (`wit/v0.3.0`): only its new `live-source` interface
/// is used from here.
pub mod v0_3 {
    wasmtime::component::bindgen!({
        path: ["../../wit", "../../wit/v0.2.0", "../../wit/v0.3.0"],
        world: "lanner:plugin/source@0.3.0",
        with: {
            "lanner:plugin/types@0.1.0": crate::bindings::extractor::lanner::plugin::types,
            "lanner:plugin/host@0.1.0": crate::bindings::extractor::lanner::plugin::host,
        },
    });
}

pub use v0_3::exports::lanner::plugin0_3_0::live_source;

/// Host bindings of `lanner:plugin@0.4.0` (`wit/v0.4.0`): only its new `unix-socket` import
/// is used from here (served by `crate::unix`).
pub mod v0_4 {
    wasmtime::component::bindgen!({
        path: ["../../wit", "../../wit/v0.2.0", "../../wit/v0.3.0", "../../wit/v0.4.0"],
        world: "lanner:plugin/extractor@0.4.0",
        with: {
            "lanner:plugin/types@0.1.0": crate::bindings::extractor::lanner::plugin::types,
            "lanner:plugin/host@0.1.0": crate::bindings::extractor::lanner::plugin::host,
            "lanner:plugin/unix-socket.connection": crate::unix::Connection,
        },
    });
}

/// Host bindings of `lanner:plugin@0.5.0` (`wit/v0.5.0`): only its new `field-hints` export
/// is used from here.
pub mod v0_5 {
    wasmtime::component::bindgen!({
        path: ["../../wit", "../../wit/v0.2.0", "../../wit/v0.3.0", "../../wit/v0.4.0", "../../wit/v0.5.0"],
        world: "lanner:plugin/extractor@0.5.0",
        with: {
            "lanner:plugin/types@0.1.0": crate::bindings::extractor::lanner::plugin::types,
            "lanner:plugin/host@0.1.0": crate::bindings::extractor::lanner::plugin::host,
            "lanner:plugin/unix-socket@0.4.0": crate::bindings::v0_4::lanner::plugin0_4_0::unix_socket,
        },
    });
}

pub use v0_5::exports::lanner::plugin0_5_0::field_hints;

/// Host bindings of `lanner:plugin@0.6.0` (`wit/v0.6.0`): its sink world, whose alerts carry
/// typed field values. It exports no 0.1.0 `alert-sink`, so it is a world of its own here
/// rather than an extra export looked up beside [`sink`].
pub mod v0_6 {
    wasmtime::component::bindgen!({
        path: [
            "../../wit",
            "../../wit/v0.2.0",
            "../../wit/v0.3.0",
            "../../wit/v0.4.0",
            "../../wit/v0.5.0",
            "../../wit/v0.6.0",
        ],
        world: "lanner:plugin/sink@0.6.0",
        with: {
            "lanner:plugin/types@0.1.0": crate::bindings::extractor::lanner::plugin::types,
            "lanner:plugin/host@0.1.0": crate::bindings::extractor::lanner::plugin::host,
            "lanner:plugin/unix-socket@0.4.0": crate::bindings::v0_4::lanner::plugin0_4_0::unix_socket,
        },
    });
}

pub use v0_6::exports::lanner::plugin0_6_0::typed_alert_sink;
