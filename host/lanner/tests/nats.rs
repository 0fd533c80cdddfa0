//! The `nats` sink plugin against Debian's `nats-server` (installed by scripts/setup.sh),
//! started here on loopback: a cluster of three with JetStream and a stream of three
//! replicas over `lanner.>`, whose server the plugin is connected to is killed while
//! 20,000 alerts flow and then restarted; and single servers for a server unreachable at
//! start, a wrong token, an nkey, odd rule names in the subject and a 1 MiB output. The stream is
//! read back with the plain NATS protocol (JetStream's API subjects), not through the
//! plugin's code.

mod common;

use base64::Engine as _;
use common::{free_port, lanner, temp_dir};
use lanner_plugin_runtime::testing::{build_component, wasm_target_dir};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One nats-server of the test, killed when dropped.
struct Server {
    name: String,
    port: u16,
    monitor: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::File::create(self.conf.with_extension("log")).unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server runs (apt-get install nats-server; scripts/setup.sh installs it)");
        self.child = Some(child);
        wait_for(&format!("{} listens", self.name), Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", self.port)).ok()
        });
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The names of the clients connected to it, from its monitoring port.
    fn clients(&self) -> Vec<String> {
        let Ok(mut r) = ureq::get(&format!("http://127.0.0.1:{}/connz", self.monitor)).call() else {
            return Vec::new();
        };
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v["connections"]
            .as_array()
            .map(|a| a.iter().filter_map(|c| c["name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` servers (one cluster when more than one), configured but not started. `extra` goes
/// into every server's configuration (authorization, max_payload).
fn servers(dir: &Path, n: usize, extra: &str) -> Vec<Server> {
    let ports: Vec<(u16, u16, u16)> = (0..n).map(|_| (free_port(), free_port(), free_port())).collect();
    (0..n)
        .map(|i| {
            let (port, route, monitor) = ports[i];
            let name = format!("n{i}");
            let store = dir.join(format!("store-{name}"));
            let cluster = if n > 1 {
                let routes: Vec<String> = ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| format!("\"nats-route://127.0.0.1:{}\"", p.1))
                    .collect();
                format!(
                    "cluster {{\n  name: lanner-test\n  listen: 127.0.0.1:{route}\n  routes: [{}]\n}}\n",
                    routes.join(", ")
                )
            } else {
                String::new()
            };
            let conf = dir.join(format!("{name}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor}\njetstream {{\n  store_dir: \"{}\"\n}}\n{cluster}{extra}\n",
                    store.display()
                ),
            )
            .unwrap();
            Server { name, port, monitor, conf, child: None }
        })
        .collect()
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A NATS client of the test's own: the protocol by hand, requests to JetStream's API.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next: u64,
}

impl Client {
    fn connect(port: u16, token: Option<&str>) -> std::io::Result<Client> {
        let writer = TcpStream::connect(("127.0.0.1", port))?;
        writer.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(writer.try_clone()?);
        let mut info = String::new();
        reader.read_line(&mut info)?;
        assert!(info.starts_with("INFO "), "{info}");
        let mut c = Client { reader, writer, next: 0 };
        let connect = json!({"verbose": false, "pedantic": false, "headers": true, "no_responders": true, "auth_token": token});
        write!(c.writer, "CONNECT {connect}\r\nPING\r\nSUB _INBOX.test.* 1\r\n")?;
        match c.read()? {
            Msg::Pong => Ok(c),
            other => Err(std::io::Error::other(format!("{other:?}"))),
        }
    }

    fn read(&mut self) -> std::io::Result<Msg> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("closed"));
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.first().copied() {
                Some("PING") => self.writer.write_all(b"PONG\r\n")?,
                Some("PONG") => return Ok(Msg::Pong),
                Some("MSG") | Some("HMSG") => {
                    let total: usize = f.last().unwrap().parse().unwrap();
                    let hlen: usize = if f[0] == "HMSG" { f[f.len() - 2].parse().unwrap() } else { 0 };
                    let mut body = vec![0; total + 2];
                    self.reader.read_exact(&mut body)?;
                    body.truncate(total);
                    let payload = body.split_off(hlen);
                    return Ok(Msg::Message { subject: f[1].to_string(), headers: body, payload });
                }
                Some("-ERR") => return Ok(Msg::Err(line)),
                _ => {}
            }
        }
    }

    /// Sends requests on `subject` with these payloads, pipelined, and returns the answers
    /// in order (an answer without a body, such as 503 no responders, as `Value::Null`).
    fn requests(&mut self, subjects_payloads: &[(String, String)]) -> std::io::Result<Vec<Value>> {
        let first = self.next;
        let mut out = String::new();
        for (s, p) in subjects_payloads {
            out.push_str(&format!("PUB {s} _INBOX.test.{} {}\r\n{p}\r\n", self.next, p.len()));
            self.next += 1;
        }
        self.writer.write_all(out.as_bytes())?;
        let mut answers: Vec<Option<Value>> = vec![None; subjects_payloads.len()];
        let mut left = answers.len();
        while left > 0 {
            match self.read()? {
                Msg::Message { subject, payload, .. } => {
                    let n: u64 = subject.rsplit('.').next().unwrap().parse().unwrap();
                    let Some(i) = n.checked_sub(first).map(|i| i as usize).filter(|i| *i < answers.len())
                    else {
                        continue;
                    };
                    if answers[i].is_none() {
                        left -= 1;
                    }
                    answers[i] = Some(serde_json::from_slice(&payload).unwrap_or(Value::Null));
                }
                Msg::Err(e) => return Err(std::io::Error::other(e)),
                Msg::Pong => {}
            }
        }
        Ok(answers.into_iter().map(Option::unwrap).collect())
    }

    fn request(&mut self, subject: &str, payload: &str) -> std::io::Result<Value> {
        Ok(self.requests(&[(subject.to_string(), payload.to_string())])?.remove(0))
    }
}

