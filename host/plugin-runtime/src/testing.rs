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

/// Builds a Python plugin (`app.py` in `crate_dir`, relative to the repository root) into a
/// component of `world` with componentize-py (installed by `scripts/setup.sh`), again only
/// when `app.py` changed. Panics with the tool's output when the build fails.
pub fn build_python_component(plugin_dir: &str, world: &str) -> PathBuf {
    let _g = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let root = repo_root();
    let dir = root.join(plugin_dir);
    let name = dir.file_name().expect("a plugin folder").to_string_lossy().into_owned();
    let out_dir = wasm_target_dir().join("python");
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let wasm = out_dir.join(format!("{name}.wasm"));
    let src_time =
        std::fs::metadata(dir.join("app.py")).and_then(|m| m.modified()).expect("the plugin has an app.py");
    let fresh = std::fs::metadata(&wasm).and_then(|m| m.modified()).is_ok_and(|t| t >= src_time);
    if fresh {
        return wasm;
    }
    let tmp = out_dir.join(format!(".{name}.wasm.tmp"));
    // scripts/setup.sh installs it in its own virtual environment; PATH is tried first.
    let tools = std::env::var_os("LANNER_PLUGIN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/lanner-plugin-tools".into());
    let venv = tools.join("bin/componentize-py");
    let tool = if Command::new("componentize-py").arg("--version").output().is_ok_and(|o| o.status.success())
    {
        PathBuf::from("componentize-py")
    } else {
        venv
    };
    let out = Command::new(&tool)
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("-d")
        .arg(root.join("wit"))
        .args(["-w", world, "componentize", "app", "-o"])
        .arg(&tmp)
        .output()
        .unwrap_or_else(|e| panic!("componentize-py cannot run ({e}): scripts/setup.sh installs it"));
    assert!(
        out.status.success(),
        "componentize-py failed for {plugin_dir}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &wasm).expect("move the component in place");
    wasm
}

/// Builds a JavaScript plugin (`plugin.js` in `plugin_dir`, relative to the repository root)
/// into a component of `world` with `jco componentize` (ComponentizeJS), again only when
/// `plugin.js` or the pinned tools (`package-lock.json`) changed. The tools are those of
/// `plugin_dir/node_modules` after `npm ci` there, else those `scripts/setup.sh` installs in
/// `/opt/lanner-js-tools` (`LANNER_JS_TOOLS`). Panics with the tool's output when the build
/// fails, and names `scripts/setup.sh` when the tools are missing.
pub fn build_js_component(plugin_dir: &str, world: &str) -> PathBuf {
    let _g = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let root = repo_root();
    let dir = root.join(plugin_dir);
    let name = dir.file_name().expect("a plugin folder").to_string_lossy().into_owned();
    let out_dir = wasm_target_dir().join("javascript");
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let wasm = out_dir.join(format!("{name}.wasm"));
    let modified = |f: &str| std::fs::metadata(dir.join(f)).and_then(|m| m.modified());
    let src_time = modified("plugin.js").expect("the plugin has a plugin.js");
    let src_time = modified("package-lock.json").map_or(src_time, |t| t.max(src_time));
    let fresh = std::fs::metadata(&wasm).and_then(|m| m.modified()).is_ok_and(|t| t >= src_time);
    if fresh {
        return wasm;
    }
    let tools = std::env::var_os("LANNER_JS_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/lanner-js-tools".into());
    let jco = [dir.join("node_modules/.bin/jco"), tools.join("node_modules/.bin/jco")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "jco is not installed (neither {plugin_dir}/node_modules nor {}): scripts/setup.sh installs it",
                tools.display()
            )
        });
    let tmp = out_dir.join(format!(".{name}.wasm.tmp"));
    let _ = std::fs::remove_file(&tmp);
    // Never `--aot`: the host compiles the component itself.
    let out = Command::new("node")
        .current_dir(&dir)
        .arg(&jco)
        .args(["componentize", "plugin.js", "--wit"])
        .arg(root.join("wit"))
        .args(["--world-name", world, "--out"])
        .arg(&tmp)
        .output()
        .unwrap_or_else(|e| panic!("node cannot run ({e}): scripts/setup.sh installs Node.js and jco"));
    assert!(
        out.status.success() && tmp.is_file(),
        "jco componentize failed for {plugin_dir}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &wasm).expect("move the component in place");
    wasm
}
