//! The alert console in a real browser: Debian's chromium driven through chromedriver's
//! WebDriver HTTP protocol, against a live `lanner run` (root, eBPF) whose rules fire on
//! files `cat` opens. A live alert reaches the open page within a second, the filters narrow
//! the list and the chart, hostile file names show as text and run nothing, and without the
//! token every console path answers 401 with the security headers.
//!
//! With LANNER_CONSOLE_SCREENSHOT=PATH the test saves the page as a PNG there (the README's
//! docs/console.png comes from such a run).

mod common;

use common::{Daemon, cat, free_port, live_allowed, scratch_dir};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "console-test-token-0123456789";

/// The tests of this file one at a time: each daemon captures every process's events, and
/// the stalled-page test's flood of opens could make another one's kernel ring drop the
/// single event it waits for.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

/// A GET: status, headers, body.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, ureq::http::HeaderMap, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().expect("the webserver answers");
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (status, h, body)
}

/// A chromium session through chromedriver, both ended when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    profile: std::path::PathBuf,
}

impl Browser {
    fn start(tag: &str) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/setup.sh installs chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut r) = agent().get(&format!("{base}/status")).call()
                && r.body_mut()
                    .read_to_string()
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .is_some_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile =
            std::env::temp_dir().join(format!("lanner-console-chromium-{tag}-{}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1600,1000", format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let mut b = Browser { driver, base, session: String::new(), profile };
        let v = b.call("POST", "/session", Some(caps)).expect("a chromium session");
        b.session = v["sessionId"].as_str().expect("session id").to_string();
        b
    }

    /// A WebDriver command: its `value`, or the error WebDriver answered.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let mut resp = match (method, body) {
            ("POST", b) => agent()
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
            ("DELETE", _) => agent().delete(&url).call(),
            _ => agent().get(&url).call(),
        }
        .expect("chromedriver answers");
        let ok = resp.status().is_success();
        let text = resp.body_mut().read_to_string().expect("a WebDriver answer");
        let v: Value = serde_json::from_str(&text).expect("a WebDriver answer in JSON");
        if ok { Ok(v["value"].clone()) } else { Err(v["value"].clone()) }
    }

    fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).expect("navigate");
    }

    /// Runs a script in the page (the driver's, not the page's: CSP does not apply to it).
    fn exec(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] })))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns true; how long it took.
    fn wait_for(&self, script: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.exec(script) == json!(true) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "the page never satisfied `{script}`; it shows:\n{}",
                self.exec("return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The text of an open alert dialog, if any.
    fn open_dialog(&self) -> Option<String> {
        self.call("GET", "/alert/text", None).ok().map(|v| v.to_string())
    }

    /// The page's console messages since the last call (errors, CSP violations).
    fn console_log(&self) -> Vec<Value> {
        let v = self.call("POST", "/se/log", Some(json!({ "type": "browser" }))).expect("the browser's log");
        v.as_array().cloned().unwrap_or_default()
    }

    fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let v = self.call("GET", "/screenshot", None).expect("screenshot");
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", "", None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Rules firing when `cat` opens a file whose name contains their marker.
fn rules(marker: &str) -> String {
    format!(
        "- rule: Console Read A\n  desc: cat read an A file of the console test\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains {marker}-a\n  output: 'A file read %fd.name by %proc.cmdline'\n  priority: WARNING\n  tags: [console_test, filesystem]\n\
         - rule: Console Read B\n  desc: cat read a B file of the console test\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains {marker}-b\n  output: 'B file read %fd.name'\n  priority: ERROR\n  tags: [console_test]\n"
    )
}

/// How many alert rows the page shows whose text contains `text`.
fn rows_with(b: &Browser, text: &str) -> i64 {
    let script = format!(
        "return [...document.querySelectorAll('#rows tr')].filter(tr => tr.textContent.includes({})).length",
        json!(text)
    );
    b.exec(&script).as_i64().unwrap()
}

#[test]
fn console_in_a_real_browser() {
    if !live_allowed() {
        return;
    }
    let _serial = one_at_a_time();
    let dir = scratch_dir("console");
    let marker = format!("lanner-console-{}", std::process::id());
    let rules_path = dir.0.join("rules.yaml");
    std::fs::write(&rules_path, rules(&marker)).unwrap();
    let port = free_port();
    let (port_o, token_o) = (format!("webserver.listen_port={port}"), format!("console.token={TOKEN}"));
    let d = Daemon::start(&[
        "-r",
        rules_path.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        &port_o,
        "-o",
        "console.enabled=true",
        "-o",
        &token_o,
    ]);
    let base = format!("http://127.0.0.1:{port}");
    d.wait_log(&format!("alert console: {base}/console?token={TOKEN}"), Duration::from_secs(5));

    // Without the token (or with a wrong one) every console path is refused, and even the
    // refusal carries the headers; the health and metrics paths keep their own settings.
    for path in [
        "/console",
        "/console/",
        "/console/console.js",
        "/console/api/alerts",
        "/console/api/events",
        "/console/api/state",
        "/console/api/rule?name=x",
        "/console/nothing/here",
    ] {
        let (status, h, _) = get(&format!("{base}{path}"), &[]);
        assert_eq!(status, 401, "{path}");
        let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{path}");
        let (status, ..) = get(
            &format!("{base}{path}"),
            &[("Cookie", "lanner_console_token=console-test-token-0123456780")],
        );
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    assert_eq!(get(&format!("{base}/console?token=nope-nope-nope-nope"), &[]).0, 401);
    assert_eq!(get(&format!("{base}/healthz"), &[]).0, 200, "/healthz stays open");
    assert_eq!(get(&format!("{base}/elsewhere"), &[]).0, 404, "other paths are not the console's");
    assert_eq!(get(&format!("{base}/metrics"), &[]).0, 200, "/metrics keeps its own (open) setting");
    // With the token: the first visit sets the cookie and leaves the token out of the address.
    let (status, h, _) = get(&format!("{base}/console?token={TOKEN}&rule=x"), &[]);
    assert_eq!(status, 303);
    assert_eq!(h.get("location").unwrap(), "/console?rule=x");
    let (status, h2, _) = get(&format!("{base}/console/?token={TOKEN}"), &[]);
    assert_eq!((status, h2.get("location").map(|v| v.to_str().unwrap())), (303, Some("/console")));
    let cookie = h.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let bearer = format!("Bearer {TOKEN}");
    for path in
        ["/console", "/console/console.js", "/console/vendor/uPlot.iife.min.js", "/console/api/alerts"]
    {
        let (status, h, _) = get(&format!("{base}{path}"), &[("Authorization", &bearer)]);
        assert_eq!(status, 200, "{path}");
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(!csp.contains("unsafe-inline") && csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    }
    let (_, _, page) = get(&format!("{base}/console"), &[("Authorization", &bearer)]);
    assert!(
        !page.contains("<script>") && !page.contains("http://") && !page.contains("https://"),
        "no inline script, nothing from elsewhere"
    );

    // Alerts from before the page opened: five A, three B.
    for i in 0..5 {
        let f = dir.0.join(format!("{marker}-a-early{i}"));
        std::fs::write(&f, "x").unwrap();
        cat(&f);
    }
    for i in 0..3 {
        let f = dir.0.join(format!("{marker}-b-early{i}"));
        std::fs::write(&f, "x").unwrap();
        cat(&f);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.alerts().len() < 8 {
        assert!(Instant::now() < deadline, "the early alerts did not come: {:#?}", d.alerts());
        std::thread::sleep(Duration::from_millis(50));
    }

    let b = Browser::start("main");
    b.goto(&format!("{base}/console?token={TOKEN}"));
    b.wait_for("return document.getElementById('conn').textContent === 'live'", Duration::from_secs(10));
    let url = b.exec("return location.href");
    assert_eq!(url, json!(format!("{base}/console")), "the token left the address bar");
    b.wait_for("return document.getElementById('count').dataset.count === '8'", Duration::from_secs(5));

    // A live alert appears within a second of the event.
    let live = dir.0.join(format!("{marker}-a-live"));
    std::fs::write(&live, "x").unwrap();
    let start = Instant::now();
    cat(&live);
    let live_name = live.to_str().unwrap().to_string();
    let script = format!(
        "return [...document.querySelectorAll('#rows tr')].some(tr => tr.textContent.includes({}))",
        json!(live_name)
    );
    b.wait_for(&script, Duration::from_secs(5));
    let took = start.elapsed();
    eprintln!("live alert in the page after {took:?}");
    assert!(took < Duration::from_secs(1), "the live alert took {took:?}");
    let first = b.exec("return document.querySelector('#rows tr').textContent");
    assert!(first.as_str().unwrap().contains(&live_name), "newest first: {first}");

    // Hostile names: shown as text, nothing runs. The svg one would set a flag, the img one
    // open a dialog, were they markup.
    let hostile = ["<img src=x onerror=alert(1)>", "\"><script>", "<svg onload=window.__pwned=1>"];
    for (i, h) in hostile.iter().enumerate() {
        let f = dir.0.join(format!("{marker}-a-hostile{i}{h}"));
        std::fs::write(&f, "x").unwrap();
        cat(&f);
    }
    for h in hostile {
        b.wait_for(
            &format!(
                "return [...document.querySelectorAll('#rows td')].some(td => td.textContent.includes({}))",
                json!(h)
            ),
            Duration::from_secs(5),
        );
    }
    assert_eq!(
        b.exec("return document.querySelectorAll('#rows img, #rows svg, #rows script').length"),
        json!(0)
    );
    // Their detail too (every output field as text).
    b.exec("[...document.querySelectorAll('#rows tr')].find(tr => tr.textContent.includes('<svg')).click(); return true");
    b.wait_for("return !document.getElementById('detail').hidden && document.getElementById('d-desc').textContent.includes('cat read an A file')", Duration::from_secs(5));
    let detail = b.exec("return document.getElementById('detail').textContent");
    assert!(detail.as_str().unwrap().contains("<svg onload=window.__pwned=1>"), "{detail}");
    assert!(detail.as_str().unwrap().contains("proc.name = cat"), "the rule's condition: {detail}");
    let fields = b.exec("return [...document.querySelectorAll('#d-fields tr')].map(tr => [...tr.children].map(td => td.textContent))");
    assert!(fields.as_array().unwrap().iter().any(|f| f[0] == "fd.name" && f[2] == "string"), "{fields}");
    assert_eq!(
        b.exec("return document.querySelectorAll('#detail img, #detail svg, #detail script').length"),
        json!(0)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.exec("return typeof window.__pwned"), json!("undefined"), "no payload ran");
    assert_eq!(b.open_dialog(), None, "no dialog opened");

    // The filters narrow the list and the chart, and live in the URL.
    b.exec("const i = document.getElementById('f-rule'); i.value = 'Console Read B'; i.dispatchEvent(new Event('input', {bubbles: true})); return true");
    b.wait_for("return document.getElementById('count').dataset.count === '3'", Duration::from_secs(5));
    assert_eq!(rows_with(&b, "B file read"), 3);
    assert_eq!(b.exec("return document.querySelectorAll('#rows tr').length"), json!(3));
    assert_eq!(
        b.exec("return document.getElementById('chart').dataset.total"),
        json!("3"),
        "the chart counts what was sent"
    );
    assert_eq!(b.exec("return location.search"), json!("?rule=Console+Read+B"));
    assert_eq!(
        b.exec("return document.querySelectorAll('#chart canvas').length"),
        json!(1),
        "uPlot drew the chart"
    );
    // A shared view opens with its filters: priority at least Error is B only; a tag.
    b.goto(&format!("{base}/console?priority=Error"));
    b.wait_for("return document.getElementById('count').dataset.count === '3'", Duration::from_secs(5));
    b.goto(&format!("{base}/console?tag=filesystem&q=early"));
    b.wait_for("return document.getElementById('count').dataset.count === '5'", Duration::from_secs(5));
    assert_eq!(b.exec("return document.getElementById('chart').dataset.total"), json!("5"));
    b.goto(&format!("{base}/console?container=host&rule=Console"));
    b.wait_for("return document.getElementById('count').dataset.count === '12'", Duration::from_secs(5));
    let top = b.exec("return document.getElementById('top-rules').textContent");
    assert!(top.as_str().unwrap().contains("Console Read A — 9"), "{top}");
    // Lanner's own state beside the alerts.
    b.wait_for(
        "return document.getElementById('state').textContent.includes('Records captured')",
        Duration::from_secs(10),
    );

    if let Ok(path) = std::env::var("LANNER_CONSOLE_SCREENSHOT") {
        b.goto(&format!("{base}/console"));
        b.wait_for("return document.getElementById('count').dataset.count === '12'", Duration::from_secs(5));
        b.exec("[...document.querySelectorAll('#rows tr')].find(tr => tr.textContent.includes('<img')).click(); return true");
        b.wait_for("return document.getElementById('d-desc').textContent !== ''", Duration::from_secs(5));
        std::fs::write(&path, b.screenshot()).unwrap();
    }
    assert_eq!(b.open_dialog(), None, "no dialog opened");
    // Nothing the policy refused (the page and uPlot work within it), no script error.
    let errors: Vec<Value> = b.console_log().into_iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "{errors:#?}");
    drop(b);
    assert_eq!(d.log_count(TOKEN), 1, "the token is logged once, at start");
    d.stop();
}

#[test]
fn console_is_off_by_default_and_a_generated_token_is_logged_once() {
    if !live_allowed() {
        return;
    }
    let _serial = one_at_a_time();
    let dir = scratch_dir("console-token");
    let marker = format!("lanner-console-token-{}", std::process::id());
    let rules_path = dir.0.join("rules.yaml");
    std::fs::write(&rules_path, rules(&marker)).unwrap();
    // Off by default: no console route, nothing logged about it.
    let port = free_port();
    let port_o = format!("webserver.listen_port={port}");
    let d = Daemon::start(&["-r", rules_path.to_str().unwrap(), "-o", &port_o]);
    assert_eq!(get(&format!("http://127.0.0.1:{port}/console"), &[]).0, 404);
    assert_eq!(get(&format!("http://127.0.0.1:{port}/healthz"), &[]).0, 200);
    assert_eq!(d.log_count("console"), 0);
    d.stop();

    // A ring of no alert, or a token file with nothing in it, stops the start with the key.
    let empty = dir.0.join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let token_file = format!("console.token_file={}", empty.display());
    for (setting, says) in [
        ("console.max_alerts=0", "console.max_alerts: 0 would keep no alert".to_string()),
        (token_file.as_str(), format!("console.token_file {}: empty", empty.display())),
    ] {
        let out = common::lanner()
            .args(["run", "-r", rules_path.to_str().unwrap(), "-o", "console.enabled=true", "-o", setting])
            .args(["-o", &format!("webserver.listen_port={}", free_port())])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(&says), "{setting}: {err}");
    }

    // On without a token: one is made and logged once, in the URL.
    let port = free_port();
    let port_o = format!("webserver.listen_port={port}");
    let d = Daemon::start(&[
        "-r",
        rules_path.to_str().unwrap(),
        "-o",
        &port_o,
        "-o",
        "console.enabled=true",
        "-o",
        "json_output=true",
    ]);
    let prefix = format!("alert console: http://127.0.0.1:{port}/console?token=");
    d.wait_log(&prefix, Duration::from_secs(5));
    let line = d.log_lines().into_iter().find(|l| l.contains(&prefix)).unwrap();
    let token = line.split(&prefix).nth(1).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "{line}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    let bearer = format!("Bearer {token}");
    let (status, _, body) =
        get(&format!("http://127.0.0.1:{port}/console/api/alerts"), &[("Authorization", &bearer)]);
    assert_eq!((status, body.as_str()), (200, "[]"));
    // A reload is shown in the state, and the token is not logged again.
    d.signal(libc::SIGHUP);
    d.wait_log("reloading", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, state) =
            get(&format!("http://127.0.0.1:{port}/console/api/state"), &[("Authorization", &bearer)]);
        let state: Value = serde_json::from_str(&state).unwrap();
        if state["last_reload"]["ok"] == true {
            assert_eq!(state["reloads"]["ok"], 1.0, "{state}");
            break;
        }
        assert!(Instant::now() < deadline, "the reload never showed: {state}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let f = dir.0.join(format!("{marker}-a-one"));
    std::fs::write(&f, "x").unwrap();
    cat(&f);
    d.wait_alert("Console Read A", "-a-one");
    let (_, _, body) =
        get(&format!("http://127.0.0.1:{port}/console/api/alerts"), &[("Authorization", &bearer)]);
    let alerts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts[0]["rule"], "Console Read A");
    assert_eq!(d.log_count(&token), 1, "the token is logged once, at start");
    d.stop();
}

#[test]
fn a_stalled_page_is_counted_and_told_how_many_it_missed() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    if !live_allowed() {
        return;
    }
    let _serial = one_at_a_time();
    let dir = scratch_dir("console-stall");
    let marker = format!("lanner-console-stall-{}", std::process::id());
    let rules_path = dir.0.join("rules.yaml");
    std::fs::write(&rules_path, rules(&marker)).unwrap();
    // Any process: the shell's own redirections below open the file without a fork each.
    let rules_text = std::fs::read_to_string(&rules_path).unwrap().replace("proc.name = cat and ", "");
    std::fs::write(&rules_path, rules_text).unwrap();
    // Made before the daemon starts: only the flood's opens are alerts.
    let file = dir.0.join(format!("{marker}-a-flood"));
    std::fs::write(&file, "x").unwrap();
    let port = free_port();
    let (port_o, token_o) = (format!("webserver.listen_port={port}"), format!("console.token={TOKEN}"));
    let d = Daemon::start(&[
        "-r",
        rules_path.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        &port_o,
        "-o",
        "console.enabled=true",
        "-o",
        &token_o,
        // The container plugin's fields (suggested output) are not needed here, and
        // extracting them for thousands of alerts in a debug build takes a minute.
        "-o",
        "append_output=[]",
    ]);
    // A page that asks for the live alerts and then reads nothing, with a small window.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let rcvbuf = |s: &std::net::TcpStream, size: libc::c_int| {
        // SAFETY: setting an option of a socket this test owns, with a value of the right size.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    };
    rcvbuf(&stalled, 65536);
    write!(stalled, "GET /console/api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
        .unwrap();
    let metric = || {
        let (_, _, m) = get(&format!("http://127.0.0.1:{port}/metrics"), &[]);
        m.lines()
            .find_map(|l| l.strip_prefix("lanner_console_clients_behind_total "))
            .map(|v| v.trim().parse::<f64>().unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&format!("http://127.0.0.1:{port}/metrics"), &[])
        .2
        .lines()
        .all(|l| l != "lanner_console_clients 1")
    {
        assert!(Instant::now() < deadline, "the stalled page never subscribed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(), Some(0.0));
    let n = 8000;
    common::sh(&format!("i=0; while [ $i -lt {n} ]; do : < '{}'; i=$((i+1)); done", file.display()));
    // The page fell behind, and is counted (once per time: the server may have taken a
    // `behind` notice into its own buffers and then found the queue full again).
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric().is_none_or(|v| v < 1.0) {
        assert!(Instant::now() < deadline, "the stalled page was not counted: {:?}", metric());
        std::thread::sleep(Duration::from_millis(100));
    }
    // When it reads again, it gets what was queued and then how many it missed.
    stalled.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let missed = loop {
        let k = stalled.read(&mut buf).expect("the stream goes on");
        assert!(k > 0, "the stream ended");
        got.extend_from_slice(&buf[..k]);
        let text = String::from_utf8_lossy(&got);
        if let Some(rest) = text.split("event: behind\ndata: {\"missed\":").nth(1)
            && let Some(end) = rest.find('}')
        {
            break rest[..end].parse::<usize>().unwrap();
        }
    };
    let delivered = String::from_utf8_lossy(&got).matches("event: alert").count();
    eprintln!("the stalled page got {delivered} alerts before being told it missed {missed}");
    assert!(missed > 0 && delivered + missed <= n, "delivered {delivered}, missed {missed}");
    // Every alert still went out on stdout.
    let (alerts, status) = d.stop_with_alerts();
    assert_eq!(alerts.len(), n);
    assert_eq!(status, Some(0), "nothing lost by detection or the outputs");
}

/// A NATS connection for the fleet test: publishes and JetStream requests on the text
/// protocol.
struct Nats {
    w: std::net::TcpStream,
    r: std::io::BufReader<std::net::TcpStream>,
}

impl Nats {
    fn connect(port: u16) -> Self {
        use std::io::{BufRead, Write};
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = tcp.try_clone().unwrap();
        let mut r = std::io::BufReader::new(tcp);
        let mut info = String::new();
        r.read_line(&mut info).unwrap();
        assert!(info.starts_with("INFO "), "{info}");
        w.write_all(b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB _INBOX.test.* 1\r\n").unwrap();
        Nats { w, r }
    }

    /// Publishes `body` on `subject` and waits for the answer (the stream's acknowledgement,
    /// or the API's reply).
    fn request(&mut self, subject: &str, body: &str) -> Value {
        use std::io::{BufRead, Read, Write};
        write!(self.w, "PUB {subject} _INBOX.test.r {}\r\n{body}\r\n", body.len()).unwrap();
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            let parts: Vec<&str> = line.trim_end().split(' ').collect();
            match parts[0] {
                "PING" => self.w.write_all(b"PONG\r\n").unwrap(),
                "MSG" => {
                    let n: usize = parts[parts.len() - 1].parse().unwrap();
                    let mut b = vec![0u8; n + 2];
                    self.r.read_exact(&mut b).unwrap();
                    let v: Value = serde_json::from_slice(&b[..n]).unwrap();
                    assert!(v.get("error").is_none(), "{subject}: {v}");
                    return v;
                }
                "-ERR" => panic!("{line}"),
                _ => {}
            }
        }
    }
}

/// An alert as a node's `nats` sink sends it (the JSON every output writes).
fn fleet_alert(host: &str, rule: &str, output: &str) -> String {
    json!({
        "hostname": host, "rule": rule, "priority": "Warning", "source": "syscall",
        "output": output, "tags": ["fleet_test"],
        "output_fields": {"fd.name": output, "container.name": format!("{host}-web"), "proc.pid": 7},
        "time": "2026-12-06T05:00:00.000000000Z",
    })
    .to_string()
}

#[test]
fn the_fleet_console_shows_every_node_from_a_jetstream_stream() {
    use std::io::{BufRead, BufReader};
    let dir = scratch_dir("console-fleet");
    let nats_port = free_port();
    let mut server = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &nats_port.to_string(), "-sd"])
        .arg(dir.0.join("js"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (scripts/setup.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut nats = Nats::connect(nats_port);
    let stream = json!({"name": "LANNER", "subjects": ["lanner.alerts.>"], "storage": "memory"});
    nats.request("$JS.API.STREAM.CREATE.LANNER", &stream.to_string());
    nats.request(
        "lanner.alerts.node-a.warning",
        &fleet_alert("node-a", "Fleet Rule A", "/tmp/<img src=x onerror=alert(1)>"),
    );
    nats.request("lanner.alerts.node-b.warning", &fleet_alert("node-b", "Fleet Rule B", "/tmp/b"));

    let start_console = |extra: &[&str]| {
        let port = free_port();
        let mut child = common::lanner()
            .args(["console", "--nats", &format!("nats://127.0.0.1:{nats_port}"), "--stream", "LANNER"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("LANNER_CONSOLE_TOKEN", TOKEN)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[console] {l}");
                let _ = tx.send(l);
            }
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !seen.iter().any(|l: &String| l.contains("following the stream")) {
            let left = deadline.saturating_duration_since(Instant::now());
            seen.push(
                rx.recv_timeout(left).unwrap_or_else(|_| panic!("the console did not follow: {seen:#?}")),
            );
        }
        let url = format!("fleet console: http://127.0.0.1:{port}/console?token={TOKEN}");
        assert_eq!(seen.iter().filter(|l| l.contains(&url)).count(), 1, "{seen:#?}");
        (child, port)
    };
    let alerts = |port: u16, want: usize| -> Vec<Value> {
        let bearer = format!("Bearer {TOKEN}");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, _, body) =
                get(&format!("http://127.0.0.1:{port}/console/api/alerts"), &[("Authorization", &bearer)]);
            assert_eq!(status, 200);
            let v: Vec<Value> = serde_json::from_str(&body).unwrap();
            if v.len() >= want || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // Every node's alerts, replayed from the stream, then a live one.
    let (mut all, port) = start_console(&[]);
    assert_eq!(get(&format!("http://127.0.0.1:{port}/console/api/alerts"), &[]).0, 401);
    let got = alerts(port, 2);
    let hosts: Vec<&str> = got.iter().map(|a| a["hostname"].as_str().unwrap()).collect();
    assert_eq!(hosts, ["node-b", "node-a"], "newest first");
    assert_eq!(got[1]["output"], "/tmp/<img src=x onerror=alert(1)>");
    assert_eq!(got[1]["container"], "node-a-web");
    let fields = got[1]["fields"].as_array().unwrap();
    assert!(
        fields.iter().any(|f| f["name"] == "proc.pid" && f["value"] == "7" && f["type"] == "uint"),
        "{fields:?}"
    );
    nats.request("lanner.alerts.node-b.warning", &fleet_alert("node-b", "Fleet Rule B", "/tmp/live"));
    let got = alerts(port, 3);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["output"], "/tmp/live");
    // The same page, in the browser: both nodes, the hostile name as text.
    let b = Browser::start("fleet");
    b.goto(&format!("http://127.0.0.1:{port}/console?token={TOKEN}"));
    b.wait_for("return document.getElementById('count').dataset.count === '3'", Duration::from_secs(10));
    assert_eq!(rows_with(&b, "node-a"), 1);
    assert_eq!(rows_with(&b, "node-b"), 2);
    assert_eq!(rows_with(&b, "/tmp/<img src=x onerror=alert(1)>"), 1);
    assert_eq!(b.exec("return document.querySelectorAll('#rows img').length"), json!(0));
    b.goto(&format!("http://127.0.0.1:{port}/console?host=node-a"));
    b.wait_for("return document.getElementById('count').dataset.count === '1'", Duration::from_secs(10));
    assert_eq!(b.open_dialog(), None);
    drop(b);
    // One host only.
    let (mut one, port_a) = start_console(&["--host", "node-a"]);
    let got = alerts(port_a, 2);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["hostname"], "node-a");
    for c in [&mut all, &mut one] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = server.kill();
    let _ = server.wait();
}
