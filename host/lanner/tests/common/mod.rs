//! What the `lanner` binary's integration tests share: the root check for live tests,
//! scratch folders and ports, and a running `lanner run` whose alerts and log are collected
//! as they come.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether live (eBPF, root) tests may run: as root yes; otherwise they fail with a clear
/// message, unless LANNER_SKIP_LIVE=1 says to skip them (and that is printed).
pub fn live_allowed() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("LANNER_SKIP_LIVE").as_deref() == Ok("1") {
        eprintln!("SKIPPED: live tests need root (LANNER_SKIP_LIVE=1)");
        return false;
    }
    panic!("live tests need root (eBPF capture); run as root or set LANNER_SKIP_LIVE=1 to skip them");
}

/// An empty scratch folder for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The binary under test, with the `container` plugin built from `plugins/container` (rules
/// files requiring `container`, as Falco's do, load only with it).
pub fn lanner() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lanner"));
    c.env("LANNER_CONTAINER_PLUGIN", lanner_plugin_runtime::testing::build_component("plugins/container"));
    c
}

/// `lanner ARGS` run to its end with the tests' plugin cache and without the `container`
/// plugin, so what it prints is the plugins' and the rules' own (no suggested container
/// fields appended).
pub fn lanner_output(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lanner"))
        .args(args)
        .env("LANNER_PLUGIN_CACHE", lanner_plugin_runtime::testing::wasm_target_dir().join("test-cache"))
        .env("LANNER_CONTAINER_PLUGIN", "")
        .output()
        .expect("run lanner")
}

/// Bytes a command printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A scratch folder for one test, removed when dropped.
pub struct ScratchDir(pub PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An empty [`ScratchDir`].
pub fn scratch_dir(tag: &str) -> ScratchDir {
    ScratchDir(temp_dir(tag))
}

/// `-o webserver.enabled=false`, unless `lanner run ARGS` sets something of the webserver
/// itself (a free port, say), in the arguments or in its `-c` file.
pub fn webserver_off_unless_configured(args: &[&str]) -> Vec<&'static str> {
    let mentioned = args.iter().any(|a| a.contains("webserver"))
        || args
            .windows(2)
            .filter(|w| w[0] == "-c" || w[0] == "--config")
            .any(|w| std::fs::read_to_string(w[1]).is_ok_and(|c| c.contains("webserver")));
    if mentioned { Vec::new() } else { vec!["-o", "webserver.enabled=false"] }
}

/// Runs a shell step that must succeed.
pub fn sh(script: &str) {
    let st = Command::new("sh").arg("-c").arg(script).status().unwrap();
    assert!(st.success(), "{script}");
}

