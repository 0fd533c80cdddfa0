//! Lanner's `container` plugin: the fields of Falco's container plugin 0.4.0 (`container.*`
//! and the `k8s.*` fields Falco takes from a container's CRI labels), over syscall events, from
//! the container runtime's API on its unix socket.
//!
//! The container of an event is the payload's `thread.container_id` (the host reads it from
//! the cgroup, and answers `container.id` itself, without this plugin). The runtime is found
//! by its socket: Docker's API, Podman's libpod API and CRI-O's info endpoint, each on the
//! sockets the configuration lists (and `grants.unix` allows). containerd's CRI is gRPC over
//! HTTP/2, which this plugin does not speak: containerd containers have an id but no metadata.
//!
//! Configuration (all optional):
//!
//! ```yaml
//! config:
//!   engines:
//!     docker: {enabled: true, sockets: [/var/run/docker.sock]}
//!     podman: {enabled: true, sockets: [/run/podman/podman.sock]}
//!     cri: {enabled: true, sockets: [/run/crio/crio.sock]}
//!   first_wait_ms: 20     # how long the first event of a new container may wait for its metadata
//!   max_containers: 4096  # cache bound (least recently used go first)
//!   retry_ms: 1000        # a container no runtime knows is asked again after this
//! grants:
//!   unix: [/var/run/docker.sock, /run/podman/podman.sock, /run/crio/crio.sock]
//! ```

mod engines;
mod http;
mod lookup;

use engines::{Engine, Info};
use lanner_plugin_sdk::json::Value as Json;
use lanner_plugin_sdk::{
    Arg, Event, Extractor, Field, FieldType, Info as PluginInfo, Plugin, Request, Value,
};
use lookup::{Cache, Settings, Socket};
use std::time::Duration;

/// Falco's container plugin version whose fields these are (matched by rules files'
/// `required_plugin_versions`).
const VERSION: &str = "0.4.0";

const SCHEMA: &str = r##"{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "engines": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "docker": {"$ref": "#/definitions/engine"},
        "podman": {"$ref": "#/definitions/engine"},
        "cri": {"$ref": "#/definitions/engine"}
      }
    },
    "first_wait_ms": {"type": "integer", "minimum": 0, "maximum": 1000},
    "max_containers": {"type": "integer", "minimum": 1},
    "retry_ms": {"type": "integer", "minimum": 0}
  },
  "definitions": {
    "engine": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "enabled": {"type": "boolean"},
        "sockets": {"type": "array", "items": {"type": "string"}}
      }
    }
  }
}"##;

/// The declared fields, in order; requests name them by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    FullId,
    Name,
    Image,
    ImageId,
    Type,
    Privileged,
    Mounts,
    Mount,
    MountSource,
    MountDest,
    MountMode,
    MountRdwr,
    MountPropagation,
    ImageRepository,
    ImageTag,
    ImageDigest,
    Healthcheck,
    LivenessProbe,
    ReadinessProbe,
    StartTs,
    Duration,
    Ip,
    CniJson,
    HostPid,
    HostNetwork,
    HostIpc,
    Label,
    Labels,
    K8sPodName,
    K8sNsName,
    K8sPodId,
    K8sPodUid,
    K8sPodSandboxId,
    K8sPodFullSandboxId,
    K8sPodLabel,
    K8sPodLabels,
    K8sPodIp,
    K8sPodCniJson,
}

