//! Alerts on standard output, one line each (Falco's `stdout_output`).

use crate::AlertFormat;
use lanner_event::{Alert, AlertSink, SinkError};
use std::io::Write;

/// Writes alerts to a writer (standard output in the daemon), one line each.
pub struct StdoutSink<W: Write + Send = std::io::Stdout> {
    out: std::io::BufWriter<W>,
    format: AlertFormat,
}

impl StdoutSink {
    /// Alerts on the process's standard output.
    pub fn new(format: AlertFormat) -> Self {
        Self::to(std::io::stdout(), format)
    }
}

impl<W: Write + Send> StdoutSink<W> {
    /// Alerts on any writer.
    pub fn to(out: W, format: AlertFormat) -> Self {
        Self { out: std::io::BufWriter::new(out), format }
    }
}

impl<W: Write + Send> AlertSink for StdoutSink<W> {
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        for a in alerts {
            writeln!(self.out, "{}", self.format.line(a))
                .map_err(|e| SinkError::retryable(format!("stdout: {e}")))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| SinkError::retryable(format!("stdout: {e}")))
    }
}
