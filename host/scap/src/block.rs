//! The pcapng-shaped block layer of a scap file: every block is `type (u32) | total length
//! (u32) | body | padding to 4 bytes | total length again`, little endian. Readers and the
//! writer share these constants and helpers so the two cannot disagree on framing.

use std::io::{self, Read, Write};

use crate::error::{ErrorKind, ScapError};

/// Section header block; its bytes are the same in either byte order (`\n\r\r\n`).
pub const SHB_BLOCK_TYPE: u32 = 0x0A0D_0D0A;
/// Byte-order magic in the section header, as written by a little-endian producer.
pub const SHB_MAGIC: u32 = 0x1A2B_3C4D;
/// The format's major version this crate reads and writes.
pub const CURRENT_MAJOR_VERSION: u16 = 1;
/// The minor version libs writes today.
pub const CURRENT_MINOR_VERSION: u16 = 2;

/// Machine info.
pub const MI_BLOCK_TYPE: u32 = 0x201;
/// Machine info, the number used before libs' first release.
pub const MI_BLOCK_TYPE_INT: u32 = 0x8002_ABCD;

/// Process list, versions 1 to 9 (each version appends fields; v9 adds per-entry lengths).
pub const PL_BLOCK_TYPE_V1: u32 = 0x202;
pub const PL_BLOCK_TYPE_V1_INT: u32 = 0x8000_ABCD;
pub const PL_BLOCK_TYPE_V2: u32 = 0x207;
pub const PL_BLOCK_TYPE_V2_INT: u32 = 0x8013_ABCD;
pub const PL_BLOCK_TYPE_V3: u32 = 0x209;
pub const PL_BLOCK_TYPE_V3_INT: u32 = 0x8014_ABCD;
pub const PL_BLOCK_TYPE_V4: u32 = 0x210;
pub const PL_BLOCK_TYPE_V5: u32 = 0x211;
pub const PL_BLOCK_TYPE_V6: u32 = 0x212;
pub const PL_BLOCK_TYPE_V7: u32 = 0x213;
pub const PL_BLOCK_TYPE_V8: u32 = 0x214;
pub const PL_BLOCK_TYPE_V9: u32 = 0x215;

/// Fd list of one thread (v2 adds per-entry lengths).
pub const FDL_BLOCK_TYPE: u32 = 0x203;
pub const FDL_BLOCK_TYPE_INT: u32 = 0x8001_ABCD;
pub const FDL_BLOCK_TYPE_V2: u32 = 0x218;

/// Event blocks. Before v2 the event header had no parameter count.
pub const EV_BLOCK_TYPE: u32 = 0x204;
pub const EV_BLOCK_TYPE_INT: u32 = 0x8010_ABCD;
pub const EV_BLOCK_TYPE_V2: u32 = 0x216;
/// Events whose parameter lengths are u32 rather than u16.
pub const EV_BLOCK_TYPE_V2_LARGE: u32 = 0x221;

/// Interface list.
pub const IL_BLOCK_TYPE: u32 = 0x205;
pub const IL_BLOCK_TYPE_INT: u32 = 0x8011_ABCD;
pub const IL_BLOCK_TYPE_V2: u32 = 0x219;

/// User and group list (v2 adds per-entry lengths).
pub const UL_BLOCK_TYPE: u32 = 0x206;
pub const UL_BLOCK_TYPE_INT: u32 = 0x8012_ABCD;
pub const UL_BLOCK_TYPE_V2: u32 = 0x220;

/// Event blocks carrying 32 bits of flags between the cpu id and the event.
pub const EVF_BLOCK_TYPE: u32 = 0x208;
pub const EVF_BLOCK_TYPE_V2: u32 = 0x217;
pub const EVF_BLOCK_TYPE_V2_LARGE: u32 = 0x222;

/// Size of the header every block starts with.
pub const BLOCK_HEADER_LEN: usize = 8;
/// Header plus trailing length: the smallest block there is.
pub const MIN_BLOCK_LEN: u32 = 12;
/// A bound on any one block, so a corrupt length cannot make a reader allocate gigabytes.
pub const MAX_BLOCK_LEN: u32 = 256 << 20;

/// The size of the event header in v2 blocks (ts, tid, len, type, nparams).
pub const EVENT_HEADER_LEN: usize = 26;
/// The size of the event header in v1 blocks (no nparams).
pub const EVENT_HEADER_LEN_V1: usize = 22;

/// What a block type carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    SectionHeader,
    MachineInfo,
    ProcessList,
    FdList,
    InterfaceList,
    UserList,
    Event,
    Unknown,
}

