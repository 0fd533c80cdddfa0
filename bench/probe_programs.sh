#!/usr/bin/env bash
# Where an unwatched syscall's time goes, program by program: the getpid and open/close loops
# of host/capture/examples/syscall_loop.rs with no probe, with an empty program on the raw
# syscall tracepoints (the floor), and with the probe filtering the loops' syscalls out in
# each attach mode. STATS=1 turns on kernel.bpf_stats_enabled for each run and prints every
# loaded program's runs and mean time per run. ROUNDS rounds (3), N getpid calls (4M).
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000000}
ROUNDS=${ROUNDS:-3}
cargo build --release -q -p lanner-capture --example syscall_loop
loop=./target/release/examples/syscall_loop
echo "command: bench/probe_programs.sh (N=$N, $ROUNDS rounds)"
for r in $(seq 1 "$ROUNDS"); do
  for m in none empty raw per_syscall per_syscall_no_compat; do
    case $m in
      none | empty) out=$(STATS=1 "$loop" "$N" "$m") ;;
      *) out=$(STATS=1 "$loop" "$N" filtered "$m" 2>/dev/null) ;;
    esac
    echo "round $r $m: $(echo "$out" | grep -E 'getpid|open_close|program' | tr '\n' ' ')"
  done
done