#[derive(Debug)]
enum Msg {
    Pong,
    Err(String),
    #[allow(dead_code)]
    Message {
        subject: String,
        headers: Vec<u8>,
        payload: Vec<u8>,
    },
}

/// Creates stream `lanner` over `lanner.>` with `replicas`, retrying while JetStream elects
/// its leaders.
fn create_stream(port: u16, token: Option<&str>, replicas: u32) {
    let cfg = json!({"name": "lanner", "subjects": ["lanner.>"], "num_replicas": replicas, "storage": "file", "duplicate_window": 120_000_000_000u64});
    wait_for("stream lanner created", Duration::from_secs(60), || {
        let mut c = Client::connect(port, token).ok()?;
        let v = c.request("$JS.API.STREAM.CREATE.lanner", &cfg.to_string()).ok()?;
        if v.get("error").is_none() && v["config"]["name"] == "lanner" {
            Some(())
        } else {
            std::thread::sleep(Duration::from_millis(200));
            None
        }
    });
}

fn stream_count(port: u16, token: Option<&str>) -> Option<u64> {
    let mut c = Client::connect(port, token).ok()?;
    c.request("$JS.API.STREAM.INFO.lanner", "").ok()?["state"]["messages"].as_u64()
}

/// A stored message: its subject, headers (name to value) and JSON body.
#[derive(Debug)]
struct Stored {
    subject: String,
    headers: HashMap<String, String>,
    body: Value,
    size: usize,
}

/// Every message of stream `lanner`, read by sequence.
fn read_stream(port: u16, token: Option<&str>) -> Vec<Stored> {
    let n = wait_for("stream info", Duration::from_secs(30), || stream_count(port, token));
    let mut c = Client::connect(port, token).unwrap();
    let mut out = Vec::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    let seqs: Vec<u64> = (1..=n).collect();
    for chunk in seqs.chunks(500) {
        let reqs: Vec<(String, String)> = chunk
            .iter()
            .map(|s| ("$JS.API.STREAM.MSG.GET.lanner".to_string(), json!({"seq": s}).to_string()))
            .collect();
        for a in c.requests(&reqs).unwrap() {
            let m = &a["message"];
            assert!(m.is_object(), "{a}");
            let data = b64.decode(m["data"].as_str().unwrap_or("")).unwrap();
            let hdrs = String::from_utf8(b64.decode(m["hdrs"].as_str().unwrap_or("")).unwrap()).unwrap();
            let headers = hdrs
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            out.push(Stored {
                subject: m["subject"].as_str().unwrap().to_string(),
                headers,
                size: data.len() + hdrs.len(),
                body: serde_json::from_slice(&data).unwrap(),
            });
        }
    }
    out
}

const RULES: &str = "- rule: Nats Rule\n  desc: a write below /etc/nats-\n  condition: evt.type = openat and fd.name startswith /etc/nats-\n  output: 'nats alert %fd.name by %proc.name'\n  priority: WARNING\n  tags: [nats]\n";

/// An event file of `n` openat events below /etc/nats-, each its own file name and time.
fn events(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("events.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(
            f,
            "{}",
            json!({"ts": 1_700_000_000_000_000_000u64 + i as u64 * 1000, "type": "openat", "fields": {"fd.name": format!("/etc/nats-{i}"), "proc.name": "writer", "evt.is_open_write": true}})
        )
        .unwrap();
    }
    path
}

