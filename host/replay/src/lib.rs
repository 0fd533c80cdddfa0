//! Lanner's event file: one JSON object per line, each an event with its type, time and the
//! values of its fields. `lanner replay` reads it to drive the engine without a kernel, and
//! live capture writes it (`lanner capture -w`), so any live session can be replayed.
//!
//! ```json
//! {"ts": 1700000000123456789, "type": "openat", "fields": {"proc.name": "cat",
//!  "fd.name": "/etc/shadow", "proc.aname": ["cat", "bash", "sshd"], "evt.arg": {"flags": "O_RDONLY"}}}
//! ```
//!
//! - `ts`: nanoseconds since the epoch (or `time`: RFC 3339 text); `source`: the event source,
//!   `syscall` when absent; `type`: the event type (for syscall events, a syscall name).
//! - `fields`: values by field name, typed by the registry (numbers, booleans, IPs as text).
//!   A field with an argument is given either as `"proc.aname[2]": "bash"`, or as a list
//!   (element N is the value for index N) or an object (entry K for key K). For the ancestor
//!   fields (`proc.aname`, `proc.apid`, ...) element 0 is the process itself, and the field
//!   without an index means every ancestor from the parent up.
//! - `evt.type`, `evt.num`, `evt.source`, `evt.rawtime`, `evt.time` and `evt.dir` (`<`) are
//!   derived when not given.
#![deny(missing_docs)]

mod event;
mod read;
mod write;

pub use event::RecordedEvent;
pub use read::{ReadError, Reader, parse_line};
pub use write::to_line;
