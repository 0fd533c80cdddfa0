//! The alert console: the node's last alerts and its own state in a browser, served by the
//! daemon's webserver at `/console` (issue 20).
//!
//! Alerts reach the console as they reach every output: through a queue of their own with a
//! worker thread (see [`ConsoleSink`]), so that detection never waits on a browser. The hub
//! keeps the last `console.max_alerts` in a ring and hands each new one to every open page
//! through a bounded queue; a page that falls behind loses the live alerts it could not take,
//! is told how many when it catches up (it then reloads the list), and is counted in
//! `lanner_console_clients_behind_total`.
//!
//! Alert text is written by whoever the alert is about. The page renders it as text only
//! (its script never builds markup from data), and every console answer carries a strict
//! Content-Security-Policy without inline script, so that even a rendering mistake could not
//! run what an attacker put in a file name.

pub mod fleet;

use crate::metrics::Metrics;
use anyhow::{Context, Result, bail};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lanner_event::{Alert, AlertSink, SinkError, Value};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable that gives the console's token when `console.token` is empty.
pub const TOKEN_ENV: &str = "LANNER_CONSOLE_TOKEN";

/// The cookie a browser keeps the token in after its first visit with `?token=`, so that the
/// token leaves the address bar (and the history) at once.
const COOKIE: &str = "lanner_console_token";

/// Live alerts that may wait for one page; past that the page is behind.
const CLIENT_QUEUE: usize = 1024;

/// Pages open at once: each holds a queue, so their number is bounded too.
const MAX_CLIENTS: usize = 64;

/// Every console answer's policy: scripts and styles only from the console's own embedded
/// files, no framing, no plugins, no form posts, nothing fetched from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `console:` in the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    pub enabled: bool,
    pub max_alerts: usize,
    pub token: String,
    pub token_file: std::path::PathBuf,
}

/// Where the token came from, for the start-up log (which never repeats the token itself
/// beyond the one URL line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOrigin {
    Config,
    Env,
    File,
    Generated,
}

/// The console's token: `console.token`, else the environment variable [`TOKEN_ENV`], else
/// `console.token_file`, else a new random one. Also says which others were given and
/// ignored, so that an operator who set two does not guess which one counts.
pub fn resolve_token(cfg: &ConsoleConfig, env: Option<String>) -> Result<(String, TokenOrigin, Vec<String>)> {
    let env = env.filter(|e| !e.trim().is_empty());
    let file = !cfg.token_file.as_os_str().is_empty();
    let mut given = Vec::new();
    if !cfg.token.trim().is_empty() {
        given.push(("console.token", TokenOrigin::Config));
    }
    if env.is_some() {
        given.push((TOKEN_ENV, TokenOrigin::Env));
    }
    if file {
        given.push(("console.token_file", TokenOrigin::File));
    }
    let ignored = given
        .iter()
        .skip(1)
        .map(|(name, _)| format!("console: {name} is ignored, the token comes from {}", given[0].0))
        .collect();
    let (token, origin) = match given.first().map(|g| g.1) {
        Some(TokenOrigin::Config) => (cfg.token.trim().to_string(), TokenOrigin::Config),
        Some(TokenOrigin::Env) => (env.unwrap_or_default().trim().to_string(), TokenOrigin::Env),
        Some(_) => {
            let t = std::fs::read_to_string(&cfg.token_file)
                .with_context(|| format!("console.token_file {}", cfg.token_file.display()))?;
            let t = t.trim();
            if t.is_empty() {
                bail!("console.token_file {}: empty (it would let anyone in)", cfg.token_file.display());
            }
            (t.to_string(), TokenOrigin::File)
        }
        None => (generate_token()?, TokenOrigin::Generated),
    };
    if token.len() < 16 {
        bail!("console: the token from {} is shorter than 16 characters; use a long random one", given[0].0);
    }
    Ok((token, origin, ignored))
}