/// The sinks folder with nats.wasm, and the rules file.
fn setup(dir: &Path, rules: &str) -> (PathBuf, PathBuf) {
    let sinks = dir.join("sinks");
    std::fs::create_dir_all(&sinks).unwrap();
    std::fs::copy(build_component("plugins/nats"), sinks.join("nats.wasm")).unwrap();
    let r = dir.join("rules.yaml");
    std::fs::write(&r, rules).unwrap();
    (sinks, r)
}

/// A lanner.yaml with one `nats` output over `servers`, its init_config completed by
/// `more` (YAML flow entries) and the queue's retries `attempts`.
fn config(dir: &Path, sinks: &Path, servers: &[&Server], more: &str, attempts: u32) -> PathBuf {
    let urls: Vec<String> = servers.iter().map(|s| format!("\"nats://127.0.0.1:{}\"", s.port)).collect();
    let grants: Vec<String> = servers.iter().map(|s| format!("\"127.0.0.1:{}\"", s.port)).collect();
    let path = dir.join("lanner.yaml");
    std::fs::write(
        &path,
        format!(
            "json_output: true\nstdout_output: {{enabled: false}}\nwebserver: {{enabled: false}}\nsink_plugins_dir: {}\noutputs_queue: {{capacity: 10000, retry_attempts: {attempts}, shutdown_deadline_seconds: 120}}\nplugin_outputs:\n  - name: nats\n    plugin: nats\n    init_config: {{servers: [{}], stream: lanner, timeout_ms: 3000, retry_ms: 5000{more}}}\n    grants: {{tcp: [{}]}}\n    limits: {{call_timeout_ms: 60000}}\n",
            sinks.display(),
            urls.join(", "),
            grants.join(", ")
        ),
    )
    .unwrap();
    path
}

