#!/usr/bin/env bash
# Per-syscall cost of the probe: a getpid loop and an open/close loop timed without capture,
# with capture running but those syscalls filtered out in the kernel (only execve delivered),
# and with full capture of open/close evaluated against the upstream stable rules. Prints
# ns per iteration and ratios to the run without capture, all measured in this run.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000000}
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}

cargo build --release -q -p lanner -p lanner-capture --example syscall_loop
loop=./target/release/examples/syscall_loop
echo "command: bench/overhead.sh (syscall_loop $N, lanner run -r RULES)"

measure() { taskset -c 1 "$loop" "$N"; }
with_lanner() {
  local rules=$1 log; log=$(mktemp)
  taskset -c 0 ./target/release/lanner run -r "$rules" > /dev/null 2> "$log" &
  local pid=$!
  for _ in $(seq 1 100); do grep -q capturing "$log" && break; sleep 0.1; done
  measure
  kill -TERM "$pid"; wait "$pid" || true
}

exec_only=$(mktemp --suffix=.yaml)
printf -- '- rule: Exec\n  desc: only execve reaches user space\n  condition: evt.type = execve and proc.name = nothing-here\n  output: x\n  priority: DEBUG\n' > "$exec_only"

base=$(measure)
filtered=$(with_lanner "$exec_only")
full=$(with_lanner "$RULES")
rm -f "$exec_only"

val() { echo "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
for k in getpid_ns open_close_ns; do
  b=$(val "$base" $k); f=$(val "$filtered" $k); u=$(val "$full" $k)
  awk -v k="$k" -v b="$b" -v f="$f" -v u="$u" 'BEGIN {
    printf "%-14s no probe %7.1f ns   filtered out %7.1f ns (%.2fx)   full capture + rules %7.1f ns (%.2fx)\n", k, b, f, f/b, u, u/b }'
done
