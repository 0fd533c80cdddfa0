//! Recorded sessions through the rules: raw captures (decoded and tracked as live capture
//! does) and event files, with the same deferred plugin extraction as live.

use crate::live;
use anyhow::{Context, Result};
use lanner_event::Event;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

/// Whether `path` is a raw capture file (by its magic), rather than an event file.
fn is_raw_capture(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut magic = [0u8; 8];
    let n = f.read(&mut magic).with_context(|| format!("reading {}", path.display()))?;
    Ok(lanner_capture::rawfile::is_raw(&magic[..n]))
}

/// Evaluates a recorded session: a raw capture file (through decoding and state, as live
/// capture) or an event file (JSON lines; `-` for standard input).
pub(crate) fn replay_file(
    events: &Path,
    d: &live::Detection,
    out: &mut dyn Write,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
) -> Result<ExitCode> {
    if events != Path::new("-") && is_raw_capture(events)? {
        let sink = live::Sink::Alerts {
            ruleset: d.ruleset.clone(),
            target: live::AlertTarget::Write(d.format),
            hostname: crate::node::hostname(),
        };
        let bad = live::replay_raw(events, sink, d.plugin_fields.clone(), out, metrics.clone(), d.limits)?;
        return Ok(if bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    let input: Box<dyn BufRead> = if events == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(events)
            .with_context(|| format!("opening event file {}", events.display()))?;
        Box::new(BufReader::new(f))
    };
    let host = crate::node::hostname();
    let reader = lanner_replay::Reader::new(input, &d.registry);
    let mut bad = 0usize;
    let mut deferred = d
        .plugin_fields
        .clone()
        .and_then(|map| crate::deferred::PluginSyscalls::new(&d.ruleset, &d.registry, map));
    let write_err: std::cell::RefCell<Option<std::io::Error>> = std::cell::RefCell::new(None);
    let mut dedup = d.limits.dedup.map(crate::throttle::RuleDedup::new);
    let mut on_alert = |mut alert: lanner_event::Alert| {
        if let Some(m) = &metrics {
            m.alerts
                .get_or_create(&crate::metrics::AlertLabels {
                    rule: alert.rule.clone(),
                    priority: alert.priority.as_str().into(),
                })
                .inc();
        }
        if let Some(dd) = &mut dedup {
            match dd.check(&alert) {
                crate::throttle::Verdict::Hold => {
                    if let Some(m) = &metrics {
                        m.suppressed.get_or_create(&crate::metrics::RuleLabels { rule: alert.rule }).inc();
                    }
                    return;
                }
                crate::throttle::Verdict::Deliver(n) => crate::throttle::mark_suppressed(&mut alert, n),
            }
        }
        if write_err.borrow().is_none()
            && let Err(e) = writeln!(out, "{}", d.format.line(&alert))
        {
            *write_err.borrow_mut() = Some(e);
        }
    };
    for ev in reader {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                // A bad line is reported and skipped: one typo must not hide later events.
                eprintln!("lanner: {}: {e}", events.display());
                bad += 1;
                continue;
            }
        };
        if let Some(m) = &metrics {
            m.processed
                .get_or_create(&crate::metrics::SourceLabels { source: ev.source().to_string() })
                .inc();
        }
        match &mut deferred {
            Some(ps) => {
                if ps.evaluate(&d.ruleset, &ev, &host, &mut on_alert) {
                    report_plugin_failures(ps.flush(&d.ruleset, &host, &mut on_alert));
                }
            }
            None => d.ruleset.evaluate(&ev, |rule| on_alert(rule.alert(&ev, &host))),
        }
        if write_err.borrow().is_some() {
            break;
        }
    }
    if let Some(ps) = &mut deferred {
        report_plugin_failures(ps.flush(&d.ruleset, &host, &mut on_alert));
    }
    if let Some(e) = write_err.into_inner() {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    out.flush()?;
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub(crate) fn report_plugin_failures(errors: Vec<lanner_plugin_runtime::PluginError>) {
    for e in errors {
        eprintln!("lanner: syscall rules: {e}");
    }
}
