//! A call's deadline, kept also while the plugin blocks in WASI.
//!
//! Epoch interruption stops a plugin that computes too long, but only while it runs its own
//! code: a plugin that sleeps (`std::thread::sleep`), waits on a pollable, or reads a socket
//! that never answers is inside a host function, where no epoch is checked, and would hold
//! the caller (the event loop) for as long as it likes. So `wasi:io/poll` (`poll`,
//! `pollable.block`) and the blocking calls of `wasi:io/streams` (`blocking-read`,
//! `blocking-skip`, `blocking-write-and-flush`, `blocking-write-zeroes-and-flush`,
//! `blocking-flush`, `blocking-splice`: sockets, HTTP bodies, file streams, stdio) are served
//! here instead of by wasmtime-wasi's own synchronous bindings: the same wait, bounded by what
//! remains of the call's `call_timeout_ms`; past it the call traps with a message that says
//! so, and the instance is dropped and restarted as after any timeout.
//!
//! Not covered: `wasi:filesystem` calls that block in the kernel (opening or reading a FIFO
//! in a granted directory). Granted directories are the operator's; see `docs/limits.md`.

use crate::runtime::State;
use std::time::Instant;
use wasmtime::Result;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::io::poll;
use wasmtime_wasi::p2::bindings::sync::io::streams::{self, InputStream, OutputStream};
use wasmtime_wasi::p2::{DynPollable, StreamError, StreamResult};
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    HostInputStream as AsyncIn, HostOutputStream as AsyncOut,
};

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

/// Waits for a stream operation, at most until `deadline`: past it the call traps.
fn bounded_stream<T, F>(deadline: Option<Instant>, fut: F) -> StreamResult<T>
where
    F: std::future::Future<Output = StreamResult<T>>,
{
    bounded(deadline, fut).unwrap_or_else(|e| Err(StreamError::Trap(e)))
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

impl streams::Host for Bounded<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.table, err)
    }
}

impl streams::HostInputStream for Bounded<'_> {
    fn drop(&mut self, stream: Resource<InputStream>) -> Result<()> {
        streams::HostInputStream::drop(self.table, stream)
    }

    fn read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(self.table, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        bounded_stream(self.deadline, AsyncIn::blocking_read(self.table, stream, len))
    }

    fn skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        bounded_stream(self.deadline, AsyncIn::blocking_skip(self.table, stream, len))
    }

    fn subscribe(&mut self, stream: Resource<InputStream>) -> Result<Resource<DynPollable>> {
        streams::HostInputStream::subscribe(self.table, stream)
    }
}

impl streams::HostOutputStream for Bounded<'_> {
    fn drop(&mut self, stream: Resource<OutputStream>) -> Result<()> {
        streams::HostOutputStream::drop(self.table, stream)
    }

    fn check_write(&mut self, stream: Resource<OutputStream>) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(self.table, stream)
    }

    fn write(&mut self, stream: Resource<OutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        streams::HostOutputStream::write(self.table, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        bounded_stream(self.deadline, AsyncOut::blocking_write_and_flush(self.table, stream, bytes))
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        bounded_stream(self.deadline, AsyncOut::blocking_write_zeroes_and_flush(self.table, stream, len))
    }

    fn subscribe(&mut self, stream: Resource<OutputStream>) -> Result<Resource<DynPollable>> {
        streams::HostOutputStream::subscribe(self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(self.table, stream, len)
    }

    fn flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        streams::HostOutputStream::flush(self.table, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        bounded_stream(
            self.deadline,
            AsyncOut::blocking_flush(self.table, Resource::new_borrow(stream.rep())),
        )
    }

    fn splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        streams::HostOutputStream::splice(self.table, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        bounded_stream(self.deadline, AsyncOut::blocking_splice(self.table, dst, src, len))
    }
}

struct BoundedIo;

impl HasData for BoundedIo {
    type Data<'a> = Bounded<'a>;
}

/// What a blocking call of the store sees.
fn bounded_of(s: &mut State) -> Bounded<'_> {
    Bounded { deadline: s.deadline, table: &mut s.table }
}

/// Serves `wasi:io/poll` and `wasi:io/streams` with the deadline, in place of wasmtime-wasi's
/// bindings (added before).
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    linker.allow_shadowing(true);
    let r = poll::add_to_linker::<State, BoundedIo>(linker, bounded_of)
        .and_then(|()| streams::add_to_linker::<State, BoundedIo>(linker, bounded_of));
    linker.allow_shadowing(false);
    r
}
