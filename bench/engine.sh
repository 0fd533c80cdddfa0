#!/usr/bin/env bash
# Rule engine throughput: the upstream Falco stable rules (every rule enabled, every match
# reported) over a realistic mix of syscall events, pinned to one core. Prints events per
# second for the indexed engine and for the baseline that evaluates every rule on every
# event, measured in the same run, and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="taskset -c 0 cargo bench -p lanner-engine --bench ruleset"
echo "command: $cmd"
out=$($cmd 2>&1)
echo "$out" | grep -E '^(hot|cold):' || true

# Criterion prints the benchmark's id, then `time:` and `thrpt: [low median high]`.
median() {
  echo "$out" | awk -v id="$1" '
    $0 ~ "^" id "$" || $1 == id { found = 1 }
    found && /thrpt:/ { v = $(NF-3); u = $(NF-2); found = 0
      m = (u ~ /^M/) ? 1e6 : (u ~ /^K/) ? 1e3 : 1; printf "%.0f\n", v * m; exit }'
}

for set in hot cold; do
  idx=$(median "upstream_stable_rules_${set}/indexed")
  base=$(median "upstream_stable_rules_${set}/baseline_every_rule")
  if [ -z "$idx" ] || [ -z "$base" ]; then
    echo "$out" | tail -20
    echo "could not read the $set figures (is ../shared/conformance present?)" >&2
    exit 1
  fi
  awk -v s="$set" -v i="$idx" -v b="$base" 'BEGIN {
    printf "%-4s indexed: %.2f M events/s   baseline (every rule): %.2f M events/s   ratio: %.2fx\n", s, i/1e6, b/1e6, i/b }'
done
