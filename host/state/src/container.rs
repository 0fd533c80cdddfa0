//! Container ids from cgroup paths: Docker, containerd/CRI, CRI-O and Podman name a
//! container's cgroup after its 64-hex-digit id. Like Falco, the id is shortened to 12
//! characters, and a process outside any container is `host`.

/// The container id of a process in `cgroup_path`, or `host`.
pub fn container_id(cgroup_path: &str) -> String {
    for component in cgroup_path.rsplit('/') {
        let unit = component.strip_suffix(".scope").unwrap_or(component);
        let id = unit.rsplit(['-', ':']).next().unwrap_or(unit);
        if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return id[..12].to_ascii_lowercase();
        }
    }
    "host".to_string()
}

/// The container id of a process from `/proc/<pid>/cgroup`: every hierarchy is looked at,
/// since on hosts with both cgroup versions a runtime may place a container in v1
/// hierarchies only. `None` when the process is gone.
pub fn of_process(proc_root: &std::path::Path, pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    Some(of_cgroup_file(&text))
}

/// The container id named by a `/proc/<pid>/cgroup` file's lines (`id:controllers:path`).
pub fn of_cgroup_file(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .map(container_id)
        .find(|id| id != "host")
        .unwrap_or_else(|| "host".to_string())
}

/// The runtime a cgroup path points at, for `container.type`.
pub fn runtime(cgroup_path: &str) -> &'static str {
    if cgroup_path.contains("docker") {
        "docker"
    } else if cgroup_path.contains("crio") {
        "cri-o"
    } else if cgroup_path.contains("libpod") {
        "podman"
    } else if cgroup_path.contains("containerd") || cgroup_path.contains("kubepods") {
        "containerd"
    } else {
        "host"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3ad4c1e8f9b2aa1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123";

    #[test]
    fn runtimes() {
        for path in [
            format!("/docker/{ID}"),
            format!("/system.slice/docker-{ID}.scope"),
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-pod1.slice/cri-containerd-{ID}.scope"
            ),
            format!("/kubepods/besteffort/pod123/{ID}"),
            format!("/kubepods.slice/crio-{ID}.scope"),
            format!("/machine.slice/libpod-{ID}.scope/container"),
            format!("/system.slice/containerd.service/kubepods-burstable-pod1.slice:cri-containerd:{ID}"),
        ] {
            assert_eq!(container_id(&path), "3ad4c1e8f9b2", "{path}");
        }
        assert_eq!(container_id("/user.slice/user-0.slice/session-1.scope"), "host");
        let hybrid = format!("4:memory:/docker/{ID}\n1:cpu:/\n0::/\n");
        assert_eq!(of_cgroup_file(&hybrid), "3ad4c1e8f9b2");
        assert_eq!(of_cgroup_file("0::/user.slice\n"), "host");
        assert_eq!(container_id("/"), "host");
        assert_eq!(runtime(&format!("/docker/{ID}")), "docker");
    }
}
