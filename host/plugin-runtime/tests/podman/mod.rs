//! Real podman containers for tests: the busybox image (imported once from a root file system
//! of the static busybox, as no registry is reachable), a `podman system service` on a socket
//! of the test's own, and containers run with runc (crun cannot set the default ulimits here).
//! `scripts/setup.sh` installs podman, runc and busybox-static. Shared by the plugin runtime's
//! and the binary's container tests (the latter include this file by path).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The test image.
pub const IMAGE: &str = "localhost/lanner-busybox:test";

fn podman() -> Command {
    let mut c = Command::new("podman");
    c.stdin(Stdio::null());
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("podman cannot run ({e}): scripts/setup.sh installs it"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Imports the test image once per test process (static busybox, its applets as links, and
/// `debugfs` as one more link so a rule about debugfs can see it started).
pub fn image() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .expect("no static busybox: scripts/setup.sh installs busybox-static");
        let root = std::env::temp_dir().join(format!("lanner-busybox-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["bin", "tmp", "etc", "proc", "sys", "dev", "root"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
        let list = run_ok(Command::new(root.join("bin/busybox")).arg("--list"));
        for applet in list.lines().chain(["debugfs"]) {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
            }
        }
        std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        let tar = root.with_extension("tar");
        run_ok(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg("."));
        run_ok(podman().args(["import", "--change", "CMD=/bin/sh"]).arg(&tar).arg(IMAGE));
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_file(&tar);
    });
    IMAGE
}

/// `podman --runtime runc run -d ARGS`: the new container's full id.
pub fn run_detached(args: &[&str]) -> String {
    run_ok(podman().args(["--runtime", "runc", "run", "-d"]).args(ulimits()).args(args))
}

/// `podman --runtime runc run --rm ARGS`, waited for: its output.
pub fn run(args: &[&str]) -> String {
    run_ok(podman().args(["--runtime", "runc", "run", "--rm"]).args(ulimits()).args(args))
}

/// The ulimits runc can set without CAP_SYS_RESOURCE: the current hard limit of open files.
pub fn ulimits() -> Vec<String> {
    let mut rl = libc_rlimit();
    if rl == 0 {
        rl = 1024;
    }
    vec!["--ulimit".into(), format!("nofile={rl}:{rl}"), "--ulimit".into(), "nproc=4096:4096".into()]
}

fn libc_rlimit() -> u64 {
    let out = Command::new("sh").args(["-c", "ulimit -Hn"]).output().ok();
    out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(1024)
}

/// `podman inspect --format FORMAT ID`.
pub fn inspect(id: &str, format: &str) -> String {
    run_ok(podman().args(["inspect", "--format", format, id]))
}

/// Waits until a container has exited.
pub fn wait(id: &str) {
    run_ok(podman().args(["wait", id]));
}

/// Removes a container, running or not.
pub fn remove(id: &str) {
    let _ = podman().args(["rm", "-f", "-t", "0", id]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// A `podman system service` on a socket of its own, stopped when dropped.
pub struct Service {
    child: Child,
    pub socket: PathBuf,
}

impl Service {
    /// Starts the service on `socket` and waits until it answers.
    pub fn start(socket: &Path) -> Service {
        let _ = std::fs::remove_file(socket);
        let child = podman()
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("podman system service starts: scripts/setup.sh installs podman");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"GET /_ping HTTP/1.0\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.") {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "podman system service never answered on {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Service { child, socket: socket.to_path_buf() }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}
