//! The seam between the alert pipeline and where alerts go.

use crate::Alert;

/// A destination for alerts: stdout, a program, a sink plugin. The pipeline calls it from
/// the output's own worker thread, never from detection, with batches of alerts.
pub trait AlertSink: Send {
    /// Delivers a batch. On error none of the batch counts as delivered; the pipeline
    /// retries a retryable error with backoff, and counts the batch as dropped otherwise.
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError>;

    /// Writes out anything buffered: called after each batch and at shutdown.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// What went wrong, for the log (never holding secrets such as webhook URLs).
    pub message: String,
    /// Whether trying again may succeed (a server down or slow), or not (a malformed alert,
    /// a rejected configuration).
    pub retryable: bool,
}

impl SinkError {
    /// A failure that a later attempt may not repeat.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true }
    }

    /// A failure that will repeat.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false }
    }
}
