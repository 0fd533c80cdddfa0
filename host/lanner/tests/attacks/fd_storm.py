#!/usr/bin/env python3
"""Issue 13's fd storm: N dup'd descriptors of a 4 KiB path, inherited by K forked children.

Usage: fd_storm.py DIR [FDS [CHILDREN [MARKER]]]

Prints "ready" once the children hold the descriptors; then each child waits for DIR/go,
opens DIR/MARKER-<i> (an open rules can see, after the storm) and exits; "done" at the end.
"""
import os
import resource
import sys
import time

base = sys.argv[1]
fds = int(sys.argv[2]) if len(sys.argv) > 2 else 19000
children = int(sys.argv[3]) if len(sys.argv) > 3 else 8
marker = sys.argv[4] if len(sys.argv) > 4 else "storm-marker"

resource.setrlimit(resource.RLIMIT_NOFILE, (fds + 256, fds + 256))
# Ends with its parent, should a test fail before saying go.
parent = os.getppid()
d = base
while len(d) < 3800:
    d = os.path.join(d, "s" * 200)
os.makedirs(d, exist_ok=True)
path = os.path.join(d, "f" * (4090 - len(d) - 1))
open(path, "w").close()
fd = os.open(path, os.O_RDONLY)
# dup2 (Python's os.dup is fcntl(F_DUPFD_CLOEXEC), which the state does not follow).
for i in range(fds):
    os.dup2(fd, 64 + i)
kids = []
for i in range(children):
    pid = os.fork()
    if pid == 0:
        while not os.path.exists(os.path.join(base, "go")):
            if os.getppid() == 1 or not os.path.exists(f"/proc/{parent}"):
                os._exit(1)
            time.sleep(0.02)
        with open(os.path.join(base, f"{marker}-{i}"), "w"):
            pass
        os._exit(0)
    kids.append(pid)
print("ready", len(path), flush=True)
for k in kids:
    os.waitpid(k, 0)
print("done", flush=True)
