//! Sink plugins (`plugins/file`, `plugins/webhook`, `plugins/slack`) against real
//! destinations on loopback, through [`PluginSink`] and the `lanner-outputs` pipeline: the
//! content each destination receives, escaping of user-controlled text, rotation, servers
//! failing or hanging, and bursts.

use lanner_event::{Alert, AlertSink, OutputField, Priority, Value};
use lanner_outputs::{OutputSpec, Outputs, RetryPolicy};
use lanner_plugin_runtime::sink::PluginSink;
use lanner_plugin_runtime::testing::build_component;
use lanner_plugin_runtime::{Plugin, PluginConfig, Runtime, RuntimeOptions};
use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn runtime() -> Runtime {
    let cache = lanner_plugin_runtime::testing::wasm_target_dir().join("test-cache");
    Runtime::new(RuntimeOptions { cache_dir: Some(cache) }).expect("runtime starts")
}

fn load(rt: &Runtime, crate_dir: &str, yaml: &str) -> Arc<Plugin> {
    let cfg = PluginConfig::parse(yaml).expect("valid test config");
    Arc::new(rt.load(&build_component(crate_dir), cfg).unwrap_or_else(|e| panic!("{crate_dir}: {e}")))
}

fn alert(rule: &str, output: &str, fields: &[(&str, &str)]) -> Alert {
    Alert {
        time_ns: 1_714_564_800_123_456_789,
        rule: rule.into(),
        priority: Priority::Warning,
        output: output.into(),
        output_fields: fields
            .iter()
            .map(|(k, v)| OutputField {
                name: k.to_string(),
                value: Some(Value::Str(Cow::Owned(v.to_string()))),
            })
            .collect(),
        source: "syscall".into(),
        tags: vec!["filesystem".into(), "mitre_persistence".into()],
        hostname: "node-1".into(),
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// What the server answers: a status, or nothing for a while.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    Hang(Duration),
}

/// A small HTTP/1.1 server on loopback recording every request.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    answer: Arc<Mutex<Answer>>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new(Answer::Status(200)));
        let fail_first = Arc::new(AtomicUsize::new(0));
        let (r, a, f) = (requests.clone(), answer.clone(), fail_first.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, a, f) = (r.clone(), a.clone(), f.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &r, &a, &f);
                });
            }
        });
        Server { port, requests, answer, fail_first }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(
    conn: TcpStream,
    requests: &Mutex<Vec<Request>>,
    answer: &Mutex<Answer>,
    fail_first: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
            body = read_chunked(&mut reader)?;
        } else {
            reader.read_exact(&mut body)?;
        }
        requests.lock().unwrap().push(Request { line: line.trim_end().to_string(), headers, body });
        let status =
            if fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                500
            } else {
                match *answer.lock().unwrap() {
                    Answer::Status(s) => s,
                    Answer::Hang(d) => {
                        std::thread::sleep(d);
                        200
                    }
                }
            };
        write!(conn, "HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok")?;
        conn.flush()?;
    }
}

fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk)?;
        if n == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

fn http_yaml(server: &Server, config: &str) -> String {
    format!(
        "config: {config}\nlimits: {{call_timeout_ms: 20000}}\nrestart: {{max_failures: 1000, backoff_ms: 10, max_backoff_ms: 50}}\ngrants: {{http: [\"127.0.0.1:{}\"]}}\n",
        server.port
    )
}

#[test]
fn webhook_posts_falcosidekick_json_with_output_fields_and_headers() {
    let rt = runtime();
    let server = Server::start();
    let cfg = format!(
        "{{url: \"http://127.0.0.1:{}/falco?x=1\", headers: {{X-Token: s3cret, User-Agent: lanner-test}}}}",
        server.port
    );
    let mut sink = PluginSink::new(load(&rt, "plugins/webhook", &http_yaml(&server, &cfg))).unwrap();
    let a = alert(
        "Write below etc",
        "File below /etc opened (file=/etc/x)",
        &[("fd.name", "/etc/x"), ("proc.name", "vi")],
    );
    let b = alert("No fields", "nothing", &[]);
    sink.deliver(&[a.clone(), b]).unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one request per alert");
    assert_eq!(reqs[0].line, "POST /falco?x=1 HTTP/1.1");
    assert_eq!(reqs[0].header("x-token"), Some("s3cret"));
    assert_eq!(reqs[0].header("user-agent"), Some("lanner-test"));
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    let j = reqs[0].json();
    assert_eq!(j["rule"], "Write below etc");
    assert_eq!(j["priority"], "Warning");
    assert_eq!(j["output"], a.output);
    assert_eq!(j["source"], "syscall");
    assert_eq!(j["hostname"], "node-1");
    assert_eq!(j["time"], "2024-05-01T12:00:00.123456789Z");
    assert_eq!(j["tags"], serde_json::json!(["filesystem", "mitre_persistence"]));
    assert_eq!(j["output_fields"], serde_json::json!({"fd.name": "/etc/x", "proc.name": "vi"}));
    // falcosidekick rejects alerts without output_fields: an alert without fields has {}.
    assert_eq!(reqs[1].json()["output_fields"], serde_json::json!({}));

    // A 500 is retryable, a 400 is not; neither message holds the URL.
    *server.answer.lock().unwrap() = Answer::Status(500);
    let e = sink.deliver(std::slice::from_ref(&a)).unwrap_err();
    assert!(e.retryable && !e.message.contains("/falco"), "{e:?}");
    *server.answer.lock().unwrap() = Answer::Status(400);
    let e = sink.deliver(std::slice::from_ref(&a)).unwrap_err();
    assert!(!e.retryable && !e.message.contains("/falco"), "{e:?}");
}

#[test]
fn webhook_to_a_host_not_granted_is_refused() {
    let rt = runtime();
    let server = Server::start();
    let yaml = format!(
        "config: {{url: \"http://127.0.0.1:{}/\"}}\nlimits: {{call_timeout_ms: 20000}}\ngrants: {{http: [\"example.com\"]}}\n",
        server.port
    );
    let mut sink = PluginSink::new(load(&rt, "plugins/webhook", &yaml)).unwrap();
    assert!(sink.deliver(&[alert("r", "o", &[])]).is_err());
    assert!(server.requests().is_empty());
}

