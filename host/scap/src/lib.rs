//! The `.scap` capture format of falcosecurity/libs, as written by Falco, sysdig and
//! Stratoshark: a pcapng-shaped sequence of blocks (section header, machine info, process,
//! fd, interface and user lists, then events), and the event table that says what each
//! event's parameters are.
//!
//! This crate knows the format only; mapping events onto Lanner's own is the host's job.

pub mod block;
pub mod error;
pub mod event;
pub mod reader;
pub mod table;
mod table_data;
pub mod tables;
pub mod write;

pub use error::{ErrorKind, ScapError};
pub use event::{Event, Param, SockAddr, SockTuple};
pub use reader::{ScapReader, Tables, is_scap_file};
pub use table::{Direction, EventInfo, ParamInfo, ParamType, PrintFormat};
pub use tables::{FdInfo, FdTarget, GroupInfo, MachineInfo, ThreadInfo, UserInfo};
