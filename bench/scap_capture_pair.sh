#!/usr/bin/env bash
# The pair of captures bench/scap_replay.sh compares: one workload captured by two
# `lanner capture` runs side by side, to a .scap file and to a raw file (the syscalls the
# upstream rules need), then handed to bench/scap_replay.sh, which replays each on CPU 0
# (median of three, rules and baseline). Prints what each capture read and left out, and
# each file's size. Needs root for the capture.
set -euo pipefail
cd "$(dirname "$0")/.."
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}
SECONDS_CAPTURED=${SECONDS_CAPTURED:-8}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cargo build --release -q -p lanner --bin lanner
LANNER=${CARGO_TARGET_DIR:-target}/release/lanner
echo "command: bench/scap_capture_pair.sh (capture ${SECONDS_CAPTURED}s of a file/process/network workload with -r $RULES to .scap and raw side by side)"

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
$LANNER capture --format scap -r "$RULES" -w "$dir/session.scap" --duration "$((SECONDS_CAPTURED + 3))" 2> "$dir/session.scap.log" &
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

RULES=$RULES bench/scap_replay.sh "$dir/session.scap" "$dir/session.lnrcap"