fn file_yaml(dir: &std::path::Path, config: &str) -> String {
    format!("config: {config}\ngrants: {{dirs: [{{host: {}, guest: /out, mode: rw}}]}}\n", dir.display())
}

#[test]
fn file_sink_writes_json_lines_that_match_the_alerts() {
    let rt = runtime();
    for keep_alive in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!("{{filename: /out/alerts.json, keep_alive: {keep_alive}}}");
        let mut sink = PluginSink::new(load(&rt, "plugins/file", &file_yaml(dir.path(), &cfg))).unwrap();
        let alerts: Vec<Alert> = (0..50)
            .map(|i| alert(&format!("rule {i}"), &format!("out {i}"), &[("n", &i.to_string())]))
            .collect();
        sink.deliver(&alerts[..20]).unwrap();
        sink.deliver(&alerts[20..]).unwrap();
        let text = std::fs::read_to_string(dir.path().join("alerts.json")).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 50);
        for (l, a) in lines.iter().zip(&alerts) {
            assert_eq!(l["rule"], a.rule.as_str());
            assert_eq!(l["output"], a.output.as_str());
            assert_eq!(l["priority"], "Warning");
            assert_eq!(l["output_fields"]["n"], a.output_fields[0].value.as_ref().unwrap().to_string());
        }
    }
}

#[test]
fn file_sink_text_lines_cannot_be_forged_by_a_file_name() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let cfg = "{filename: /out/alerts.log, format: text}";
    let mut sink = PluginSink::new(load(&rt, "plugins/file", &file_yaml(dir.path(), cfg))).unwrap();
    let evil = "/tmp/x\n2024-05-01T12:00:00.000000000Z: Critical forged alert\r";
    sink.deliver(&[alert("r", &format!("opened {evil}"), &[("fd.name", evil)])]).unwrap();
    // JSON lines too.
    let cfg = "{filename: /out/alerts.json, format: json}";
    let mut json_sink = PluginSink::new(load(&rt, "plugins/file", &file_yaml(dir.path(), cfg))).unwrap();
    json_sink.deliver(&[alert("r", &format!("opened {evil}"), &[("fd.name", evil)])]).unwrap();

    let text = std::fs::read_to_string(dir.path().join("alerts.log")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(
        text,
        "2024-05-01T12:00:00.123456789Z: Warning opened /tmp/x\\n2024-05-01T12:00:00.000000000Z: Critical forged alert\\r\n"
    );
    let json = std::fs::read_to_string(dir.path().join("alerts.json")).unwrap();
    assert_eq!(json.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(v["output_fields"]["fd.name"], evil);
}

#[test]
fn file_sink_reopens_after_rotation() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let cfg = "{filename: /out/alerts.json, keep_alive: true}";
    let mut sink = PluginSink::new(load(&rt, "plugins/file", &file_yaml(dir.path(), cfg))).unwrap();
    let path = dir.path().join("alerts.json");
    sink.deliver(&[alert("one", "o", &[])]).unwrap();
    // logrotate's default: rename, then the writer must create a new file.
    std::fs::rename(&path, dir.path().join("alerts.json.1")).unwrap();
    sink.deliver(&[alert("two", "o", &[])]).unwrap();
    // copytruncate-like, or a new file put in place by someone else.
    std::fs::rename(&path, dir.path().join("alerts.json.2")).unwrap();
    std::fs::write(&path, "").unwrap();
    sink.deliver(&[alert("three", "o", &[])]).unwrap();
    sink.deliver(&[alert("four", "o", &[])]).unwrap();
    let rules = |name: &str| -> Vec<String> {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(rules("alerts.json.1"), ["one"]);
    assert_eq!(rules("alerts.json.2"), ["two"]);
    assert_eq!(rules("alerts.json"), ["three", "four"]);
}

#[test]
fn slack_message_layout_and_markup_escaping() {
    let rt = runtime();
    let server = Server::start();
    let cfg = format!("{{webhook_url: \"http://127.0.0.1:{}/services/T000/B000/SECRETTOKEN\"}}", server.port);
    let mut sink = PluginSink::new(load(&rt, "plugins/slack", &http_yaml(&server, &cfg))).unwrap();
    let a = alert(
        "Shell in <container>",
        "A shell <!channel> ran <http://evil.example|click here> & more",
        &[("proc.cmdline", "sh -c '<!here>'"), ("container.name", "web&db")],
    );
    sink.deliver(&[a]).unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].line, "POST /services/T000/B000/SECRETTOKEN HTTP/1.1");
    let body = String::from_utf8(reqs[0].body.clone()).unwrap();
    for raw in ["<!channel>", "<!here>", "<http://evil", "web&db"] {
        assert!(!body.contains(raw), "{raw} reached Slack unescaped: {body}");
    }
    let j = reqs[0].json();
    assert_eq!(j["text"], "Warning | Shell in &lt;container&gt;");
    let att = &j["attachments"][0];
    assert_eq!(att["text"], "A shell &lt;!channel&gt; ran &lt;http://evil.example|click here&gt; &amp; more");
    let fields: Vec<(String, String)> = att["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["title"].as_str().unwrap().to_string(), f["value"].as_str().unwrap().to_string()))
        .collect();
    let get = |t: &str| fields.iter().find(|(k, _)| k == t).map(|(_, v)| v.as_str());
    assert_eq!(get("rule"), Some("Shell in &lt;container&gt;"));
    assert_eq!(get("priority"), Some("Warning"));
    assert_eq!(get("time"), Some("2024-05-01T12:00:00.123456789Z"));
    assert_eq!(get("hostname"), Some("node-1"));
    assert_eq!(get("proc.cmdline"), Some("sh -c '&lt;!here&gt;'"));
    assert_eq!(get("container.name"), Some("web&amp;db"));

    // The webhook URL is a secret: an error never shows it.
    *server.answer.lock().unwrap() = Answer::Status(500);
    let e = sink.deliver(&[alert("r", "o", &[])]).unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(!e.message.contains("SECRETTOKEN") && !e.message.contains("/services"), "{e:?}");
}

