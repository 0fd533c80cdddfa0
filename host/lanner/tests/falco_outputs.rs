//! Falco's built-in outputs under Falco's keys: `syslog_output` to a real rsyslog (Debian's
//! `rsyslog`, started here in the foreground with its own socket and output file), and
//! `http_output` (the webhook sink plugin) to a TLS server on loopback with certificates
//! made here by openssl, client certificates required. Needs root (live capture), or
//! LANNER_SKIP_LIVE=1 to skip.

mod common;

use common::{Daemon, cat, lanner, live_allowed, temp_dir};
use lanner_plugin_runtime::testing::build_component;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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

/// A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, all
/// made by openssl in `dir`.
fn make_pki(dir: &Path) {
    let run = |args: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("cd {} && openssl {args}", dir.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run(&format!(
        "req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=lanner-test-ca \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    ));
    for (name, cn, ext) in [
        ("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "lanner-client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        run(&format!("req {ec} -keyout {name}.key -out {name}.csr -subj /CN={cn}"));
        run(&format!(
            "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out {name}.pem -days 2 -extfile {name}.ext"
        ));
    }
}

/// What the TLS server saw of one request: its headers (lower-cased), its body, and the
/// client certificate's subject when one was shown.
#[derive(Debug, Clone)]
struct Seen {
    headers: String,
    body: String,
    client_cert: bool,
}

type Shared<T> = Arc<Mutex<Vec<T>>>;

/// An HTTPS server on loopback with the certificate made by [`make_pki`]; with
/// `require_client_cert`, only clients whose certificate the CA signed get through.
/// Returns its port, the requests it answered and the handshakes that failed.
fn tls_server(dir: &Path, require_client_cert: bool) -> (u16, Shared<Seen>, Shared<String>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join("server.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let (s, f) = (seen.clone(), failed.clone());
    std::thread::spawn(move || {
        for tcp in l.incoming() {
            let Ok(tcp) = tcp else { continue };
            let (config, s, f) = (config.clone(), s.clone(), f.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
                    f.lock().unwrap().push(e.to_string());
                    return;
                }
                let client_cert = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
                let mut r = BufReader::new(tls);
                let mut headers = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line.trim().is_empty() {
                        break;
                    }
                    headers.push_str(&line.to_ascii_lowercase());
                }
                let len = headers
                    .lines()
                    .find_map(|h| h.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                s.lock().unwrap().push(Seen { headers, body: String::from_utf8(body).unwrap(), client_cert });
                let tls = r.get_mut();
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (port, seen, failed)
}

const HTTP_RULES: &str = "- rule: Http Rule\n  desc: cat opened an http-marker file\n  condition: evt.type in (open, openat) and proc.name = cat and fd.name contains http-marker\n  output: 'Http Rule %fd.name'\n  priority: WARNING\n";

/// A folder with the webhook sink plugin, the rules and the certificates.
fn http_setup(tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let sinks = dir.join("sinks");
    std::fs::create_dir_all(&sinks).unwrap();
    std::fs::copy(build_component("plugins/webhook"), sinks.join("webhook.wasm")).unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, HTTP_RULES).unwrap();
    make_pki(&dir);
    (dir, sinks, rules)
}

/// Runs a daemon with `http_output` as given, triggers the rule, and waits for its alert on
/// stdout; returns the daemon for the caller to check delivery.
fn run_http(dir: &Path, sinks: &Path, rules: &Path, http_output: &str, marker: &str) -> Daemon {
    let config = dir.join("lanner.yaml");
    std::fs::write(
        &config,
        format!(
            "json_output: true\noutputs_queue: {{retry_attempts: 1}}\nsink_plugins_dir: {}\nhttp_output:\n{http_output}",
            sinks.display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()]);
    let m = dir.join(marker);
    std::fs::write(&m, "x").unwrap();
    cat(&m);
    d.wait_alert("Http Rule", marker);
    d
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn http_output_with_mtls_and_its_own_ca_reaches_a_tls_server_that_requires_client_certificates() {
    if !live_allowed() {
        return;
    }
    let (dir, sinks, rules) = http_setup("http-mtls");
    let (port, seen, failed) = tls_server(&dir, true);
    let d = run_http(
        &dir,
        &sinks,
        &rules,
        &format!(
            "  enabled: true\n  url: \"https://localhost:{port}/falco\"\n  user_agent: lanner-test/1\n  ca_cert: {d}/ca.pem\n  mtls: true\n  client_cert: {d}/client.pem\n  client_key: {d}/client.key\n",
            d = dir.display()
        ),
        "http-marker-mtls",
    );
    let got = wait_for("the TLS server got the alert", Duration::from_secs(20), || {
        seen.lock().unwrap().iter().find(|s| s.body.contains("http-marker-mtls")).cloned()
    });
    let status = d.stop();
    assert!(got.client_cert, "the client certificate was shown");
    assert!(got.headers.starts_with("post /falco http/1.1"), "{}", got.headers);
    assert!(got.headers.contains("user-agent: lanner-test/1"), "{}", got.headers);
    assert!(got.headers.contains("content-type: application/json"), "{}", got.headers);
    let alert: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(alert["rule"], "Http Rule");
    assert_eq!(alert["priority"], "Warning");
    assert!(failed.lock().unwrap().is_empty(), "{:?}", failed.lock().unwrap());
    assert_eq!(status, Some(0), "nothing dropped");

    // Without its client certificate the same output is turned away, and that is said and
    // counted.
    let d = run_http(
        &dir,
        &sinks,
        &rules,
        &format!(
            "  enabled: true\n  url: https://localhost:{port}/falco\n  ca_cert: {}/ca.pem\n",
            dir.display()
        ),
        "http-marker-nocert",
    );
    d.wait_log("delivery failed", Duration::from_secs(20));
    let status = d.stop();
    assert!(!seen.lock().unwrap().iter().any(|s| s.body.contains("http-marker-nocert")));
    assert!(!failed.lock().unwrap().is_empty(), "the server refused a handshake");
    assert_eq!(status, Some(3), "the alert was dropped and counted");
}

#[test]
fn http_output_verifies_the_server_unless_insecure_is_set_and_then_says_so() {
    if !live_allowed() {
        return;
    }
    let (dir, sinks, rules) = http_setup("http-insecure");
    let (port, seen, _failed) = tls_server(&dir, false);
    // Falco's default trust (ca_path /etc/ssl/certs) does not know this test's CA.
    let d = run_http(
        &dir,
        &sinks,
        &rules,
        &format!("  enabled: true\n  url: https://localhost:{port}/\n"),
        "http-marker-verified",
    );
    d.wait_log("delivery failed", Duration::from_secs(20));
    assert_eq!(d.log_count("http_output.insecure"), 0);
    assert_eq!(d.stop(), Some(3));
    assert!(seen.lock().unwrap().is_empty(), "an unverified server got nothing");
    // insecure: true, set explicitly: delivered, with a warning.
    let d = run_http(
        &dir,
        &sinks,
        &rules,
        &format!("  enabled: true\n  url: https://localhost:{port}/\n  insecure: true\n"),
        "http-marker-insecure",
    );
    wait_for("the insecure output delivered", Duration::from_secs(20), || {
        seen.lock().unwrap().iter().any(|s| s.body.contains("http-marker-insecure")).then_some(())
    });
    assert_eq!(d.log_count("http_output.insecure: true: the server's certificate is not verified"), 1);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn http_output_keys_that_cannot_be_honoured_are_errors_or_warnings_naming_the_key() {
    if !live_allowed() {
        return;
    }
    let (dir, sinks, rules) = http_setup("http-keys");
    // mTLS with a key that is not there: lanner does not start, and says which file.
    let config = dir.join("bad.yaml");
    std::fs::write(
        &config,
        format!(
            "webserver: {{enabled: false}}\nsink_plugins_dir: {s}\nhttp_output: {{enabled: true, url: \"https://localhost:9/\", mtls: true, client_cert: {d}/client.pem, client_key: {d}/missing.key}}\n",
            s = sinks.display(),
            d = dir.display()
        ),
    )
    .unwrap();
    let out = lanner()
        .args(["run", "-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("http_output") && err.contains("missing.key"), "{err}");
    // Keys whose Falco meaning Lanner does not share: a warning each, and the output runs.
    let (port, seen, _) = tls_server(&dir, false);
    let d = run_http(
        &dir,
        &sinks,
        &rules,
        &format!(
            "  enabled: true\n  url: https://localhost:{port}/\n  ca_bundle: {}/ca.pem\n  echo: true\n  compress_uploads: true\n  keep_alive: true\n  max_consecutive_timeouts: 2\n",
            dir.display()
        ),
        "http-marker-keys",
    );
    wait_for("delivered", Duration::from_secs(20), || {
        seen.lock().unwrap().iter().any(|s| s.body.contains("http-marker-keys")).then_some(())
    });
    for key in ["echo", "compress_uploads", "keep_alive", "max_consecutive_timeouts"] {
        assert_eq!(d.log_count(&format!("http_output.{key}")), 1, "{key}");
    }
    assert_eq!(d.stop(), Some(0));
}
