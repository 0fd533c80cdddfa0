#!/usr/bin/env python3
"""Source plugin throughput and latency through `lanner run` (bench/sources.sh runs this).

lanner runs with the Kubernetes audit rules, the json plugin and the k8saudit source, either
listening as a webhook or following an audit log. EVENTS benign audit events (a `get` of a
pod, which every rule evaluates and none fires on) are sent in EventList posts of 500, or
appended as lines, as fast as this script can; the time runs until lanner's
`lanner_events_processed_total{source="k8s_audit"}` metric has counted them all. Then ten
single events that do alert (an exec into a pod) are sent one at a time, 300 ms apart, and
the time from sending to their alert on lanner's stdout is taken."""

import http.client, json, os, socket, subprocess, sys, tempfile, threading, time, urllib.request

lanner, plugins_src, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
root = os.getcwd()
BATCH = 500


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def benign(i):
    return {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"b{i}",
        "stage": "ResponseComplete", "requestURI": f"/api/v1/namespaces/shop/pods/web-{i % 50}",
        "verb": "get", "user": {"username": "system:serviceaccount:shop:app", "groups": ["system:serviceaccounts"]},
        "sourceIPs": ["10.0.0.7"], "userAgent": "app/1.0",
        "objectRef": {"resource": "pods", "namespace": "shop", "name": f"web-{i % 50}", "apiVersion": "v1"},
        "responseStatus": {"code": 200}, "stageTimestamp": "2026-11-29T08:00:00.000000Z",
    }


def alerting(i):
    return {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request", "auditID": f"x{i}",
        "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/shop/pods/probe-{i}/exec?command=sh&container=app",
        "verb": "create", "user": {"username": "alice", "groups": ["dev"]}, "sourceIPs": ["10.0.0.9"],
        "objectRef": {"resource": "pods", "namespace": "shop", "name": f"probe-{i}", "subresource": "exec"},
        "responseStatus": {"code": 101}, "stageTimestamp": "2026-11-29T08:00:00.000000Z",
    }


def processed(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith('lanner_events_processed_total{source="k8s_audit"}'):
            return int(float(line.split()[-1]))
    return 0


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def run(mode):
    work = tempfile.mkdtemp(prefix=f"lanner-sources-{mode}-")
    plugins = os.path.join(work, "plugins.d")
    os.makedirs(plugins)
    for name in ("json", "k8saudit"):
        with open(os.path.join(plugins_src, f"{name}.wasm"), "rb") as s, open(os.path.join(plugins, f"{name}.wasm"), "wb") as d:
            d.write(s.read())
    hook_port, metrics_port = free_port(), free_port()
    log = os.path.join(work, "audit.log")
    open(log, "w").close()
    with open(os.path.join(plugins, "k8saudit.yaml"), "w") as f:
        if mode == "webhook":
            f.write(f'grants: {{listen: ["127.0.0.1:{hook_port}"]}}\nopen_params: http://127.0.0.1:{hook_port}/k8s-audit\n')
        else:
            f.write(f"grants: {{dirs: [{{host: {work}, guest: /audit, mode: ro}}]}}\nopen_params: follow:/audit/audit.log\n")
    config = os.path.join(work, "lanner.yaml")
    with open(config, "w") as f:
        f.write(
            f"rules_files: [{root}/rules/k8s_audit_rules.yaml]\nplugins_dir: {plugins}\njson_output: true\n"
            f"webserver: {{enabled: true, listen_port: {metrics_port}}}\n"
        )
    env = dict(os.environ, LANNER_PLUGIN_CACHE=os.path.join(work, "cache"))
    p = subprocess.Popen([lanner, "run", "-c", config], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    alerts = {}
    def read_alerts():
        for line in p.stdout:
            try:
                a = json.loads(line)
            except ValueError:
                continue
            name = a.get("output_fields", {}).get("ka.target.name")
            if name:
                alerts[name] = time.monotonic()
    threading.Thread(target=read_alerts, daemon=True).start()
    deadline = time.monotonic() + 60
    while True:
        try:
            processed(metrics_port)
            break
        except OSError:
            assert time.monotonic() < deadline, "lanner did not start"
            time.sleep(0.1)
    time.sleep(1)  # the source opened
    bodies = [json.dumps({"kind": "EventList", "items": [benign(i) for i in range(b, min(b + BATCH, total))]})
              for b in range(0, total, BATCH)]
    lines = ["\n".join(json.dumps(e) for e in json.loads(body)["items"]) + "\n" for body in bodies]
    conn = http.client.HTTPConnection("127.0.0.1", hook_port) if mode == "webhook" else None

    def send(i, body, line):
        if conn:
            conn.request("POST", "/k8s-audit", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        else:
            with open(log, "a") as f:
                f.write(line)

    cpu0, t0 = cpu_seconds(p.pid), time.monotonic()
    for i, (body, line) in enumerate(zip(bodies, lines)):
        send(i, body, line)
    sent = time.monotonic() - t0
    while processed(metrics_port) < total:
        assert time.monotonic() - t0 < 300, f"only {processed(metrics_port)} of {total} processed"
        time.sleep(0.02)
    took = time.monotonic() - t0
    cpu = cpu_seconds(p.pid) - cpu0
    latencies = []
    for i in range(10):
        time.sleep(0.3)
        doc = alerting(i)
        t = time.monotonic()
        send(i, json.dumps(doc), json.dumps(doc) + "\n")
        name = f"probe-{i}"
        while name not in alerts:
            assert time.monotonic() - t < 10, f"no alert for {name}"
            time.sleep(0.0005)
        latencies.append((alerts[name] - t) * 1000)
    p.terminate()
    p.wait()
    subprocess.run(["rm", "-rf", work])
    latencies.sort()
    print(
        f"{mode:>8}: {total} events in {took:6.2f} s = {total / took:9,.0f} events/s "
        f"(sent in {sent:5.2f} s); lanner CPU {cpu * 1e6 / total:6.2f} us/event; "
        f"send to alert: median {latencies[5]:6.1f} ms, max {latencies[-1]:6.1f} ms"
    )


run("webhook")
run("follow")
