//! The event table of falcosecurity/libs: for every event code its name, direction, flags and
//! parameters. The data is generated (`table_data.rs`); this module is how it is looked up.

use std::collections::HashMap;
use std::sync::OnceLock;

pub use crate::table_data::{EVENT_COUNT, EVENTS, ParamType, PrintFormat};

/// Event flags (`enum ppm_event_flags`).
pub mod flags {
    pub const CREATES_FD: u32 = 1 << 0;
    pub const DESTROYS_FD: u32 = 1 << 1;
    pub const USES_FD: u32 = 1 << 2;
    pub const READS_FROM_FD: u32 = 1 << 3;
    pub const WRITES_TO_FD: u32 = 1 << 4;
    pub const MODIFIES_STATE: u32 = 1 << 5;
    pub const UNUSED: u32 = 1 << 6;
    pub const WAITS: u32 = 1 << 7;
    pub const SKIPPARSERESET: u32 = 1 << 8;
    pub const OLD_VERSION: u32 = 1 << 9;
    pub const LARGE_PAYLOAD: u32 = 1 << 11;
    pub const CONVERTER_MANAGED: u32 = 1 << 12;
}

/// Whether an event is a syscall's entry or its exit. libs gives entries even codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Enter,
    Exit,
}

impl Direction {
    /// The direction of an event code.
    pub fn of(code: u16) -> Self {
        if code.is_multiple_of(2) { Direction::Enter } else { Direction::Exit }
    }

    /// The character sysdig prints for it.
    pub fn symbol(self) -> char {
        match self {
            Direction::Enter => '>',
            Direction::Exit => '<',
        }
    }
}

/// One parameter of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: &'static str,
    pub ty: ParamType,
    pub fmt: PrintFormat,
}

/// One event code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInfo {
    /// The code on the wire.
    pub code: u16,
    /// The libs enum name without `PPME_` (`SYSCALL_OPEN_X`), unique per code.
    pub ident: &'static str,
    /// The event name (`open`); versions of one syscall share it.
    pub name: &'static str,
    /// `enum ppm_event_category` bits.
    pub category: u32,
    /// [`flags`] bits.
    pub flags: u32,
    /// Parameters in wire order. Older captures may carry fewer (parameters are only ever
    /// appended).
    pub params: &'static [ParamInfo],
}

impl EventInfo {
    pub fn direction(&self) -> Direction {
        Direction::of(self.code)
    }

    /// Whether parameter lengths are u32 (else u16).
    pub fn large_payload(&self) -> bool {
        self.flags & flags::LARGE_PAYLOAD != 0
    }

    /// Whether libs keeps this code only to read old captures.
    pub fn old_version(&self) -> bool {
        self.flags & flags::OLD_VERSION != 0
    }

    /// Whether the code is a placeholder no producer emits.
    pub fn unused(&self) -> bool {
        self.flags & flags::UNUSED != 0
    }

    /// The index of the parameter named `name`.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }
}

/// The event with wire code `code`, `None` for codes libs does not define.
pub fn event_info(code: u16) -> Option<&'static EventInfo> {
    EVENTS.get(code as usize)
}

/// The event with libs enum name `ident` (with or without `PPME_`).
pub fn event_by_ident(ident: &str) -> Option<&'static EventInfo> {
    static BY_IDENT: OnceLock<HashMap<&'static str, u16>> = OnceLock::new();
    let map = BY_IDENT.get_or_init(|| EVENTS.iter().map(|e| (e.ident, e.code)).collect());
    let ident = ident.strip_prefix("PPME_").unwrap_or(ident);
    map.get(ident).and_then(|&c| event_info(c))
}

/// The current (non-old, used) event for `name` in `dir`: what a producer writes today.
pub fn event_by_name(name: &str, dir: Direction) -> Option<&'static EventInfo> {
    static CURRENT: OnceLock<HashMap<(&'static str, Direction), u16>> = OnceLock::new();
    let map = CURRENT.get_or_init(|| {
        let mut m = HashMap::new();
        for e in EVENTS.iter() {
            if e.unused() || e.name == "NA" {
                continue;
            }
            let key = (e.name, e.direction());
            // The newest version has the highest code; an old version never replaces a
            // current one.
            match m.get(&key) {
                Some(&prev) if !EVENTS[prev as usize].old_version() && e.old_version() => {}
                _ => {
                    m.insert(key, e.code);
                }
            }
        }
        m
    });
    map.get(&(name, dir)).and_then(|&c| event_info(c))
}

/// Every code for `name` in `dir`, old versions included.
pub fn events_named(name: &str, dir: Direction) -> impl Iterator<Item = &'static EventInfo> {
    EVENTS.iter().filter(move |e| e.name == name && e.direction() == dir)
}

/// The wire width of fixed-size parameter types, `None` for variable-size ones.
pub fn fixed_width(ty: ParamType) -> Option<usize> {
    use ParamType::*;
    Some(match ty {
        Int8 | Uint8 | Sigtype | L4proto | Sockfamily | Flags8 | Enumflags8 => 1,
        Int16 | Uint16 | Port | Flags16 | Enumflags16 | Syscallid => 2,
        Int32 | Uint32 | Bool | Flags32 | Uid | Gid | Mode | Enumflags32 | Sigset | Fd32 | Pid32
        | Ipv4addr => 4,
        Int64 | Uint64 | Errno | Fd | Pid | Reltime | Abstime | Double => 8,
        Ipv6addr => 16,
        _ => return Option::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_code_and_knows_libs_events() {
        for (i, e) in EVENTS.iter().enumerate() {
            assert_eq!(e.code as usize, i, "{}", e.ident);
        }
        let open_x = event_by_ident("PPME_SYSCALL_OPEN_X").unwrap();
        assert_eq!(open_x.code, 3);
        assert_eq!(open_x.name, "open");
        assert_eq!(open_x.direction(), Direction::Exit);
        assert_eq!(open_x.params[0].name, "fd");
        assert_eq!(open_x.params[0].ty, ParamType::Fd);
        assert_eq!(open_x.params[1].ty, ParamType::Fspath);
        let execve = event_by_name("execve", Direction::Exit).unwrap();
        assert_eq!(execve.ident, "SYSCALL_EXECVE_19_X");
        assert_eq!(execve.params[1].name, "exe");
        assert_eq!(event_by_name("clone", Direction::Exit).unwrap().ident, "SYSCALL_CLONE_20_X");
        assert!(event_info(EVENT_COUNT as u16).is_none());
        assert_eq!(ParamType::from_code(13), Some(ParamType::Socktuple));
        assert_eq!(ParamType::Socktuple as u8, 13);
        assert!(EVENTS.iter().filter(|e| e.large_payload()).count() >= 1);
    }
}