/// Whether an event block of this type has a parameter count in the event header, and
/// whether it carries flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBlockShape {
    pub has_nparams: bool,
    pub has_flags: bool,
    pub large: bool,
}

/// Classifies a block type.
pub fn kind_of(block_type: u32) -> BlockKind {
    match block_type {
        SHB_BLOCK_TYPE => BlockKind::SectionHeader,
        MI_BLOCK_TYPE | MI_BLOCK_TYPE_INT => BlockKind::MachineInfo,
        PL_BLOCK_TYPE_V1 | PL_BLOCK_TYPE_V1_INT | PL_BLOCK_TYPE_V2 | PL_BLOCK_TYPE_V2_INT
        | PL_BLOCK_TYPE_V3 | PL_BLOCK_TYPE_V3_INT | PL_BLOCK_TYPE_V4 | PL_BLOCK_TYPE_V5
        | PL_BLOCK_TYPE_V6 | PL_BLOCK_TYPE_V7 | PL_BLOCK_TYPE_V8 | PL_BLOCK_TYPE_V9 => BlockKind::ProcessList,
        FDL_BLOCK_TYPE | FDL_BLOCK_TYPE_INT | FDL_BLOCK_TYPE_V2 => BlockKind::FdList,
        IL_BLOCK_TYPE | IL_BLOCK_TYPE_INT | IL_BLOCK_TYPE_V2 => BlockKind::InterfaceList,
        UL_BLOCK_TYPE | UL_BLOCK_TYPE_INT | UL_BLOCK_TYPE_V2 => BlockKind::UserList,
        t if event_block_shape(t).is_some() => BlockKind::Event,
        _ => BlockKind::Unknown,
    }
}

/// The layout of an event block type, `None` for other blocks.
pub fn event_block_shape(block_type: u32) -> Option<EventBlockShape> {
    let (has_nparams, has_flags, large) = match block_type {
        EV_BLOCK_TYPE | EV_BLOCK_TYPE_INT => (false, false, false),
        EV_BLOCK_TYPE_V2 => (true, false, false),
        EV_BLOCK_TYPE_V2_LARGE => (true, false, true),
        EVF_BLOCK_TYPE => (false, true, false),
        EVF_BLOCK_TYPE_V2 => (true, true, false),
        EVF_BLOCK_TYPE_V2_LARGE => (true, true, true),
        _ => return None,
    };
    Some(EventBlockShape { has_nparams, has_flags, large })
}

/// One block as read: its type, where it started and its body (without padding removal:
/// the body is everything between the header and the trailing length).
#[derive(Debug, Clone)]
pub struct Block {
    /// The block type.
    pub block_type: u32,
    /// Zero-based position of the block in the file.
    pub index: u64,
    /// Byte offset of the block's header in the (decompressed) stream.
    pub offset: u64,
    /// The bytes between header and trailer.
    pub body: Vec<u8>,
}

/// Reads blocks one after the other from a byte stream, keeping count and offset so every
/// error can say where it happened.
pub struct BlockReader<R> {
    inner: R,
    index: u64,
    offset: u64,
}

impl<R: Read> BlockReader<R> {
    /// Starts at the beginning of a stream.
    pub fn new(inner: R) -> Self {
        Self { inner, index: 0, offset: 0 }
    }

    /// The index the next block will have.
    pub fn next_index(&self) -> u64 {
        self.index
    }

    /// The byte offset the next block will start at.
    pub fn next_offset(&self) -> u64 {
        self.offset
    }

