//! The container runtimes' APIs and what each answer means in Falco's terms: Docker's API
//! (`/containers/ID/json`, then `/images/IMAGE/json` for the repository digests and tags),
//! Podman's libpod API (`/v4.0.0/libpod/containers/ID/json`) and CRI-O's info endpoint
//! (`/containers/ID`, then the sandbox's entry for the pod labels). Values follow Falco's
//! container plugin 0.4.0: names without the leading `/`, image repository and tag split at
//! the one `:` of the image name, mounts as `source:dest:mode:rdwr:propagation`.

use lanner_plugin_sdk::json::Value as Json;
use std::collections::BTreeMap;

/// A runtime API, as the configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Docker's API (Docker, and Podman's Docker-compatible API).
    Docker,
    /// Podman's libpod API.
    Podman,
    /// CRI-O's info endpoint on its socket.
    Cri,
}

impl Engine {
    /// The first request of a lookup.
    pub fn container_path(self, id: &str) -> String {
        match self {
            Engine::Docker => format!("/containers/{id}/json"),
            Engine::Podman => format!("/v4.0.0/libpod/containers/{id}/json"),
            Engine::Cri => format!("/containers/{id}"),
        }
    }
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub dest: String,
    pub mode: String,
    pub rdwr: bool,
    pub propagation: String,
}

impl Mount {
    /// Falco's rendering: `source:dest:mode:rdwr:propagation`.
    pub fn render(&self) -> String {
        format!("{}:{}:{}:{}:{}", self.source, self.dest, self.mode, self.rdwr, self.propagation)
    }
}

/// What the runtime says about a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pub id: String,
    pub full_id: String,
    pub name: String,
    pub ctype: &'static str,
    pub image: String,
    pub image_id: String,
    pub image_repo: String,
    pub image_tag: String,
    pub image_digest: String,
    pub privileged: Option<bool>,
    pub mounts: Vec<Mount>,
    pub healthcheck: Option<String>,
    /// Nanoseconds since the epoch.
    pub start_ts: Option<u64>,
    pub ip: String,
    pub cni_json: String,
    pub host_pid: bool,
    pub host_network: bool,
    pub host_ipc: bool,
    pub labels: BTreeMap<String, String>,
    pub pod_sandbox_id: String,
    pub pod_sandbox_labels: BTreeMap<String, String>,
}

/// The host's "container": what Falco answers for processes outside containers.
pub fn host_info() -> Info {
    Info { id: "host".into(), full_id: "host".into(), name: "host".into(), ctype: "host", ..Info::default() }
}

/// A further request a lookup needs before its metadata is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// Docker: the image's repository digests and tags.
    DockerImage(String),
    /// CRI-O: the pod sandbox's entry, whose labels are the pod's.
    CriSandbox(String),
}

impl FollowUp {
    pub fn path(&self) -> String {
        match self {
            FollowUp::DockerImage(img) => format!("/images/{img}/json"),
            FollowUp::CriSandbox(id) => format!("/containers/{id}"),
        }
    }
}

fn s(v: &Json, ptr: &str) -> String {
    v.pointer(ptr).and_then(Json::as_str).unwrap_or_default().to_string()
}

fn b(v: &Json, ptr: &str) -> bool {
    v.pointer(ptr).and_then(Json::as_bool).unwrap_or(false)
}

fn labels(v: Option<&Json>) -> BTreeMap<String, String> {
    v.and_then(Json::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Falco splits the image name at `:` only when there is exactly one.
fn repo_tag(image: &str) -> (String, String) {
    let parts: Vec<&str> = image.split(':').collect();
    if parts.len() == 2 {
        (parts[0].to_string(), parts[1].to_string())
    } else {
        (String::new(), String::new())
    }
}

/// Parses an RFC 3339 time (as runtimes write it, with up to nanoseconds) to nanoseconds since
/// the epoch; `None` for the zero time Go writes for a container never started.
pub fn rfc3339_ns(t: &str) -> Option<u64> {
    let (date, rest) = t.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let tz_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, tz) = rest.split_at(tz_at);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut c = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi, se) = (c.next()??, c.next()??, c.next()??);
    let mut nanos: i64 = 0;
    for (i, ch) in frac.chars().take(9).enumerate() {
        nanos += i64::from(ch.to_digit(10)?) * 10i64.pow(8 - i as u32);
    }
    let offset = match tz.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let (oh, om) = tz[1..].split_once(':')?;
            let o = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
            if sign == '+' { o } else { -o }
        }
        _ => 0,
    };
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    if secs <= 0 {
        return None;
    }
    u64::try_from(secs).ok()?.checked_mul(1_000_000_000)?.checked_add(nanos as u64)
}

