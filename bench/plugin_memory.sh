#!/usr/bin/env bash
# What hostile plugins make the host hold: runs host/plugin-runtime/tests/memory.rs (the
# hostile test plugin with 100 memories, with three 40 MiB memories, and answering 4 Mi views
# of one 32 MiB string) and prints the figures those tests measure: bytes of linear memory and
# tables counted for an instance, and the test process's VmRSS before and after the refused
# answer, with its peak (VmHWM). Figures go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "command: bench/plugin_memory.sh (cargo test -p lanner-plugin-runtime --test memory -- --nocapture --test-threads 1)"
cargo test -q -p lanner-plugin-runtime --test memory -- --nocapture --test-threads 1 2>&1 \
  | grep -aoE '(views:|plugin with|test result).*'
