#!/usr/bin/env python3
"""Checks Lanner's Kubernetes manifests: the plain ones in deploy/kubernetes/ and the Helm
chart in deploy/kubernetes/helm/lanner/ rendered with several sets of values.

Every manifest is validated against the Kubernetes JSON schema (kubernetes-validate, strict:
unknown fields are errors) for the oldest version the chart supports and the newest the
validator knows; the chart is linted and rendered by Helm's own Go SDK (helm-python-sdk);
then Lanner-specific checks: host PID, capabilities or privileged, the mounts, liveness on
/healthz/live and readiness on /healthz/ready (HTTPS when the endpoint is TLS) at the port the
configuration listens on (0.0.0.0), tolerations, resources, and
configuration keys that the daemon knows (config/lanner.yaml). Deliberately broken copies
must be rejected, so that a validator that accepts anything fails here.

Run with the Python of the tools' virtual environment (scripts/setup.sh makes it):
    /opt/lanner-deploy-tools/bin/python deploy/kubernetes/check.py            # everything
    /opt/lanner-deploy-tools/bin/python deploy/kubernetes/check.py FILE...    # these files
Exit status 0 when every check passes, 1 otherwise.
"""

import copy
import pathlib
import sys
import tempfile

import yaml

import helm_python as helm
import kubernetes_validate

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHART = HERE / "helm" / "lanner"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema.
VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]
CAPS = {"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"}
# Keys the daemon's interface defines that config/lanner.yaml does not list by default.
EXTRA_KEYS = {
    "file_output": {"enabled": None, "keep_alive": None, "filename": None},
    "program_output": {"enabled": None, "keep_alive": None, "program": None},
}

# Values that exercise every switch of the chart.
FULL_VALUES = {
    "privileged": True,
    "priorityClassName": "",
    "image": {"repository": "registry.example/lanner", "tag": "dev", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "pull"}],
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "podAnnotations": {"team": "sec"},
    "serviceAccount": {"create": False, "name": "existing"},
    "prometheus": {"annotations": False, "service": False},
    "webserver": {"port": 9876, "metricsTokenSecret": "lanner-metrics-token", "tlsSecret": "lanner-web-tls"},
    "logging": {"level": "debug", "format": "text"},
    "outputs": {
        "json": False,
        "file": {"enabled": True, "keepAlive": True},
        "program": {"enabled": True, "program": "logger -t lanner"},
        "nats": {
            "enabled": True,
            "servers": ["nats://nats-0.nats:4222", "tls://nats-1.nats:4222"],
            "tokenSecret": "lanner-nats-token",
            "caSecret": "lanner-nats-ca",
        },
    },
    "rules": {
        "default": False,
        "inline": {"10-mine.yaml": "- rule: Mine\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"},
        "configMaps": ["team-rules"],
    },
    "plugins": {
        "list": [{"name": "json", "wasmConfigMap": "lanner-plugin-json", "config": {"init_config": {"depth": 3}}}],
        "configMaps": ["more-plugins"],
    },
    "config": {"priority": "notice", "engine": {"ebpf": {"ring_buffer_bytes": 33554432}}},
    "resources": {"requests": {"cpu": "200m", "memory": "300Mi"}, "limits": {"memory": "1Gi"}},
    "extraVolumes": [{"name": "extra", "emptyDir": {}}],
    "extraVolumeMounts": [{"name": "extra", "mountPath": "/extra"}],
}
OLD_KERNEL_VALUES = {"extraCapabilities": ["SYS_ADMIN"], "rules": {"inline": {"a.yml": "[]"}}}

failures = []
# Set while a deliberately broken set is checked: findings are expected then.
expecting = False


def fail(what, why):
    failures.append(f"{what}: {why}")
    print(f"{'  caught' if expecting else 'FAIL'} {what}: {why}")


def docs_of(text):
    return [d for d in yaml.safe_load_all(text) if d]


def schema_check(what, doc):
    """Validates one resource against every version's strict schema; returns the errors."""
    errors = []
    for v in VERSIONS:
        try:
            kubernetes_validate.validate(doc, v, strict=True)
        except kubernetes_validate.utils.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            errors.append(f"{v}: {path}: {e.message}")
        except kubernetes_validate.utils.SchemaNotFoundError as e:
            errors.append(f"{v}: no schema: {e}")
    return errors


def key_tree(doc):
    if isinstance(doc, dict):
        return {k: key_tree(v) for k, v in doc.items()}
    return None


def check_keys(what, cfg, known, prefix=""):
    for k, v in cfg.items():
        if k not in known:
            fail(what, f"configuration key {prefix}{k} is not one of the daemon's")
        elif isinstance(v, dict) and isinstance(known[k], dict):
            check_keys(what, v, known[k], f"{prefix}{k}.")


