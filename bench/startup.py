#!/usr/bin/env python3
"""Start-up time and idle memory of `lanner run` (bench/startup.sh runs this).

Starts the daemon with the default rules, the shipped extractor plugins in its plugins folder
and the file sink plugin as file_output, while a generator opens a marker file every 0.5 ms.
Start-up is the time from spawning the process to the first alert about the marker on stdout
(so it includes capture start, rule compilation, plugin loading and one event's way to an
alert). Then the generator stops, and after IDLE seconds the resident memory is read.
Each run is done twice: the first fills the plugin cache (cold), the second uses it."""

import json, os, subprocess, sys, tempfile, threading, time

lanner, sinks, plugins_src, idle = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
root = os.getcwd()
work = tempfile.mkdtemp(prefix="lanner-startup-")
plugins = os.path.join(work, "plugins.d")
os.makedirs(plugins)
for f in os.listdir(plugins_src):
    if f.endswith(".wasm"):
        with open(os.path.join(plugins_src, f), "rb") as s, open(os.path.join(plugins, f), "wb") as d:
            d.write(s.read())
os.makedirs(os.path.join(work, "out"))
marker = os.path.join(work, "startup-marker")
open(marker, "w").close()
probe = os.path.join(work, "probe.yaml")
with open(probe, "w") as f:
    f.write(
        "- rule: Startup probe\n  desc: the start-up benchmark's marker opened\n"
        f"  condition: evt.type in (open, openat) and fd.name = {marker}\n"
        "  output: startup probe %proc.name\n  priority: WARNING\n"
    )
config = os.path.join(work, "lanner.yaml")
with open(config, "w") as f:
    f.write(
        f"plugins_dir: {plugins}\nsink_plugins_dir: {sinks}\n"
        f"file_output: {{enabled: true, keep_alive: true, filename: {work}/out/alerts.json}}\n"
        "json_output: true\nwebserver: {enabled: false}\nwatch_config_files: true\n"
    )
env = dict(os.environ, LANNER_PLUGIN_CACHE=os.path.join(work, "cache"))


def run(label):
    stop = threading.Event()

    def generate():
        while not stop.is_set():
            try:
                with open(marker):
                    pass
            except OSError:
                pass
            time.sleep(0.0005)

    gen = threading.Thread(target=generate)
    gen.start()
    t0 = time.monotonic()
    p = subprocess.Popen(
        [lanner, "run", "-c", config, "-r", os.path.join(root, "rules/lanner_rules.yaml"), "-r", probe],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
    )
    first = None
    for line in p.stdout:
        try:
            if json.loads(line).get("rule") == "Startup probe":
                first = time.monotonic() - t0
                break
        except ValueError:
            pass
    stop.set()
    gen.join()
    # Keep reading stdout so lanner never blocks on a full pipe while idle.
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    time.sleep(idle)
    status = open(f"/proc/{p.pid}/status").read()
    rss = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS:")))
    hwm = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")))
    p.terminate()
    p.wait()
    print(
        f"{label:>22}: first alert {first * 1000:7.1f} ms after spawn; "
        f"idle RSS {rss / 1024:5.1f} MiB (peak {hwm / 1024:5.1f} MiB) after {idle:.0f} s idle"
    )


run("cold (cache empty)")
run("cached plugins")
run("cached plugins, again")
subprocess.run(["rm", "-rf", work])
