#!/usr/bin/env bash
# The nats sink (plugins/nats) against a JetStream cluster of three nats-servers on loopback
# (Debian's nats-server, scripts/setup.sh), stream `lanner` of three replicas:
# - alerts per second from `lanner run --events` (ALERTS alerts, default 50,000) into the
#   stream, beside the file sink and the webhook sink to a local receiver, each as the time
#   of the run less that of a run without events;
# - time from an openat to its alert delivered by the stream to a push consumer, p50 and p99,
#   live capture at RATE alerts per second (default 1,000) for SECONDS_RUN (10). Needs root.
# Release build (cargo test --release): the first run compiles Lanner in release.
set -euo pipefail
cd "$(dirname "$0")/.."
export ALERTS=${ALERTS:-50000} RATE=${RATE:-1000} SECONDS_RUN=${SECONDS_RUN:-10}
echo "command: bench/nats.sh (ALERTS=$ALERTS RATE=$RATE SECONDS_RUN=$SECONDS_RUN; cargo test --release -p lanner --test nats bench_ -- --ignored --nocapture --test-threads 1)"
cargo test --release -q -p lanner --test nats bench_ -- --ignored --nocapture --test-threads 1 2>&1 \
  | grep -oE '(nats \(JetStream|file:|webhook:|syscall to stream).*'