/// A health check as Falco renders it: the command and its arguments joined by spaces
/// (`CMD-SHELL x` runs `/bin/sh -c x`); `NONE` when there is none.
fn healthcheck(test: Option<&Json>) -> Option<String> {
    let t: Vec<&str> = test?.as_array()?.iter().filter_map(Json::as_str).collect();
    match t.split_first() {
        Some((&"CMD", rest)) if !rest.is_empty() => Some(rest.join(" ")),
        Some((&"CMD-SHELL", rest)) if !rest.is_empty() => Some(format!("/bin/sh -c {}", rest.join(" "))),
        _ => None,
    }
}

fn mounts(v: &Json) -> Vec<Mount> {
    v.pointer("/Mounts")
        .and_then(Json::as_array)
        .map(|ms| {
            ms.iter()
                .map(|m| Mount {
                    source: s(m, "/Source"),
                    dest: s(m, "/Destination"),
                    mode: s(m, "/Mode"),
                    rdwr: b(m, "/RW"),
                    propagation: s(m, "/Propagation"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Docker's `/containers/ID/json`, and the image request that completes it.
pub fn docker(v: &Json) -> (Info, Option<FollowUp>) {
    let full_id = s(v, "/Id");
    let image_ref = s(v, "/Image");
    // Falco keeps the part after `sha256:` of an image id (not of a name with a registry).
    let image_id = match image_ref.split_once(':') {
        Some((_, id)) if !image_ref.contains('/') => id.to_string(),
        _ => String::new(),
    };
    let info = Info {
        id: short(&full_id),
        name: s(v, "/Name").trim_start_matches('/').to_string(),
        ctype: "docker",
        image: s(v, "/Config/Image"),
        image_id,
        privileged: Some(b(v, "/HostConfig/Privileged")),
        mounts: mounts(v),
        healthcheck: healthcheck(v.pointer("/Config/Healthcheck/Test")),
        start_ts: rfc3339_ns(&s(v, "/State/StartedAt")),
        ip: s(v, "/NetworkSettings/IPAddress"),
        host_pid: s(v, "/HostConfig/PidMode") == "host",
        host_network: s(v, "/HostConfig/NetworkMode") == "host",
        host_ipc: s(v, "/HostConfig/IpcMode") == "host",
        labels: labels(v.pointer("/Config/Labels")),
        full_id,
        ..Info::default()
    };
    let follow = (!image_ref.is_empty()).then_some(FollowUp::DockerImage(image_ref));
    (info, follow)
}

/// Docker's `/images/IMAGE/json`: the repository, tag and digest, chosen as Falco chooses
/// them among the image's repository digests and tags.
pub fn docker_image(info: &mut Info, v: &Json) {
    let strs = |p: &str| -> Vec<String> {
        v.pointer(p)
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let mut repo = String::new();
    let mut digest = String::new();
    let mut digests = Vec::new();
    for rd in strs("/RepoDigests") {
        let parts: Vec<&str> = rd.split('@').collect();
        if parts.len() != 2 {
            continue;
        }
        if repo.is_empty() {
            repo = parts[0].to_string();
        }
        digests.push(parts[1].to_string());
        if rd.contains(&repo) {
            digest = parts[1].to_string();
            break;
        }
    }
    if digest.is_empty() && digests.len() == 1 {
        digest = digests.remove(0);
    }
    let mut tag = String::new();
    for rt in strs("/RepoTags") {
        let parts: Vec<&str> = rt.split(':').collect();
        if parts.len() != 2 {
            continue;
        }
        if repo.is_empty() {
            repo = parts[0].to_string();
        }
        if rt.contains(&repo) {
            tag = parts[1].to_string();
            break;
        }
    }
    info.image_repo = repo;
    info.image_tag = tag;
    info.image_digest = digest;
}

/// Podman's `/libpod/containers/ID/json`.
pub fn podman(v: &Json) -> Info {
    let full_id = s(v, "/Id");
    let image = s(v, "/ImageName");
    let (image_repo, image_tag) = repo_tag(&image);
    Info {
        id: short(&full_id),
        name: s(v, "/Name").trim_start_matches('/').to_string(),
        ctype: "podman",
        image_id: s(v, "/Image"),
        image_digest: s(v, "/ImageDigest"),
        image,
        image_repo,
        image_tag,
        privileged: Some(b(v, "/HostConfig/Privileged")),
        mounts: mounts(v),
        healthcheck: healthcheck(v.pointer("/Config/Healthcheck/Test")),
        start_ts: rfc3339_ns(&s(v, "/State/StartedAt")),
        ip: s(v, "/NetworkSettings/IPAddress"),
        host_pid: s(v, "/HostConfig/PidMode") == "host",
        host_network: s(v, "/HostConfig/NetworkMode") == "host",
        host_ipc: s(v, "/HostConfig/IpcMode") == "host",
        labels: labels(v.pointer("/Config/Labels")),
        full_id,
        ..Info::default()
    }
}

/// CRI-O's `/containers/ID` (its info endpoint): name, image and Kubernetes labels, mounts
/// from the `io.kubernetes.cri-o.Volumes` annotation; the pod's labels come with the
/// sandbox's entry. CRI-O does not say there whether the container is privileged.
pub fn crio(full_id: &str, v: &Json) -> (Info, Option<FollowUp>) {
    let labels = labels(v.pointer("/labels"));
    let image = s(v, "/image");
    let (image_repo, image_tag) = repo_tag(&image);
    let sandbox = s(v, "/sandbox");
    let annotation = |k: &str| v.pointer("/annotations").and_then(|a| a.get(k)).and_then(Json::as_str);
    let mounts = annotation("io.kubernetes.cri-o.Volumes")
        .and_then(|t| lanner_plugin_sdk::json::from_str::<Json>(t).ok())
        .and_then(|j| j.as_array().cloned())
        .map(|a| {
            a.iter()
                .map(|m| {
                    let ro = m.get("readonly").and_then(Json::as_bool).unwrap_or(false);
                    Mount {
                        source: s(m, "/host_path"),
                        dest: s(m, "/container_path"),
                        mode: String::new(),
                        rdwr: !ro,
                        propagation: s(m, "/propagation"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let ip = v
        .pointer("/ip_addresses")
        .and_then(Json::as_array)
        .and_then(|a| a.iter().filter_map(Json::as_str).find(|ip| ip.contains('.')))
        .unwrap_or_default()
        .to_string();
    let info = Info {
        id: short(full_id),
        full_id: full_id.to_string(),
        name: labels.get("io.kubernetes.container.name").cloned().unwrap_or_default(),
        ctype: "cri-o",
        image_digest: s(v, "/image_ref").split_once('@').map(|(_, d)| d.to_string()).unwrap_or_default(),
        image,
        image_repo,
        image_tag,
        mounts,
        start_ts: v.pointer("/created_time").and_then(Json::as_u64),
        ip,
        pod_sandbox_id: sandbox.clone(),
        labels,
        ..Info::default()
    };
    let follow = (!sandbox.is_empty() && !full_id.starts_with(&sandbox) && !sandbox.starts_with(full_id))
        .then_some(FollowUp::CriSandbox(sandbox));
    (info, follow)
}

/// The sandbox's entry completes a CRI-O container with its pod's labels.
pub fn crio_sandbox(info: &mut Info, v: &Json) {
    info.pod_sandbox_labels = labels(v.pointer("/labels"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_go_writes_them() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(rfc3339_ns("2024-02-29T12:00:00.5Z"), Some(1_709_208_000_500_000_000));
        assert_eq!(rfc3339_ns("2024-02-29T13:00:00.000000001+01:00"), Some(1_709_208_000_000_000_001));
        assert_eq!(rfc3339_ns("0001-01-01T00:00:00Z"), None);
    }

    #[test]
    fn image_names_split_as_falco_splits_them() {
        assert_eq!(repo_tag("localhost/busybox:1.35"), ("localhost/busybox".into(), "1.35".into()));
        assert_eq!(repo_tag("registry:5000/x:1"), (String::new(), String::new()));
        assert_eq!(repo_tag("busybox"), (String::new(), String::new()));
    }

    #[test]
    fn health_checks_render_their_command() {
        let j = |t: &str| lanner_plugin_sdk::json::from_str::<Json>(t).unwrap();
        assert_eq!(healthcheck(Some(&j(r#"["CMD","/bin/true","-x"]"#))).as_deref(), Some("/bin/true -x"));
        assert_eq!(healthcheck(Some(&j(r#"["CMD-SHELL","exit 0"]"#))).as_deref(), Some("/bin/sh -c exit 0"));
        assert_eq!(healthcheck(Some(&j(r#"["NONE"]"#))), None);
    }
}