const FIELDS: &[(F, &str, FieldType, Arg, &str)] = &[
    (
        F::FullId,
        "container.full_id",
        FieldType::String,
        Arg::None,
        "The full container id, e.g. 3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e, as the runtime reports it.",
    ),
    (
        F::Name,
        "container.name",
        FieldType::String,
        Arg::None,
        "The container name; host for processes outside containers.",
    ),
    (
        F::Image,
        "container.image",
        FieldType::String,
        Arg::None,
        "The container image as named, e.g. falcosecurity/falco:latest.",
    ),
    (
        F::ImageId,
        "container.image.id",
        FieldType::String,
        Arg::None,
        "The container image id, e.g. 6f7e2741b66b.",
    ),
    (
        F::Type,
        "container.type",
        FieldType::String,
        Arg::None,
        "The container type: docker, podman, cri-o; host outside containers.",
    ),
    (
        F::Privileged,
        "container.privileged",
        FieldType::Bool,
        Arg::None,
        "True for containers running privileged, false otherwise.",
    ),
    (
        F::Mounts,
        "container.mounts",
        FieldType::String,
        Arg::None,
        "Every mount, joined by commas, each as source:dest:mode:rdwr:propagation.",
    ),
    (
        F::Mount,
        "container.mount",
        FieldType::String,
        Arg::Key,
        "One mount, by number (container.mount[0]) or by source path or glob (container.mount[/usr/local/*]), as source:dest:mode:rdwr:propagation.",
    ),
    (
        F::MountSource,
        "container.mount.source",
        FieldType::String,
        Arg::Key,
        "A mount's source, by number or by destination path or glob.",
    ),
    (
        F::MountDest,
        "container.mount.dest",
        FieldType::String,
        Arg::Key,
        "A mount's destination, by number or by source path or glob.",
    ),
    (
        F::MountMode,
        "container.mount.mode",
        FieldType::String,
        Arg::Key,
        "A mount's mode, by number or by source path or glob.",
    ),
    (
        F::MountRdwr,
        "container.mount.rdwr",
        FieldType::String,
        Arg::Key,
        "Whether a mount is writable (true or false), by number or by source path or glob.",
    ),
    (
        F::MountPropagation,
        "container.mount.propagation",
        FieldType::String,
        Arg::Key,
        "A mount's propagation, by number or by source path or glob.",
    ),
    (
        F::ImageRepository,
        "container.image.repository",
        FieldType::String,
        Arg::None,
        "The container image repository, e.g. falcosecurity/falco.",
    ),
    (
        F::ImageTag,
        "container.image.tag",
        FieldType::String,
        Arg::None,
        "The container image tag, e.g. stable or latest.",
    ),
    (
        F::ImageDigest,
        "container.image.digest",
        FieldType::String,
        Arg::None,
        "The container image registry digest, e.g. sha256:d977378f890d445c15e51795296e4e5062f109ce6da83e0a355fc4ad8699d27.",
    ),
    (
        F::Healthcheck,
        "container.healthcheck",
        FieldType::String,
        Arg::None,
        "The container's health check command and arguments; NONE when it has none.",
    ),
    (
        F::LivenessProbe,
        "container.liveness_probe",
        FieldType::String,
        Arg::None,
        "The container's Kubernetes liveness probe; NONE (not read from the runtime).",
    ),
    (
        F::ReadinessProbe,
        "container.readiness_probe",
        FieldType::String,
        Arg::None,
        "The container's Kubernetes readiness probe; NONE (not read from the runtime).",
    ),
    (
        F::StartTs,
        "container.start_ts",
        FieldType::UInt64,
        Arg::None,
        "Container start, in nanoseconds since the epoch, as the runtime reports it.",
    ),
    (
        F::Duration,
        "container.duration",
        FieldType::UInt64,
        Arg::None,
        "Nanoseconds from container.start_ts to the event.",
    ),
    (
        F::Ip,
        "container.ip",
        FieldType::String,
        Arg::None,
        "The container's primary IPv4 address, as the runtime reports it.",
    ),
    (
        F::CniJson,
        "container.cni.json",
        FieldType::String,
        Arg::None,
        "The pod's CNI result as JSON (CRI runtimes through CRI only: empty here).",
    ),
    (
        F::HostPid,
        "container.host_pid",
        FieldType::Bool,
        Arg::None,
        "True if the container runs in the host's PID namespace.",
    ),
    (
        F::HostNetwork,
        "container.host_network",
        FieldType::Bool,
        Arg::None,
        "True if the container runs in the host's network namespace.",
    ),
    (
        F::HostIpc,
        "container.host_ipc",
        FieldType::Bool,
        Arg::None,
        "True if the container runs in the host's IPC namespace.",
    ),
    (
        F::Label,
        "container.label",
        FieldType::String,
        Arg::Key,
        "A container label, e.g. container.label[foo].",
    ),
    (
        F::Labels,
        "container.labels",
        FieldType::String,
        Arg::None,
        "The container's labels as key:value joined by ', ' (Kubernetes-internal ones left out).",
    ),
    (
        F::K8sPodName,
        "k8s.pod.name",
        FieldType::String,
        Arg::None,
        "The Kubernetes pod name, from the container's io.kubernetes.pod.name label.",
    ),
    (
        F::K8sNsName,
        "k8s.ns.name",
        FieldType::String,
        Arg::None,
        "The Kubernetes namespace, from the container's io.kubernetes.pod.namespace label.",
    ),
    (F::K8sPodId, "k8s.pod.id", FieldType::String, Arg::None, "Legacy name of k8s.pod.uid."),
    (
        F::K8sPodUid,
        "k8s.pod.uid",
        FieldType::String,
        Arg::None,
        "The Kubernetes pod UID, from the container's io.kubernetes.pod.uid label.",
    ),
    (
        F::K8sPodSandboxId,
        "k8s.pod.sandbox_id",
        FieldType::String,
        Arg::None,
        "The pod sandbox id, first 12 characters.",
    ),
    (
        F::K8sPodFullSandboxId,
        "k8s.pod.full_sandbox_id",
        FieldType::String,
        Arg::None,
        "The full pod sandbox id.",
    ),
    (F::K8sPodLabel, "k8s.pod.label", FieldType::String, Arg::Key, "A pod label, e.g. k8s.pod.label[app]."),
    (
        F::K8sPodLabels,
        "k8s.pod.labels",
        FieldType::String,
        Arg::None,
        "The pod's labels as key:value joined by ', '.",
    ),
    (F::K8sPodIp, "k8s.pod.ip", FieldType::String, Arg::None, "The pod's primary IPv4 address."),
    (
        F::K8sPodCniJson,
        "k8s.pod.cni.json",
        FieldType::String,
        Arg::None,
        "The pod's CNI result as JSON (CRI only: empty here).",
    ),
];

