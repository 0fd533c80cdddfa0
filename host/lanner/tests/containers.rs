//! Real podman containers under `lanner run` with the `container` plugin (built from
//! `plugins/container`, granted a podman service socket of the test's own): Falco's `container`
//! event when a container starts, the upstream rules about containers, and what happens to a
//! rules file requiring `container` with and without the plugin.

mod common;
#[path = "../../plugin-runtime/tests/podman/mod.rs"]
mod podman;

use common::{Daemon, live_allowed};
use lanner_plugin_runtime::testing::build_component;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn upstream_rules() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/falco-rules/falco_rules.yaml");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} is absent (it sits beside the checkout in CI)", p.display());
        None
    }
}

/// A plugins folder holding the container plugin, configured for `socket` only.
fn plugins_dir(dir: &Path, socket: &Path) -> PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(build_component("plugins/container"), plugins.join("container.wasm")).unwrap();
    let s = socket.display();
    std::fs::write(
        plugins.join("container.yaml"),
        format!(
            "config:\n  engines:\n    podman: {{sockets: [{s}]}}\n    docker: {{enabled: false}}\n    cri: {{enabled: false}}\ngrants:\n  unix: [{s}]\n"
        ),
    )
    .unwrap();
    plugins
}

/// The rule of the `container` event: it names the container, its image and its id.
const CONTAINER_EVENT_RULE: &str = "\
- rule: Container Started (test)
  desc: Falco's container event
  condition: evt.type = container and container.id != host
  output: container started (id=%container.id name=%container.name image=%container.image.repository tag=%container.image.tag privileged=%container.privileged)
  priority: NOTICE
";

