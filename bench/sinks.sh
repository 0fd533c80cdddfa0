#!/usr/bin/env bash
# Sink plugin throughput: alerts per second through the file sink plugin (plugins/file, built
# for wasm32-wasip2) behind the lanner-outputs pipeline, JSON and text lines, with and without
# keep_alive (target: 100,000 alerts/s). ALERTS alerts per case (default 500,000).
set -euo pipefail
cd "$(dirname "$0")/.."
export ALERTS=${ALERTS:-500000}
echo "command: bench/sinks.sh (ALERTS=$ALERTS; cargo test --release -p lanner-plugin-runtime --test sinks bench_file_sink_throughput -- --ignored --nocapture)"
cargo test --release -q -p lanner-plugin-runtime --test sinks bench_file_sink_throughput -- --ignored --nocapture 2>&1 \
  | grep '^file sink'
