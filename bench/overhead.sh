#!/usr/bin/env bash
# Per-syscall cost of the probe, all measured in this run: a getpid loop and an open/close
# loop of /dev/null (host/capture/examples/syscall_loop.rs, pinned to CPU 1) timed
#   - without any probe;
#   - with an empty program on sys_enter and sys_exit (the floor the tracepoints set);
#   - with the probe loaded but the loops' syscalls filtered out in the kernel;
#   - with the probe delivering open and close to a reader on CPU 0 (decode only);
#   - under `lanner run` with the upstream stable rules (full capture, state and rules).
# The five are run in turn, ROUNDS times (3 by default), and each figure is the median of its
# rounds, so that a disturbance during one run does not decide a ratio.
# Prints ns per iteration, ratios, records read and drops. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000000}
ROUNDS=${ROUNDS:-3}
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}

cargo build --release -q -p lanner --bin lanner
cargo build --release -q -p lanner-capture --example syscall_loop
loop=./target/release/examples/syscall_loop
echo "command: bench/overhead.sh (N=$N: $N getpid calls, $((N / 4)) open/close pairs; median of $ROUNDS rounds; rules $RULES)"

with_lanner() {
  local log; log=$(mktemp)
  taskset -c 0 ./target/release/lanner run -r "$RULES" -o webserver.enabled=false > /dev/null 2> "$log" &
  local pid=$!
  for _ in $(seq 1 100); do grep -q capturing "$log" && break; sleep 0.1; done
  "$loop" "$N" none
  kill -TERM "$pid"; wait "$pid" || echo "lanner exited with $? (3: drops)" >&2
  rm -f "$log"
}

runs=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
  for mode in none empty filtered captured; do
    "$loop" "$N" "$mode" | sed "s/^/$mode /" >> "$runs"
  done
  with_lanner | sed "s/^/full /" >> "$runs"
done
# The median of a mode's rounds, as "key value" lines.
median_of() {
  awk -v m="$1" '$1 == m { print $2, $3 }' "$runs" | sort -k1,1 -k2,2n |
    awk '{ v[$1] = v[$1] " " $2; n[$1]++ } END { for (k in v) { split(substr(v[k], 2), a, " "); print k, a[int((n[k] + 1) / 2)] } }'
}
none=$(median_of none); empty=$(median_of empty); filtered=$(median_of filtered)
captured=$(median_of captured); full=$(median_of full)
rm -f "$runs"

val() { echo "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
printf '%-13s %10s %20s %20s %20s %22s\n' loop "no probe" "empty program" "probe, filtered out" "probe, captured" "lanner run + rules"
for k in getpid_ns open_close_ns; do
  awk -v k="$k" -v a="$(val "$none" $k)" -v b="$(val "$empty" $k)" -v c="$(val "$filtered" $k)" \
      -v d="$(val "$captured" $k)" -v e="$(val "$full" $k)" 'BEGIN {
    printf "%-13s %7.1f ns %9.1f ns (%.2fx) %9.1f ns (%.2fx) %9.1f ns (%.2fx) %11.1f ns (%.2fx)\n",
      k, a, b, b / a, c, c / a, d, d / a, e, e / a }'
done
awk -v b="$(val "$empty" getpid_ns)" -v c="$(val "$filtered" getpid_ns)" -v a="$(val "$none" getpid_ns)" 'BEGIN {
  printf "filtered-out getpid over the empty-program floor: %.2fx (target at most 1.10x); probe cost above the floor %.1f ns per syscall\n", c / b, (c - b) }'
awk -v a="$(val "$none" open_close_ns)" -v d="$(val "$captured" open_close_ns)" -v e="$(val "$full" open_close_ns)" 'BEGIN {
  printf "captured open/close: %.2fx no probe (decode only), %.2fx under lanner run (target at most 1.6x)\n", d / a, e / a }'
echo "captured mode: $(val "$captured" records) records read, $(val "$captured" drops) dropped"
