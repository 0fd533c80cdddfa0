//! Reading a capture: the section header, the state tables before the first event, then
//! events one block at a time. Files may be gzip-compressed (sysdig and Falco's test
//! captures are); offsets in errors count decompressed bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::block::{self, Block, BlockKind, BlockReader, Cursor};
use crate::error::{ErrorKind, ScapError};
use crate::event::Event;
use crate::tables::{self, GroupInfo, MachineInfo, ThreadInfo, UserInfo};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The state a capture carries besides its events.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub machine: Option<MachineInfo>,
    /// Threads by tid, each with the fds its fd list blocks gave.
    pub threads: BTreeMap<u64, ThreadInfo>,
    pub users: Vec<UserInfo>,
    pub groups: Vec<GroupInfo>,
    /// Interface list blocks seen (their content is not decoded).
    pub interface_blocks: u32,
    /// Blocks of types this reader does not know, skipped, by type.
    pub unknown_blocks: BTreeMap<u32, u64>,
    /// The section header's version.
    pub version: (u16, u16),
}

/// A scap capture being read.
pub struct ScapReader<R> {
    blocks: BlockReader<R>,
    tables: Tables,
    pending: Option<Block>,
    events: u64,
    /// Set after an error: the stream position is no longer trustworthy.
    failed: bool,
}

impl ScapReader<Box<dyn Read + Send>> {
    /// Opens a capture file, plain or gzip-compressed.
    pub fn open(path: &Path) -> Result<Self, ScapError> {
        let io_err = |e| ScapError { block: 0, offset: 0, kind: ErrorKind::Io(e) };
        let mut file = BufReader::new(File::open(path).map_err(io_err)?);
        let gz = {
            use std::io::BufRead;
            let head = file.fill_buf().map_err(io_err)?;
            head.starts_with(&GZIP_MAGIC)
        };
        let inner: Box<dyn Read + Send> =
            if gz { Box::new(BufReader::new(MultiGzDecoder::new(file))) } else { Box::new(file) };
        Self::new(inner)
    }
}

/// Whether a file is a scap capture, by its first block (looking inside gzip).
pub fn is_scap_file(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut f, &mut head)?;
    if n >= 2 && head[..2] == GZIP_MAGIC {
        let f = File::open(path)?;
        let mut gz = MultiGzDecoder::new(f);
        // Not gzip after all, or empty: not a capture.
        let n = read_up_to(&mut gz, &mut head).unwrap_or(0);
        return Ok(n == 4 && u32::from_le_bytes(head) == block::SHB_BLOCK_TYPE);
    }
    Ok(n == 4 && u32::from_le_bytes(head) == block::SHB_BLOCK_TYPE)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..])? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

impl<R: Read> ScapReader<R> {
    /// Reads the section header and every table block up to the first event.
    pub fn new(inner: R) -> Result<Self, ScapError> {
        let mut reader = ScapReader {
            blocks: BlockReader::new(inner),
            tables: Tables::default(),
            pending: None,
            events: 0,
            failed: false,
        };
        // Whatever the first header's length says, a first block that is not a section
        // header means the file is something else.
        let first = reader.blocks.next_block().map_err(|e| match e.kind {
            ErrorKind::BadBlockLength { block_type, .. } | ErrorKind::BadTrailer { block_type, .. }
                if block_type != block::SHB_BLOCK_TYPE =>
            {
                ScapError { kind: ErrorKind::NotScap(block_type), ..e }
            }
            _ => e,
        })?;
        let first = first.ok_or(ScapError {
            block: 0,
            offset: 0,
            kind: ErrorKind::Truncated { what: "section header block", needed: 28, got: 0 },
        })?;
        if first.block_type != block::SHB_BLOCK_TYPE {
            return Err(located(&first, ErrorKind::NotScap(first.block_type)));
        }
        reader.section_header(&first)?;
        while let Some(b) = reader.blocks.next_block()? {
            if block::kind_of(b.block_type) == BlockKind::Event {
                reader.pending = Some(b);
                break;
            }
            reader.absorb(b)?;
        }
        Ok(reader)
    }

    fn section_header(&mut self, b: &Block) -> Result<(), ScapError> {
        let mut c = Cursor::new(&b.body);
        let parse = |c: &mut Cursor| -> Result<(u32, u16, u16), ErrorKind> {
            Ok((
                c.u32("section byte-order magic")?,
                c.u16("section major version")?,
                c.u16("section minor version")?,
            ))
        };
        let (magic, major, minor) = parse(&mut c).map_err(|k| located(b, k))?;
        if magic != block::SHB_MAGIC {
            return Err(located(b, ErrorKind::BadMagic(magic)));
        }
        if major > block::CURRENT_MAJOR_VERSION {
            return Err(located(b, ErrorKind::UnsupportedVersion(major)));
        }
        self.tables.version = (major, minor);
        Ok(())
    }