fn wait_for(d: &Daemon, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(a) = d.alerts().into_iter().find(|a| pred(a)) {
            return a;
        }
        assert!(Instant::now() < deadline, "no alert for {what}: {:#?}", d.alerts());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_container_event_carries_the_container_metadata() {
    if !live_allowed() {
        return;
    }
    let image = podman::image();
    let dir = common::temp_dir("containers");
    let svc = podman::Service::start(&dir.join("podman.sock"));
    let plugins = plugins_dir(&dir, &svc.socket);
    let own = dir.join("container_event.yaml");
    std::fs::write(&own, CONTAINER_EVENT_RULE).unwrap();
    let mut args = vec!["-r".to_string(), own.display().to_string()];
    if let Some(u) = upstream_rules() {
        // The upstream rules load with the plugin's fields (they require `container`).
        args = vec!["-r".into(), u.display().to_string(), "-r".into(), own.display().to_string()];
    }
    args.extend([
        "-o".into(),
        "json_output=true".into(),
        "-o".into(),
        format!("plugins_dir={}", plugins.display()),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let lanner = Daemon::start(&args);

    // Falco's container event, with the container's metadata, when it starts: the event
    // waits for the plugin's lookup (podman answers once the start has finished).
    let name = format!("lanner-started-{}", std::process::id());
    let started = podman::run_detached(&["--name", &name, image, "sleep", "30"]);
    let id = &started[..12];
    let a = wait_for(&lanner, "the container event", |a| {
        a["rule"] == "Container Started (test)" && a["output_fields"]["container.id"] == id
    });
    let f = &a["output_fields"];
    assert_eq!(f["container.name"], name.as_str(), "{a:#}");
    assert_eq!(f["container.image.repository"], "localhost/lanner-busybox", "{a:#}");
    assert_eq!(f["container.image.tag"], "test", "{a:#}");
    assert_eq!(f["container.privileged"], false, "{a:#}");
    assert_eq!(a["priority"], "Notice");
    // A privileged container says so; its first process is gone long before its event.
    let privileged = podman::run_detached(&["--privileged", image, "true"]);
    let a = wait_for(&lanner, "the privileged container's event", |a| {
        a["rule"] == "Container Started (test)" && a["output_fields"]["container.id"] == privileged[..12]
    });
    assert_eq!(a["output_fields"]["container.privileged"], true, "{a:#}");
    let (alerts, _) = lanner.stop_with_alerts();
    let events = alerts.iter().filter(|a| a["output_fields"]["container.id"] == id).count();
    assert_eq!(events, 1, "one container event per container: {alerts:#?}");
    for c in [&started, &privileged] {
        podman::remove(c);
    }
}

#[test]
fn rules_requiring_container_load_only_with_the_plugin() {
    let dir = common::temp_dir("requires-container");
    let rules = dir.join("requires.yaml");
    std::fs::write(
        &rules,
        "- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n\n- rule: r\n  desc: d\n  condition: evt.type = execve and container.name = x\n  output: o %container.image.repository\n  priority: INFO\n",
    )
    .unwrap();
    let validate = |plugin: &str| {
        Command::new(env!("CARGO_BIN_EXE_lanner"))
            .env("LANNER_CONTAINER_PLUGIN", plugin)
            .env("LANNER_PLUGIN_CACHE", "")
            .args(["validate", "-r"])
            .arg(&rules)
            .output()
            .unwrap()
    };
    // Without the plugin: Falco's error, and a warning, once, that it is missing.
    let o = validate("");
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "{out}{err}");
    assert!(
        out.contains("Plugin requirement not satisfied, must load one of: container (>= 0.4.0)"),
        "{out}"
    );
    assert_eq!(err.matches("the container plugin is not installed").count(), 1, "{err}");
    // With it: the rules load, its fields replace the built-in declarations.
    let plugin = build_component("plugins/container");
    let o = validate(plugin.to_str().unwrap());
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}{err}");
    assert!(!err.contains("warning"), "{err}");
    // container.id keeps working without the plugin.
    std::fs::write(
        &rules,
        "- rule: r\n  desc: d\n  condition: evt.type = execve and container.id != host\n  output: o %container.id\n  priority: INFO\n",
    )
    .unwrap();
    assert!(validate("").status.success());
}

/// Falco's incubating `Launch Privileged Container`, reduced to what it tests: a container
/// starting (its `container` event, or its first process) privileged.
const LAUNCH_PRIVILEGED_RULE: &str = "\
- rule: Launch Privileged Container (test)
  desc: a privileged container starts
  condition: (evt.type = container or (evt.type in (execve, execveat) and proc.vpid = 1)) and container.id != host and container.privileged = true
  output: privileged container started (image=%container.image.repository)
  priority: INFO
";

/// The upstream container rules this test expects, and the test's own.
const CONTAINER_RULES: &[&str] = &[
    "Terminal shell in container",
    "Netcat Remote Code Execution in Container",
    "Debugfs Launched in Privileged Container",
    "Drop and execute new binary in container",
    "Launch Privileged Container (test)",
];

#[test]
fn upstream_container_rules_fire_on_real_containers_and_name_them() {
    if !live_allowed() {
        return;
    }
    let Some(upstream) = upstream_rules() else { return };
    let image = podman::image();
    let dir = common::temp_dir("container-rules");
    let svc = podman::Service::start(&dir.join("podman.sock"));
    let plugins = plugins_dir(&dir, &svc.socket);
    let tag = std::process::id();
    let marker = format!("lanner-marker-{tag}");
    let own = dir.join("privileged.yaml");
    std::fs::write(
        &own,
        format!(
            "{LAUNCH_PRIVILEGED_RULE}\n- rule: Marker (test)\n  desc: d\n  condition: evt.type = execve and proc.args contains \"{marker}\"\n  output: marker\n  priority: INFO\n"
        ),
    )
    .unwrap();
    let plugins_opt = format!("plugins_dir={}", plugins.display());
    let lanner = Daemon::start(&[
        "-r",
        upstream.to_str().unwrap(),
        "-r",
        own.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        "rule_matching=all",
        "-o",
        &plugins_opt,
    ]);
    let alert_of = |rule: &str, id: &str| {
        let (rule, id) = (rule.to_string(), id[..12].to_string());
        wait_for(&lanner, &format!("{rule} in {id}"), move |a| {
            a["rule"] == rule.as_str() && a["output_fields"]["container.id"] == id.as_str()
        })
    };

    // A shell with a terminal as the container's entry point.
    let tty =
        podman::run_detached(&["-t", "--name", &format!("lanner-tty-{tag}"), image, "sh", "-c", "sleep 1"]);
    let a = alert_of("Terminal shell in container", &tty);
    assert_ne!(a["output_fields"]["proc.tty"], 0, "{a:#}");

    // Netcat with -e as the container's command (busybox's shell runs applets such as nc
    // without an execve); the suggested fields name the container and its image.
    let nc_name = format!("lanner-nc-{tag}");
    let nc = podman::run_detached(&["--name", &nc_name, image, "nc", "-e", "/bin/true", "127.0.0.1", "9"]);
    let a = alert_of("Netcat Remote Code Execution in Container", &nc);
    let f = &a["output_fields"];
    assert_eq!(f["container.name"], nc_name.as_str(), "{a:#}");
    assert_eq!(f["container.image.repository"], "localhost/lanner-busybox", "{a:#}");
    assert_eq!(f["container.image.tag"], "test", "{a:#}");
    let text = a["output"].as_str().unwrap();
    assert!(
        text.contains(&format!("container_id={} container_name={nc_name} container_image_repository=localhost/lanner-busybox container_image_tag=test", &nc[..12])),
        "Falco's suggested fields end the output: {text}"
    );

    // debugfs in a privileged container: `container.privileged` is the plugin's, in the condition.
    let dbg = podman::run_detached(&["--privileged", image, "debugfs"]);
    alert_of("Debugfs Launched in Privileged Container", &dbg);
    alert_of("Launch Privileged Container (test)", &dbg);

    // A binary written into the container's upper layer, then run.
    let drop = podman::run_detached(&[image, "sh", "-c", "cp /bin/busybox /root/echo && /root/echo dropped"]);
    let a = alert_of("Drop and execute new binary in container", &drop);
    assert_eq!(a["output_fields"]["proc.exe"], "/root/echo", "{a:#}");

    // A benign container fires none of them.
    let benign = podman::run_detached(&[image, "ls", "/"]);
    podman::wait(&benign);
    let ids = [&tty, &nc, &dbg, &drop, &benign];
    // Alerts keep event order: once the marker's arrives, the benign container's events,
    // all earlier, have been evaluated.
    Command::new("true").arg(&marker).status().unwrap();
    wait_for(&lanner, "the marker", |a| a["rule"] == "Marker (test)");
    let (alerts, _) = lanner.stop_with_alerts();
    let benign_hits: Vec<&Value> = alerts
        .iter()
        .filter(|a| {
            a["output_fields"]["container.id"] == benign[..12]
                && CONTAINER_RULES.contains(&a["rule"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(benign_hits.is_empty(), "a benign container fired: {benign_hits:#?}");
    for id in ids {
        podman::remove(id);
    }
}

#[test]
fn a_container_starting_fires_none_of_the_default_rules_and_a_mount_in_one_does() {
    if !live_allowed() {
        return;
    }
    let image = podman::image();
    let dir = common::temp_dir("quiet-start");
    let svc = podman::Service::start(&dir.join("podman.sock"));
    let plugins = plugins_dir(&dir, &svc.socket);
    let marker = format!("lanner-quiet-marker-{}", std::process::id());
    let own = dir.join("marker.yaml");
    std::fs::write(
        &own,
        format!("- rule: Marker (quiet)\n  desc: d\n  condition: evt.type = execve and proc.args contains \"{marker}\"\n  output: marker\n  priority: INFO\n"),
    )
    .unwrap();
    let defaults = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/lanner_rules.yaml");
    let plugins_opt = format!("plugins_dir={}", plugins.display());
    let lanner = Daemon::start(&[
        "-r",
        defaults.to_str().unwrap(),
        "-r",
        own.to_str().unwrap(),
        "-o",
        "json_output=true",
        "-o",
        &plugins_opt,
    ]);
    // runc's stages mount the container's file systems, enter its namespaces and set its
    // root up; Podman's netavark enters the network namespace and locks its files below
    // /etc/containers: none of it is the container's doing.
    let id = podman::run_detached(&[image, "true"]);
    podman::wait(&id);
    // What a container does itself still fires: a mount in a privileged container.
    let mounter = podman::run_detached(&["--privileged", image, "mount", "-t", "tmpfs", "lanner", "/tmp"]);
    wait_for(&lanner, "the privileged container's mount", |a| {
        a["rule"] == "Mount in Container" && a["output_fields"]["container.id"] == mounter[..12]
    });
    Command::new("true").arg(&marker).status().unwrap();
    wait_for(&lanner, "the marker", |a| a["rule"] == "Marker (quiet)");
    let (alerts, _) = lanner.stop_with_alerts();
    let setup =
        ["runc:[0:PARENT]", "runc:[1:CHILD]", "runc:[2:INIT]", "runc", "exe", "netavark", "podman", "conmon"];
    let noisy: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"] != "Marker (quiet)")
        .filter(|a| {
            let f = &a["output_fields"];
            f["container.id"] == id[..12] || setup.contains(&f["proc.name"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(noisy.is_empty(), "a container's start raised alerts: {noisy:#?}");
    podman::remove(&id);
    podman::remove(&mounter);
}
