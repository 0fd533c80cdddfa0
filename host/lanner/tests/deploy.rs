//! The deployment artefacts: the systemd unit passes `systemd-analyze verify`, the
//! Kubernetes manifests and the rendered Helm chart validate against the Kubernetes schema
//! (deploy/kubernetes/check.py), the `.deb` that cargo-deb builds installs what it should,
//! and the Dockerfile copies files that exist. Each check is also shown to reject a broken
//! copy. The tools come from scripts/setup.sh; a test whose tool is missing fails and says so.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LANNER: &str = env!("CARGO_BIN_EXE_lanner");
/// The capabilities live capture needs, as systemd spells them.
const CAPS: [&str; 5] =
    ["CAP_BPF", "CAP_PERFMON", "CAP_SYS_RESOURCE", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-deploy-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> Output {
    let what = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e} (scripts/setup.sh installs the deployment tools)"));
    eprintln!("$ {what}\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

// ---- systemd

/// `systemd-analyze verify` on a copy of the unit whose ExecStart names the built binary
/// (verify insists that it exists). Ok when it exits 0 and says nothing about the unit:
/// it reports unknown keys and bad values as warnings, with exit status 0.
fn verify_unit(unit_text: &str, tag: &str) -> Result<(), String> {
    let dir = temp_dir(tag);
    let unit = dir.join("lanner.service");
    let rewritten = unit_text.replace("ExecStart=/usr/bin/lanner", &format!("ExecStart={LANNER}"));
    assert_ne!(rewritten, unit_text, "the unit starts /usr/bin/lanner");
    fs::write(&unit, rewritten).unwrap();
    let out = run(Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&unit));
    let all = text(&out);
    let about_unit: Vec<&str> =
        all.lines().filter(|l| l.contains("lanner.service") || l.contains(dir.to_str().unwrap())).collect();
    let _ = fs::remove_dir_all(&dir);
    if !out.status.success() || !about_unit.is_empty() {
        return Err(format!("systemd-analyze verify: {}\n{}", out.status, about_unit.join("\n")));
    }
    Ok(())
}

fn unit_text() -> String {
    fs::read_to_string(root().join("packaging/systemd/lanner.service")).unwrap()
}

/// The values of a key in the unit (every assignment, in order).
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(|v| v.trim().to_string()))
        .collect()
}

#[test]
fn systemd_unit_passes_verify() {
    verify_unit(&unit_text(), "unit").unwrap();
}

#[test]
fn systemd_unit_verify_rejects_broken_units() {
    let unit = unit_text();
    for (what, broken) in [
        ("a misspelt key", unit.replace("ProtectSystem=strict", "ProtectSytem=strict")),
        ("a bad value", unit.replace("Restart=on-failure", "Restart=sometimes")),
        ("a missing reload command", unit.replace("ExecReload=/bin/kill", "ExecReload=/nonexistent/kill")),
    ] {
        assert_ne!(broken, unit, "{what}: the replacement applies");
        assert!(verify_unit(&broken, "broken").is_err(), "{what} passed systemd-analyze verify");
    }
}

#[test]
fn systemd_unit_runs_the_daemon_hardened_with_the_ebpf_capabilities() {
    let unit = unit_text();
    let one = |key: &str| {
        let v = unit_values(&unit, key);
        assert_eq!(v.len(), 1, "{key} set once: {v:?}");
        v[0].clone()
    };
    assert_eq!(one("ExecStart"), "/usr/bin/lanner run");
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(one("Type"), "simple");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("LimitMEMLOCK"), "infinity");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("NoNewPrivileges"), "yes");
    // wasmtime needs writable-then-executable memory for compiled plugins.
    assert_eq!(one("MemoryDenyWriteExecute"), "no");
    // The cgroup hierarchy is read for container ids.
    assert_eq!(one("ProtectControlGroups"), "no");
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        let caps: Vec<String> = one(key).split_whitespace().map(String::from).collect();
        assert_eq!(caps, CAPS, "{key}");
    }
    let families = one("RestrictAddressFamilies");
    for f in ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"] {
        assert!(families.split_whitespace().any(|x| x == f), "{f} allowed");
    }
}

// ---- Kubernetes

