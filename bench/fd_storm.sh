#!/usr/bin/env bash
# Issue 13's fd storm against `lanner run` with the default rules and configuration:
# 19,000 dup2'd descriptors of a 4 KiB path, inherited by 8 forked children
# (host/lanner/tests/attacks/fd_storm.py; the children then each open a file and exit).
# Prints lanner's resident memory when idle (2 s after capture started), its peak while the
# storm runs (sampled every 50 ms, until 3 s after the children exit), and the growth.
# LANNER=PATH measures another build (an older commit's, for the figure before a change);
# by default the release build of this checkout. FDS and CHILDREN change the storm. Root.
set -euo pipefail
cd "$(dirname "$0")/.."
FDS=${FDS:-19000}
CHILDREN=${CHILDREN:-8}
if [ -z "${LANNER:-}" ]; then
  cargo build --release -q -p lanner --bin lanner
  LANNER=./target/release/lanner
fi
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
echo "command: bench/fd_storm.sh (LANNER=$LANNER FDS=$FDS CHILDREN=$CHILDREN)"

: > "$dir/empty.yaml"
"$LANNER" run -c "$dir/empty.yaml" -o webserver.enabled=false > /dev/null 2> "$dir/lanner.log" &
lanner_pid=$!
pids+=("$lanner_pid")
for _ in $(seq 1 600); do grep -q capturing "$dir/lanner.log" && break; sleep 0.1; done
grep -q capturing "$dir/lanner.log" || { cat "$dir/lanner.log"; exit 1; }
sleep 2
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$lanner_pid/status"; }
idle=$(rss)

# The peak, sampled until told to stop.
( peak=0; while [ ! -e "$dir/stop" ]; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" > "$dir/peak"; sleep 0.05; done ) &
pids+=($!)
mkdir "$dir/storm"
python3 host/lanner/tests/attacks/fd_storm.py "$dir/storm" "$FDS" "$CHILDREN" bench-marker > "$dir/storm.out" &
storm=$!
pids+=("$storm")
for _ in $(seq 1 600); do grep -q ready "$dir/storm.out" && break; sleep 0.1; done
sleep 3
touch "$dir/storm/go"
wait "$storm"
sleep 3
touch "$dir/stop"
sleep 0.2
peak=$(cat "$dir/peak")
grep -h "state tables full" "$dir/lanner.log" | sed 's/^.*WARN/WARN/' || true
awk -v i="$idle" -v p="$peak" 'BEGIN { printf "idle RSS: %.1f MiB\npeak RSS: %.1f MiB\ngrowth: %.1f MiB (bound: 64 MiB)\n", i / 1024, p / 1024, (p - i) / 1024 }'
