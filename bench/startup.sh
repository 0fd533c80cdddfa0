#!/usr/bin/env bash
# Start-up time (spawn to first alert) and idle resident memory of `lanner run` with the
# default rules, the shipped extractor plugins (json, k8saudit) in its plugins folder and the
# file sink plugin as file_output (bench/startup.py). Targets: at most 300 ms from start to
# first event with cached plugins; at most 64 MiB resident when idle. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${IDLE:-10}
cargo build --release -q -p lanner --bin lanner
packaging/build-plugins.sh > /dev/null
echo "command: bench/startup.sh (IDLE=$IDLE)"
python3 bench/startup.py ${CARGO_TARGET_DIR:-target}/release/lanner "$PWD/target/lanner-plugins/sinks" \
  "$PWD/target/lanner-plugins/plugins" "$IDLE"