fn tools_python() -> PathBuf {
    let dir = std::env::var_os("LANNER_DEPLOY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or("/opt/lanner-deploy-tools".into());
    let python = dir.join("bin/python");
    assert!(
        python.exists(),
        "{}: missing; scripts/setup.sh installs the manifest checker's tools",
        python.display()
    );
    python
}

#[test]
fn kubernetes_manifests_and_helm_chart_validate() {
    let out = run(Command::new(tools_python()).arg(root().join("deploy/kubernetes/check.py")));
    let t = text(&out);
    assert!(out.status.success(), "deploy/kubernetes/check.py failed:\n{t}");
    for expected in [
        "ok   plain manifests",
        "ok   chart, default values",
        "ok   chart, every switch",
        "all manifests valid",
    ] {
        assert!(t.contains(expected), "{expected:?} in the checker's output");
    }
}

#[test]
fn kubernetes_check_rejects_a_broken_manifest() {
    let dir = temp_dir("k8s");
    let plain = root().join("deploy/kubernetes");
    let good: String = ["02-configmap.yaml", "03-daemonset.yaml"]
        .iter()
        .map(|f| fs::read_to_string(plain.join(f)).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    let good_file = dir.join("good.yaml");
    fs::write(&good_file, &good).unwrap();
    let check = |file: &Path| run(Command::new(tools_python()).arg(plain.join("check.py")).arg(file));
    assert!(check(&good_file).status.success(), "the unchanged manifests pass");
    for (what, from, to) in [
        ("an unknown field", "      hostPID: true", "      hostPID: true\n      hostNetwork: maybe"),
        ("a string where an integer goes", "containerPort: 8765", "containerPort: \"8765\""),
        ("no host PID", "      hostPID: true", "      hostPID: false"),
        ("the endpoint on loopback", "listen_address: 0.0.0.0", "listen_address: 127.0.0.1"),
    ] {
        let broken = good.replacen(from, to, 1);
        assert_ne!(broken, good, "{what}: the replacement applies");
        let f = dir.join("broken.yaml");
        fs::write(&f, broken).unwrap();
        let out = check(&f);
        assert!(!out.status.success(), "{what} passed the check");
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn kubernetes_daemonset_asks_for_the_units_capabilities() {
    let ds: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &fs::read_to_string(root().join("deploy/kubernetes/03-daemonset.yaml")).unwrap(),
    )
    .unwrap();
    let added: Vec<String> =
        ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| format!("CAP_{}", c.as_str().unwrap()))
            .collect();
    assert_eq!(added, CAPS);
    let values: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &fs::read_to_string(root().join("deploy/kubernetes/helm/lanner/values.yaml")).unwrap(),
    )
    .unwrap();
    let chart: Vec<String> = values["capabilities"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| format!("CAP_{}", c.as_str().unwrap()))
        .collect();
    assert_eq!(chart, CAPS);
}

// ---- Debian package

/// Builds the .deb from the binary this test run built (no second build: `--no-build`, with
/// the profile that built it) and lists it.
#[test]
fn deb_package_installs_binary_unit_config_and_rules() {
    let bin = Path::new(LANNER);
    let profile_dir = bin.parent().unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev",
        other => other,
    };
    let out_dir = temp_dir("deb");
    let deb = out_dir.join("lanner.deb");
    // The plugins that ship in the package are built first, as the packaging docs say.
    let out =
        run(Command::new(root().join("packaging/build-plugins.sh")).env("CARGO_TARGET_DIR", target_dir));
    assert!(out.status.success(), "packaging/build-plugins.sh failed:\n{}", text(&out));
    let out = run(Command::new(env!("CARGO"))
        .current_dir(root())
        .env("CARGO_TARGET_DIR", target_dir)
        .args(["deb", "-p", "lanner", "--no-build", "--no-strip", "--fast", "--profile", profile, "-o"])
        .arg(&deb));
    assert!(out.status.success(), "cargo deb failed (scripts/setup.sh installs cargo-deb):\n{}", text(&out));

    let listing = text(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    let paths: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().nth(5)).collect();
    for p in [
        "./usr/bin/lanner",
        "./lib/systemd/system/lanner.service",
        "./etc/lanner/lanner.yaml",
        "./etc/lanner/rules/lanner_rules.yaml",
        "./etc/lanner/rules/lanner_rules.local.yaml",
        "./etc/lanner/rules.d/",
        "./etc/lanner/plugins.d/",
        "./etc/lanner/config.d/",
        "./usr/share/doc/lanner/lanner.yaml.example",
        "./usr/lib/lanner/sinks/file.wasm",
        "./usr/lib/lanner/sinks/webhook.wasm",
        "./usr/lib/lanner/sinks/slack.wasm",
        "./usr/lib/lanner/sinks/email.wasm",
        "./usr/lib/lanner/sinks/nats.wasm",
        "./usr/lib/lanner/plugins/json.wasm",
        "./usr/lib/lanner/plugins/k8saudit.wasm",
        "./usr/lib/lanner/plugins/container.wasm",
        "./usr/lib/lanner/plugins/pkgowner.wasm",
    ] {
        assert!(
            paths.iter().any(|x| *x == p || x.trim_start_matches("./usr") == p.trim_start_matches('.')),
            "{p} in the package:\n{listing}"
        );
    }
    assert!(
        listing.lines().any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("./usr/bin/lanner")),
        "the binary is executable"
    );

    let ctrl = out_dir.join("control");
    assert!(run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&ctrl)).status.success());
    let conffiles = fs::read_to_string(ctrl.join("conffiles")).unwrap_or_default();
    for c in [
        "/etc/lanner/lanner.yaml",
        "/etc/lanner/rules/lanner_rules.yaml",
        "/etc/lanner/rules/lanner_rules.local.yaml",
    ] {
        assert!(conffiles.lines().any(|l| l == c), "{c} is a conffile:\n{conffiles}");
    }
    let control = fs::read_to_string(ctrl.join("control")).unwrap();
    assert!(control.contains("Package: lanner"), "{control}");
    let postinst = fs::read_to_string(ctrl.join("postinst")).unwrap_or_default();
    assert!(
        postinst.contains("deb-systemd-helper") && postinst.contains("lanner.service"),
        "postinst enables the unit:\n{postinst}"
    );

    // The packaged files are the repository's.
    let data = out_dir.join("data");
    assert!(run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&data)).status.success());
    let unit = fs::read_dir(data.join("lib/systemd/system"))
        .or_else(|_| fs::read_dir(data.join("usr/lib/systemd/system")))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(fs::read_to_string(unit).unwrap(), unit_text());
    for (packaged, source) in [
        ("etc/lanner/lanner.yaml", "packaging/etc/lanner.yaml"),
        ("etc/lanner/rules/lanner_rules.yaml", "rules/lanner_rules.yaml"),
    ] {
        assert_eq!(
            fs::read(data.join(packaged)).unwrap(),
            fs::read(root().join(source)).unwrap(),
            "{packaged}"
        );
    }
    // The sinks are where the default sink_plugins_dir looks, and are components.
    let default_config = fs::read_to_string(root().join("config/lanner.yaml")).unwrap();
    assert!(
        default_config.contains("sink_plugins_dir: /usr/lib/lanner/sinks"),
        "the default sink folder moved"
    );
    for sink in ["file", "webhook", "slack", "email", "nats"] {
        let wasm = fs::read(data.join(format!("usr/lib/lanner/sinks/{sink}.wasm"))).unwrap();
        // A component, not a core module: the magic, then layer 1 (version 0x0d).
        assert_eq!(&wasm[..8], b"\0asm\x0d\0\x01\0", "{sink}.wasm is a component");
    }
    let _ = fs::remove_dir_all(&out_dir);
}