/// A sink recording when each alert arrived, standing for stdout.
struct Timing(Arc<Mutex<Vec<Duration>>>, Instant);

impl AlertSink for Timing {
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), lanner_event::SinkError> {
        let now = self.1.elapsed();
        let mut v = self.0.lock().unwrap();
        for a in alerts {
            v.push(now.saturating_sub(Duration::from_nanos(a.time_ns)));
        }
        Ok(())
    }
}

fn spec(name: &str, attempts: u32, capacity: usize) -> OutputSpec {
    OutputSpec {
        queue_capacity: capacity,
        retry: RetryPolicy {
            attempts,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
        },
        ..OutputSpec::new(name)
    }
}

#[test]
fn slack_answering_500_then_recovering_is_retried_and_delivered() {
    let rt = runtime();
    let server = Server::start();
    server.fail_first.store(3, Ordering::SeqCst);
    let cfg = format!("{{webhook_url: \"http://127.0.0.1:{}/hook\"}}", server.port);
    let sink = PluginSink::new(load(&rt, "plugins/slack", &http_yaml(&server, &cfg))).unwrap();
    let mut outputs = Outputs::new();
    outputs.add(spec("slack", 6, 100), Box::new(sink)).unwrap();
    outputs.send(&alert("r", "o", &[]));
    let stats = outputs.stats();
    let report = outputs.shutdown(Duration::from_secs(20));
    assert_eq!(report.total_dropped(), 0);
    assert_eq!(stats[0].1.delivered.load(Ordering::Relaxed), 1);
    assert_eq!(stats[0].1.failed_attempts.load(Ordering::Relaxed), 3);
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn slack_hanging_times_out_is_dropped_after_retries_and_stdout_latency_is_unchanged() {
    let rt = runtime();
    let server = Server::start();
    *server.answer.lock().unwrap() = Answer::Hang(Duration::from_secs(30));
    let cfg = format!("{{webhook_url: \"http://127.0.0.1:{}/hook\", timeout_ms: 300}}", server.port);
    let sink = PluginSink::new(load(&rt, "plugins/slack", &http_yaml(&server, &cfg))).unwrap();
    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut outputs = Outputs::new();
    outputs.add(spec("stdout", 1, 10_000), Box::new(Timing(latencies.clone(), start))).unwrap();
    outputs.add(spec("slack", 2, 10), Box::new(sink)).unwrap();
    for i in 0..200 {
        let mut a = alert("r", &format!("o {i}"), &[]);
        a.time_ns = start.elapsed().as_nanos() as u64;
        outputs.send(&a);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let stats = outputs.stats();
    let report = outputs.shutdown(Duration::from_secs(3));
    let lat = latencies.lock().unwrap().clone();
    assert_eq!(lat.len(), 200, "every stdout alert delivered");
    let mut sorted = lat.clone();
    sorted.sort();
    // Stdout never waits for Slack: had it waited, an alert would have sat behind at least
    // one of Slack's 300 ms timeouts. (How fast stdout is, is measured by bench/sinks.sh,
    // not asserted here: a loaded machine delays every thread.)
    let worst = *sorted.last().unwrap();
    assert!(worst < Duration::from_millis(300), "a stdout alert waited {worst:?} while slack hangs");
    // Slack: each attempt times out (300 ms) rather than hanging for 30 s; whatever was not
    // delivered is counted.
    let slack = &stats[1].1;
    assert!(slack.failed_attempts.load(Ordering::Relaxed) >= 2, "{slack:?}");
    assert_eq!(slack.delivered.load(Ordering::Relaxed), 0);
    let dropped = report.dropped.iter().find(|(n, _)| n == "slack").unwrap().1;
    assert_eq!(dropped, 200, "{report:?}");
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").parse().unwrap()))
        .unwrap()
}

#[test]
fn burst_of_100k_alerts_bounded_memory_every_drop_counted_file_loses_nothing_it_accepted() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let file = PluginSink::new(load(
        &rt,
        "plugins/file",
        &file_yaml(dir.path(), "{filename: /out/burst.json, keep_alive: true}"),
    ))
    .unwrap();
    // A webhook whose server is down: everything it accepted is eventually dropped, counted.
    let down = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = down.local_addr().unwrap().port();
    drop(down);
    let hook_yaml = format!(
        "config: {{url: \"http://127.0.0.1:{port}/\", timeout_ms: 200}}\nlimits: {{call_timeout_ms: 20000}}\ngrants: {{http: [\"127.0.0.1:{port}\"]}}\n"
    );
    let hook = PluginSink::new(load(&rt, "plugins/webhook", &hook_yaml)).unwrap();
    let mut outputs = Outputs::new();
    outputs.add(spec("file", 3, 10_000), Box::new(file)).unwrap();
    outputs.add(spec("webhook", 2, 1_000), Box::new(hook)).unwrap();
    let before = rss_kb();
    let a = alert("burst", &"x".repeat(200), &[("fd.name", "/etc/passwd")]);
    let mut peak = before;
    for i in 0..100_000u32 {
        outputs.send(&a);
        if i % 10_000 == 0 {
            peak = peak.max(rss_kb());
        }
    }
    peak = peak.max(rss_kb());
    let stats = outputs.stats();
    let report = outputs.shutdown(Duration::from_secs(30));
    for (name, s) in &stats {
        let delivered = s.delivered.load(Ordering::Relaxed);
        assert_eq!(delivered + s.dropped(), 100_000, "{name}: {s:?}");
    }
    let file_delivered = stats[0].1.delivered.load(Ordering::Relaxed);
    let lines = std::fs::read_to_string(dir.path().join("burst.json")).unwrap().lines().count() as u64;
    assert_eq!(lines, file_delivered, "the file holds every alert counted as delivered");
    assert!(report.unfinished.is_empty() || report.unfinished == ["webhook"], "{report:?}");
    // Queues are bounded (10,000 + 1,000 alerts of ~0.5 KB): no growth with the burst size.
    assert!(peak.saturating_sub(before) < 64 * 1024, "RSS grew by {} kB", peak - before);
}

/// aiosmtpd (installed by scripts/setup.sh) on loopback, writing each message it accepts as
/// JSON into a folder, with the TLS version it came under (`tls`, null in clear) and whether
/// TLS came by STARTTLS; every MAIL FROM and AUTH attempt is appended to `events.log` with
/// whether it was inside TLS. AUTH accepts lanner/pw. The mode: `plain` (no STARTTLS
/// offered, AUTH in clear), `starttls` (STARTTLS required before anything, AUTH only inside
/// TLS) or `tls` (implicit TLS), with the certificate and key given after it.
const SMTP_SERVER: &str = r#"
import sys, json, os, ssl
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
port, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def tls_version(server):
    obj = server.transport.get_extra_info("ssl_object") if server.transport else None
    return obj.version() if obj else None
def note(line):
    with open(os.path.join(out, "events.log"), "a") as f:
        f.write(line + "\n")
class Handler:
    n = 0
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        note("MAIL tls=%s" % tls_version(server))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        Handler.n += 1
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        rec = {"from": envelope.mail_from, "to": envelope.rcpt_tos, "login": login,
               "data": envelope.content.decode("utf-8", "replace"),
               "tls": tls_version(server), "starttls": session.ssl is not None}
        path = os.path.join(out, "%05d.json" % Handler.n)
        with open(path + ".tmp", "w") as f:
            json.dump(rec, f)
        os.rename(path + ".tmp", path)
        return "250 OK"
def auth(server, session, envelope, mechanism, data):
    note("AUTH %s tls=%s" % (mechanism, tls_version(server)))
    ok = isinstance(data, LoginPassword) and data.login == b"lanner" and data.password == b"pw"
    return AuthResult(success=ok, handled=False, auth_data=data)
ctx = None
if mode != "plain":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
if mode == "plain":
    c = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False)
