//! What one plugin instance may take of the host's memory.
//!
//! wasmtime's own `StoreLimits` bounds each linear memory alone: a component that declares
//! many memories (multi-memory, or many core instances) would get `memory_mb` for each. The
//! [`Limiter`] here counts every linear memory and table of the instance together against
//! `limits.memory_mb`, and caps how many memories, tables and core instances it may create.
//! Data the plugin hands the host (returned lists and strings, arguments of host calls) is
//! bounded apart, by wasmtime's hostcall fuel (see `Plugin::instantiate`).

use crate::config::Limits;
use wasmtime::{Error, ResourceLimiter, Result};

/// What a table element costs the host: wasmtime keeps one pointer per element.
const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

/// Why a memory or table could not grow: the call (or the instantiation) fails with it.
#[derive(Debug, thiserror::Error)]
#[error(
    "memory limit exceeded: {what} would bring the plugin's linear memories and tables to \
     {wanted} bytes, more than limits.memory_mb ({limit_mb} MiB)"
)]
pub(crate) struct MemoryLimitExceeded {
    what: &'static str,
    wanted: u64,
    limit_mb: u64,
}

/// Counts one store's linear memories and tables against the plugin's limits.
pub(crate) struct Limiter {
    limit: u64,
    limit_mb: u64,
    /// Bytes of every linear memory and table of the store.
    used: u64,
    /// The growth granted last, taken back when wasmtime then fails to grow.
    granted: u64,
    memories: usize,
    tables: usize,
    instances: usize,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Limiter {
            limit: limits.memory_mb.saturating_mul(1 << 20),
            limit_mb: limits.memory_mb,
            used: 0,
            granted: 0,
            memories: limits.memories,
            tables: limits.tables,
            instances: limits.instances,
        }
    }

    /// Bytes of linear memory and tables the instance holds now.
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    fn grow(&mut self, what: &'static str, bytes: u64) -> Result<bool> {
        let wanted = self.used.saturating_add(bytes);
        if wanted > self.limit {
            // Said by the failing call or instantiation, which names the plugin.
            return Err(Error::new(MemoryLimitExceeded { what, wanted, limit_mb: self.limit_mb }));
        }
        self.used = wanted;
        self.granted = bytes;
        Ok(true)
    }

    fn failed(&mut self, error: Error) -> Result<()> {
        self.used = self.used.saturating_sub(std::mem::take(&mut self.granted));
        Err(error)
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        self.grow("growing a linear memory", desired.saturating_sub(current) as u64)
    }

    fn memory_grow_failed(&mut self, error: Error) -> Result<()> {
        self.failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        let elements = desired.saturating_sub(current);
        self.grow("growing a table", elements.saturating_mul(TABLE_ELEMENT_BYTES) as u64)
    }

    fn table_grow_failed(&mut self, error: Error) -> Result<()> {
        self.failed(error)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}
