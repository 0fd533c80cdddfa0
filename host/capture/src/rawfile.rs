//! Raw capture files: the probe's records exactly as they left the kernel, so that a live
//! session can be replayed later through the same decoding, state and rules (as Falco's
//! `.scap` files are).
//!
//! Layout (little-endian): the 8-byte magic `LNRCAP01`, then per record a `u32` length, an
//! `i64` boot-to-wall-clock offset in nanoseconds (what [`crate::decode::decode`] adds to
//! the record's boot-time timestamp), and the record's bytes in the layout of
//! `lanner_probe_common` of the same Lanner version. The file does not hold the process
//! table at the start of the capture: processes that existed before it are known on replay
//! only from what their records carry (ids, name, credentials, cgroup).

use crate::decode::{self, DecodeError};
use crate::record::RawEvent;
use std::io::{self, Read, Write};

/// The first bytes of a raw capture file.
pub const MAGIC: &[u8; 8] = b"LNRCAP01";

/// The largest record length accepted on reading: larger is a corrupt file.
const MAX_RECORD: u32 = 1 << 20;

/// Writes a raw capture file.
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    /// Starts a file: writes the magic.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        Ok(Self { out })
    }

    /// Appends one record.
    pub fn write_record(&mut self, record: &[u8], boot_to_wall_ns: i64) -> io::Result<()> {
        let len = u32::try_from(record.len()).map_err(|_| io::Error::other("record too large"))?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&boot_to_wall_ns.to_le_bytes())?;
        self.out.write_all(record)
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Errors reading a raw capture file; each names the record's position.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading failed.
    #[error("reading: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with [`MAGIC`].
    #[error("not a Lanner raw capture file (no LNRCAP01 magic)")]
    Magic,
    /// The file ends inside a record.
    #[error("record {index} at byte {offset}: the file ends inside it")]
    Truncated {
        /// The record's index.
        index: u64,
        /// Its byte offset.
        offset: u64,
    },
    /// A record's length is impossible.
    #[error("record {index} at byte {offset}: length {len} is not plausible")]
    Length {
        /// The record's index.
        index: u64,
        /// Its byte offset.
        offset: u64,
        /// The length read.
        len: u32,
    },
    /// A record does not decode.
    #[error("record {index} at byte {offset}: {source}")]
    Decode {
        /// The record's index.
        index: u64,
        /// Its byte offset.
        offset: u64,
        /// Why.
        source: DecodeError,
    },
}

/// Whether `prefix` (a file's first bytes) is a raw capture file's.
pub fn is_raw(prefix: &[u8]) -> bool {
    prefix.starts_with(MAGIC)
}

/// Reads a raw capture file record by record.
pub struct Reader<R: Read> {
    input: R,
    buf: Vec<u8>,
    index: u64,
    offset: u64,
}

impl<R: Read> Reader<R> {
    /// Checks the magic.
    pub fn new(mut input: R) -> Result<Self, ReadError> {
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).map_err(|_| ReadError::Magic)?;
        if &magic != MAGIC {
            return Err(ReadError::Magic);
        }
        Ok(Self { input, buf: Vec::with_capacity(4096), index: 0, offset: MAGIC.len() as u64 })
    }

    /// The next record's bytes and clock offset; `None` at the end of the file.
    pub fn next_record(&mut self) -> Option<Result<(&[u8], i64), ReadError>> {
        let (index, offset) = (self.index, self.offset);
        let mut head = [0u8; 12];
        match read_full(&mut self.input, &mut head) {
            Ok(0) => return None,
            Ok(12) => {}
            Ok(_) => return Some(Err(ReadError::Truncated { index, offset })),
            Err(e) => return Some(Err(e.into())),
        }
        let len = u32::from_le_bytes(head[..4].try_into().unwrap());
        let boot_to_wall = i64::from_le_bytes(head[4..].try_into().unwrap());
        if len > MAX_RECORD {
            return Some(Err(ReadError::Length { index, offset, len }));
        }
        self.buf.resize(len as usize, 0);
        match read_full(&mut self.input, &mut self.buf) {
            Ok(n) if n == len as usize => {}
            Ok(_) => return Some(Err(ReadError::Truncated { index, offset })),
            Err(e) => return Some(Err(e.into())),
        }
        self.index += 1;
        self.offset += 12 + u64::from(len);
        Some(Ok((&self.buf, boot_to_wall)))
    }

    /// The next record, decoded.
    pub fn next_event(&mut self) -> Option<Result<RawEvent, ReadError>> {
        let (index, offset) = (self.index, self.offset);
        Some(match self.next_record()? {
            Ok((bytes, boot_to_wall)) => decode::decode(bytes, boot_to_wall)
                .map_err(|source| ReadError::Decode { index, offset, source }),
            Err(e) => Err(e),
        })
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_probe_common::{COMM_LEN, HEADER_LEN, RecordHeader, kind};

    fn record(tgid: u32) -> Vec<u8> {
        let mut comm = [0u8; COMM_LEN];
        comm[..3].copy_from_slice(b"cat");
        let h = RecordHeader {
            ts_boot_ns: 1_000,
            cgroup_id: 7,
            cap_effective: 0,
            cap_permitted: 0,
            ret: 3,
            args: [0; 6],
            len: HEADER_LEN as u32,
            kind: kind::SYSCALL,
            n_items: 0,
            nr: 257,
            cpu: 1,
            tgid,
            tid: tgid,
            ppid: 0,
            uid: 0,
            gid: 0,
            loginuid: u32::MAX,
            tty: 0,
            child_tgid: 0,
            child_tid: 0,
            vtid: 0,
            comm,
        };
        // SAFETY: RecordHeader is plain integers; viewing it as bytes is sound.
        unsafe { std::slice::from_raw_parts((&raw const h).cast::<u8>(), HEADER_LEN) }.to_vec()
    }

    #[test]
    fn round_trip() {
        let mut w = Writer::new(Vec::new()).unwrap();
        w.write_record(&record(10), 5_000).unwrap();
        w.write_record(&record(11), 6_000).unwrap();
        let bytes = w.finish().unwrap();
        assert!(is_raw(&bytes));
        let mut r = Reader::new(&bytes[..]).unwrap();
        let a = r.next_event().unwrap().unwrap();
        assert_eq!((a.tgid, a.ts_ns, a.comm.as_str(), a.ret), (10, 6_000, "cat", 3));
        let b = r.next_event().unwrap().unwrap();
        assert_eq!((b.tgid, b.ts_ns), (11, 7_000));
        assert!(r.next_event().is_none());
    }

    #[test]
    fn damage_is_reported_with_the_position() {
        assert!(matches!(Reader::new(&b"LNRCAP00"[..]), Err(ReadError::Magic)));
        let mut w = Writer::new(Vec::new()).unwrap();
        w.write_record(&record(10), 0).unwrap();
        w.write_record(&record(11), 0).unwrap();
        let bytes = w.finish().unwrap();
        let cut = &bytes[..bytes.len() - 5];
        let mut r = Reader::new(cut).unwrap();
        assert!(r.next_event().unwrap().is_ok());
        let err = r.next_event().unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("record 1 at byte {}: the file ends inside it", 8 + 12 + HEADER_LEN)
        );
        // A record too short to decode.
        let mut w = Writer::new(Vec::new()).unwrap();
        w.write_record(&[1, 2, 3], 0).unwrap();
        let bytes = w.finish().unwrap();
        let err = Reader::new(&bytes[..]).unwrap().next_event().unwrap().unwrap_err();
        assert!(err.to_string().starts_with("record 0 at byte 8: "), "{err}");
    }
}