elif mode == "starttls":
    c = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth, tls_context=ctx,
                   require_starttls=True, auth_require_tls=True)
else:
    c = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth, ssl_context=ctx,
                   auth_require_tls=False)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

struct Smtp {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Smtp {
    fn start(port: u16) -> Smtp {
        Smtp::start_mode(port, "plain", None)
    }

    /// `mode` as in [`SMTP_SERVER`]; `certs` gives the server's certificate for TLS modes.
    fn start_mode(port: u16, mode: &str, certs: Option<&Certs>) -> Smtp {
        let tools = std::env::var_os("LANNER_SMTP_TOOLS").unwrap_or_else(|| "/opt/lanner-smtp-tools".into());
        let python = std::path::Path::new(&tools).join("bin/python3");
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(&python);
        cmd.arg("-c").arg(SMTP_SERVER).arg(port.to_string()).arg(dir.path()).arg(mode);
        if let Some(c) = certs {
            cmd.arg(c.dir.path().join("server.pem")).arg(c.dir.path().join("server.key"));
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{} cannot run ({e}): scripts/setup.sh installs aiosmtpd", python.display())
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Smtp { child, dir }
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
    }

    /// The MAIL FROM and AUTH attempts the server saw, with the TLS version they came under.
    fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("events.log"))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost, made with
/// the `openssl` command (scripts/setup.sh installs it): `ca.pem`, `server.pem`,
/// `server.key`. The plugin is granted the folder read-only as `/ca`.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .current_dir(dir.path())
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("openssl cannot run ({e}): scripts/setup.sh installs it"));
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &[
                    "req",
                    "-x509",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Lanner test CA",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                ][..],
                &ec,
                &[
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &[&["req", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"][..], &ec]
                .concat(),
        );
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ]);
        Certs { dir }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain SMTP session (`tls: none`: the default is STARTTLS).
fn email_yaml(port: u16, extra: &str) -> String {
    email_tls_yaml(port, None, &format!(", tls: none{extra}"))
}

/// The email plugin's configuration; `certs` grants their folder read-only as `/ca`.
fn email_tls_yaml(port: u16, certs: Option<&Certs>, extra: &str) -> String {
    let dirs = certs.map(|c| format!(", dirs: [{{host: {}, guest: /ca, mode: ro}}]", c.dir.path().display()));
    format!(
        "config: {{server: \"127.0.0.1:{port}\", from: lanner@example.com, to: [soc@example.com, oncall@example.com]{extra}}}\nlimits: {{call_timeout_ms: 20000}}\nrestart: {{max_failures: 1000, backoff_ms: 10, max_backoff_ms: 50}}\ngrants: {{tcp: [\"127.0.0.1:{port}\"]{}}}\n",
        dirs.unwrap_or_default()
    )
}

fn header<'a>(data: &'a str, name: &str) -> Vec<&'a str> {
    let head = data.split("\n\n").next().unwrap();
    head.lines().filter_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": "))).collect()
}

#[test]
fn email_reaches_a_real_smtp_server_with_auth_and_headers_cannot_be_injected() {
    let rt = runtime();
    let port = free_port();
    let smtp = Smtp::start(port);
    for (mech, extra) in [
        ("plain", ", username: lanner, password: pw"),
        ("login", ", username: lanner, password: pw, auth: login"),
    ] {
        let mut sink = PluginSink::new(load(&rt, "plugins/email", &email_yaml(port, extra))).unwrap();
        let a = alert(
            &format!("Shell spawned ({mech})\r\nBcc: victim@evil.example"),
            "A shell ran (file=/tmp/x\n.\nMAIL FROM:<evil@evil.example>\n.hidden)",
            &[("fd.name", "/tmp/x\r\nX-Injected: yes")],
        );
        sink.deliver(&[a]).unwrap();
    }
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    for (m, mech) in msgs.iter().zip(["plain", "login"]) {
        assert_eq!(m["from"], "lanner@example.com");
        assert_eq!(m["to"], serde_json::json!(["soc@example.com", "oncall@example.com"]));
        assert_eq!(m["login"], "lanner");
        let data = m["data"].as_str().unwrap().replace("\r\n", "\n");
        assert_eq!(header(&data, "From"), ["lanner@example.com"]);
        assert_eq!(
            header(&data, "Subject"),
            [format!("[Lanner] Warning Shell spawned ({mech})  Bcc: victim@evil.example")]
        );
        assert!(header(&data, "Bcc").is_empty() && header(&data, "X-Injected").is_empty(), "{data}");
        let body = data.split_once("\n\n").unwrap().1;
        // The whole output arrived: the lone "." did not end the message, and a leading dot survived.
        assert!(
            body.starts_with("A shell ran (file=/tmp/x\n.\nMAIL FROM:<evil@evil.example>\n.hidden)\n"),
            "{body}"
        );
        assert!(body.contains("rule:     Shell spawned"), "{body}");
        assert!(body.contains("priority: Warning"));
        assert!(body.contains("time:     2024-05-01T12:00:00.123456789Z"));
        assert!(body.contains("hostname: node-1"));
        assert!(body.contains("  fd.name: /tmp/x"));
    }
    // A wrong password is a permanent error that does not show the password.
    let mut sink = PluginSink::new(load(
        &rt,
        "plugins/email",
        &email_yaml(port, ", username: lanner, password: wrong-pw"),
    ))
    .unwrap();
    let e = sink.deliver(&[alert("r", "o", &[])]).unwrap_err();
    assert!(!e.retryable && !e.message.contains("wrong-pw"), "{e:?}");
    assert_eq!(smtp.messages().len(), 2);
}