/// The plugin: the cache of container metadata.
pub struct Container {
    cache: Cache,
}

fn engine_sockets(cfg: &Json) -> Vec<Socket> {
    let defaults: [(Engine, &str, &[&str]); 3] = [
        (Engine::Podman, "podman", &["/run/podman/podman.sock"]),
        (Engine::Docker, "docker", &["/var/run/docker.sock"]),
        (Engine::Cri, "cri", &["/run/crio/crio.sock"]),
    ];
    let mut out = Vec::new();
    for (engine, key, default) in defaults {
        let e = cfg.pointer(&format!("/engines/{key}"));
        if e.and_then(|e| e.get("enabled")).and_then(Json::as_bool) == Some(false) {
            continue;
        }
        match e.and_then(|e| e.get("sockets")).and_then(Json::as_array) {
            Some(list) => {
                out.extend(list.iter().filter_map(Json::as_str).map(|p| Socket::new(engine, p.into())))
            }
            None => out.extend(default.iter().map(|p| Socket::new(engine, (*p).into()))),
        }
    }
    out
}

impl Plugin for Container {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "container",
            VERSION,
            "Falco's container plugin fields (container.*, k8s.*) from Docker, Podman and CRI-O",
        )
        .with_schema(SCHEMA)
    }

    fn init(config: &str) -> Result<Self, String> {
        let cfg: Json = if config.trim().is_empty() {
            Json::Null
        } else {
            lanner_plugin_sdk::json::from_str(config).map_err(|e| format!("configuration: {e}"))?
        };
        let num = |k: &str, d: u64| cfg.get(k).and_then(Json::as_u64).unwrap_or(d);
        let settings = Settings {
            first_wait: Duration::from_millis(num("first_wait_ms", 20)),
            io_timeout_ms: 100,
            max_entries: usize::try_from(num("max_containers", 4096)).unwrap_or(4096),
            retry: Duration::from_millis(num("retry_ms", 1000)),
            socket_backoff: Duration::from_secs(5),
        };
        Ok(Container { cache: Cache::new(engine_sockets(&cfg), settings) })
    }
}

/// What the plugin reads of a syscall event's payload.
struct Payload<'a> {
    json: &'a Json,
}

impl Payload<'_> {
    fn container_id(&self) -> Option<&str> {
        self.json.pointer("/thread/container_id").and_then(Json::as_str)
    }
    /// The exit of a container's first process ends the container.
    fn ends_container(&self) -> bool {
        self.json.get("type").and_then(Json::as_str) == Some("procexit")
            && self.json.pointer("/thread/vpid").and_then(Json::as_i64) == Some(1)
    }
}

/// A simple glob, as Falco matches mount paths: `*` any run, `?` one character.
fn glob(pat: &[u8], s: &[u8]) -> bool {
    match (pat.split_first(), s.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => glob(rest, s) || (!s.is_empty() && glob(pat, &s[1..])),
        (Some((b'?', rest)), Some((_, srest))) => glob(rest, srest),
        (Some((p, rest)), Some((c, srest))) if p == c => glob(rest, srest),
        _ => false,
    }
}

/// Labels as Falco joins them: `key:value` (or `key` alone), `, `-separated, without
/// annotations and Kubernetes-internal labels.
fn join_labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .filter(|(k, _)| !k.starts_with("annotation.") && !k.starts_with("io.kubernetes."))
        .map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}:{v}") })
        .collect::<Vec<_>>()
        .join(", ")
}

