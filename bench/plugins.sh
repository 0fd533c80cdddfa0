#!/usr/bin/env bash
# Plugin cost: a trivial 4-field extractor's and the json extractor's cost per event in
# batches (4 fields), json against the same extraction done natively, and the cold load time
# of a cached plugin. Builds the plugin for
# wasm32-wasip2 and the benchmark in release. Figures go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "command: bench/plugins.sh (cargo bench -p lanner-plugin-runtime --bench extract)"
exec cargo bench -p lanner-plugin-runtime --bench extract