    /// The next block, `None` at a clean end of stream (no byte of a further header).
    pub fn next_block(&mut self) -> Result<Option<Block>, ScapError> {
        let (index, offset) = (self.index, self.offset);
        let err = |kind| ScapError { block: index, offset, kind };
        let mut header = [0u8; BLOCK_HEADER_LEN];
        let got = read_full(&mut self.inner, &mut header).map_err(|e| err(ErrorKind::Io(e)))?;
        if got == 0 {
            return Ok(None);
        }
        if got < header.len() {
            return Err(err(ErrorKind::Truncated {
                what: "block header",
                needed: header.len() as u64,
                got: got as u64,
            }));
        }
        let block_type = u32::from_le_bytes(header[0..4].try_into().unwrap());
        let total = u32::from_le_bytes(header[4..8].try_into().unwrap());
        if !(MIN_BLOCK_LEN..=MAX_BLOCK_LEN).contains(&total) {
            return Err(err(ErrorKind::BadBlockLength { block_type, length: total }));
        }
        let rest = total as usize - BLOCK_HEADER_LEN;
        let mut buf = vec![0u8; rest];
        let got = read_full(&mut self.inner, &mut buf).map_err(|e| err(ErrorKind::Io(e)))?;
        if got < rest {
            return Err(err(ErrorKind::Truncated {
                what: "block body",
                needed: rest as u64,
                got: got as u64,
            }));
        }
        let trailer = u32::from_le_bytes(buf[rest - 4..].try_into().unwrap());
        if trailer != total {
            return Err(err(ErrorKind::BadTrailer { block_type, header: total, trailer }));
        }
        buf.truncate(rest - 4);
        self.index += 1;
        self.offset += u64::from(total);
        Ok(Some(Block { block_type, index, offset, body: buf }))
    }
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Padding that brings `len` to a multiple of four.
pub fn padding_for(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Writes one block around `body`: header, body, zero padding, trailing length.
pub fn write_block(w: &mut impl Write, block_type: u32, body: &[u8]) -> io::Result<()> {
    let pad = padding_for(body.len());
    let total = BLOCK_HEADER_LEN + body.len() + pad + 4;
    let total =
        u32::try_from(total).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "block over 4 GiB"))?;
    w.write_all(&block_type.to_le_bytes())?;
    w.write_all(&total.to_le_bytes())?;
    w.write_all(body)?;
    w.write_all(&[0u8; 3][..pad])?;
    w.write_all(&total.to_le_bytes())
}

/// The body of a section header block for a section of unknown length.
pub fn section_header_body() -> Vec<u8> {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&SHB_MAGIC.to_le_bytes());
    b.extend_from_slice(&CURRENT_MAJOR_VERSION.to_le_bytes());
    b.extend_from_slice(&CURRENT_MINOR_VERSION.to_le_bytes());
    b.extend_from_slice(&u64::MAX.to_le_bytes());
    b
}

/// A little-endian cursor over a block body that reports short reads as the field it wanted.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ErrorKind> {
        if self.remaining() < n {
            return Err(ErrorKind::Truncated { what, needed: n as u64, got: self.remaining() as u64 });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), ErrorKind> {
        self.take(n, what).map(|_| ())
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, ErrorKind> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, ErrorKind> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, ErrorKind> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, ErrorKind> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, ErrorKind> {
        Ok(self.u64(what)? as i64)
    }

    /// A string stored as a u16 length and that many bytes (no NUL on disk; one is
    /// dropped if present).
    pub fn str16(&mut self, what: &'static str) -> Result<String, ErrorKind> {
        let len = self.u16(what)? as usize;
        let bytes = self.take(len, what)?;
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// A u16-length buffer of NUL-separated strings (args, env, cgroups).
    pub fn strings16(&mut self, what: &'static str) -> Result<Vec<String>, ErrorKind> {
        let len = self.u16(what)? as usize;
        Ok(split_nul(self.take(len, what)?))
    }
}

/// Splits a buffer of NUL-terminated strings; a last string without NUL counts too.
pub fn split_nul(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_block_reads_back_with_index_and_offset() {
        let mut file = Vec::new();
        write_block(&mut file, SHB_BLOCK_TYPE, &section_header_body()).unwrap();
        write_block(&mut file, 0x1234, b"abcde").unwrap();
        let mut r = BlockReader::new(&file[..]);
        let a = r.next_block().unwrap().unwrap();
        assert_eq!((a.block_type, a.index, a.offset), (SHB_BLOCK_TYPE, 0, 0));
        let b = r.next_block().unwrap().unwrap();
        assert_eq!((b.block_type, b.index, b.offset), (0x1234, 1, 28));
        assert_eq!(&b.body[..5], b"abcde");
        assert!(r.next_block().unwrap().is_none());
    }

    #[test]
    fn truncation_and_bad_trailer_name_the_block_and_offset() {
        let mut file = Vec::new();
        write_block(&mut file, SHB_BLOCK_TYPE, &section_header_body()).unwrap();
        write_block(&mut file, 0x1234, b"abcdefgh").unwrap();
        let cut = &file[..file.len() - 3];
        let mut r = BlockReader::new(cut);
        r.next_block().unwrap();
        let e = r.next_block().unwrap_err();
        assert_eq!((e.block, e.offset), (1, 28));
        assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");

        let mut bad = file.clone();
        let n = bad.len();
        bad[n - 1] = 0x7f;
        let mut r = BlockReader::new(&bad[..]);
        r.next_block().unwrap();
        let e = r.next_block().unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadTrailer { .. }), "{e}");
        assert!(e.to_string().contains("block 1 at byte 28"), "{e}");
    }
}