/// 32 random bytes from the kernel, as hex.
fn generate_token() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("console: reading /dev/urandom for a token")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A rule as the alert detail shows it.
#[derive(Debug, Clone, serde::Serialize)]
struct RuleInfo {
    description: String,
    condition: String,
    source: String,
}

/// One open page: its queue and how many live alerts it missed since it was last told.
struct Client {
    tx: tokio::sync::mpsc::Sender<Arc<str>>,
    missed: Arc<AtomicU64>,
}

/// The alerts kept, the open pages, and what the detail and state views need.
pub struct Hub {
    max: usize,
    next_id: AtomicU64,
    ring: Mutex<VecDeque<Arc<str>>>,
    clients: Mutex<Vec<Client>>,
    rules: RwLock<HashMap<String, RuleInfo>>,
    last_reload: Mutex<Option<serde_json::Value>>,
    metrics: Arc<Metrics>,
}

/// The process's console, when enabled: one per daemon. The outputs are rebuilt from the
/// configuration on reload, and each rebuilt set must feed the same hub the pages are on.
static HUB: OnceLock<Arc<Hub>> = OnceLock::new();

/// The console's hub, when `lanner run` enabled it.
pub fn hub() -> Option<Arc<Hub>> {
    HUB.get().cloned()
}

/// Creates the process's hub (a second call keeps the first).
pub fn install(max_alerts: usize, metrics: Arc<Metrics>) -> Arc<Hub> {
    HUB.get_or_init(|| Arc::new(Hub::new(max_alerts, metrics))).clone()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The first value among `names` in the alert's output fields, as text.
fn field_text(alert: &Alert, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        alert
            .output_fields
            .iter()
            .find(|f| f.name == *n)
            .and_then(|f| f.value.as_ref())
            .map(|v| v.to_string())
            .filter(|s| !s.is_empty() && s != "<NA>")
    })
}

