//! Host bindings of the `lanner:plugin@0.1.0` WIT package, one module per world. The shared
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
