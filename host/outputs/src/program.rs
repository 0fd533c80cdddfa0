//! Alerts piped to a program (Falco's `program_output`): with `keep_alive`, one long-running
//! process reads every alert on its standard input; without, a process per alert.

use crate::AlertFormat;
use lanner_event::{Alert, AlertSink, SinkError};
use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};

/// Runs `program` with `sh -c` and writes alerts to its standard input, one line each.
pub struct ProgramSink {
    program: String,
    keep_alive: bool,
    format: AlertFormat,
    running: Option<(Child, ChildStdin)>,
}

impl ProgramSink {
    /// A program output; nothing starts until the first alert.
    pub fn new(program: impl Into<String>, keep_alive: bool, format: AlertFormat) -> Self {
        Self { program: program.into(), keep_alive, format, running: None }
    }

    fn spawn(&self) -> Result<(Child, ChildStdin), SinkError> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.program)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| SinkError::retryable(format!("program output: starting '{}': {e}", self.program)))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        Ok((child, stdin))
    }

    fn lines(&self, alerts: &[Alert]) -> String {
        let mut text = String::new();
        for a in alerts {
            text.push_str(&self.format.line(a));
            text.push('\n');
        }
        text
    }
}

impl AlertSink for ProgramSink {
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        if !self.keep_alive {
            // One process per alert, as Falco does; each is waited for, so that a program
            // that never ends shows up as a stuck output rather than a pile of processes.
            for a in alerts {
                let (mut child, mut stdin) = self.spawn()?;
                let r = stdin.write_all(self.lines(std::slice::from_ref(a)).as_bytes());
                drop(stdin);
                let status = child.wait();
                r.map_err(|e| {
                    SinkError::retryable(format!("program output: writing to '{}': {e}", self.program))
                })?;
                if let Ok(st) = status
                    && !st.success()
                {
                    tracing::debug!(program = %self.program, status = %st, "program output exited with failure");
                }
            }
            return Ok(());
        }
        if self.running.as_mut().is_some_and(|(c, _)| c.try_wait().ok().flatten().is_some()) {
            // It ended: start it again.
            self.running = None;
        }
        if self.running.is_none() {
            self.running = Some(self.spawn()?);
        }
        let text = self.lines(alerts);
        let (_, stdin) = self.running.as_mut().expect("started above");
        if let Err(e) = stdin.write_all(text.as_bytes()).and_then(|()| stdin.flush()) {
            // A broken pipe: the program went away; the retry starts a new one.
            if let Some((mut c, _)) = self.running.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            return Err(SinkError::retryable(format!("program output: writing to '{}': {e}", self.program)));
        }
        Ok(())
    }
}

impl Drop for ProgramSink {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.running.take() {
            // Closing its input lets the program finish what it read.
            drop(stdin);
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_event::Priority;

    fn alert(i: u64) -> Alert {
        Alert {
            time_ns: i,
            rule: "R".into(),
            priority: Priority::Warning,
            output: format!("alert {i}"),
            output_fields: Vec::new(),
            source: "syscall".into(),
            tags: Vec::new(),
            hostname: "h".into(),
        }
    }

    fn temp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("lanner-program-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn keep_alive_feeds_one_process() {
        let d = temp("keep");
        let out = d.join("out");
        let pids = d.join("pids");
        let program = format!("echo $$ >> {}; cat >> {}", pids.display(), out.display());
        let mut sink = ProgramSink::new(program, true, AlertFormat::plain(true));
        sink.deliver(&[alert(1), alert(2)]).unwrap();
        sink.deliver(&[alert(3)]).unwrap();
        drop(sink);
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["output"], "alert 3");
        assert_eq!(std::fs::read_to_string(&pids).unwrap().lines().count(), 1, "one process");
    }

    #[test]
    fn without_keep_alive_a_process_per_alert() {
        let d = temp("each");
        let out = d.join("out");
        let program = format!("cat >> {}; echo >> {}.count", out.display(), out.display());
        let mut sink = ProgramSink::new(program, false, AlertFormat::plain(false));
        sink.deliver(&[alert(1), alert(2)]).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
        assert_eq!(std::fs::read_to_string(d.join("out.count")).unwrap().lines().count(), 2);
    }

    #[test]
    fn a_program_that_exits_is_restarted() {
        let d = temp("restart");
        let out = d.join("out");
        // Reads one line, then exits: the next delivery finds it gone.
        let program = format!("head -n 1 >> {}", out.display());
        let mut sink = ProgramSink::new(program, true, AlertFormat::plain(false));
        sink.deliver(&[alert(1)]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut delivered = sink.deliver(&[alert(2)]);
        if delivered.is_err() {
            delivered = sink.deliver(&[alert(2)]);
        }
        delivered.unwrap();
        drop(sink);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("alert 1") && text.contains("alert 2"), "{text}");
    }
}
