#!/usr/bin/env bash
# Source plugin throughput and latency through `lanner run` (bench/sources.py): the shipped
# k8saudit source with the json extractor and the Kubernetes audit rules, fed
#   - by its webhook (open_params http://127.0.0.1:PORT/k8s-audit): EventList posts;
#   - by a followed audit log (open_params follow:PATH): lines appended to the file;
# printing events/s through the rules, lanner's CPU time per event, and the time from a post
# or an appended line to its alert on stdout. Needs root (lanner run captures syscalls too).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-200000}
cargo build --release -q -p lanner --bin lanner
packaging/build-plugins.sh > /dev/null
echo "command: bench/sources.sh (EVENTS=$EVENTS)"
python3 bench/sources.py ./target/release/lanner "$PWD/target/lanner-plugins/plugins" "$EVENTS"