fn type_name(v: Option<&Value<'_>>) -> &'static str {
    match v {
        None => "missing",
        Some(Value::Str(_)) => "string",
        Some(Value::Int(_)) => "int",
        Some(Value::UInt(_)) => "uint",
        Some(Value::Bool(_)) => "bool",
        Some(Value::Ip(_)) => "ip",
        Some(Value::Bytes(_)) => "bytes",
        Some(Value::List(_)) => "list",
    }
}

impl Hub {
    fn new(max: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            max: max.max(1),
            next_id: AtomicU64::new(1),
            ring: Mutex::new(VecDeque::new()),
            clients: Mutex::new(Vec::new()),
            rules: RwLock::new(HashMap::new()),
            last_reload: Mutex::new(None),
            metrics,
        }
    }

    /// The alert as the page gets it: Falco's JSON fields, plus an id, the time in
    /// milliseconds (nanoseconds do not fit a JavaScript number), the container and image,
    /// and every output field with its value as text and its type.
    fn entry(&self, alert: &Alert) -> Arc<str> {
        let mut j = alert.to_json();
        let fields: Vec<serde_json::Value> = alert
            .output_fields
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "value": f.value.as_ref().map(|v| v.to_string()),
                    "type": type_name(f.value.as_ref()),
                })
            })
            .collect();
        let image = match (
            field_text(alert, &["container.image.repository"]),
            field_text(alert, &["container.image.tag"]),
        ) {
            (Some(r), Some(t)) => Some(format!("{r}:{t}")),
            (Some(r), None) => Some(r),
            _ => field_text(alert, &["container.image"]),
        };
        if let Some(o) = j.as_object_mut() {
            o.insert("id".into(), self.next_id.fetch_add(1, Ordering::Relaxed).into());
            o.insert("time_ms".into(), (alert.time_ns / 1_000_000).into());
            o.insert("container".into(), field_text(alert, &["container.name", "container.id"]).into());
            o.insert("image".into(), image.into());
            o.insert("fields".into(), fields.into());
        }
        j.to_string().into()
    }

    /// Keeps an alert and hands it to every open page, never waiting for one.
    pub fn publish(&self, alert: &Alert) {
        self.push(self.entry(alert));
    }

    /// An alert as JSON (another node's, from the fleet's stream), as [`Hub::publish`] does:
    /// the page gets the same fields, the types taken from the JSON values.
    pub fn publish_json(&self, mut j: serde_json::Value) {
        let Some(o) = j.as_object_mut() else { return };
        let fields: serde_json::Map<String, serde_json::Value> =
            o.get("output_fields").and_then(|f| f.as_object()).cloned().unwrap_or_default();
        let text = |name: &str| match fields.get(name) {
            Some(serde_json::Value::String(s)) if !s.is_empty() && s != "<NA>" => Some(s.clone()),
            Some(v @ serde_json::Value::Number(_)) => Some(v.to_string()),
            _ => None,
        };
        let image = match (text("container.image.repository"), text("container.image.tag")) {
            (Some(r), Some(t)) => Some(format!("{r}:{t}")),
            (Some(r), None) => Some(r),
            _ => text("container.image"),
        };
        let container = text("container.name").or_else(|| text("container.id"));
        let list: Vec<serde_json::Value> = fields
            .iter()
            .map(|(name, v)| {
                let (value, kind) = match v {
                    serde_json::Value::Null => (None, "missing"),
                    serde_json::Value::String(s) => (Some(s.clone()), "string"),
                    serde_json::Value::Bool(b) => (Some(b.to_string()), "bool"),
                    serde_json::Value::Number(n) if n.is_u64() => (Some(n.to_string()), "uint"),
                    serde_json::Value::Number(n) => (Some(n.to_string()), "int"),
                    other => (Some(other.to_string()), "list"),
                };
                serde_json::json!({ "name": name, "value": value, "type": kind })
            })
            .collect();
        let time_ms = o
            .get("time")
            .and_then(|t| t.as_str())
            .and_then(|t| fleet::parse_rfc3339_ms(t).ok())
            .unwrap_or_else(now_ms);
        o.insert("id".into(), self.next_id.fetch_add(1, Ordering::Relaxed).into());
        o.insert("time_ms".into(), time_ms.into());
        o.insert("container".into(), container.into());
        o.insert("image".into(), image.into());
        o.insert("fields".into(), list.into());
        self.push(j.to_string().into());
    }

    fn push(&self, e: Arc<str>) {
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            while ring.len() >= self.max {
                ring.pop_front();
            }
            ring.push_back(e.clone());
        }
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.retain(|c| match c.tx.try_send(e.clone()) {
            Ok(()) => true,
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                if c.missed.fetch_add(1, Ordering::Relaxed) == 0 {
                    self.metrics.console_clients_behind.inc();
                    tracing::warn!("console: a page fell behind; it misses live alerts until it catches up");
                }
                true
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
        });
        self.metrics.console_clients.set(clients.len() as i64);
    }

    /// The rules' descriptions and conditions, for the alert detail (at start and after each
    /// reload).
    pub fn set_rules(&self, ruleset: &lanner_engine::Ruleset) {
        let map = ruleset
            .rules()
            .iter()
            .map(|r| {
                let info = RuleInfo {
                    description: r.desc.clone(),
                    condition: r.condition.clone(),
                    source: r.source.clone(),
                };
                (r.name.clone(), info)
            })
            .collect();
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = map;
    }

    /// A reload's outcome, for the state view.
    pub fn reloaded(&self, ok: bool, detail: Option<String>) {
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(serde_json::json!({ "time_ms": now_ms(), "ok": ok, "error": detail }));
    }

    /// The kept alerts, newest first, as a JSON array.
    fn alerts_json(&self) -> String {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = String::with_capacity(ring.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
        s.push('[');
        for (i, e) in ring.iter().rev().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(e);
        }
        s.push(']');
        s
    }

    /// A new page's queue, or none when too many are open.
    fn subscribe(&self) -> Option<(tokio::sync::mpsc::Receiver<Arc<str>>, Arc<AtomicU64>)> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.retain(|c| !c.tx.is_closed());
        if clients.len() >= MAX_CLIENTS {
            return None;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(CLIENT_QUEUE);
        let missed = Arc::new(AtomicU64::new(0));
        clients.push(Client { tx, missed: missed.clone() });
        self.metrics.console_clients.set(clients.len() as i64);
        Some((rx, missed))
    }

    /// Lanner's own state from what `/metrics` knows: records and drops, reloads, outputs'
    /// losses, the plugins, the last reload, pages behind.
    fn state_json(&self) -> String {
        {
            // Pages closed since the last alert are dropped here too, so the count is current
            // when no alert comes.
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            clients.retain(|c| !c.tx.is_closed());
            self.metrics.console_clients.set(clients.len() as i64);
        }
        // Before the counters: a reload counts itself before it is recorded here, so a state
        // that shows a reload also counts it.
        let last_reload = self.last_reload.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let text = self.metrics.encode();
        const WANTED: [&str; 9] = [
            "lanner_capture_records_total",
            "lanner_capture_drops_total",
            "lanner_events_processed_total",
            "lanner_alerts_total",
            "lanner_output_dropped_total",
            "lanner_plugin_events_dropped_total",
            "lanner_rules_loaded",
            "lanner_console_clients",
            "lanner_console_clients_behind_total",
        ];
        // A family without a sample yet (no drop so far) is a zero, not an unknown.
        let mut sums: std::collections::BTreeMap<&str, f64> = WANTED.iter().map(|w| (*w, 0.0)).collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, rest) = line.split_once(['{', ' ']).unwrap_or((line, ""));
            if let Some(w) = WANTED.iter().find(|w| **w == name)
                && let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok())
            {
                *sums.entry(w).or_default() += v;
            }
        }
        let reloads: Vec<(String, f64)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("lanner_reloads_total{result=\""))
            .filter_map(|l| {
                let (result, v) = l.split_once("\"} ")?;
                Some((result.to_string(), v.parse().ok()?))
            })
            .collect();
        serde_json::json!({
            "counters": sums,
            "reloads": reloads.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "last_reload": last_reload,
            "plugins": self.metrics.plugin_status(),
            "max_alerts": self.max,
        })
        .to_string()
    }
}

