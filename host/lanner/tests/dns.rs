//! `fd.sip.name` and its kin through `lanner run` on the live kernel: a host name in the rules
//! is resolved in the background (here from a line this test adds to /etc/hosts), and a real
//! connection to one of its addresses matches the rule, as in Falco.

mod common;

use common::{Daemon, live_allowed, temp_dir};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

/// One test at a time: a test's removal of its line rewrites /etc/hosts, and a lookup by
/// another test's daemon at that moment would find no address.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// An `ip name` line in /etc/hosts for the test's duration; a lock file keeps concurrent tests
/// from writing over each other's lines.
struct HostsLine(String);

fn edit_hosts(f: impl FnOnce(String) -> String) {
    let lock = std::fs::File::create("/tmp/lanner-etc-hosts.lock").unwrap();
    // SAFETY: flock on a descriptor this function owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let text = std::fs::read_to_string("/etc/hosts").unwrap();
    std::fs::write("/etc/hosts", f(text)).unwrap();
}

impl HostsLine {
    fn add(ip: &str, name: &str) -> Self {
        let line = format!("{ip} {name}");
        edit_hosts(|t| {
            let sep = if t.is_empty() || t.ends_with('\n') { "" } else { "\n" };
            format!("{t}{sep}{line}\n")
        });
        HostsLine(line)
    }
}

impl Drop for HostsLine {
    fn drop(&mut self) {
        edit_hosts(|t| t.lines().filter(|l| *l != self.0).map(|l| format!("{l}\n")).collect());
    }
}

fn rules_for(name: &str, port: u16) -> String {
    format!(
        "- rule: Contact Named Host\n  desc: d\n  condition: evt.type = connect and fd.sip.name = {name} and proc.name = python3\n  output: 'named %fd.sip.name %fd.rip.name %fd.sip %fd.sport'\n  priority: NOTICE\n\
         - rule: Contact Localhost\n  desc: a name that resolves elsewhere must not match\n  condition: evt.type = connect and fd.sip.name in (localhost) and proc.name = python3 and fd.sport = {port}\n  output: 'localhost %fd.sip'\n  priority: NOTICE\n"
    )
}

fn connect(ip: &str, port: u16) {
    let st = Command::new("python3")
        .arg("-c")
        .arg(format!("import socket; socket.create_connection(('{ip}', {port})).close()"))
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_connect_to_a_named_host_matches_fd_sip_name_and_a_reload_watches_new_names() {
    if !live_allowed() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let name = format!("lanner-dns-{}.test", std::process::id());
    let renamed = format!("lanner-dns-reloaded-{}.test", std::process::id());
    let _hosts = HostsLine::add("127.0.0.7", &name);
    let _hosts2 = HostsLine::add("127.0.0.8", &renamed);
    let listener = std::net::TcpListener::bind("127.0.0.7:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let listener2 = std::net::TcpListener::bind("127.0.0.8:0").unwrap();
    let port2 = listener2.local_addr().unwrap().port();
    let dir = temp_dir("dns");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, rules_for(&name, port)).unwrap();
    let lanner = Daemon::start(&[
        "-r",
        rules.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        "watch_config_files=false",
        "-o",
        "webserver.enabled=false",
    ]);
    // Resolution runs beside capture; the log says when the rules' names are known.
    lanner.wait_log(&name, Duration::from_secs(10));
    connect("127.0.0.7", port);
    let a = lanner.wait_alert("Contact Named Host", &format!("127.0.0.7 {port}"));
    let f = &a["output_fields"];
    assert_eq!(f["fd.sip.name"], name.as_str(), "{a}");
    // A client's remote end is its server.
    assert_eq!(f["fd.rip.name"], name.as_str(), "{a}");
    assert_eq!(f["fd.sip"], "127.0.0.7", "{a}");

    // A reload brings a new name: it is resolved and matched in turn.
    std::fs::write(&rules, rules_for(&renamed, port2)).unwrap();
    lanner.signal(libc::SIGHUP);
    lanner.wait_log("reloaded", Duration::from_secs(20));
    lanner.wait_log(&renamed, Duration::from_secs(10));
    connect("127.0.0.8", port2);
    let b = lanner.wait_alert("Contact Named Host", &format!("127.0.0.8 {port2}"));
    assert_eq!(b["output_fields"]["fd.sip.name"], renamed.as_str(), "{b}");

    let (alerts, _) = lanner.stop_with_alerts();
    drop((listener, listener2));
    std::fs::remove_dir_all(&dir).ok();
    assert!(!alerts.iter().any(|a| a["rule"] == "Contact Localhost"), "{alerts:#?}");
}

#[test]
fn an_accepted_connection_from_a_named_host_matches_fd_cip_name() {
    if !live_allowed() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let name = format!("lanner-dns-client-{}.test", std::process::id());
    let _hosts = HostsLine::add("127.0.0.9", &name);
    let dir = temp_dir("dns-accept");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Accept From Named Host\n  desc: d\n  condition: evt.type in (accept, accept4) and fd.cip.name = {name} and proc.name = python3\n  output: 'from %fd.cip.name %fd.rip.name %fd.cip'\n  priority: NOTICE\n"
        ),
    )
    .unwrap();
    let lanner = Daemon::start(&["-r", rules.to_str().unwrap(), "-o", "json_output=true"]);
    lanner.wait_log(&name, Duration::from_secs(10));
    // One script is the server (it accepts) and its client (from 127.0.0.9).
    let script = "import socket\n\
                  s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                  c = socket.socket(); c.bind(('127.0.0.9', 0)); c.connect(s.getsockname())\n\
                  a, _ = s.accept(); a.close(); c.close(); s.close()\n";
    let st = Command::new("python3").arg("-c").arg(script).status().unwrap();
    assert!(st.success());
    let a = lanner.wait_alert("Accept From Named Host", "127.0.0.9");
    lanner.stop();
    std::fs::remove_dir_all(&dir).ok();
    let f = &a["output_fields"];
    assert_eq!(f["fd.cip.name"], name.as_str(), "{a}");
    // A server's remote end is its client.
    assert_eq!(f["fd.rip.name"], name.as_str(), "{a}");
    assert_eq!(f["fd.cip"], "127.0.0.9", "{a}");
}
