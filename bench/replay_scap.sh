#!/usr/bin/env bash
# Replay speed from a .scap capture against Lanner's raw capture format, on the same events:
# one workload captured by two `lanner capture` runs side by side (`--raw` and `.scap`, the
# syscalls the upstream rules need), each file replayed three times pinned to CPU 0 with the
# upstream rules. Prints the records each file holds and records per second (median of
# three) for each. Needs root for the capture. LANNER=path picks the binary (default: the
# release build, built here).
set -euo pipefail
cd "$(dirname "$0")/.."
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}
SECONDS_CAPTURED=${SECONDS_CAPTURED:-8}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

if [ -z "${LANNER:-}" ]; then
  cargo build --release -q -p lanner --bin lanner
  LANNER=${CARGO_TARGET_DIR:-target}/release/lanner
fi
echo "command: bench/replay_scap.sh (capture ${SECONDS_CAPTURED}s of a file/process/network workload with -r $RULES to raw and .scap at once, replay each on CPU 0; binary $LANNER)"

# The workload: file walks and reads, short-lived processes, sockets.
workload() {
  local end=$((SECONDS + SECONDS_CAPTURED))
  while [ $SECONDS -lt $end ]; do
    find /usr/lib /etc -maxdepth 4 -type f 2>/dev/null | head -20000 | xargs -r cat > /dev/null 2>&1 || true
    for _ in $(seq 1 20); do sh -c 'cat /etc/hostname /etc/passwd > /dev/null; ls /proc/self/fd > /dev/null'; done
    python3 - <<'PY' 2>/dev/null || true
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
for _ in range(200):
    c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.close(); a.close()
PY
  done
}

wait_capturing() {
  for _ in $(seq 1 100); do grep -q capturing "$1" && break; sleep 0.1; done
}
# The .scap capture starts first: it reads /proc for its tables once the first records
# come, and the raw capture, started after that, does not see those reads.
$LANNER capture --format scap -r "$RULES" -w "$dir/session.scap" --duration "$((SECONDS_CAPTURED + 4))" 2> "$dir/session.scap.log" &
wait_capturing "$dir/session.scap.log"
sleep 1
$LANNER capture --format raw -r "$RULES" -w "$dir/session.lnrcap" --duration "$((SECONDS_CAPTURED + 2))" 2> "$dir/session.lnrcap.log" &
wait_capturing "$dir/session.lnrcap.log"
workload
wait || echo "a capture exited non-zero (3: some records dropped while capturing)"
for f in session.lnrcap session.scap; do
  echo "$f: $(grep -h stopped "$dir/$f.log" | sed 's/.*stopped/stopped/')"
  grep -h "no scap event type" "$dir/$f.log" | sed 's/.*WARN[^:]*: /  /' || true
  ls -l "$dir/$f" | awk '{ printf "  file: %.1f MiB\n", $5 / 1048576 }'
done

# The replay's own summary line: "replayed N records in T s (R records/s)" for raw,
# "replayed E scap events (N records, P processes ...) in T s (R events/s)" for .scap.
rate() {
  for _ in 1 2 3; do
    taskset -c 0 $LANNER replay -r "$RULES" "$1" 2>&1 > /dev/null | { grep -h "replayed" || true; } |
      sed -n -e 's/.*replayed \([0-9]*\) records in \([0-9.]*\) s.*/\1 \2/p' \
        -e 's/.*replayed [0-9]* scap events (\([0-9]*\) records.* in \([0-9.]*\) s.*/\1 \2/p'
  done | awk '{ printf "%d %.0f\n", $1, $1 / $2 }' | sort -k2 -n | sed -n 2p
}
raw=$(rate "$dir/session.lnrcap")
scap=$(rate "$dir/session.scap")
echo "$raw $scap" | awk '{ printf "raw: %d records, %.0f records/s (median of 3)\nscap: %d records, %.0f records/s (median of 3)\nscap/raw: %.2f\n", $1, $2, $3, $4, $4 / $2 }'
