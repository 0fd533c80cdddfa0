//! Builds the eBPF probe (`probe-ebpf/probe`) for the bpf target with aya-build; the loader
//! embeds the object from `OUT_DIR`.

use std::path::PathBuf;

fn main() -> aya_build::Result<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let probe_ebpf = manifest_dir.join("../../probe-ebpf").canonicalize()?;
    let probe_dir = probe_ebpf.join("probe");
    let common_dir = probe_ebpf.join("common");
    // aya-build watches the probe's directory; the shared record layout matters as much.
    println!("cargo:rerun-if-changed={}", common_dir.display());
    // The probe is not a member of this workspace (it builds for another target with another
    // toolchain): aya-build runs `cargo build --package lanner-probe` from the current
    // directory, so run it from the probe's own.
    std::env::set_current_dir(&probe_dir)?;
    let root_dir = probe_dir
        .to_str()
        .ok_or_else(|| std::io::Error::other(format!("non-UTF-8 path {}", probe_dir.display())))?;
    aya_build::build_ebpf(
        [aya_build::Package { name: "lanner-probe", root_dir, ..Default::default() }],
        aya_build::Toolchain::default(),
    )
}