// ---- Dockerfile

#[test]
fn dockerfile_copies_files_that_exist_and_mirrors_the_setup_script() {
    let root = root();
    let dockerfile = fs::read_to_string(root.join("Dockerfile")).unwrap();
    let ignored: Vec<String> = fs::read_to_string(root.join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let mut copies = 0;
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ")) {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        if words.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let (dest, sources) = words.split_last().unwrap();
        assert!(dest.starts_with('/') || *dest == ".", "{line}: absolute destination");
        for s in sources {
            if *s == "." {
                continue;
            }
            copies += 1;
            assert!(root.join(s).exists(), "{line}: {s} does not exist");
            let top = s.split('/').next().unwrap();
            assert!(!ignored.iter().any(|i| i == top || i == s), "{line}: {s} is in .dockerignore");
        }
    }
    assert!(copies >= 3, "the image gets the configuration and the rules");
    let stages: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "a builder and a runtime stage: {stages:?}");
    assert!(stages[1].contains("-slim"), "a slim runtime image");
    assert!(dockerfile.contains("cargo build --release --locked -p lanner"));
    assert!(dockerfile.contains("packaging/build-plugins.sh"), "the image ships the sink plugins");
    assert!(
        dockerfile.contains(r#"ENTRYPOINT ["/usr/bin/lanner"]"#) && dockerfile.contains(r#"CMD ["run"]"#)
    );
    // The toolchain steps are the setup script's.
    let setup = fs::read_to_string(root.join("scripts/setup.sh")).unwrap();
    for step in [
        "--component rust-src",
        "llvm-22-dev",
        "libpolly-22-dev",
        "clang-22",
        "LLVM_PREFIX=/usr/lib/llvm-22 cargo install --locked bpf-linker --no-default-features --features llvm-22",
    ] {
        assert!(
            setup.contains(step) && dockerfile.contains(step),
            "{step:?} in both setup.sh and the Dockerfile"
        );
    }
}
