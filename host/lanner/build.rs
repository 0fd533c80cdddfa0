//! Vendors the alert console's chart library (uPlot) into OUT_DIR at build time, from the npm
//! registry at the version and integrity pinned in scripts/vendor-console.sh, so the binary
//! embeds exactly that release and the repository carries none of its code.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `NAME=value` assignment of the vendoring script (its pin), without quotes.
fn pinned(script: &str, name: &str) -> String {
    script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .map(|v| v.trim_matches('\'').trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("scripts/vendor-console.sh has no {name}= line"))
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let script_path = manifest.join("../../scripts/vendor-console.sh");
    println!("cargo:rerun-if-changed={}", script_path.display());
    println!("cargo:rerun-if-env-changed=LANNER_CONSOLE_VENDOR_DIR");
    let script = std::fs::read_to_string(&script_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", script_path.display()));
    let want = format!(
        "{}@{} {}",
        pinned(&script, "NAME"),
        pinned(&script, "VERSION"),
        pinned(&script, "INTEGRITY")
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("console-vendor");
    let have = |dir: &Path| std::fs::read_to_string(dir.join("VERSION")).is_ok_and(|v| v.trim() == want);
    // A folder vendored beforehand (an offline build: the .deb, an image) is taken when its
    // VERSION is the pin.
    if let Some(dir) = std::env::var_os("LANNER_CONSOLE_VENDOR_DIR").map(PathBuf::from) {
        assert!(
            have(&dir),
            "LANNER_CONSOLE_VENDOR_DIR={} does not hold {want} (run scripts/vendor-console.sh {})",
            dir.display(),
            dir.display()
        );
        copy_dir(&dir, &out);
        return;
    }
    if have(&out) {
        return;
    }
    let status = Command::new("sh").arg(&script_path).arg(&out).status();
    match status {
        Ok(s) if s.success() && have(&out) => {}
        other => panic!(
            "the alert console's chart library ({want}) could not be vendored ({other:?}): \
             scripts/vendor-console.sh needs npm and the npm registry (scripts/setup.sh installs \
             Node.js and npm); offline, vendor it elsewhere and set LANNER_CONSOLE_VENDOR_DIR"
        ),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