def known_keys():
    known = key_tree(yaml.safe_load((ROOT / "config" / "lanner.yaml").read_text()))
    known.update(EXTRA_KEYS)
    return known


def check_set(what, docs, *, expect_privileged=False, expect_caps=CAPS):
    """The schema and Lanner's own checks over one set of resources (one namespace)."""
    ok_before = len(failures)
    for d in docs:
        for e in schema_check(what, d):
            fail(f"{what} {d.get('kind')}/{d.get('metadata', {}).get('name')}", e)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    dss = by_kind.get("DaemonSet", [])
    if len(dss) != 1:
        fail(what, f"{len(dss)} DaemonSets, expected 1")
        return
    ds = dss[0]
    spec = ds["spec"]["template"]["spec"]
    if spec.get("hostPID") is not True:
        fail(what, "hostPID is not true")
    if not any(t.get("operator") == "Exists" and "key" not in t for t in spec.get("tolerations", [])):
        fail(what, "no toleration of every taint (operator: Exists)")
    (c,) = [c for c in spec["containers"] if c["name"] == "lanner"]
    if c.get("args", [None])[0] != "run":
        fail(what, "the container does not run `lanner run`")
    sc = c.get("securityContext", {})
    if expect_privileged:
        if sc.get("privileged") is not True:
            fail(what, "privileged expected")
    else:
        if sc.get("privileged"):
            fail(what, "privileged when capabilities were asked for")
        added = set(sc.get("capabilities", {}).get("add", []))
        if added != set(expect_caps):
            fail(what, f"capabilities {sorted(added)}, expected {sorted(expect_caps)}")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            fail(what, "capabilities are not dropped first")
        if sc.get("seccompProfile", {}).get("type") != "Unconfined":
            fail(what, "the default seccomp profile refuses bpf()")
    res = c.get("resources", {})
    if not res.get("requests") or not res.get("limits", {}).get("memory"):
        fail(what, "no resource requests and memory limit")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for path, host in [("/sys/kernel/btf", "/sys/kernel/btf"), ("/sys/fs/cgroup", "/sys/fs/cgroup"), ("/host/etc", "/etc")]:
        m = mounts.get(path)
        if not m or not m.get("readOnly"):
            fail(what, f"{path} is not mounted read-only")
        elif volumes.get(m["name"], {}).get("hostPath", {}).get("path") != host:
            fail(what, f"{path} is not the host's {host}")
    for m in mounts.values():
        if m["name"] not in volumes:
            fail(what, f"mount {m['mountPath']} names no volume")
    cm_mount = mounts.get("/etc/lanner/config.d")
    if not cm_mount:
        fail(what, "no configuration at /etc/lanner/config.d")
        return
    cm_name = volumes[cm_mount["name"]]["configMap"]["name"]
    cms = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    if cm_name not in cms:
        fail(what, f"ConfigMap {cm_name} is not in the set")
        return
    cfg = {}
    known = known_keys()
    for name, text in sorted(cms[cm_name]["data"].items()):
        part = yaml.safe_load(text) or {}
        check_keys(f"{what} {cm_name}/{name}", part, known)
        cfg.update(part)
    if cfg.get("host_root") != "/host":
        fail(what, "host_root is not /host: user names would be the image's, not the host's /etc")
    web = cfg.get("webserver", {})
    if web.get("enabled") is False:
        fail(what, "webserver disabled: the probes would fail")
    if web.get("listen_address") != "0.0.0.0":
        fail(what, "webserver.listen_address is not 0.0.0.0: the kubelet cannot reach /healthz")
    port = web.get("listen_port", 8765)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if ports.get("http") != port:
        fail(what, f"container port http {ports.get('http')} is not the listen port {port}")
    # Liveness must not be readiness: a drop storm makes the agent unready, and restarting
    # it for that would blind it for longer.
    for probe, path in (("livenessProbe", "/healthz/live"), ("readinessProbe", "/healthz/ready")):
        g = c.get(probe, {}).get("httpGet", {})
        if g.get("path") != path or g.get("port") not in ("http", port):
            fail(what, f"{probe} is not GET {path} on the listen port")
        tls = (web.get("tls") or {}).get("enabled") is True
        if tls != (g.get("scheme") == "HTTPS"):
            fail(what, f"{probe}: scheme {g.get('scheme', 'HTTP')} but webserver.tls.enabled is {tls}")
    # Inline rules ConfigMaps hold YAML lists (rules files); plugin ConfigMaps their yaml.
    for name, cm in cms.items():
        for key, text in (cm.get("data") or {}).items():
            try:
                yaml.safe_load(text)
            except yaml.YAMLError as e:
                fail(f"{what} {name}/{key}", f"not YAML: {e}")
    if len(failures) == ok_before and not expecting:
        print(f"ok   {what}: {len(docs)} resources")