/// The console as an output: the outputs' own queue and worker stand between detection and
/// the hub, so a slow hub would cost an output's queue, never the event loop.
pub struct ConsoleSink(pub Arc<Hub>);

impl AlertSink for ConsoleSink {
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        for a in alerts {
            self.0.publish(a);
        }
        Ok(())
    }
}

/// What the console routes share.
struct Served {
    hub: Arc<Hub>,
    token: String,
    /// Whether the endpoint is HTTPS: the cookie is then `Secure`.
    tls: bool,
}

/// Whether `given` is the token, in time that does not depend on where they differ.
fn token_matches(given: &str, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

/// The `token` parameter of a query, when there is one.
fn query_token(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(str::to_string)
}

/// Adds the console's security headers to any answer, the 401s included.
fn harden(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Lets in requests with the token (cookie, bearer header, or `?token=`), refuses the rest
/// with 401. A page visit with `?token=` gets the cookie and is sent to the same address
/// without the token, so it is not left in the address bar, the history or a shared link.
async fn guard(State(s): State<Arc<Served>>, req: Request, next: Next) -> Response {
    let from_query = query_token(req.uri());
    let given = cookie_token(req.headers()).or_else(|| bearer_token(req.headers())).or(from_query.clone());
    let ok = given.as_deref().is_some_and(|g| token_matches(g, &s.token));
    // A wrong cookie must not hide a right ?token= (an old cookie after the token changed).
    let ok = ok || from_query.as_deref().is_some_and(|g| token_matches(g, &s.token));
    if !ok {
        return harden(
            (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the console needs its token: open the URL lanner run logged at start (…/console?token=…)\n",
            )
                .into_response(),
        );
    }
    let page = matches!(req.uri().path(), "/console" | "/console/");
    if from_query.is_some() && req.method() == Method::GET && page {
        let rest: Vec<(String, String)> = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k != "token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut location = "/console".to_string();
        if !rest.is_empty() {
            location.push('?');
            location.push_str(&form_urlencoded::Serializer::new(String::new()).extend_pairs(rest).finish());
        }
        let secure = if s.tls { "; Secure" } else { "" };
        let cookie = format!("{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict{secure}", s.token);
        let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return harden(resp);
    }
    harden(next.run(req).await)
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/console.js");
const APP_CSS: &str = include_str!("assets/console.css");
const UPLOT_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/console-vendor/uPlot.iife.min.js"));
const UPLOT_CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/console-vendor/uPlot.min.css"));
/// uPlot's licence (MIT), served beside it: the binary carries a copy of the library.
const UPLOT_LICENSE: &str = include_str!(concat!(env!("OUT_DIR"), "/console-vendor/LICENSE"));
const FAVICON: &str = include_str!("assets/favicon.svg");

/// The live alerts as server-sent events: `alert` for each, `behind` when the page missed
/// some (it reloads the list then).
fn events(hub: &Hub) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let Some((rx, missed)) = hub.subscribe() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many console pages are open\n").into_response();
    };
    let stream = futures_util::stream::unfold((rx, missed), |(mut rx, missed)| async move {
        let n = missed.swap(0, Ordering::Relaxed);
        if n > 0 {
            let ev = Event::default().event("behind").data(format!("{{\"missed\":{n}}}"));
            return Some((Ok::<_, std::convert::Infallible>(ev), (rx, missed)));
        }
        let e = rx.recv().await?;
        Some((Ok(Event::default().event("alert").data(&*e)), (rx, missed)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// The console's routes, every one behind the token.
pub fn router(hub: Arc<Hub>, token: String, tls: bool) -> axum::Router {
    let s = Arc::new(Served { hub, token, tls });
    let (h1, h2, h3, h4) = (s.hub.clone(), s.hub.clone(), s.hub.clone(), s.hub.clone());
    let page = || async { asset("text/html; charset=utf-8", INDEX.as_bytes()) };
    axum::Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS.as_bytes()) }),
        )
        .route("/console/console.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS.as_bytes()) }))
        .route("/console/favicon.svg", get(|| async { asset("image/svg+xml", FAVICON.as_bytes()) }))
        .route(
            "/console/vendor/uPlot.iife.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", UPLOT_JS.as_bytes()) }),
        )
        .route(
            "/console/vendor/uPlot.min.css",
            get(|| async { asset("text/css; charset=utf-8", UPLOT_CSS.as_bytes()) }),
        )
        .route(
            "/console/vendor/LICENSE",
            get(|| async { asset("text/plain; charset=utf-8", UPLOT_LICENSE.as_bytes()) }),
        )
        .route(
            "/console/api/alerts",
            get(move || {
                let h = h1.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], h.alerts_json()).into_response() }
            }),
        )
        .route(
            "/console/api/events",
            get(move || {
                let h = h2.clone();
                async move { events(&h) }
            }),
        )
        .route(
            "/console/api/state",
            get(move || {
                let h = h3.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], h.state_json()).into_response() }
            }),
        )
        .route(
            "/console/api/rule",
            get(move |uri: Uri| {
                let h = h4.clone();
                async move {
                    let name = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                        .find(|(k, _)| k == "name")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    let rules = h.rules.read().unwrap_or_else(|p| p.into_inner());
                    match rules.get(&name) {
                        Some(r) => (
                            [(header::CONTENT_TYPE, "application/json")],
                            serde_json::to_string(r).unwrap_or_default(),
                        )
                            .into_response(),
                        None => (StatusCode::NOT_FOUND, "no such rule loaded\n").into_response(),
                    }
                }
            }),
        )
        .route("/console/{*rest}", get(|| async { (StatusCode::NOT_FOUND, Body::from("not found\n")) }))
        // Matched routes only: the webserver's other paths (and its 404s) stay its own.
        .route_layer(axum::middleware::from_fn_with_state(s, guard))
}

