//! A call's CPU deadline, kept also while the plugin blocks in WASI.
//!
//! Epoch interruption stops a plugin that computes too long, but only while it runs its own
//! code: a plugin that sleeps (`std::thread::sleep`) or waits on a pollable is inside the
//! host's `wasi:io/poll`, where no epoch is checked, and would hold the caller (the event
//! loop) for as long as it likes. So `poll` and `pollable.block` are served here instead of
//! by wasmtime-wasi's own synchronous binding: the same wait, bounded by what remains of the
//! call's `call_timeout_ms`; past it the call traps with a message that says so, and the
//! instance is dropped and restarted as after any timeout.

use crate::runtime::State;
use std::time::Instant;
use wasmtime::Result;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::sync::io::poll;
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;

/// What a blocking wait sees: the instance's resources and its call's deadline.
pub(crate) struct Bounded<'a> {
    table: &'a mut ResourceTable,
    deadline: Option<Instant>,
}

/// Why a wait was cut: the error the call fails with.
#[derive(Debug, thiserror::Error)]
#[error("call_timeout_ms reached while blocked in a WASI wait (sleep or poll)")]
pub(crate) struct BlockedPastDeadline;

/// Waits for `fut`, at most until `deadline`.
fn bounded<F: std::future::Future>(deadline: Option<Instant>, fut: F) -> Result<F::Output> {
    match deadline {
        None => Ok(wasmtime_wasi::runtime::in_tokio(fut)),
        Some(at) => {
            let left = at.saturating_duration_since(Instant::now());
            wasmtime_wasi::runtime::in_tokio(async { tokio::time::timeout(left, fut).await })
                .map_err(|_| wasmtime::Error::new(BlockedPastDeadline))
        }
    }
}

impl poll::Host for Bounded<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> Result<Vec<u32>> {
        bounded(self.deadline, async_poll::Host::poll(self.table, pollables))?
    }
}

impl poll::HostPollable for Bounded<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> Result<bool> {
        bounded(self.deadline, async_poll::HostPollable::ready(self.table, pollable))?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> Result<()> {
        bounded(self.deadline, async_poll::HostPollable::block(self.table, pollable))?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}

struct BoundedIo;

impl HasData for BoundedIo {
    type Data<'a> = Bounded<'a>;
}

/// Serves `wasi:io/poll` with the deadline, in place of wasmtime-wasi's binding (added before).
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    linker.allow_shadowing(true);
    let r = poll::add_to_linker::<State, BoundedIo>(linker, |s: &mut State| Bounded {
        deadline: s.deadline,
        table: &mut s.table,
    });
    linker.allow_shadowing(false);
    r
}