#[test]
fn email_digest_sends_one_message_for_many_alerts() {
    let rt = runtime();
    let port = free_port();
    let smtp = Smtp::start(port);
    let mut sink = PluginSink::new(load(
        &rt,
        "plugins/email",
        &email_yaml(port, ", mode: digest, digest_interval_s: 1"),
    ))
    .unwrap();
    sink.deliver(&[alert("first", "one", &[]), alert("second", "two", &[])]).unwrap();
    assert!(smtp.messages().is_empty(), "the digest waits for its interval");
    std::thread::sleep(Duration::from_millis(1100));
    let mut crit = alert("third", "three", &[]);
    crit.priority = Priority::Critical;
    sink.deliver(&[crit]).unwrap();
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1);
    let data = msgs[0]["data"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(header(&data, "Subject"), ["[Lanner] 3 alerts, highest Critical third"]);
    for o in ["one", "two", "three"] {
        assert!(data.contains(&format!("\n{o}\n")), "{data}");
    }
}

#[test]
fn email_without_a_tcp_grant_or_to_another_port_reaches_nothing() {
    let rt = runtime();
    let port = free_port();
    let smtp = Smtp::start(port);
    // Granted another port only.
    let other = free_port();
    let yaml = email_yaml(port, "")
        .replace(&format!("tcp: [\"127.0.0.1:{port}\"]"), &format!("tcp: [\"127.0.0.1:{other}\"]"));
    let mut sink = PluginSink::new(load(&rt, "plugins/email", &yaml)).unwrap();
    let e = sink.deliver(&[alert("r", "o", &[])]).unwrap_err();
    assert!(e.message.contains("cannot connect"), "{e:?}");
    // No grant at all.
    let yaml = email_yaml(port, "").replace(&format!("grants: {{tcp: [\"127.0.0.1:{port}\"]}}"), "");
    let mut sink = PluginSink::new(load(&rt, "plugins/email", &yaml)).unwrap();
    assert!(sink.deliver(&[alert("r", "o", &[])]).is_err());
    assert!(smtp.messages().is_empty());
    // A grant of a metadata address allows nothing.
    assert!(lanner_plugin_runtime::tcp::resolve(&["169.254.169.254:25".into()]).unwrap().is_empty());
}

