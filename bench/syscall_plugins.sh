#!/usr/bin/env bash
# Extractor plugins on syscall events: the cost per event of a rule that reads a plugin's
# field (the pkgowner example: the Debian package of proc.exepath), against the same
# events through a rule without it; one plugin call per batch of deferred events (up to
# 1024) against one call per event (LANNER_SYSCALL_PLUGIN_BATCH=1); and a rule whose cheap
# part rules out 99% of events before the plugin is asked. execve events from an event file
# through `lanner replay` (release), best of 3 runs each, at N and N/10 events: the
# difference gives the cost per event without the start (loading the plugin, which reads
# dpkg's ~750 file lists through WASI, once). Every rule raises the same alerts (the 40% of
# events whose executable no package owns). Figures go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "command: bench/syscall_plugins.sh"
N=${N:-200000}
tgt=${CARGO_TARGET_DIR:-$PWD/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --quiet --release -p lanner
(cd plugins/pkgowner && env -u RUSTFLAGS cargo build --quiet --release --target wasm32-wasip2 --target-dir "$tgt/wasm-plugins")
mkdir -p "$work/plugins"
cp "$tgt"/wasm-plugins/wasm32-wasip2/release/lanner_plugin_pkgowner.wasm "$work/plugins/pkgowner.wasm"
printf 'grants:\n  dirs:\n    - {host: /var/lib/dpkg/info, guest: /dpkg, mode: ro}\nlimits: {call_timeout_ms: 15000}\n' > "$work/plugins/pkgowner.yaml"
python3 - "$N" > "$work/events.jsonl" <<'PY'
import json, sys
n = int(sys.argv[1])
paths = ["/usr/bin/true", "/usr/bin/ls", "/usr/bin/cat", "/tmp/dropped", "/usr/local/bin/tool"]
for i in range(n):
    exe = paths[i % len(paths)]
    # One event in a hundred carries the marker the "filtered" rule looks for.
    args = "bench-marker" if i % 100 == 3 else "x"
    print(json.dumps({"ts": 1700000000000000000 + i, "type": "execve", "fields": {
        "proc.name": exe.rsplit("/", 1)[1], "proc.exepath": exe, "proc.args": args,
        "proc.cmdline": exe + " " + args, "proc.pid": 1000 + i, "thread.tid": 1000 + i,
        "container.id": "host", "evt.arg": {"filename": exe}}}))
PY
rule() {  # name condition
  printf -- '- rule: %s\n  desc: bench\n  condition: %s\n  output: "%%proc.exepath"\n  priority: NOTICE\n' "$1" "$2"
}
rule plain 'evt.type = execve and proc.exepath in (/tmp/dropped, /usr/local/bin/tool)' > "$work/plain.yaml"
rule plugin 'evt.type = execve and pkg.owned = false' > "$work/plugin.yaml"
rule filtered 'evt.type = execve and proc.args = bench-marker and pkg.owned = false' > "$work/filtered.yaml"
rule plainfiltered 'evt.type = execve and proc.args = bench-marker and proc.exepath in (/tmp/dropped, /usr/local/bin/tool)' > "$work/plainfiltered.yaml"
head -n $((N / 10)) "$work/events.jsonl" > "$work/small.jsonl"
export LANNER_PLUGIN_CACHE="$work/cache"
time_ns() {  # events rules [env]: best of 3 wall times, in ns
  local events=$1 rules=$2; shift 2
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N)
    env "$@" "$tgt"/release/lanner replay "$events" -r "$rules" --plugins-dir "$work/plugins" > "$work/out.txt"
    t1=$(date +%s%N)
    if [ -z "$best" ] || [ $((t1 - t0)) -lt "$best" ]; then best=$((t1 - t0)); fi
  done
  echo "$best"
}
measure() {  # label rules [env]: prints the line, returns ns/event on the last line
  local label=$1 rules=$2; shift 2
  local big small per start
  big=$(time_ns "$work/events.jsonl" "$rules" "$@")
  local alerts; alerts=$(wc -l < "$work/out.txt")
  small=$(time_ns "$work/small.jsonl" "$rules" "$@")
  per=$(( (big - small) / (N - N / 10) ))
  start=$(( (small - per * (N / 10)) / 1000000 ))
  printf '%-50s %6d ns/event  start %4d ms  (%d alerts of %d events)\n' "$label" "$per" "$start" "$alerts" "$N" >&2
  echo "$per"
}
base=$(measure "rule without plugin field" "$work/plain.yaml")
batched=$(measure "rule with pkg.owned, batched (<=1024 per call)" "$work/plugin.yaml")
single=$(measure "rule with pkg.owned, one call per event" "$work/plugin.yaml" LANNER_SYSCALL_PLUGIN_BATCH=1)
pbase=$(measure "cheap part first, no plugin field (1% pass)" "$work/plainfiltered.yaml")
filtered=$(measure "cheap part first, then pkg.owned (1% reach it)" "$work/filtered.yaml")
echo
echo "plugin field, batched:    +$((batched - base)) ns/event over the same rule without it"
echo "plugin field, per event:  +$((single - base)) ns/event"
awk -v s="$single" -v b="$batched" -v base="$base" 'BEGIN { d = b - base; if (d < 1) d = 1; printf "one call per event costs %.2fx the batched extra\n", (s - base) / d }'
echo "1% reaching the plugin:   +$((filtered - pbase)) ns/event over the same filter without it"