/// The URL the daemon logs once at start: loopback when the endpoint listens on every
/// address.
pub fn url(bound: std::net::SocketAddr, tls: bool, token: &str) -> String {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("{}://{addr}/console?token={token}", if tls { "https" } else { "http" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(token: &str, file: &str) -> ConsoleConfig {
        ConsoleConfig { enabled: true, max_alerts: 10, token: token.into(), token_file: file.into() }
    }

    #[test]
    fn the_token_comes_from_config_then_env_then_file_else_is_generated() {
        let (t, o, ignored) =
            resolve_token(&cfg("0123456789abcdefXYZ", ""), Some("fromenv-0123456789".into())).unwrap();
        assert_eq!((t.as_str(), o), ("0123456789abcdefXYZ", TokenOrigin::Config));
        assert_eq!(
            ignored,
            vec![format!("console: {TOKEN_ENV} is ignored, the token comes from console.token")]
        );
        let (t, o, _) = resolve_token(&cfg("", ""), Some("fromenv-0123456789".into())).unwrap();
        assert_eq!((t.as_str(), o), ("fromenv-0123456789", TokenOrigin::Env));
        let (t, o, ignored) = resolve_token(&cfg("", ""), None).unwrap();
        assert_eq!((t.len(), o), (64, TokenOrigin::Generated));
        assert!(ignored.is_empty());
        let e = resolve_token(&cfg("short", ""), None).unwrap_err().to_string();
        assert!(e.contains("shorter than 16"), "{e}");
        let e = resolve_token(&cfg("", "/nonexistent/token"), None).unwrap_err();
        assert!(format!("{e:#}").starts_with("console.token_file /nonexistent/token"), "{e:#}");
    }

    #[test]
    fn only_the_exact_token_matches() {
        assert!(token_matches("0123456789abcdef", "0123456789abcdef"));
        assert!(!token_matches("0123456789abcdeF", "0123456789abcdef"));
        assert!(!token_matches("0123456789abcdef0", "0123456789abcdef"));
        assert!(!token_matches("", "0123456789abcdef"));
    }

    #[test]
    fn the_ring_keeps_the_newest_and_a_full_page_queue_is_counted_once() {
        let m = Arc::new(Metrics::new());
        let hub = Hub::new(3, m.clone());
        let (mut rx, missed) = hub.subscribe().unwrap();
        let alert = |n: u64| Alert {
            time_ns: n,
            rule: format!("r{n}"),
            priority: lanner_event::Priority::Warning,
            output: "o".into(),
            output_fields: vec![],
            source: "syscall".into(),
            tags: vec![],
            hostname: "h".into(),
        };
        for n in 0..(CLIENT_QUEUE as u64 + 5) {
            hub.publish(&alert(n));
        }
        let all: Vec<serde_json::Value> = serde_json::from_str(&hub.alerts_json()).unwrap();
        let rules: Vec<&str> = all.iter().map(|a| a["rule"].as_str().unwrap()).collect();
        let last = CLIENT_QUEUE + 4;
        assert_eq!(rules, [format!("r{last}"), format!("r{}", last - 1), format!("r{}", last - 2)]);
        assert_eq!(missed.load(Ordering::Relaxed), 5);
        assert_eq!(m.console_clients_behind.get(), 1, "one page fell behind once");
        assert!(rx.try_recv().is_ok());
    }
}
