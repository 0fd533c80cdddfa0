#!/usr/bin/env bash
# The highest syscall event rate that `lanner run` (upstream stable rules, full capture,
# state and rules) sustains with zero ring-buffer drops on this machine. A generator
# (host/capture/examples/syscall_storm.rs, paced, THREADS threads; KIND=close by default:
# close of a descriptor that is not open, the cheapest captured syscall, so that on 2 cores
# the generator is not the limit; KIND=openclose for open/close of /dev/null) runs at rising
# rates for SECONDS each, with a fresh `lanner run` per step; a step passes when lanner
# reports no drop. Prints each step and the highest passing rate, and lanner's resident
# memory at that step. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}
SECONDS_PER_STEP=${SECONDS_PER_STEP:-3}
RATES=${RATES:-"100000 200000 300000 400000 500000 600000 700000 800000 1000000"}
THREADS=${THREADS:-2}
KIND=${KIND:-close}
# engine.ebpf.attach for lanner (issue 17: raw, per_syscall, per_syscall_no_compat, auto).
ATTACH=${ATTACH:-auto}

cargo build --release -q -p lanner --bin lanner
cargo build --release -q -p lanner-capture --example syscall_storm
storm=./target/release/examples/syscall_storm
echo "command: bench/max_rate.sh (rates $RATES events/s, $SECONDS_PER_STEP s each, $THREADS generator threads of $KIND; attach $ATTACH; lanner run -r $RULES)"
printf '%12s %14s %10s %12s %10s\n' "asked ev/s" "reached ev/s" "drops" "lanner read" "RSS MiB"

best=0; best_rss=0
for rate in $RATES; do
  log=$(mktemp)
  ./target/release/lanner run -r "$RULES" -o webserver.enabled=false -o "engine.ebpf.attach=$ATTACH" > /dev/null 2> "$log" &
  pid=$!
  for _ in $(seq 1 100); do grep -q capturing "$log" && break; sleep 0.1; done
  out=$("$storm" "$rate" "$SECONDS_PER_STEP" "$THREADS" "$KIND")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  reached=$(echo "$out" | awk '$1 == "events_per_s" {print $2}')
  drops=$(sed -n 's/.* \([0-9]*\) records dropped$/\1/p' "$log" | tail -1)
  read=$(sed -n 's/.*: \([0-9]*\) records read.*/\1/p' "$log" | tail -1)
  rm -f "$log"
  printf '%12s %14s %10s %12s %10.1f\n' "$rate" "$reached" "${drops:-?}" "${read:-?}" "$(echo "$rss / 1024" | bc -l)"
  if [ "${drops:-1}" = 0 ]; then
    best=$reached; best_rss=$rss
  else
    break
  fi
  # The generator could not reach the asked rate: the machine, not lanner, is the limit.
  if awk -v r="$reached" -v a="$rate" 'BEGIN { exit !(r < 0.95 * a) }'; then break; fi
done
awk -v b="$best" -v r="$best_rss" 'BEGIN {
  printf "highest rate with zero drops: %.0f events/s (target: 500,000); lanner resident memory there: %.1f MiB\n", b, r / 1024 }'
