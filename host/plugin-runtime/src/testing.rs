//! Building plugin components from the repository's sources, for tests and benchmarks.
//!
//! Not for production use: it runs `cargo build --release --target wasm32-wasip2` on a
//! plugin crate (under `plugins/` or `tests/plugins/`) into one shared target directory and
//! returns the component's path.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root exists")
}

/// Where plugin components are built: beside the host's target directory.
pub fn wasm_target_dir() -> PathBuf {
    let base =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    base.join("wasm-plugins")
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Builds the plugin crate at `crate_dir` (relative to the repository root) and returns the
/// path of its component. Panics with cargo's output when the build fails.
pub fn build_component(crate_dir: &str) -> PathBuf {
    let _g = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = repo_root().join(crate_dir);
    let target = wasm_target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&dir)
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building {crate_dir} for wasm32-wasip2 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("the plugin has a Cargo.toml");
    let name = manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \"").and_then(|r| r.strip_suffix('"')))
        .expect("the plugin's Cargo.toml names its package");
    let wasm = target.join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
    assert!(wasm.is_file(), "{} was not produced", wasm.display());
    wasm
}
