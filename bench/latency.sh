#!/usr/bin/env bash
# End-to-end alert latency: from a syscall to the alert line `lanner run --json` prints on
# stdout (host/lanner/examples/alert_latency.rs). RATE openat calls per second for SECONDS,
# every ALERT_EVERY-th of them matched by a probe rule, with Lanner's default rules loaded
# beside it. Target: p99 at most 5 ms at 10,000 events/s. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-10000}
SECONDS_RUN=${SECONDS_RUN:-10}
RULES=${RULES:-rules/lanner_rules.yaml}
cargo build --release -q -p lanner --bin lanner --example alert_latency
for every in ${ALERT_EVERY:-1 10}; do
  echo "command: bench/latency.sh (RATE=$RATE SECONDS_RUN=$SECONDS_RUN ALERT_EVERY=$every RULES=$RULES)"
  ./target/release/examples/alert_latency ./target/release/lanner "$RATE" "$SECONDS_RUN" "$every" $RULES
done
