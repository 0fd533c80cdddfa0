//! Errors of the scap reader. Every one carries the block it happened in and that block's
//! byte offset, because a capture is evidence: whoever reads the error needs to know how much
//! of the file was good.

use std::io;

/// A failure while reading a scap file, located by block.
#[derive(Debug, thiserror::Error)]
#[error("block {block} at byte {offset}: {kind}")]
pub struct ScapError {
    /// Zero-based index of the block (the section header is block 0).
    pub block: u64,
    /// Byte offset of the block's header in the decompressed stream.
    pub offset: u64,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong in a block.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("read error: {0}")]
    Io(#[source] io::Error),
    #[error("file is truncated: {what} needs {needed} bytes, {got} left")]
    Truncated { what: &'static str, needed: u64, got: u64 },
    #[error("not a scap file: first block type is {0:#010x}, not a section header")]
    NotScap(u32),
    #[error("section header byte-order magic {0:#010x} (big-endian captures are not supported)")]
    BadMagic(u32),
    #[error("scap major version {0} is newer than this reader's 1")]
    UnsupportedVersion(u16),
    #[error("block type {block_type:#x} has impossible total length {length}")]
    BadBlockLength { block_type: u32, length: u32 },
    #[error("block type {block_type:#x}: total length {header} in header but {trailer} in trailer")]
    BadTrailer { block_type: u32, header: u32, trailer: u32 },
    #[error("malformed event: {0}")]
    BadEvent(String),
    #[error("malformed {what}: {detail}")]
    BadTable { what: &'static str, detail: String },
}