    /// Takes a non-event block into the tables.
    fn absorb(&mut self, b: Block) -> Result<(), ScapError> {
        let res = match block::kind_of(b.block_type) {
            BlockKind::SectionHeader => return self.section_header(&b),
            BlockKind::MachineInfo => MachineInfo::parse(&b.body).map(|m| self.tables.machine = Some(m)),
            BlockKind::ProcessList => tables::parse_proclist(b.block_type, &b.body).map(|list| {
                for t in list {
                    // An fd list may come before its process entry; keep those fds.
                    let fds = self.tables.threads.remove(&t.tid).map(|old| old.fds).unwrap_or_default();
                    self.tables.threads.insert(t.tid, ThreadInfo { fds, ..t });
                }
            }),
            BlockKind::FdList => tables::parse_fdlist(b.block_type, &b.body).map(|(tid, fds)| {
                let t = self
                    .tables
                    .threads
                    .entry(tid)
                    .or_insert_with(|| ThreadInfo { tid, ..ThreadInfo::default() });
                t.fds.extend(fds);
            }),
            BlockKind::UserList => tables::parse_userlist(b.block_type, &b.body).map(|(users, groups)| {
                self.tables.users = users;
                self.tables.groups = groups;
            }),
            BlockKind::InterfaceList => {
                self.tables.interface_blocks += 1;
                Ok(())
            }
            BlockKind::Unknown => {
                *self.tables.unknown_blocks.entry(b.block_type).or_default() += 1;
                Ok(())
            }
            BlockKind::Event => unreachable!("event blocks are not tables"),
        };
        res.map_err(|k| located(&b, k))
    }

    /// The tables read so far (all of them once the first event has been returned, unless
    /// a later section brings more).
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Events returned so far.
    pub fn events_read(&self) -> u64 {
        self.events
    }

    /// The index and byte offset of the next block to be read.
    pub fn position(&self) -> (u64, u64) {
        match &self.pending {
            Some(b) => (b.index, b.offset),
            None => (self.blocks.next_index(), self.blocks.next_offset()),
        }
    }

    /// The next event, `None` at the end of the file. Table blocks met between events are
    /// taken into [`Self::tables`].
    pub fn next_event(&mut self) -> Result<Option<Event>, ScapError> {
        if self.failed {
            return Ok(None);
        }
        let res = self.next_event_inner();
        self.failed = res.is_err();
        res
    }

    fn next_event_inner(&mut self) -> Result<Option<Event>, ScapError> {
        loop {
            let b = match self.pending.take() {
                Some(b) => b,
                None => match self.blocks.next_block()? {
                    Some(b) => b,
                    None => return Ok(None),
                },
            };
            match block::event_block_shape(b.block_type) {
                Some(shape) => {
                    let ev = Event::decode(&b.body, shape).map_err(|k| located(&b, k))?;
                    self.events += 1;
                    return Ok(Some(ev));
                }
                None => self.absorb(b)?,
            }
        }
    }
}

impl<R: Read> Iterator for ScapReader<R> {
    type Item = Result<Event, ScapError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

fn located(b: &Block, kind: ErrorKind) -> ScapError {
    ScapError { block: b.index, offset: b.offset, kind }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::FdTarget;

    /// The fuzz seed: v9 process list, v2 fd and user lists, machine info, three events.
    const SEED: &[u8] = include_bytes!("../../../fuzz/seeds/scap_reader/tables_and_events.scap");

    #[test]
    fn tables_of_the_newest_block_versions_are_read() {
        let mut r = ScapReader::new(SEED).unwrap();
        let t = r.tables();
        assert_eq!(t.version, (1, 2));
        assert_eq!(t.machine.as_ref().unwrap().hostname, "host");
        let cat = &t.threads[&42];
        assert_eq!(
            (cat.comm.as_str(), cat.exepath.as_str(), cat.cwd.as_str()),
            ("cat", "/usr/bin/cat", "/root/")
        );
        assert_eq!(cat.args, ["/etc/passwd"]);
        assert_eq!(cat.env, ["HOME=/root"]);
        assert_eq!((cat.uid, cat.loginuid), (1000, 1000));
        assert_eq!(cat.fds.len(), 3);
        assert!(
            matches!(&cat.fds[0].target, FdTarget::File { name, open_flags: 1, .. } if name == "/etc/passwd")
        );
        assert!(matches!(&cat.fds[1].target, FdTarget::Ipv4Sock { dst, .. } if dst.port() == 80));
        assert!(matches!(&cat.fds[2].target, FdTarget::Unix { path, .. } if path == "/run/x.sock"));
        assert_eq!(t.users[0].name, "root");
        assert_eq!(t.groups[0].name, "root");
        let names: Vec<_> =
            std::iter::from_fn(|| r.next_event().unwrap()).map(|e| e.name().unwrap()).collect();
        assert_eq!(names, ["open", "open", "connect"]);
        assert_eq!(r.events_read(), 3);
    }

    #[test]
    fn a_file_that_is_not_a_capture_says_so() {
        let e = ScapReader::new(&b"LNRCAP01 and more bytes"[..]).err().unwrap();
        assert!(matches!(e.kind, ErrorKind::NotScap(_)), "{e}");
        let e = ScapReader::new(&SEED[..SEED.len() - 10]).map(|mut r| {
            while r.next_event()?.is_some() {}
            Ok::<_, ScapError>(())
        });
        let e = e.and_then(|r| r).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
    }
}