fn value(f: F, info: &Info, arg: Option<&str>, ts: u64) -> Option<Value> {
    let st = |v: &str| Some(Value::Str(v.to_string()));
    let label = |k: &str| info.labels.get(k).map(|v| Value::Str(v.clone()));
    match f {
        F::FullId => st(&info.full_id),
        F::Name => st(&info.name),
        F::Image => st(&info.image),
        F::ImageId => st(&info.image_id),
        F::Type => st(info.ctype),
        F::Privileged => info.privileged.map(Value::Bool),
        F::Mounts => st(&info.mounts.iter().map(|m| m.render()).collect::<Vec<_>>().join(",")),
        F::Mount | F::MountSource | F::MountDest | F::MountMode | F::MountRdwr | F::MountPropagation => {
            let arg = arg?;
            let m = match arg.parse::<usize>() {
                Ok(i) => info.mounts.get(i),
                // By destination for the source, by source for the rest, as Falco does.
                Err(_) if f == F::MountSource => {
                    info.mounts.iter().find(|m| glob(arg.as_bytes(), m.dest.as_bytes()))
                }
                Err(_) => info.mounts.iter().find(|m| glob(arg.as_bytes(), m.source.as_bytes())),
            }?;
            Some(Value::Str(match f {
                F::Mount => m.render(),
                F::MountSource => m.source.clone(),
                F::MountDest => m.dest.clone(),
                F::MountMode => m.mode.clone(),
                F::MountRdwr => m.rdwr.to_string(),
                _ => m.propagation.clone(),
            }))
        }
        F::ImageRepository => st(&info.image_repo),
        F::ImageTag => st(&info.image_tag),
        F::ImageDigest => st(&info.image_digest),
        F::Healthcheck => st(info.healthcheck.as_deref().unwrap_or("NONE")),
        F::LivenessProbe | F::ReadinessProbe => st("NONE"),
        F::StartTs => info.start_ts.map(Value::UInt),
        F::Duration => info.start_ts.map(|s| Value::UInt(ts.saturating_sub(s))),
        F::Ip => st(&info.ip),
        F::CniJson | F::K8sPodCniJson => st(&info.cni_json),
        F::HostPid => Some(Value::Bool(info.host_pid)),
        F::HostNetwork => Some(Value::Bool(info.host_network)),
        F::HostIpc => Some(Value::Bool(info.host_ipc)),
        F::Label => label(arg?),
        F::Labels => st(&join_labels(&info.labels)),
        F::K8sPodName => label("io.kubernetes.pod.name"),
        F::K8sNsName => label("io.kubernetes.pod.namespace"),
        F::K8sPodId | F::K8sPodUid => label("io.kubernetes.pod.uid"),
        F::K8sPodSandboxId => st(&info.pod_sandbox_id.chars().take(12).collect::<String>()),
        F::K8sPodFullSandboxId => st(&info.pod_sandbox_id),
        F::K8sPodLabel => info.pod_sandbox_labels.get(arg?).map(|v| Value::Str(v.clone())),
        F::K8sPodLabels => st(&join_labels(&info.pod_sandbox_labels)),
        F::K8sPodIp => st(&info.ip),
    }
}

impl Extractor for Container {
    fn fields() -> Vec<Field> {
        FIELDS.iter().map(|(_, name, t, a, d)| Field::new(name, *t, d).with_arg(*a)).collect()
    }

    fn event_sources() -> Vec<String> {
        vec!["syscall".into()]
    }

    /// Falco's container plugin flags these for suggested output, so every syscall alert
    /// names its container (`container.id` is filled by the host; the rest come from here).
    fn suggested_output() -> Vec<String> {
        [
            "container.id",
            "container.name",
            "container.image.repository",
            "container.image.tag",
            "k8s.pod.name",
            "k8s.ns.name",
        ]
        .map(String::from)
        .to_vec()
    }

    fn extract(
        &mut self,
        event: &Event,
        requests: &[Request],
        out: &mut Vec<Option<Value>>,
    ) -> Result<(), String> {
        let json: Option<Json> = lanner_plugin_sdk::json::from_slice(&event.data).ok();
        let payload = json.as_ref().map(|json| Payload { json });
        let id = payload.as_ref().and_then(Payload::container_id);
        let info = match id {
            None | Some("") => None,
            Some("host") => Some(std::rc::Rc::new(engines::host_info())),
            Some(id) => self.cache.get(id),
        };
        for r in requests {
            let v = match (&info, FIELDS.get(r.field as usize)) {
                (Some(info), Some((f, ..))) => value(*f, info, r.arg.as_deref(), event.timestamp_ns),
                _ => None,
            };
            out.push(v);
        }
        if let (Some(p), Some(id)) = (&payload, id)
            && id != "host"
            && p.ends_container()
        {
            self.cache.forget(id);
        }
        Ok(())
    }
}

lanner_plugin_sdk::export_extractor!(Container);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_falco_mount_paths() {
        assert!(glob(b"/usr/local/*", b"/usr/local/bin"));
        assert!(glob(b"/var/run/docker.soc?", b"/var/run/docker.sock"));
        assert!(!glob(b"/usr/local/*", b"/usr/lib"));
        assert!(glob(b"*", b""));
    }

    #[test]
    fn labels_join_without_kubernetes_internals() {
        let l: std::collections::BTreeMap<String, String> =
            [("a", "1"), ("b", ""), ("io.kubernetes.pod.name", "p")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(join_labels(&l), "a:1, b");
    }
}