/// `cat FILE`, output discarded: an open that rules can see, whether or not it succeeds.
pub fn cat(path: &Path) {
    let _ = Command::new("cat").arg(path).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// A running `lanner run` whose stdout (alerts) and stderr (log) are collected as they come.
pub struct Daemon {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Starts `lanner run ARGS` and waits until it says it is capturing. Its webserver is
    /// off unless the arguments or the `-c` file configure it: tests run at once, and a
    /// second daemon on the default port would not start.
    pub fn start(args: &[&str]) -> Self {
        let mut child = lanner()
            .arg("run")
            .args(args)
            .args(webserver_off_unless_configured(args))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lanner run");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (o, e) = (stdout.clone(), stderr.clone());
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(out).lines().map_while(Result::ok).for_each(|l| o.lock().unwrap().push(l))
        });
        std::thread::spawn(move || {
            BufReader::new(err).lines().map_while(Result::ok).for_each(|l| {
                eprintln!("[lanner] {l}");
                e.lock().unwrap().push(l)
            })
        });
        let d = Daemon { child, stdout, stderr, reader: Some(reader) };
        d.wait_log("capturing", Duration::from_secs(60));
        d
    }

    /// Waits until a log line contains `what`.
    pub fn wait_log(&self, what: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.stderr.lock().unwrap().iter().any(|l| l.contains(what)) {
            assert!(
                Instant::now() < deadline,
                "lanner never logged '{what}': {:#?}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// How many log lines contain `what`.
    pub fn log_count(&self, what: &str) -> usize {
        self.stderr.lock().unwrap().iter().filter(|l| l.contains(what)).count()
    }

    /// The alerts so far (JSON lines).
    pub fn alerts(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON alert ({e}): {l}")))
            .collect()
    }

    /// Waits until an alert of `rule` whose output contains `text` has come.
    pub fn wait_alert(&self, rule: &str, text: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(a) = self
                .alerts()
                .into_iter()
                .find(|a| a["rule"] == rule && a["output"].as_str().unwrap_or("").contains(text))
            {
                return a;
            }
            assert!(Instant::now() < deadline, "no '{rule}' alert about {text}: {:#?}", self.alerts());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to it.
    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Lets the last records drain from the ring buffer, stops it with SIGTERM and returns
    /// every alert it printed and its exit status.
    pub fn stop_with_alerts(mut self) -> (Vec<Value>, Option<i32>) {
        std::thread::sleep(Duration::from_millis(700));
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "lanner run did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        // Its stdout is closed now: the reader ends after the last line.
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        (self.alerts(), status.code())
    }

    /// Stops it as [`Daemon::stop_with_alerts`] does; the exit status.
    pub fn stop(self) -> Option<i32> {
        self.stop_with_alerts().1
    }
}

/// A rule that fires when `cat` opens a file whose name contains `marker`.
pub fn cat_rule(name: &str, marker: &str) -> String {
    format!(
        "- rule: {name}\n  desc: cat opened a {marker} file\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains {marker}\n  output: '{name} %fd.name'\n  priority: WARNING\n"
    )
}

/// `/metrics` of the daemon whose webserver is on `port` (plain HTTP on loopback).
pub fn metrics_text(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the metrics endpoint");
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// The value of the first metric line of `text` that starts with `prefix`.
pub fn metric_in(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A metric's value on the daemon's `/metrics`: the sum over the lines that start with
/// `prefix` (its labels), 0 when it has none.
pub fn metric(port: u16, prefix: &str) -> f64 {
    metrics_text(port)
        .lines()
        .filter(|l| l.starts_with(prefix) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Whether `f` came true within `limit` (asked every 50 ms, and once more at the end).
pub fn waits_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// The bodies an [`http_server`] received, in order.
pub type Bodies = Arc<Mutex<Vec<String>>>;

/// An HTTP/1.1 server on loopback that answers 200 to every request and keeps the bodies,
/// sent with a Content-Length or chunked (keep-alive connections are served in a loop).
pub fn http_server() -> (u16, Bodies) {
    http_server_with(false)
}

/// [`http_server`], but when `require_length` a body sent without a Content-Length is not
/// kept (and is said on stderr), so a test that waits for it fails.
pub fn http_server_with(require_length: bool) -> (u16, Bodies) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let keep = bodies.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                loop {
                    let mut request = String::new();
                    if r.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let (mut len, mut chunked) = (None, false);
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        let h = h.trim().to_ascii_lowercase();
                        if h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.strip_prefix("content-length:") {
                            len = Some(v.trim().parse::<usize>().unwrap());
                        }
                        chunked |= h.starts_with("transfer-encoding:") && h.contains("chunked");
                    }
                    let mut body = Vec::new();
                    if chunked {
                        loop {
                            let mut size = String::new();
                            r.read_line(&mut size).unwrap();
                            let n = usize::from_str_radix(size.trim(), 16).unwrap();
                            let mut chunk = vec![0; n + 2];
                            r.read_exact(&mut chunk).unwrap();
                            if n == 0 {
                                break;
                            }
                            body.extend_from_slice(&chunk[..n]);
                        }
                    } else {
                        body.resize(len.unwrap_or(0), 0);
                        r.read_exact(&mut body).unwrap();
                    }
                    if require_length && len.is_none() {
                        eprintln!(
                            "test HTTP server: a body without a Content-Length ({request:?}), not kept"
                        );
                    } else {
                        keep.lock().unwrap().push(String::from_utf8(body).unwrap());
                    }
                    w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap();
                }
            });
        }
    });
    (port, bodies)
}
