//! The wasmtime engine, its linker, the epoch ticker and the precompiled-component cache.

use crate::bindings::{extractor, types};
use crate::config::{DirMode, PluginConfig};
use crate::error::PluginError;
use crate::http::HttpPolicy;
use crate::plugin::Plugin;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How often the engine's epoch advances: the unit of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// What a store holds for one plugin instance.
pub(crate) struct State {
    pub(crate) plugin: Arc<str>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: HttpPolicy,
    pub(crate) table: ResourceTable,
    pub(crate) limits: crate::limits::Limiter,
    /// The unix sockets granted (`crate::unix`).
    pub(crate) unix: crate::unix::UnixGrant,
    /// When the running call's `call_timeout_ms` ends: blocking WASI waits stop there
    /// (`crate::deadline`).
    pub(crate) deadline: Option<std::time::Instant>,
    /// What it was granted, to name a missing grant in its log lines.
    grants: crate::config::Grants,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

impl types::Host for State {}

/// The longest log line a plugin may write; the rest is cut.
const MAX_LOG_LINE: usize = 4096;

impl extractor::lanner::plugin::host::Host for State {
    fn log(&mut self, level: types::LogLevel, message: String) {
        let mut end = message.len().min(MAX_LOG_LINE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let msg = &message[..end];
        let level = match level {
            types::LogLevel::Trace => log::Level::Trace,
            types::LogLevel::Debug => log::Level::Debug,
            types::LogLevel::Info => log::Level::Info,
            types::LogLevel::Warn => log::Level::Warn,
            types::LogLevel::Error => log::Level::Error,
        };
        let msg = crate::wasi_errors::explain(msg, &self.plugin, &self.grants);
        log::log!(level, "plugin {}: {msg}", self.plugin);
    }
}

/// Runtime-wide options.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where precompiled components are kept; `None` compiles at every load.
    pub cache_dir: Option<PathBuf>,
}

/// The epoch ticker's shared state. The epoch advances only while a plugin runs: a ticker
/// that always ran woke every runtime's thread 1,000 times a second on an idle node (0.8% of
/// a CPU each on this project's test machine, and a preemption of whatever ran there).
pub(crate) struct Ticking {
    /// Plugin calls (and instantiations, and resource drops) running now.
    active: AtomicUsize,
    stop: AtomicBool,
    /// Epochs advanced so far.
    ticks: AtomicU64,
    thread: OnceLock<Thread>,
}

/// Keeps the epoch advancing while it lives: taken before any guest code runs.
pub(crate) struct TickGuard(Arc<Ticking>);

impl Ticking {
    pub(crate) fn run(self: &Arc<Self>) -> TickGuard {
        if self.active.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(t) = self.thread.get()
        {
            t.unpark();
        }
        TickGuard(self.clone())
    }
}

impl Drop for TickGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Ticker {
    shared: Arc<Ticking>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The plugin runtime: one engine, one linker, shared by every plugin.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<State>,
    cache_dir: Option<PathBuf>,
    ticker: Ticker,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileOrigin {
    /// Compiled now (and stored in the cache when there is one).
    Compiled,
    /// Read from the cache.
    Cached,
}

impl Runtime {
    /// Builds the engine (Cranelift, component model, epoch interruption), the linker with
    /// WASI, `wasi:http` and the Lanner host interface, and starts the epoch ticker.
    pub fn new(opts: RuntimeOptions) -> Result<Self, PluginError> {
        let mut cfg = Config::new();
        cfg.wasm_component_model(true).epoch_interruption(true).strategy(wasmtime::Strategy::Cranelift);
        let engine = Engine::new(&cfg).map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        crate::deadline::add_to_linker(&mut linker).map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        extractor::lanner::plugin::host::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        extractor::lanner::plugin::types::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        crate::bindings::v0_4::lanner::plugin0_4_0::unix_socket::add_to_linker::<State, HasSelf<State>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        let shared = Arc::new(Ticking {
            active: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            thread: OnceLock::new(),
        });
        let thread = {
            let engine = engine.clone();
            let t = shared.clone();
            std::thread::Builder::new()
                .name("plugin-epoch".into())
                .spawn(move || {
                    while !t.stop.load(Ordering::SeqCst) {
                        // A call that starts after this check unparks the thread (park keeps
                        // the token of an unpark that came first).
                        if t.active.load(Ordering::SeqCst) == 0 {
                            std::thread::park();
                            continue;
                        }
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                        t.ticks.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .map_err(|e| PluginError::Runtime(format!("cannot start the epoch ticker: {e}")))?
        };
        let _ = shared.thread.set(thread.thread().clone());
        if let Some(dir) = &opts.cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| PluginError::Io {
                path: dir.clone(),
                message: format!("cannot create the plugin cache: {e}"),
            })?;
        }
        Ok(Runtime {
            engine,
            linker,
            cache_dir: opts.cache_dir,
            ticker: Ticker { shared, thread: Some(thread) },
        })
    }

    /// How many times the engine's epoch has advanced: only while plugin code runs.
    pub fn epoch_ticks(&self) -> u64 {
        self.ticker.shared.ticks.load(Ordering::Relaxed)
    }

    /// What a plugin takes to keep the epoch advancing while its code runs.
    pub(crate) fn ticking(&self) -> Arc<Ticking> {
        self.ticker.shared.clone()
    }

    /// The cache key of a component file: its SHA-256 and the engine's compatibility hash, so
    /// that a different wasmtime or different engine settings never read a stale artifact.
    pub fn cache_key(&self, bytes: &[u8]) -> String {
        let file = hex::encode(Sha256::digest(bytes));
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        format!("{file}-{:016x}", h.finish())
    }

    /// Compiles a component, or loads its precompiled form from the cache.
    pub fn compile(&self, path: &Path, bytes: &[u8]) -> Result<(Component, CompileOrigin), PluginError> {
        let invalid =
            |e: wasmtime::Error| PluginError::Invalid { path: path.to_path_buf(), message: format!("{e:#}") };
        let Some(dir) = &self.cache_dir else {
            return Ok((Component::new(&self.engine, bytes).map_err(invalid)?, CompileOrigin::Compiled));
        };
        let cached = dir.join(format!("{}.cwasm", self.cache_key(bytes)));
        if cached.is_file() {
            // SAFETY: the cache directory is Lanner's own (created by it, under its state
            // directory); artifacts are written there only by `precompile_component` below and
            // named by the hash of their source and of the engine settings.
            match unsafe { Component::deserialize_file(&self.engine, &cached) } {
                Ok(c) => return Ok((c, CompileOrigin::Cached)),
                Err(e) => log::warn!("plugin cache {}: unreadable, recompiling: {e:#}", cached.display()),
            }
        }
        let art = self.engine.precompile_component(bytes).map_err(invalid)?;
        let tmp = dir.join(format!(".{}.tmp{}", self.cache_key(bytes), std::process::id()));
        let stored = std::fs::write(&tmp, &art).and_then(|()| std::fs::rename(&tmp, &cached));
        if let Err(e) = stored {
            log::warn!("plugin cache {}: cannot store: {e}", cached.display());
            let _ = std::fs::remove_file(&tmp);
        }
        // SAFETY: the bytes were produced by this engine's `precompile_component` just above.
        let c = unsafe { Component::deserialize(&self.engine, &art) }.map_err(invalid)?;
        Ok((c, CompileOrigin::Compiled))
    }

    /// Loads a plugin from its component file and configuration: compiles (or reads the cache),
    /// instantiates, checks its interface version and configuration, and calls `init`.
    pub fn load(&self, path: &Path, config: PluginConfig) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path)
            .map_err(|e| PluginError::Io { path: path.to_path_buf(), message: e.to_string() })?;
        self.load_bytes(path, &bytes, config)
    }

