//! Falco's built-in outputs under Falco's keys: `syslog_output` to a real rsyslog (Debian's
//! `rsyslog`, started here in the foreground with its own socket and output file). Needs
//! root (live capture), or LANNER_SKIP_LIVE=1 to skip.

mod common;

use common::{Daemon, cat, live_allowed, temp_dir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An rsyslogd of the test's own, killed when dropped.
struct Rsyslog {
    child: Child,
    socket: PathBuf,
    out: PathBuf,
}

impl Rsyslog {
    /// Listens on `DIR/log.sock` (not the system's) and writes every message to `DIR/syslog.out`
    /// as `facility|severity|tag|message`.
    fn start(dir: &Path) -> Self {
        let socket = dir.join("log.sock");
        let out = dir.join("syslog.out");
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{d}\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{s}\")\n\
                 template(name=\"fields\" type=\"string\" string=\"%syslogfacility-text%|%syslogseverity-text%|%syslogtag%|%msg%\\n\")\n\
                 *.* action(type=\"omfile\" file=\"{o}\" template=\"fields\")\n",
                d = dir.display(),
                s = socket.display(),
                o = out.display()
            ),
        )
        .unwrap();
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .spawn()
            .expect("rsyslogd (Debian package rsyslog, see scripts/setup.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "rsyslogd never made its socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Rsyslog { child, socket, out }
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const RULES: &str = "- rule: Syslog Critical\n  desc: cat opened a syslog-crit file\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains syslog-crit\n  output: 'Syslog Critical %fd.name'\n  priority: CRITICAL\n\
- rule: Syslog Info\n  desc: cat opened a syslog-info file\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains syslog-info\n  output: 'Syslog Info %fd.name'\n  priority: INFORMATIONAL\n";

#[test]
fn syslog_output_reaches_rsyslog_with_facility_user_the_alert_priority_and_the_tag() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("syslog");
    let rsyslog = Rsyslog::start(&dir);
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let config = dir.join("lanner.yaml");
    std::fs::write(
        &config,
        format!(
            "json_output: true\nstdout_output: {{enabled: true}}\nsyslog_output:\n  enabled: true\n  priority: notice\n  socket: {}\n  tag: falco\n",
            rsyslog.socket.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    let info = dir.join("syslog-info-marker");
    let crit = dir.join("syslog-crit-marker");
    std::fs::write(&info, "x").unwrap();
    std::fs::write(&crit, "x").unwrap();
    // The informational one first: when the critical one is in the file, the other would be too.
    cat(&info);
    d.wait_alert("Syslog Info", "syslog-info-marker");
    cat(&crit);
    d.wait_alert("Syslog Critical", "syslog-crit-marker");
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        if let Some(l) = rsyslog.lines().into_iter().find(|l| l.contains("syslog-crit-marker")) {
            break l;
        }
        assert!(Instant::now() < deadline, "rsyslog never wrote the alert: {:#?}", rsyslog.lines());
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = d.stop();
    let parts: Vec<&str> = line.splitn(4, '|').collect();
    assert_eq!(parts[..3], ["user", "crit", "falco:"], "{line}");
    // The message is the JSON alert, as json_output asks.
    let alert: serde_json::Value =
        serde_json::from_str(parts[3].trim()).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(alert["rule"], "Syslog Critical");
    assert_eq!(alert["priority"], "Critical");
    // Below the output's threshold: on stdout, not in syslog.
    assert!(!rsyslog.lines().iter().any(|l| l.contains("syslog-info-marker")), "{:#?}", rsyslog.lines());
    assert_eq!(status, Some(0), "nothing dropped");
}

#[test]
fn a_missing_syslog_socket_is_said_at_start_and_its_alerts_are_counted_as_dropped() {
    if !live_allowed() {
        return;
    }
    let dir = temp_dir("syslog-missing");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let socket = dir.join("no-such.sock");
    let config = dir.join("lanner.yaml");
    std::fs::write(
        &config,
        format!(
            "json_output: true\noutputs_queue: {{retry_attempts: 1}}\nsyslog_output: {{enabled: true, socket: {}}}\n",
            socket.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    d.wait_log("syslog_output.socket is not there", Duration::from_secs(5));
    let crit = dir.join("syslog-crit-missing");
    std::fs::write(&crit, "x").unwrap();
    cat(&crit);
    d.wait_alert("Syslog Critical", "syslog-crit-missing");
    d.wait_log("delivery failed", Duration::from_secs(10));
    assert!(d.log_count(&socket.display().to_string()) >= 2, "the log names the socket");
    let status = d.stop();
    assert_ne!(status, Some(0), "a run that dropped alerts does not end as a clean one");
}