/// One message as the TLS tests expect it: envelope, subject and body of `alert("r", OUT)`.
fn assert_tls_message(m: &serde_json::Value, out: &str) {
    assert_eq!(m["from"], "lanner@example.com", "{m}");
    assert_eq!(m["to"], serde_json::json!(["soc@example.com", "oncall@example.com"]));
    let data = m["data"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(header(&data, "Subject"), ["[Lanner] Warning r"]);
    assert!(data.contains(&format!("\n\n{out}\n\nrule:     r\n")), "{data}");
}

#[test]
fn email_starttls_with_a_private_ca_delivers_and_authenticates_inside_tls() {
    let rt = runtime();
    let certs = Certs::new();
    let port = free_port();
    // STARTTLS required before MAIL or AUTH, AUTH offered only inside TLS.
    let smtp = Smtp::start_mode(port, "starttls", Some(&certs));
    for (i, extra) in [
        // STARTTLS is the default; AUTH PLAIN.
        ", ca_file: /ca/ca.pem, username: lanner, password: pw",
        // Said explicitly, AUTH LOGIN, the certificate checked for a DNS name.
        ", tls: starttls, ca_file: /ca/ca.pem, tls_server_name: localhost, username: lanner, password: pw, auth: login",
        // The older key.
        ", starttls: true, ca_file: /ca/ca.pem",
    ]
    .into_iter()
    .enumerate()
    {
        let mut sink = PluginSink::new(load(&rt, "plugins/email", &email_tls_yaml(port, Some(&certs), extra))).unwrap();
        sink.deliver(&[alert("r", &format!("out {i}"), &[])]).unwrap_or_else(|e| panic!("{extra}: {e:?}"));
    }
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    for (i, m) in msgs.iter().enumerate() {
        assert_tls_message(m, &format!("out {i}"));
        assert_eq!(m["starttls"], true, "{m}");
        assert!(m["tls"].as_str().is_some_and(|v| v.starts_with("TLSv1.")), "{m}");
    }
    assert_eq!(msgs[0]["login"], "lanner");
    assert_eq!(msgs[1]["login"], "lanner");
    assert_eq!(msgs[2]["login"], serde_json::Value::Null);
    // Every AUTH and MAIL came inside TLS.
    let events = smtp.events();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(events.iter().all(|e| e.ends_with("tls=TLSv1.3") || e.ends_with("tls=TLSv1.2")), "{events:?}");
    assert!(events[0].starts_with("AUTH PLAIN") && events[2].starts_with("AUTH LOGIN"), "{events:?}");
    // A wrong password inside TLS: permanent, and not in the error.
    let mut sink = PluginSink::new(load(
        &rt,
        "plugins/email",
        &email_tls_yaml(port, Some(&certs), ", ca_file: /ca/ca.pem, username: lanner, password: wrong-pw"),
    ))
    .unwrap();
    let e = sink.deliver(&[alert("r", "o", &[])]).unwrap_err();
    assert!(!e.retryable && !e.message.contains("wrong-pw"), "{e:?}");
    assert_eq!(smtp.messages().len(), 3);
}

#[test]
fn email_implicit_tls_delivers_to_an_smtps_server() {
    let rt = runtime();
    let certs = Certs::new();
    let port = free_port();
    let smtp = Smtp::start_mode(port, "tls", Some(&certs));
    let mut sink = PluginSink::new(load(
        &rt,
        "plugins/email",
        &email_tls_yaml(
            port,
            Some(&certs),
            ", tls: tls, ca_file: /ca/ca.pem, username: lanner, password: pw",
        ),
    ))
    .unwrap();
    sink.deliver(&[alert("r", "implicit", &[])]).unwrap();
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_tls_message(&msgs[0], "implicit");
    assert_eq!(msgs[0]["login"], "lanner");
    assert_eq!(msgs[0]["starttls"], false, "TLS from the first byte, not upgraded");
    assert!(msgs[0]["tls"].as_str().is_some_and(|v| v.starts_with("TLSv1.")), "{:?}", msgs[0]);
    // STARTTLS to an implicit-TLS port: the server's TLS never answers plain SMTP.
    let mut sink = PluginSink::new(load(
        &rt,
        "plugins/email",
        &email_tls_yaml(port, Some(&certs), ", tls: starttls, ca_file: /ca/ca.pem, timeout_ms: 1000"),
    ))
    .unwrap();
    assert!(sink.deliver(&[alert("r", "o", &[])]).is_err());
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn email_refuses_an_untrusted_certificate_and_sends_nothing() {
    let rt = runtime();
    let certs = Certs::new();
    let other_ca = Certs::new();
    for mode in ["starttls", "tls"] {
        let port = free_port();
        let smtp = Smtp::start_mode(port, mode, Some(&certs));
        for extra in [
            // webpki-roots: the private CA is not among them.
            "",
            // Another CA.
            ", ca_file: /ca/ca.pem",
            // The right CA, a name the certificate does not hold.
            ", ca_file: /ca/ca.pem, tls_server_name: mail.example.com",
        ] {
            let granted = if extra == ", ca_file: /ca/ca.pem" { &other_ca } else { &certs };
            let yaml = email_tls_yaml(
                port,
                Some(granted),
                &format!(", tls: {mode}{extra}, username: lanner, password: pw"),
            );
            let mut sink = PluginSink::new(load(&rt, "plugins/email", &yaml)).unwrap();
            let e = sink.deliver(&[alert("r", "o", &[])]).unwrap_err();
            assert!(!e.retryable, "{mode}{extra}: {e:?}");
            assert!(
                e.message.contains("certificate") || e.message.contains("Certificate"),
                "{mode}{extra}: {e:?}"
            );
            assert!(!e.message.contains("pw"), "{e:?}");
        }
        assert!(smtp.messages().is_empty(), "{mode}");
        assert!(smtp.events().is_empty(), "{mode}: neither AUTH nor MAIL: {:?}", smtp.events());
    }
}

#[test]
fn email_starttls_to_a_server_without_it_fails_without_sending_in_clear() {
    let rt = runtime();
    let certs = Certs::new();
    let port = free_port();
    // Plain SMTP only, AUTH offered in clear.
    let smtp = Smtp::start_mode(port, "plain", None);
    for extra in [", tls: starttls", ""] {
        let yaml = email_tls_yaml(
            port,
            Some(&certs),
            &format!("{extra}, ca_file: /ca/ca.pem, username: lanner, password: pw"),
        );
        let mut sink = PluginSink::new(load(&rt, "plugins/email", &yaml)).unwrap();
        let e = sink.deliver(&[alert("r", "o", &[])]).unwrap_err();
        assert!(!e.retryable && e.message.contains("does not offer STARTTLS"), "{e:?}");
    }
    assert!(smtp.messages().is_empty());
    assert!(smtp.events().is_empty(), "neither AUTH nor MAIL in clear: {:?}", smtp.events());
    // Told tls: none, the same server gets the mail.
    let mut sink = PluginSink::new(load(&rt, "plugins/email", &email_yaml(port, ""))).unwrap();
    sink.deliver(&[alert("r", "clear", &[])]).unwrap();
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1);
    assert_tls_message(&msgs[0], "clear");
    assert_eq!(msgs[0]["tls"], serde_json::Value::Null);
}

#[test]
fn email_starttls_refuses_answers_sent_before_the_tls_handshake() {
    // A fake server (or a man in the middle) that appends a reply to STARTTLS's 220: taken
    // for one sent inside TLS, it would let plain text steer the session.
    let rt = runtime();
    let certs = Certs::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut said = Vec::new();
        conn.write_all(b"220 fake ESMTP\r\n").unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let cmd = line.trim_end().to_string();
            line.clear();
            said.push(cmd.clone());
            if cmd.starts_with("EHLO") {
                conn.write_all(b"250-fake\r\n250 STARTTLS\r\n").unwrap();
            } else if cmd == "STARTTLS" {
                conn.write_all(b"220 go ahead\r\n250 injected\r\n").unwrap();
            } else {
                break;
            }
        }
        said
    });
    let mut sink = PluginSink::new(load(
        &rt,
        "plugins/email",
        &email_tls_yaml(port, Some(&certs), ", ca_file: /ca/ca.pem, username: lanner, password: pw"),
    ))
    .unwrap();
    let e = sink.deliver(&[alert("r", "o", &[])]).unwrap_err();
    assert!(!e.retryable && e.message.contains("sent data after STARTTLS"), "{e:?}");
    drop(sink);
    let said = server.join().unwrap();
    assert_eq!(said, ["EHLO lanner", "STARTTLS"]);
}

