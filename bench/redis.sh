#!/usr/bin/env bash
# The macro benchmark Falco's developers use: redis-benchmark PING_INLINE requests/s on
# loopback, without Lanner and with `lanner run` and the upstream stable rules, in one run.
# Prints both figures and the fraction lost. Needs root (live capture).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-500000}
PORT=${PORT:-6399}
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cargo build --release -q -p lanner
echo "command: bench/redis.sh (redis-benchmark -p $PORT -t ping_inline -n $REQUESTS -P 1 -c 50; lanner run -r $RULES)"

redis-server --port "$PORT" --save '' --appendonly no --daemonize yes --logfile /dev/null
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; [ -n "${LANNER:-}" ] && kill "$LANNER" 2>/dev/null || true' EXIT
sleep 0.5

bench() {
  # Median of three runs, requests per second.
  for _ in 1 2 3; do
    redis-benchmark -p "$PORT" -t ping_inline -n "$REQUESTS" -c 50 -q 2>/dev/null |
      tr '\r' '\n' | awk '/PING_INLINE/ && /requests per second/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit } }'
  done | sort -n | sed -n 2p
}

without=$(bench)
log=$(mktemp)
./target/release/lanner run -r "$RULES" -o webserver.enabled=false > /dev/null 2> "$log" &
LANNER=$!
for _ in $(seq 1 100); do grep -q capturing "$log" && break; sleep 0.1; done
grep -q capturing "$log" || { cat "$log"; echo "lanner did not start" >&2; exit 1; }
with=$(bench)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$LANNER/status")
kill -TERM "$LANNER"; wait "$LANNER" || true
LANNER=
cat "$log" | grep -v capturing || true
awk -v a="$without" -v b="$with" -v r="$rss" 'BEGIN {
  printf "without lanner: %.0f requests/s\nwith lanner run (upstream stable rules): %.0f requests/s\nlost: %.1f%% (target: at most 15%%)\nlanner resident memory during the run: %.1f MiB\n", a, b, (a - b) / a * 100, r / 1024 }'