    /// As [`Runtime::load`], from bytes already read.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8], config: PluginConfig) -> Result<Plugin, PluginError> {
        let (component, _) = self.compile(path, bytes)?;
        Plugin::new(self, path, component, config)
    }

    pub(crate) fn state_for(plugin: &Arc<str>, config: &PluginConfig) -> Result<State, PluginError> {
        let mut b = WasiCtxBuilder::new();
        b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        crate::tcp::install(&mut b, plugin, &config.grants.tcp, &config.grants.listen)
            .map_err(|message| PluginError::Grant { plugin: plugin.to_string(), message })?;
        for d in &config.grants.dirs {
            let perms = match d.mode {
                DirMode::Ro => FsPerms::ReadOnly,
                DirMode::Rw => FsPerms::ReadWrite,
            };
            b.preopened_dir(&d.host, d.guest_path(), perms).map_err(|e| PluginError::Grant {
                plugin: plugin.to_string(),
                message: format!("directory {}: {e:#}", d.host.display()),
            })?;
        }
        for name in &config.grants.env {
            if let Ok(v) = std::env::var(name) {
                b.env(name, v);
            }
        }
        let limits = crate::limits::Limiter::new(&config.limits);
        let tls = crate::http::tls_client_config(&config.grants.http_tls).map_err(|message| {
            PluginError::Grant { plugin: plugin.to_string(), message: format!("http_tls: {message}") }
        })?;
        Ok(State {
            plugin: plugin.clone(),
            wasi: b.build(),
            http: WasiHttpCtx::new(),
            hooks: HttpPolicy {
                plugin: plugin.clone(),
                allow: config.grants.http.clone().into(),
                timeout: Duration::from_millis(config.limits.call_timeout_ms.max(1)),
                denied: Default::default(),
                tls,
            },
            table: ResourceTable::new(),
            limits,
            unix: crate::unix::UnixGrant {
                plugin: plugin.clone(),
                paths: config.grants.unix.clone().into(),
                max_wait: Duration::from_millis(config.limits.call_timeout_ms.max(1)),
                open: 0,
            },
            deadline: None,
            grants: config.grants.clone(),
        })
    }

    pub(crate) fn set_denied_counter(state: &mut State, c: Arc<std::sync::atomic::AtomicU64>) {
        state.hooks.denied = c;
    }
}
