//! Live syscall capture (the probe loader and ring-buffer reader are being built).
#![deny(missing_docs)]

pub mod record;