#[test]
fn email_tls_options_are_checked_at_init() {
    let rt = runtime();
    let certs = Certs::new();
    let port = free_port();
    for (extra, why) in [
        (", tls: starttls, starttls: false", "disagree"),
        (", tls: none, ca_file: /ca/ca.pem", "ca_file and tls_server_name need"),
        (", ca_file: /ca/missing.pem", "missing.pem"),
        (", ca_file: /ca/server.csr", "no PEM certificate"),
        (", tls: sometimes", "\"sometimes\" is not one of"),
    ] {
        let cfg = PluginConfig::parse(&email_tls_yaml(port, Some(&certs), extra)).unwrap();
        let e = match rt.load(&build_component("plugins/email"), cfg) {
            Ok(_) => panic!("{extra}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(why), "{extra}: {e}");
    }
}

#[test]
fn smtp_down_then_up_is_retried_and_delivered_and_the_file_sink_loses_nothing() {
    let rt = runtime();
    let port = free_port();
    let dead_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let file = PluginSink::new(load(
        &rt,
        "plugins/file",
        &file_yaml(dir.path(), "{filename: /out/alerts.json, keep_alive: true}"),
    ))
    .unwrap();
    let email = PluginSink::new(load(&rt, "plugins/email", &email_yaml(port, ""))).unwrap();
    let never = PluginSink::new(load(&rt, "plugins/email", &email_yaml(dead_port, ""))).unwrap();
    let mut outputs = Outputs::new();
    outputs.add(spec("file", 3, 1000), Box::new(file)).unwrap();
    let mut email_spec = spec("email", 30, 1000);
    email_spec.batch = 10;
    outputs.add(email_spec, Box::new(email)).unwrap();
    outputs.add(spec("never", 3, 1000), Box::new(never)).unwrap();
    for i in 0..5 {
        outputs.send(&alert(&format!("rule {i}"), &format!("out {i}"), &[]));
    }
    std::thread::sleep(Duration::from_millis(800));
    let smtp = Smtp::start(port);
    let stats = outputs.stats();
    let report = outputs.shutdown(Duration::from_secs(20));
    let get = |n: &str| stats.iter().find(|(name, _)| name == n).unwrap().1.clone();
    assert_eq!(get("file").delivered.load(Ordering::Relaxed), 5);
    let email = get("email");
    assert_eq!(email.delivered.load(Ordering::Relaxed), 5, "{email:?}");
    assert!(email.failed_attempts.load(Ordering::Relaxed) >= 1);
    assert_eq!(email.dropped(), 0);
    let subjects: Vec<String> = smtp
        .messages()
        .iter()
        .map(|m| header(&m["data"].as_str().unwrap().replace("\r\n", "\n"), "Subject")[0].to_string())
        .collect();
    assert_eq!(subjects.len(), 5, "{subjects:?}");
    // The server that never came up: counted as dropped after the retry budget.
    let never = get("never");
    assert_eq!(never.dropped_failed.load(Ordering::Relaxed), 5, "{never:?}");
    assert_eq!(report.dropped.iter().find(|(n, _)| n == "never").unwrap().1, 5);
    let lines = std::fs::read_to_string(dir.path().join("alerts.json")).unwrap();
    assert_eq!(lines.lines().count(), 5);
}

/// Benchmark (bench/sinks.sh): alerts per second through the file sink plugin, in batches
/// as the pipeline sends them, with and without keep_alive.
#[test]
#[ignore = "benchmark: bench/sinks.sh"]
fn bench_file_sink_throughput() {
    let rt = runtime();
    let n: usize = std::env::var("ALERTS").ok().and_then(|v| v.parse().ok()).unwrap_or(500_000);
    for keep_alive in [true, false] {
        for format in ["json", "text"] {
            let dir = tempfile::tempdir().unwrap();
            let cfg = format!("{{filename: /out/a.log, keep_alive: {keep_alive}, format: {format}}}");
            let sink = PluginSink::new(load(&rt, "plugins/file", &file_yaml(dir.path(), &cfg))).unwrap();
            let mut outputs = Outputs::new();
            outputs.add(spec("file", 3, 1_000_000), Box::new(sink)).unwrap();
            let a = alert(
                "Write below etc",
                "File below /etc opened for writing (user=root command=vi /etc/passwd file=/etc/passwd)",
                &[("user.name", "root"), ("proc.cmdline", "vi /etc/passwd"), ("fd.name", "/etc/passwd")],
            );
            let start = Instant::now();
            for _ in 0..n {
                outputs.send(&a);
            }
            let stats = outputs.stats();
            let report = outputs.shutdown(Duration::from_secs(600));
            let secs = start.elapsed().as_secs_f64();
            let delivered = stats[0].1.delivered.load(Ordering::Relaxed);
            assert_eq!(report.total_dropped(), 0);
            let lines = std::fs::read_to_string(dir.path().join("a.log")).unwrap().lines().count();
            assert_eq!(lines, n);
            println!(
                "file sink keep_alive={keep_alive} format={format}: {delivered} alerts in {secs:.2} s = {:.0} alerts/s",
                delivered as f64 / secs
            );
        }
    }
}

/// An alert whose fields hold every kind of value a rule's output can show: numbers signed
/// and unsigned, booleans, text that looks like a number, an address, bytes, a list and a
/// missing value.
fn typed_alert() -> Alert {
    let fields: Vec<(&str, Option<Value<'static>>)> = vec![
        ("proc.pid", Some(Value::Int(4242))),
        ("evt.rawres", Some(Value::Int(-2))),
        ("user.uid", Some(Value::UInt(0))),
        ("fd.sport", Some(Value::UInt(443))),
        ("evt.is_open_read", Some(Value::Bool(true))),
        ("proc.is_exe_writable", Some(Value::Bool(false))),
        ("proc.name", Some(Value::Str(Cow::Borrowed("42")))),
        ("fd.sip", Some(Value::Ip("10.0.0.1".parse().unwrap()))),
        ("evt.buffer", Some(Value::Bytes(Cow::Borrowed(b"ab\n")))),
        ("proc.aname", Some(Value::List(vec![Value::Str("bash".into()), Value::Str("sshd".into())]))),
        ("fd.num", None),
    ];
    let mut a = alert("Typed", "typed output", &[]);
    a.output_fields = fields.into_iter().map(|(k, v)| OutputField { name: k.into(), value: v }).collect();
    a
}

/// The `output_fields` Lanner writes on stdout with `json_output: true`.
fn stdout_output_fields(a: &Alert) -> serde_json::Value {
    let mut out = Vec::new();
    let mut stdout = lanner_outputs::StdoutSink::to(&mut out, lanner_outputs::AlertFormat::plain(true));
    stdout.deliver(std::slice::from_ref(a)).unwrap();
    stdout.flush().unwrap();
    drop(stdout);
    let line: serde_json::Value = serde_json::from_slice(&out).expect("one JSON line on stdout");
    line["output_fields"].clone()
}

#[test]
fn file_and_webhook_json_keep_value_types_as_on_stdout() {
    let a = typed_alert();
    let stdout = stdout_output_fields(&a);
    // What stdout writes (and Falco: numbers, booleans, null when missing) is the reference.
    assert_eq!(
        stdout,
        serde_json::json!({
            "proc.pid": 4242, "evt.rawres": -2, "user.uid": 0, "fd.sport": 443,
            "evt.is_open_read": true, "proc.is_exe_writable": false, "proc.name": "42",
            "fd.sip": "10.0.0.1", "evt.buffer": "ab\n", "proc.aname": ["bash", "sshd"],
            "fd.num": null,
        })
    );

    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let file = load(&rt, "plugins/file", &file_yaml(dir.path(), "{filename: /out/alerts.json}"));
    assert!(file.typed_alerts() && file.api_version() == "0.6.0", "{}", file.api_version());
    PluginSink::new(file).unwrap().deliver(std::slice::from_ref(&a)).unwrap();
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(dir.path().join("alerts.json")).unwrap().trim())
            .unwrap();
    assert_eq!(line["output_fields"], stdout, "file sink");
    // Same types, not only equal-looking values: 4242 is a number, "42" a string.
    assert!(line["output_fields"]["proc.pid"].is_i64() && line["output_fields"]["proc.name"].is_string());

    let server = Server::start();
    let cfg = format!("{{url: \"http://127.0.0.1:{}/in\"}}", server.port);
    let mut hook = PluginSink::new(load(&rt, "plugins/webhook", &http_yaml(&server, &cfg))).unwrap();
    hook.deliver(std::slice::from_ref(&a)).unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].json()["output_fields"], stdout, "webhook sink");
}