fn run_events(config: &Path, rules: &Path, events: &Path) -> Child {
    lanner()
        .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
        .arg("run")
        .arg("-c")
        .arg(config)
        .arg("-r")
        .arg(rules)
        .arg("--events")
        .arg(events)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (Option<i32>, String) {
    let o: Output = child.wait_with_output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn twenty_thousand_alerts_reach_a_three_replica_stream_once_each_while_the_connected_server_is_killed() {
    let dir = temp_dir("nats-cluster");
    let (sinks, rules) = setup(&dir, RULES);
    let mut cluster = servers(&dir, 3, "");
    for s in cluster.iter_mut() {
        s.start();
    }
    create_stream(cluster[1].port, None, 3);
    let n = 20_000;
    let ev = events(&dir, n);
    let cfg = config(&dir, &sinks, &cluster.iter().collect::<Vec<_>>(), "", 30);
    let child = run_events(&cfg, &rules, &ev);
    // The plugin starts with the first server: once alerts are flowing, it must be there.
    let at_kill = wait_for("a quarter of the alerts stored", Duration::from_secs(120), || {
        stream_count(cluster[1].port, None).filter(|c| *c >= n as u64 / 4)
    });
    assert!(
        cluster[0].clients().iter().any(|c| c == "lanner-nats-sink"),
        "the plugin is connected to n0: {:?}",
        cluster[0].clients()
    );
    cluster[0].kill();
    assert!(at_kill < n as u64, "the server was killed before the run ended ({at_kill} stored)");
    // It carries on elsewhere while n0 is down: a publish JetStream acknowledges with n0 dead
    // went through n1 or n2. (Their client lists are no evidence: on a fast run the last
    // alerts are stored and the plugin has disconnected before they are read.)
    let moved = wait_for("more alerts stored with n0 down", Duration::from_secs(60), || {
        stream_count(cluster[1].port, None).filter(|c| *c > at_kill + 1000)
    });
    // ...and n0 comes back and catches up.
    cluster[0].start();
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "every alert delivered: {err}");
    eprintln!("killed n0 at {at_kill} stored, {moved} stored with it down");
    // The failover was said (once), and what JetStream dropped as copies, if anything.
    assert!(err.contains("NATS: 127.0.0.1:"), "{err}");
    for l in err.lines().filter(|l| l.contains("NATS") || l.contains("already in stream")) {
        eprintln!("{l}");
    }
    let stored = read_stream(cluster[0].port, None);
    assert_eq!(stored.len(), n, "exactly {n} messages in the stream");
    let ids: HashSet<&str> = stored.iter().map(|m| m.headers["Nats-Msg-Id"].as_str()).collect();
    assert_eq!(ids.len(), n, "every Nats-Msg-Id once");
    let files: HashSet<&str> =
        stored.iter().map(|m| m.body["output_fields"]["fd.name"].as_str().unwrap()).collect();
    let want: HashSet<String> = (0..n).map(|i| format!("/etc/nats-{i}")).collect();
    assert_eq!(files, want.iter().map(String::as_str).collect(), "each alert once");
    let host = stored[0].body["hostname"].as_str().unwrap().to_string();
    for m in &stored {
        assert_eq!(m.body["rule"], "Nats Rule");
        assert_eq!(m.body["priority"], "Warning");
        assert_eq!(m.body["tags"], json!(["nats"]));
        let head = format!("nats alert {} by writer", m.body["output_fields"]["fd.name"].as_str().unwrap());
        assert!(m.body["output"].as_str().unwrap().starts_with(&head), "{}", m.body);
        assert_eq!(m.headers["Lanner-Rule"], "Nats Rule");
        assert_eq!(m.headers["Lanner-Priority"], "Warning");
        assert_eq!(m.headers["Lanner-Source"], "syscall");
        assert_eq!(m.headers["Lanner-Hostname"], host);
        assert!(m.headers["Nats-Msg-Id"].starts_with(&format!("{host}-")), "{:?}", m.headers);
        assert_eq!(m.subject, format!("lanner.alerts.{}.warning", host.to_lowercase().replace('.', "_")));
    }
    // The stream's three replicas hold the same: the restarted n0 among them.
    let v =
        Client::connect(cluster[2].port, None).unwrap().request("$JS.API.STREAM.INFO.lanner", "").unwrap();
    assert_eq!(v["state"]["messages"], n as u64, "{v}");
    drop(cluster);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_server_unreachable_at_start_gets_the_queued_alerts_once_it_is_up() {
    let dir = temp_dir("nats-late");
    let (sinks, rules) = setup(&dir, RULES);
    let mut one = servers(&dir, 1, "");
    let n = 50;
    let ev = events(&dir, n);
    let cfg = config(&dir, &sinks, &[&one[0]], "", 30);
    let child = run_events(&cfg, &rules, &ev);
    std::thread::sleep(Duration::from_secs(4));
    one[0].start();
    create_stream(one[0].port, None, 1);
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    // Said out loud while it was down, naming the server, and when it came back.
    let addr = format!("127.0.0.1:{}", one[0].port);
    assert!(err.contains(&format!("NATS: {addr}: connect")), "{err}");
    assert!(err.contains(&format!("connected to NATS server {addr} again")), "{err}");
    let stored = read_stream(one[0].port, None);
    assert_eq!(stored.len(), n);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_wrong_token_is_named_and_the_alerts_stay_queued_then_count_as_not_delivered() {
    let dir = temp_dir("nats-token");
    let (sinks, rules) = setup(&dir, RULES);
    let mut one = servers(&dir, 1, "authorization { token: \"right-token\" }\n");
    one[0].start();
    create_stream(one[0].port, Some("right-token"), 1);
    let n = 20;
    let ev = events(&dir, n);
    let cfg = config(&dir, &sinks, &[&one[0]], ", credentials: {token: wrong-token}", 3);
    let (code, err) = finish(run_events(&cfg, &rules, &ev));
    assert_eq!(code, Some(3), "alerts lost: {err}");
    assert!(err.contains("refused the credentials") && err.contains("Authorization Violation"), "{err}");
    assert!(!err.contains("wrong-token"), "the token is never printed: {err}");
    assert!(err.contains(&format!("output nats: {n} alerts were not delivered")), "{err}");
    assert_eq!(stream_count(one[0].port, Some("right-token")), Some(0));
    // The right token delivers them.
    let cfg = config(&dir, &sinks, &[&one[0]], ", credentials: {token: right-token}", 3);
    let (code, err) = finish(run_events(&cfg, &rules, &ev));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(stream_count(one[0].port, Some("right-token")), Some(n as u64));
    // The same alerts sent again (a Lanner restarted before it knew they were stored) carry
    // the same Nats-Msg-Id: JetStream keeps one copy, and the plugin says so.
    let (code, err) = finish(run_events(&cfg, &rules, &ev));
    assert_eq!(code, Some(0), "{err}");
    let copies: usize = err
        .lines()
        .filter_map(|l| l.split_once("plugin nats: ")?.1.split_once(" alerts were already in stream lanner"))
        .map(|(count, _)| count.parse::<usize>().unwrap())
        .sum();
    assert_eq!(copies, n, "{err}");
    assert_eq!(stream_count(one[0].port, Some("right-token")), Some(n as u64));
    std::fs::remove_dir_all(&dir).ok();
}

/// An nkey as NATS writes it: base32 (no padding) of the prefix bytes, the key and a
/// CRC-16/XMODEM, little-endian.
fn nkey_text(prefix: &[u8], key: &[u8]) -> String {
    let mut raw = prefix.to_vec();
    raw.extend_from_slice(key);
    let mut crc: u16 = 0;
    for b in &raw {
        crc ^= u16::from(*b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    raw.extend_from_slice(&crc.to_le_bytes());
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u64, 0, String::new());
    for b in raw {
        acc = (acc << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(alphabet[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(alphabet[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A user seed (`SU...`) and its public key (`U...`).
fn user_nkey(seed: [u8; 32]) -> (String, String) {
    use ring::signature::KeyPair;
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    // The seed's two prefix bytes: 18 << 3 (seed) combined with 20 << 3 (user).
    let user = 20u8 << 3;
    let seed_prefix = [(18 << 3) | (user >> 5), (user & 31) << 3];
    (nkey_text(&seed_prefix, &seed), nkey_text(&[user], pair.public_key().as_ref()))
}

#[test]
fn an_nkey_signs_the_servers_nonce_and_a_wrong_one_is_refused() {
    let dir = temp_dir("nats-nkey");
    let (sinks, rules) = setup(&dir, RULES);
    let (seed, public) = user_nkey([7; 32]);
    assert!(seed.starts_with("SU") && public.starts_with('U'), "{seed} {public}");
    let (other_seed, _) = user_nkey([9; 32]);
    let mut one = servers(&dir, 1, &format!("authorization {{ users = [ {{ nkey: \"{public}\" }} ] }}\n"));
    one[0].start();
    let n = 5;
    let ev = events(&dir, n);
    let cfg = config(&dir, &sinks, &[&one[0]], &format!(", credentials: {{nkey_seed: {other_seed}}}"), 2);
    let (code, err) = finish(run_events(&cfg, &rules, &ev));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(!err.contains(&other_seed), "the seed is never printed: {err}");
    // Delivered with the right seed, to core NATS (the test's client cannot sign, so it
    // makes no stream here): the server read every message, as its PONG after them says.
    let path = dir.join("lanner.yaml");
    let text =
        std::fs::read_to_string(&path).unwrap().replace(&other_seed, &seed).replace("stream: lanner, ", "");
    std::fs::write(&path, text).unwrap();
    let (code, err) = finish(run_events(&path, &rules, &ev));
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("delivery failed"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A CA (`NAME-ca.pem`) and a certificate for 127.0.0.1 and localhost signed by it
/// (`server.pem`, `server.key`), made by openssl in `dir`.
fn pki(dir: &Path, ca: &str) {
    let script = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {ca}-ca.key -out {ca}-ca.pem -days 2 -subj /CN={ca}-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null; \
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null; \
         printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf; \
         openssl x509 -req -in server.csr -CA {ca}-ca.pem -CAkey {ca}-ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null",
        d = dir.display()
    );
    common::sh(&script);
}

#[test]
fn tls_with_a_private_ca_delivers_and_another_ca_is_refused() {
    let dir = temp_dir("nats-tls");
    let (sinks, rules) = setup(&dir, RULES);
    let pki_dir = dir.join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    pki(&pki_dir, "other");
    pki(&pki_dir, "right");
    let mut one = servers(
        &dir,
        1,
        &format!(
            "tls {{\n  cert_file: \"{0}/server.pem\"\n  key_file: \"{0}/server.key\"\n}}\n",
            pki_dir.display()
        ),
    );
    one[0].start();
    let ev = events(&dir, 5);
    // Core NATS (the test's client speaks no TLS, so it makes no stream): delivered means
    // the server read every message after a verified handshake; it requires TLS.
    let run = |ca: &str| {
        let cfg = config(&dir, &sinks, &[&one[0]], &format!(", tls: {{ca_file: /pki/{ca}-ca.pem}}"), 2);
        let text = std::fs::read_to_string(&cfg).unwrap().replace("stream: lanner, ", "").replace(
            "grants: {tcp: [",
            &format!("grants: {{dirs: [{{host: {}, guest: /pki, mode: ro}}], tcp: [", pki_dir.display()),
        );
        std::fs::write(&cfg, text).unwrap();
        finish(run_events(&cfg, &rules, &ev))
    };
    let (code, err) = run("right");
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("delivery failed"), "{err}");
    let (code, err) = run("other");
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("TLS handshake") && err.contains("certificate"),
        "the verification failure named: {err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn odd_rule_names_make_valid_subjects_and_headers_keep_them_whole() {
    let dir = temp_dir("nats-subject");
    let odd = [
        ("Odd: rule * with > wildcards.and dots", "lanner.odd_rule_with_wildcards_and_dots.critical"),
        ("Ünïcode  Rule\twith tab", "lanner.n_code_rule_with_tab.critical"),
        ("...", "lanner._.critical"),
    ];
    let mut rules = String::new();
    for (i, (name, _)) in odd.iter().enumerate() {
        rules.push_str(&format!(
            "- rule: {}\n  desc: odd\n  condition: evt.type = openat and fd.name = /etc/nats-{i}\n  output: 'odd %fd.name'\n  priority: CRITICAL\n",
            serde_json::to_string(name).unwrap()
        ));
    }
    let (sinks, rules) = setup(&dir, &rules);
    let mut one = servers(&dir, 1, "");
    one[0].start();
    create_stream(one[0].port, None, 1);
    let ev = events(&dir, odd.len());
    let cfg = config(&dir, &sinks, &[&one[0]], ", subject: \"lanner.<rule>.<priority>\"", 3);
    let (code, err) = finish(run_events(&cfg, &rules, &ev));
    assert_eq!(code, Some(0), "{err}");
    let stored = read_stream(one[0].port, None);
    assert_eq!(stored.len(), odd.len());
    for (name, subject) in odd {
        let m =
            stored.iter().find(|m| m.body["rule"] == name).unwrap_or_else(|| panic!("{name}: {stored:?}"));
        assert_eq!(m.subject, subject);
        // Control characters become spaces in a header; nothing else changes.
        assert_eq!(m.headers["Lanner-Rule"], name.replace('\t', " "));
    }
    // A template that cannot make a subject stops the start, naming it.
    let cfg = config(&dir, &sinks, &[&one[0]], ", subject: \"lanner..<rule>\"", 3);
    let (code, err) = finish(run_events(&cfg, &rules, &ev));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nats") && err.contains("empty token"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_one_mib_output_is_cut_to_the_servers_max_payload_and_said_so() {
    let dir = temp_dir("nats-big");
    let (sinks, rules) = setup(&dir, RULES);
    let mut one = servers(&dir, 1, "");
    one[0].start();
    create_stream(one[0].port, None, 1);
    // Three alerts in one batch: a small one, one whose file name is 1 MiB, a small one.
    let big = format!("/etc/nats-big-{}", "x".repeat(1 << 20));
    let path = dir.join("events.jsonl");
    let mut text = String::new();
    for (i, name) in ["/etc/nats-a".to_string(), big.clone(), "/etc/nats-b".to_string()].iter().enumerate() {
        text.push_str(&json!({"ts": 1_700_000_000_000_000_000u64 + i as u64, "type": "openat", "fields": {"fd.name": name, "proc.name": "writer"}}).to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let cfg = config(&dir, &sinks, &[&one[0]], "", 3);
    let (code, err) = finish(run_events(&cfg, &rules, &path));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("over the server's max_payload of 1048576"), "a warning: {err}");
    let stored = read_stream(one[0].port, None);
    assert_eq!(stored.len(), 3, "all three delivered");
    let m = stored.iter().find(|m| m.headers.contains_key("Lanner-Truncated")).expect("the big one, marked");
    assert!(m.size <= 1 << 20, "{} bytes", m.size);
    assert!(
        m.headers["Lanner-Truncated"].parse::<usize>().unwrap() > 2 << 20,
        "output and field: {:?}",
        m.headers
    );
    for key in [&m.body["output"], &m.body["output_fields"]["fd.name"]] {
        let s = key.as_str().unwrap();
        assert!(
            s.starts_with("nats alert /etc/nats-big-xxx") || s.starts_with("/etc/nats-big-xxx"),
            "{}",
            &s[..40]
        );
    }
    assert!(
        m.body["output"]
            .as_str()
            .unwrap()
            .ends_with("[truncated by the nats sink: over the server's max_payload]")
    );
    assert_eq!(m.body["rule"], "Nats Rule");
    assert_eq!(stored.iter().filter(|m| !m.headers.contains_key("Lanner-Truncated")).count(), 2);
    std::fs::remove_dir_all(&dir).ok();
}

/// Accepts HTTP POSTs and answers 200, counting them: the webhook sink's local receiver.
fn http_counter() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                loop {
                    let mut len = 0;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    c.fetch_add(1, Ordering::Relaxed);
                    if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, count)
}

/// Seconds `lanner run --events` takes with this configuration.
fn timed_run(config: &Path, rules: &Path, events: &Path) -> f64 {
    let start = Instant::now();
    let (code, err) = finish(run_events(config, rules, events));
    assert_eq!(code, Some(0), "{err}");
    start.elapsed().as_secs_f64()
}

/// bench/nats.sh: alerts per second from `lanner run --events` into a JetStream stream of
/// three replicas, into the file sink and through the webhook sink to a local receiver: the
/// time of a run with ALERTS alerts less that of a run with none (start and stop).
#[test]
#[ignore = "benchmark: bench/nats.sh"]
fn bench_sink_throughput() {
    let n: usize = std::env::var("ALERTS").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let dir = temp_dir("nats-bench");
    let (sinks, rules) = setup(&dir, RULES);
    std::fs::copy(build_component("plugins/file"), sinks.join("file.wasm")).unwrap();
    std::fs::copy(build_component("plugins/webhook"), sinks.join("webhook.wasm")).unwrap();
    let none = dir.join("none.jsonl");
    std::fs::write(&none, "").unwrap();
    let ev = events(&dir, n);
    let mut cluster = servers(&dir, 3, "");
    for s in cluster.iter_mut() {
        s.start();
    }
    create_stream(cluster[0].port, None, 3);
    let nats_cfg = config(&dir, &sinks, &cluster.iter().collect::<Vec<_>>(), "", 5);
    let base = |extra: &str, name: &str| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "json_output: true\nstdout_output: {{enabled: false}}\nwebserver: {{enabled: false}}\nsink_plugins_dir: {}\noutputs_queue: {{capacity: 10000, retry_attempts: 5, shutdown_deadline_seconds: 600}}\n{extra}",
                sinks.display()
            ),
        )
        .unwrap();
        p
    };
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file_cfg = base(
        &format!(
            "file_output: {{enabled: true, keep_alive: true, filename: {}}}\n",
            out.join("alerts.json").display()
        ),
        "file.yaml",
    );
    let (port, posted) = http_counter();
    let hook_cfg = base(
        &format!(
            "plugin_outputs:\n  - name: hook\n    plugin: webhook\n    init_config: {{url: \"http://127.0.0.1:{port}/in\"}}\n    grants: {{http: [\"127.0.0.1:{port}\"]}}\n    limits: {{call_timeout_ms: 20000}}\n"
        ),
        "hook.yaml",
    );
    for (name, cfg) in
        [("nats (JetStream, 3 replicas)", &nats_cfg), ("file", &file_cfg), ("webhook", &hook_cfg)]
    {
        timed_run(cfg, &rules, &none); // the component compiled into the cache first
        let idle = timed_run(cfg, &rules, &none);
        let full = timed_run(cfg, &rules, &ev);
        let secs = full - idle;
        println!(
            "{name}: {n} alerts in {secs:.2} s (run {full:.2} s less {idle:.2} s start and stop) = {:.0} alerts/s",
            n as f64 / secs
        );
    }
    assert_eq!(stream_count(cluster[0].port, None), Some(n as u64));
    let lines = std::fs::read_to_string(out.join("alerts.json")).unwrap().lines().count();
    assert_eq!(lines, n);
    assert_eq!(posted.load(std::sync::atomic::Ordering::Relaxed), n);
    drop(cluster);
    std::fs::remove_dir_all(&dir).ok();
}

/// bench/nats.sh: from an openat made here to its alert delivered by the stream (a push
/// consumer of stream `lanner`, three replicas, sends each message once the stream stored
/// it), with live capture: RATE opens per second for SECONDS, each one alerting. Needs root.
#[test]
#[ignore = "benchmark: bench/nats.sh"]
fn bench_syscall_to_stream_latency() {
    let rate: u64 = std::env::var("RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let seconds: u64 = std::env::var("SECONDS_RUN").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let dir = temp_dir("nats-latency");
    let probe = dir.join("probe");
    let rules = format!(
        "- rule: Nats latency probe\n  desc: an open of the benchmark's probe path\n  condition: evt.type=openat and evt.dir=< and evt.arg.name startswith {}/\n  output: probe %evt.arg.name\n  priority: WARNING\n",
        probe.display()
    );
    let (sinks, rules) = setup(&dir, &rules);
    let mut cluster = servers(&dir, 3, "");
    for s in cluster.iter_mut() {
        s.start();
    }
    create_stream(cluster[0].port, None, 3);
    // A push consumer: the stream sends each new message to bench.deliver once stored.
    let mut sub = Client::connect(cluster[1].port, None).unwrap();
    let created = sub
        .request(
            "$JS.API.CONSUMER.CREATE.lanner",
            &json!({"stream_name": "lanner", "config": {"deliver_subject": "bench.deliver", "deliver_policy": "new", "ack_policy": "none"}}).to_string(),
        )
        .unwrap();
    assert!(created.get("error").is_none(), "{created}");
    sub.writer.write_all(b"SUB bench.deliver 2\r\n").unwrap();
    let cfg = config(&dir, &sinks, &cluster.iter().collect::<Vec<_>>(), "", 5);
    let d = common::Daemon::start(&["-c", cfg.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Instant)>();
    let prefix = format!("{}/", probe.display());
    let strip = prefix.clone();
    std::thread::spawn(move || {
        while let Ok(m) = sub.read() {
            let now = Instant::now();
            if let Msg::Message { payload, .. } = m {
                let v: Value = serde_json::from_slice(&payload).unwrap_or_default();
                if let Some(seq) = v["output_fields"]["evt.arg.name"]
                    .as_str()
                    .and_then(|s| s.strip_prefix(&strip)?.parse::<u64>().ok())
                {
                    let _ = tx.send((seq, now));
                }
            }
        }
    });
    let total = rate * seconds;
    let paths: Vec<std::ffi::CString> =
        (0..total).map(|i| std::ffi::CString::new(format!("{prefix}{i}")).unwrap()).collect();
    let mut sent = vec![None; total as usize];
    let begin = Instant::now();
    let mut i = 0u64;
    while i < total {
        let due = ((begin.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while i < due {
            sent[i as usize] = Some(Instant::now());
            // SAFETY: a valid NUL-terminated path; the open fails (ENOENT), nothing to close.
            let fd = unsafe { libc::open(paths[i as usize].as_ptr(), libc::O_RDONLY) };
            if fd >= 0 {
                // SAFETY: fd was just returned by open.
                unsafe { libc::close(fd) };
            }
            i += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut lat: Vec<f64> = Vec::with_capacity(total as usize);
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < total as usize {
        let Ok((seq, at)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            break;
        };
        if seen.insert(seq) {
            lat.push(at.duration_since(sent[seq as usize].unwrap()).as_secs_f64() * 1000.0);
        }
    }
    let status = d.stop();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "syscall to stream (3 replicas), {rate} alerts/s for {seconds} s: {} of {total} received, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
    assert_eq!(status, Some(0));
    assert_eq!(lat.len(), total as usize, "every alert reached the stream");
    drop(cluster);
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 20's fleet console end to end: two `lanner run` daemons, one per node name, send
/// their alerts through the nats sink to a real JetStream stream, and `lanner console
/// --nats` shows both nodes' alerts (and one node's with `--host`).
#[test]
fn the_fleet_console_shows_the_alerts_two_nodes_sent_through_their_nats_sinks() {
    const TOKEN: &str = "fleet-console-test-token-0123";
    let dir = temp_dir("nats-fleet");
    let (sinks, rules) = setup(&dir, RULES);
    let mut srv = servers(&dir, 1, "");
    srv[0].start();
    create_stream(srv[0].port, None, 1);
    for node in ["node-a", "node-b"] {
        let nd = dir.join(node);
        std::fs::create_dir_all(&nd).unwrap();
        let cfg = config(&nd, &sinks, &[&srv[0]], "", 5);
        let ev = events(&nd, 3);
        let o = lanner()
            .env("LANNER_PLUGIN_CACHE", wasm_target_dir().join("test-cache"))
            .env("LANNER_HOSTNAME", node)
            .args(["run", "-c"])
            .arg(&cfg)
            .arg("-r")
            .arg(&rules)
            .arg("--events")
            .arg(&ev)
            .output()
            .unwrap();
        assert!(o.status.success(), "{node}: {}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(stream_count(srv[0].port, None), Some(6), "both nodes' alerts are in the stream");

    let console = |extra: &[&str]| -> (Child, u16) {
        let port = free_port();
        let child = lanner()
            .args(["console", "--nats", &format!("nats://127.0.0.1:{}", srv[0].port), "--stream", "lanner"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("LANNER_CONSOLE_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, port)
    };
    let alerts = |port: u16, want: usize| -> Vec<Value> {
        wait_for(&format!("{want} alerts in the fleet console"), Duration::from_secs(30), || {
            let mut r = ureq::get(&format!("http://127.0.0.1:{port}/console/api/alerts"))
                .header("Authorization", &format!("Bearer {TOKEN}"))
                .call()
                .ok()?;
            let v: Vec<Value> = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
            (v.len() >= want).then_some(v)
        })
    };
    let (mut all, port) = console(&[]);
    let got = alerts(port, 6);
    let mut hosts: Vec<&str> = got.iter().map(|a| a["hostname"].as_str().unwrap()).collect();
    hosts.sort();
    assert_eq!(hosts, ["node-a", "node-a", "node-a", "node-b", "node-b", "node-b"], "{got:#?}");
    assert!(got.iter().all(|a| a["rule"] == "Nats Rule"), "{got:#?}");
    assert!(got.iter().any(|a| a["output"].as_str().unwrap().contains("/etc/nats-2")), "{got:#?}");
    let _ = all.kill();
    let _ = all.wait();

    let (mut one, port) = console(&["--host", "node-b"]);
    let got = alerts(port, 3);
    std::thread::sleep(Duration::from_millis(500));
    let again = alerts(port, 3);
    assert_eq!(again.len(), 3, "--host node-b shows only node-b's: {again:#?}");
    assert!(got.iter().chain(&again).all(|a| a["hostname"] == "node-b"), "{again:#?}");
    let _ = one.kill();
    let _ = one.wait();
    std::fs::remove_dir_all(&dir).ok();
}
