#!/usr/bin/env python3
"""Load on the alert console (issue 20): a live `lanner run` (root, eBPF) with the console
on, a generator opening a marked file RATE times a second for SECONDS seconds (each open an
alert), and three consoles: a headless chromium page on /console (through chromedriver), a
plain server-sent-events reader, and a stalled reader that sends its request and never
reads. Prints whether detection lost anything (alerts written vs opens made, kernel drops,
output drops), the daemon's RSS over the run, how responsive the page stayed, and what the
console counted.

    sudo bench/console_load.py target/debug/lanner [RATE] [SECONDS]
"""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

LANNER = sys.argv[1] if len(sys.argv) > 1 else "target/debug/lanner"
RATE = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
SECONDS = int(sys.argv[3]) if len(sys.argv) > 3 else 60
TOKEN = "console-load-token-0123456789abcdef"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    sums = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if m:
            sums[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return sums


def total(ms, name):
    return sum(v for k, v in ms.items() if k == name or k.startswith(name + "{"))


class SseReader(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.alerts, self.behind, self.stop = port, 0, 0, False

    def run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port)
        c.request("GET", "/console/api/events", headers={"Authorization": f"Bearer {TOKEN}"})
        r = c.getresponse()
        while not self.stop:
            line = r.readline()
            if not line:
                return
            if line.startswith(b"event: alert"):
                self.alerts += 1
            elif line.startswith(b"event: behind"):
                self.behind += 1


def stalled(port):
    """A console that asks for the live alerts and never reads them."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(
        f"GET /console/api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
    )
    return s


class Browser:
    def __init__(self):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="lanner-console-load-")
        self.driver = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                if json.load(urllib.request.urlopen(self.base + "/status"))["value"]["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", f"--user-data-dir={self.profile}"]}}}}
        self.session = self.call("POST", "/session", caps, root=True)["sessionId"]

    def call(self, method, path, body=None, root=False):
        url = self.base + (path if root else f"/session/{self.session}{path}")
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req))["value"]

    def exec(self, script):
        return self.call("POST", "/execute/sync", {"script": script, "args": []})

    def close(self):
        try:
            self.call("DELETE", "")
        except OSError:
            pass
        self.driver.kill()
        subprocess.run(["rm", "-rf", self.profile])


def main():
    work = tempfile.mkdtemp(prefix="lanner-console-load-")
    marker = os.path.join(work, "console-load-marker")
    open(marker, "w").close()
    rules = os.path.join(work, "rules.yaml")
    with open(rules, "w") as f:
        f.write(
            "- rule: Console Load\n  desc: the load generator opened its marker\n"
            f"  condition: evt.type in (open, openat) and fd.name = {marker}\n"
            "  output: 'load open %fd.name by %proc.name'\n  priority: NOTICE\n"
        )
    port = free_port()
    out = open(os.path.join(work, "alerts.json"), "w")
    err = open(os.path.join(work, "lanner.log"), "w")
    d = subprocess.Popen(
        [LANNER, "run", "-r", rules, "-o", "json_output=true", "-o", f"webserver.listen_port={port}",
         "-o", "console.enabled=true", "-o", f"console.token={TOKEN}"],
        stdout=out, stderr=err, env=dict(os.environ, LANNER_CONTAINER_PLUGIN=""),
    )
    for _ in range(600):
        if "capturing" in open(os.path.join(work, "lanner.log")).read():
            break
        time.sleep(0.1)
    else:
        sys.exit("lanner did not start: " + open(os.path.join(work, "lanner.log")).read())

    b = Browser()
    b.call("POST", "/url", {"url": f"http://127.0.0.1:{port}/console?token={TOKEN}"})
    reader = SseReader(port)
    reader.start()
    stuck = stalled(port)
    time.sleep(2)
    rss = [rss_kib(d.pid)]
    rss_start = rss[0]
    page_ms, page_lag, api_ms = [], [], []
    made = 0
    stop_sampling = threading.Event()

    def sample():
        while not stop_sampling.wait(1.0):
            rss.append(rss_kib(d.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    next_probe = start + 5
    tick = 0.01
    per_tick = max(1, RATE // 100)
    while True:
        now = time.monotonic()
        if now - start >= SECONDS:
            break
        goal = int((now - start) / tick) * per_tick
        while made < goal and made < RATE * SECONDS:
            with open(marker):
                pass
            made += 1
        if now >= next_probe:
            next_probe += 5
            t = time.monotonic()
            # How old the newest alert the page shows is: how far behind it is.
            lag = b.exec(
                "const td = document.querySelector('#rows tr td');"
                "return td ? Date.now() - Date.parse(td.textContent.replace(' ', 'T') + 'Z') : -1"
            )
            page_ms.append((time.monotonic() - t) * 1000)
            page_lag.append(lag)
            t = time.monotonic()
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/console/api/state", headers={"Authorization": f"Bearer {TOKEN}"})).read()
            api_ms.append((time.monotonic() - t) * 1000)
        time.sleep(max(0.0, tick - (time.monotonic() - now)))
    elapsed = time.monotonic() - start
    time.sleep(3)
    stop_sampling.set()
    ms = metrics(port)
    shown = b.exec("return Number(document.getElementById('count').dataset.count)")
    kept = len(json.loads(urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{port}/console/api/alerts", headers={"Authorization": f"Bearer {TOKEN}"})).read()))
    b.close()
    reader.stop = True
    stuck.close()
    d.terminate()
    code = d.wait(60)
    out.close()
    written = sum(1 for line in open(os.path.join(work, "alerts.json")) if '"Console Load"' in line)
    print(f"generator: {made} opens in {elapsed:.1f} s ({made / elapsed:.0f}/s)")
    print(f"detection: {written} alerts written by stdout (lost: {made - written}); "
          f"kernel drops {total(ms, 'lanner_capture_drops_total'):.0f}; "
          f"output drops {total(ms, 'lanner_output_dropped_total'):.0f}; exit status {code}")
    print(f"RSS: {rss_start / 1024:.1f} MiB before, max {max(rss) / 1024:.1f} MiB, "
          f"last {rss[-1] / 1024:.1f} MiB ({len(rss)} samples, one a second; at 10 s "
          f"{rss[min(10, len(rss) - 1)] / 1024:.1f}, at 30 s {rss[min(30, len(rss) - 1)] / 1024:.1f} MiB)")
    print(f"page: execute-script round trip every 5 s: max {max(page_ms):.0f} ms, "
          f"median {sorted(page_ms)[len(page_ms) // 2]:.0f} ms; age of the newest alert shown "
          f"max {max(page_lag)} ms, median {sorted(page_lag)[len(page_lag) // 2]} ms; "
          f"at the end it showed {shown} (kept: {kept})")
    print(f"/console/api/state under load: max {max(api_ms):.0f} ms")
    print(f"SSE reader: {reader.alerts} live alerts, told behind {reader.behind} times")
    delivered = total(ms, 'lanner_output_delivered_total{output="console"}')
    print(f"console: pages behind (metric) {total(ms, 'lanner_console_clients_behind_total'):.0f}, "
          f"console output delivered {delivered:.0f}")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