def render(values, name="lanner", namespace="lanner"):
    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render(values, name=name, namespace=namespace, is_install=True)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith(".yaml"):
            docs += docs_of(text)
    return docs


def plain_docs():
    docs = []
    for f in sorted(HERE.glob("*.yaml")):
        docs += docs_of(f.read_text())
    return docs


def expect_rejected(what, docs, **kw):
    """A broken set must fail: the checks above are not vacuous."""
    global expecting
    before = len(failures)
    print(f"--   {what} (must be rejected):")
    expecting = True
    try:
        check_set(what, docs, **kw)
    finally:
        expecting = False
    caught = len(failures) - before
    del failures[before:]
    if caught == 0:
        fail(what, "a broken manifest set was accepted")
    else:
        print(f"ok   {what}: rejected ({caught} findings)")


def daemonset(docs):
    return next(d for d in docs if d["kind"] == "DaemonSet")


def main(argv):
    if argv:
        for f in argv:
            check_set(f, docs_of(pathlib.Path(f).read_text()))
        return report()

    print(f"helm SDK {helm.helm_sdk_version()}, kubernetes-validate {kubernetes_validate.version.__version__}, schemas {VERSIONS}")
    plain = plain_docs()
    check_set("plain manifests", plain)
    packaged = yaml.safe_load((ROOT / "packaging" / "etc" / "lanner.yaml").read_text())
    check_keys("packaging/etc/lanner.yaml", packaged, known_keys())

    lint = helm.lint(str(CHART), strict=True, kube_version="v1.30.0")
    for m in lint.get("messages", []):
        if m["severity"] >= 2:
            fail("helm lint", f"{m['path']}: {m['error']}")
    for e in lint.get("errors") or []:
        fail("helm lint", e)

    check_set("chart, default values", render({}))
    check_set("chart, every switch", render(FULL_VALUES, name="sec", namespace="security"), expect_privileged=True)
    check_set("chart, old kernels", render(OLD_KERNEL_VALUES), expect_caps=CAPS | {"SYS_ADMIN"})

    # Lanner-specific content of the full render.
    full = render(FULL_VALUES, name="sec", namespace="security")
    cfg = yaml.safe_load(next(d for d in full if d["metadata"]["name"] == "sec-lanner-config")["data"]["50-helm.yaml"])
    want = {
        "rules_files": ["/etc/lanner/rules.d"],
        "priority": "notice",
        "json_output": False,
        "log_format": "text",
        "file_output": {"enabled": True, "keep_alive": True, "filename": "/var/log/lanner/events.json"},
        "program_output": {"enabled": True, "keep_alive": False, "program": "logger -t lanner"},
    }
    for k, v in want.items():
        if cfg.get(k) != v:
            fail("chart, every switch", f"config {k} = {cfg.get(k)!r}, expected {v!r}")
    if cfg["engine"]["ebpf"]["ring_buffer_bytes"] != 33554432 or cfg["webserver"]["listen_port"] != 9876:
        fail("chart, every switch", "config overrides not merged")
    web = cfg["webserver"]
    if web.get("metrics_token_file") != "/etc/lanner/secrets/metrics-token/token" or web.get("tls") != {
        "enabled": True,
        "cert_file": "/etc/lanner/secrets/tls/tls.crt",
        "key_file": "/etc/lanner/secrets/tls/tls.key",
    }:
        fail("chart, every switch", f"webserver token and TLS not configured: {web}")
    nats = cfg.get("plugin_outputs", [{}])[0]
    if nats.get("plugin") != "nats" or nats.get("init_config") != {
        "servers": ["nats://nats-0.nats:4222", "tls://nats-1.nats:4222"],
        "stream": "lanner",
        "timeout_ms": 5000,
        "retry_ms": 10000,
        "credentials": {"token_file": "/nats-token/token"},
        "tls": {"ca_file": "/nats-ca/ca.crt"},
    } or nats.get("grants", {}).get("tcp") != ["nats-0.nats:4222", "nats-1.nats:4222"] or nats.get("limits") != {
        "call_timeout_ms": 25000
    }:
        fail("chart, every switch", f"the nats output: {nats}")
    vols = {v["name"]: v for v in daemonset(full)["spec"]["template"]["spec"]["volumes"]}
    for vol, secret in [("nats-token", "lanner-nats-token"), ("nats-ca", "lanner-nats-ca")]:
        if vols.get(vol, {}).get("secret", {}).get("secretName") != secret:
            fail("chart, every switch", f"the {vol} Secret is not mounted")
    if vols.get("metrics-token", {}).get("secret", {}).get("secretName") != "lanner-metrics-token":
        fail("chart, every switch", "the metrics token Secret is not mounted")
    if vols.get("webserver-tls", {}).get("secret", {}).get("secretName") != "lanner-web-tls":
        fail("chart, every switch", "the TLS Secret is not mounted")
    rule_sources = [s["configMap"]["name"] for s in vols["rules"]["projected"]["sources"]]
    if rule_sources != ["sec-lanner-rules", "team-rules"]:
        fail("chart, every switch", f"rules sources {rule_sources}")
    plugin_sources = [(s["configMap"]["name"], s["configMap"].get("items")) for s in vols["plugins"]["projected"]["sources"]]
    if plugin_sources != [
        ("sec-lanner-plugins", None),
        ("lanner-plugin-json", [{"key": "json.wasm", "path": "json.wasm"}]),
        ("more-plugins", None),
    ]:
        fail("chart, every switch", f"plugin sources {plugin_sources}")
    if any(d["kind"] in ("Service", "ServiceAccount") for d in full):
        fail("chart, every switch", "service or service account rendered though disabled")
    default = render({})
    if {d["kind"] for d in default} != {"ServiceAccount", "ConfigMap", "DaemonSet", "Service"}:
        fail("chart, default values", f"kinds {sorted({d['kind'] for d in default})}")

    # Bad values fail the render with a message.
    for what, values in [
        ("plugin without its wasm ConfigMap", {"plugins": {"list": [{"name": "x"}]}}),
        ("rules file not named *.yaml", {"rules": {"inline": {"rules.txt": "[]"}}}),
        ("program output without a program", {"outputs": {"program": {"enabled": True}}}),
        ("nats output without servers", {"outputs": {"nats": {"enabled": True}}}),
        ("nats server without a port", {"outputs": {"nats": {"enabled": True, "servers": ["nats://nats"]}}}),
    ]:
        try:
            render(values)
            fail("chart, bad values", f"{what}: rendered")
        except helm.HelmError as e:
            print(f"ok   chart, bad values: {what}: refused ({str(e).splitlines()[0][:100]})")

    # Broken copies: the schema and the checks must catch each.
    def broken(docs, change):
        docs = copy.deepcopy(docs)
        change(docs)
        return docs

    def ds_spec(docs):
        return daemonset(docs)["spec"]["template"]["spec"]

    def container(docs):
        return ds_spec(docs)["containers"][0]

    expect_rejected("unknown field (hostPid)", broken(plain, lambda d: ds_spec(d).update(hostPid=True)))
    expect_rejected("wrong type (containerPort a string)", broken(plain, lambda d: container(d)["ports"][0].update(containerPort="8765")))
    expect_rejected("missing required field (selector)", broken(plain, lambda d: daemonset(d)["spec"].pop("selector")))
    expect_rejected("no host PID", broken(default, lambda d: ds_spec(d).pop("hostPID")))
    expect_rejected("probe on another port", broken(default, lambda d: container(d)["livenessProbe"]["httpGet"].update(port=9999)))
    expect_rejected(
        "liveness on the readiness path (a drop storm would restart the agent)",
        broken(plain, lambda d: container(d)["livenessProbe"]["httpGet"].update(path="/healthz/ready")),
    )
    expect_rejected(
        "plain HTTP probes of a TLS endpoint",
        broken(plain, lambda d: next(x for x in d if x["metadata"]["name"] == "lanner-config")["data"].update({"99-x.yaml": "webserver: {listen_address: 0.0.0.0, tls: {enabled: true, cert_file: /c, key_file: /k}}"})),
    )
    expect_rejected(
        "loopback listen address",
        broken(plain, lambda d: next(x for x in d if x["metadata"]["name"] == "lanner-config")["data"].update({"99-x.yaml": "webserver: {listen_address: 127.0.0.1}"})),
    )
    expect_rejected(
        "unknown configuration key",
        broken(plain, lambda d: next(x for x in d if x["metadata"]["name"] == "lanner-config")["data"].update({"99-x.yaml": "json_outptu: true"})),
    )
    # And through a file, as the command line validates them.
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump_all(broken(plain, lambda d: ds_spec(d).update(hostPid=True)), f)
        f.flush()
        expect_rejected("broken file", docs_of(pathlib.Path(f.name).read_text()))
    return report()


def report():
    if failures:
        print(f"\n{len(failures)} failures")
        return 1
    print("\nall manifests valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
