#!/usr/bin/env bash
# Replaying a live capture through decoding, state and the upstream stable rules on one
# core. Records a raw capture (`lanner capture --raw`, the syscalls the upstream rules need)
# of a real workload on this machine, then replays it pinned to CPU 0 with the upstream
# rules, and, as the baseline in the same run, with a rule that never matches (decoding and
# state only). Prints records per second (median of three replays) and the ratio. Needs root
# for the capture.
set -euo pipefail
cd "$(dirname "$0")/.."
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}
SECONDS_CAPTURED=${SECONDS_CAPTURED:-8}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cargo build --release -q -p lanner --bin lanner
lanner=${CARGO_TARGET_DIR:-target}/release/lanner
echo "command: bench/replay.sh (capture ${SECONDS_CAPTURED}s of a file/process/network workload with -r $RULES, replay on CPU 0)"

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

$lanner capture --raw -r "$RULES" -w "$dir/session.lnrcap" --duration "$((SECONDS_CAPTURED + 2))" 2> "$dir/capture.log" &
cap=$!
for _ in $(seq 1 100); do grep -q capturing "$dir/capture.log" && break; sleep 0.1; done
workload
wait "$cap" || echo "capture exited with $? (3: some records dropped while capturing)"
grep -h "stopped" "$dir/capture.log" || true
ls -l "$dir/session.lnrcap" | awk '{ printf "capture file: %.1f MiB\n", $5 / 1048576 }'

printf -- '- rule: Never\n  desc: baseline, decoding and state only\n  condition: evt.type = execve and proc.name = nothing-here\n  output: x\n  priority: DEBUG\n' > "$dir/never.yaml"
rate() {
  for _ in 1 2 3; do
    taskset -c 0 $lanner replay -r "$1" "$dir/session.lnrcap" 2>&1 > /dev/null |
      sed -n 's/.*replayed \([0-9]*\) records in .* (\([0-9]*\) records\/s).*/\1 \2/p'
  done | sort -k2 -n | sed -n 2p
}
full=$(rate "$RULES")
base=$(rate "$dir/never.yaml")
echo "$full $base" | awk '{ printf "records: %d\nupstream stable rules: %.0f records/s (median of 3; target 1,000,000)\nbaseline, decoding and state only: %.0f records/s\nratio: %.2f of the baseline\n", $1, $2, $4, $2 / $4 }'
