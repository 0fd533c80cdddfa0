//! The HTTP endpoint's hardening: liveness holds while a drop storm makes the agent unready
//! (so the kubelet does not restart it), `/metrics` refuses requests without the bearer
//! token, and the endpoint is served over TLS with a certificate generated here. The drop
//! storm needs root (live capture), as in `live.rs`.

mod common;

use common::{Daemon, free_port, lanner, live_allowed, temp_dir};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// Status and body of a GET, with an `Authorization` header when given.
fn get_with(agent: &ureq::Agent, url: &str, auth: Option<&str>) -> Result<(u16, String), ureq::Error> {
    let mut req = agent.get(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = req.call()?;
    let status = resp.status().as_u16();
    Ok((status, resp.body_mut().read_to_string().unwrap_or_default()))
}

fn get(port: u16, path: &str) -> (u16, String) {
    get_with(&agent(), &format!("http://127.0.0.1:{port}{path}"), None).expect("the webserver answers")
}

/// `lanner run` on an event file (no capture, no root), staying up to serve the endpoint,
/// with this configuration; stopped when dropped.
struct Replaying(Child);

impl Replaying {
    fn start(dir: &Path, cfg: &str) -> Self {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
        let file = dir.join("lanner.yaml");
        std::fs::write(&file, cfg).unwrap();
        let child = lanner()
            .args(["run", "-c"])
            .arg(&file)
            .arg("--events")
            .arg(data.join("events/golden.jsonl"))
            .arg("-r")
            .arg(data.join("rules/golden.yaml"))
            .args(["--duration", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Replaying(child)
    }
}

impl Drop for Replaying {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_require_the_bearer_token_and_health_stays_open() {
    let dir = temp_dir("endpoint-token");
    let token = dir.join("token");
    std::fs::write(&token, "  s3cret-token-for-lanner\n").unwrap();
    let port = free_port();
    let _d = Replaying::start(
        &dir,
        &format!("webserver:\n  listen_port: {port}\n  metrics_token_file: {}\n", token.display()),
    );
    let a = agent();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let (status, _) = until(Duration::from_secs(20), || get_with(&a, &url, None).ok());
    assert_eq!(status, 401, "no token");
    assert_eq!(get_with(&a, &url, Some("Bearer wrong")).unwrap().0, 401);
    assert_eq!(get_with(&a, &url, Some("Bearer s3cret-token-for-lanne")).unwrap().0, 401);
    assert_eq!(get_with(&a, &url, Some("Basic s3cret-token-for-lanner")).unwrap().0, 401);
    let (status, text) = get_with(&a, &url, Some("Bearer s3cret-token-for-lanner")).unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("lanner_events_processed_total"), "{text}");
    for path in ["/healthz", "/healthz/live", "/healthz/ready"] {
        assert_eq!(get(port, path), (200, "ok\n".to_string()), "{path} needs no token");
    }
    drop(_d);

    // An empty token file would let anyone in: the start is refused.
    std::fs::write(&token, "\n").unwrap();
    let cfg = dir.join("empty.yaml");
    let cfg_text =
        format!("webserver:\n  listen_port: {}\n  metrics_token_file: {}\n", free_port(), token.display());
    std::fs::write(&cfg, cfg_text).unwrap();
    let o = lanner().args(["run", "-c"]).arg(&cfg).args(["--events", "/dev/null"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("metrics_token_file"), "{o:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_endpoint_is_served_over_tls_with_the_configured_certificate() {
    let dir = temp_dir("endpoint-tls");
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "tls-token").unwrap();
    let port = free_port();
    let _d = Replaying::start(
        &dir,
        &format!(
            "webserver:\n  listen_port: {port}\n  metrics_token_file: {}\n  tls:\n    enabled: true\n    cert_file: {}\n    key_file: {}\n",
            token.display(),
            cert.display(),
            key.display()
        ),
    );
    let root = ureq::tls::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
        .build();
    let https: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).tls_config(tls).build().into();
    let url = format!("https://127.0.0.1:{port}");
    let (status, body) =
        until(Duration::from_secs(20), || get_with(&https, &format!("{url}/healthz/live"), None).ok());
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert_eq!(get_with(&https, &format!("{url}/metrics"), None).unwrap().0, 401);
    let (status, text) = get_with(&https, &format!("{url}/metrics"), Some("Bearer tls-token")).unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("lanner_alerts_total"), "{text}");
    // Plain HTTP gets no answer, and a client that does not trust the certificate refuses it.
    assert!(get_with(&agent(), &format!("http://127.0.0.1:{port}/healthz"), None).is_err());
    let untrusted = get_with(&agent(), &format!("{url}/healthz"), None);
    assert!(untrusted.is_err(), "{untrusted:?}");
    // A client that opens a connection and says nothing does not hold the endpoint.
    let _idle: Vec<std::net::TcpStream> =
        (0..8).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    assert_eq!(get_with(&https, &format!("{url}/healthz"), None).unwrap().0, 200);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_drop_storm_makes_the_agent_unready_but_not_dead() {
    if !live_allowed() {
        return;
    }
    let port = free_port();
    // One page of ring buffer cannot hold a storm of opens; any drop makes it unready.
    let d = Daemon::start(&[
        "-o",
        "json_output=true",
        "-o",
        "ring_buffer_bytes=4096",
        "-o",
        &format!("webserver.listen_port={port}"),
        "-o",
        "webserver.health.max_drop_ratio=0",
    ]);
    assert_eq!(get(port, "/healthz/ready").0, 200);
    let mut storm = std::process::Command::new("sh")
        .arg("-c")
        .arg("i=0; while [ $i -lt 200000 ]; do : < /etc/hostname; i=$((i+1)); done")
        .spawn()
        .unwrap();
    let (ready, live, plain) = until(Duration::from_secs(30), || {
        let ready = get(port, "/healthz/ready");
        (ready.0 == 503).then(|| (ready, get(port, "/healthz/live"), get(port, "/healthz")))
    });
    let _ = storm.kill();
    let _ = storm.wait();
    assert!(ready.1.contains("of recent records were dropped"), "{ready:?}");
    assert_eq!(live, (200, "ok\n".to_string()), "liveness holds during the storm");
    assert_eq!(plain, (200, "ok\n".to_string()), "/healthz means liveness");
    d.stop();
}