#[test]
fn a_sink_of_the_text_interface_still_gets_every_value_as_text() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "config: {{path: /out/old.txt}}\ngrants: {{dirs: [{{host: {}, guest: /out, mode: rw}}]}}\n",
        dir.path().display()
    );
    let old = load(&rt, "tests/plugins/oldsink", &yaml);
    assert!(!old.typed_alerts() && old.api_version() == "0.5.0");
    PluginSink::new(old).unwrap().deliver(&[typed_alert()]).unwrap();
    let text = std::fs::read_to_string(dir.path().join("old.txt")).unwrap();
    assert_eq!(
        text,
        "Typed|proc.pid=4242|evt.rawres=-2|user.uid=0|fd.sport=443|evt.is_open_read=true|\
         proc.is_exe_writable=false|proc.name=42|fd.sip=10.0.0.1|evt.buffer=ab\n|proc.aname=(bash,sshd)|fd.num=<NA>\n"
    );
}

#[test]
fn webhook_sends_content_length_and_chunks_only_when_asked() {
    let rt = runtime();
    let server = Server::start();
    let a = typed_alert();
    let cfg = format!("{{url: \"http://127.0.0.1:{}/in\"}}", server.port);
    let mut sink = PluginSink::new(load(&rt, "plugins/webhook", &http_yaml(&server, &cfg))).unwrap();
    sink.deliver(std::slice::from_ref(&a)).unwrap();
    let cfg = format!("{{url: \"http://127.0.0.1:{}/in\", chunked: true}}", server.port);
    let mut chunked = PluginSink::new(load(&rt, "plugins/webhook", &http_yaml(&server, &cfg))).unwrap();
    chunked.deliver(std::slice::from_ref(&a)).unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let (plain, chunk) = (&reqs[0], &reqs[1]);
    assert_eq!(
        plain.header("content-length"),
        Some(plain.body.len().to_string().as_str()),
        "{:?}",
        plain.headers
    );
    assert_eq!(plain.header("transfer-encoding"), None, "{:?}", plain.headers);
    assert_eq!(chunk.header("transfer-encoding"), Some("chunked"), "{:?}", chunk.headers);
    assert_eq!(chunk.header("content-length"), None, "{:?}", chunk.headers);
    // The same alert either way.
    assert_eq!(plain.json(), chunk.json());

    // Framing headers in the configuration would be dropped or break every request: refused
    // at load, naming the header.
    for h in ["Content-Length: \"10\"", "Transfer-Encoding: chunked"] {
        let cfg = format!("{{url: \"http://127.0.0.1:{}/in\", headers: {{{h}}}}}", server.port);
        let cfg = PluginConfig::parse(&http_yaml(&server, &cfg)).unwrap();
        let e = rt.load(&build_component("plugins/webhook"), cfg).unwrap_err().to_string();
        let name = h.split(':').next().unwrap();
        assert!(e.contains(&format!("header {name} cannot be set")), "{e}");
    }
}

#[test]
fn slack_shows_typed_values_as_the_output_text_does() {
    let rt = runtime();
    let server = Server::start();
    let cfg = format!("{{webhook_url: \"http://127.0.0.1:{}/services/T/B/X\"}}", server.port);
    let mut sink = PluginSink::new(load(&rt, "plugins/slack", &http_yaml(&server, &cfg))).unwrap();
    let a = typed_alert();
    sink.deliver(std::slice::from_ref(&a)).unwrap();
    let reqs = server.requests();
    let j = reqs[0].json();
    let shown: Vec<(String, String)> = j["attachments"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["title"].as_str().unwrap().to_string(), f["value"].as_str().unwrap().to_string()))
        .collect();
    // As a sink of the text interface gets them: the host's rendering, `<NA>` when missing
    // (escaped for Slack's markup).
    for f in &a.output_fields {
        let text = f.value.as_ref().map_or_else(|| "<NA>".to_string(), |v| v.to_string());
        let text = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(shown.contains(&(f.name.clone(), text.clone())), "{}={text} not in {shown:?}", f.name);
    }
}
