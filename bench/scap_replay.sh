#!/usr/bin/env bash
# Replay speed of .scap captures against Lanner's raw format, through the same decoding,
# state and rules, pinned to CPU 0, median of three replays each.
#
#   bench/scap_replay.sh SESSION.scap SESSION.lnrcap   the same events in both formats (as
#                                                      `lanner capture` writes them from one
#                                                      capture): both rates and their ratio
#   bench/scap_replay.sh                               no pair at hand: libs' curl_google.scap
#                                                      (from the falcosecurity mirror), its
#                                                      events repeated to ~1M, .scap rate only
#
# REPEAT: how many times the events are repeated (default 700).
# RULES: the rules replayed (default the upstream stable rules); a rule that never matches
# gives the baseline (reading, mapping, state).
set -euo pipefail
cd "$(dirname "$0")/.."
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}
LIBS_GIT=${LIBS_GIT:-/work/.mirror/falcosecurity+libs/repo}
REPEAT=${REPEAT:-700}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# LANNER_BIN: a binary already built (a debug one gives relative figures only).
if [ -n "${LANNER_BIN:-}" ]; then
  lanner=$LANNER_BIN
else
  cargo build --release -q -p lanner --bin lanner
  lanner=${CARGO_TARGET_DIR:-target}/release/lanner
fi

if [ $# -ge 1 ]; then
  scap=$1
  raw=${2:-}
else
  [ -d "$LIBS_GIT" ] || { echo "no capture given and no $LIBS_GIT to take one from" >&2; exit 1; }
  git --git-dir="$LIBS_GIT" show HEAD:test/libsinsp_e2e/resources/captures/curl_google.scap |
    gzip -dc >"$dir/one.scap"
  # The tables once, then the event blocks REPEAT times: a larger file of real events.
  python3 - "$dir/one.scap" "$dir/big.scap" "$REPEAT" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
head, events, off = bytearray(), bytearray(), 0
while off + 8 <= len(data):
    t, n = struct.unpack_from("<II", data, off)
    blk = data[off:off + n]
    (events if t in (0x204, 0x216, 0x208, 0x217, 0x221, 0x222) else head).extend(blk)
    off += n
with open(sys.argv[2], "wb") as f:
    f.write(head)
    for _ in range(int(sys.argv[3])):
        f.write(events)
PY
  scap=$dir/big.scap
  raw=
fi
echo "command: bench/scap_replay.sh $* (rules $RULES, CPU 0)"
ls -l "$scap" | awk '{ printf "scap file: %.1f MiB\n", $5 / 1048576 }'
[ -z "$raw" ] || ls -l "$raw" | awk '{ printf "raw file: %.1f MiB\n", $5 / 1048576 }'

printf -- '- rule: Never\n  desc: baseline\n  condition: evt.type = execve and proc.name = nothing-here\n  output: x\n  priority: DEBUG\n' >"$dir/never.yaml"
# "records seconds" of one replay: the records that reached state and rules, and the time.
one() {
  taskset -c 0 $lanner replay -r "$1" "$2" 2>&1 >/dev/null |
    sed -n -e 's/.*replayed [0-9]* scap events (\([0-9]*\) records.* in \([0-9.]*\) s .*/\1 \2/p' \
      -e 's/.*replayed \([0-9]*\) records in \([0-9.]*\) s .*/\1 \2/p'
}
rate() {
  for _ in 1 2 3; do one "$1" "$2"; done | awk '{ printf "%d %.0f\n", $1, $1 / $2 }' | sort -k2 -n | sed -n 2p
}
report() {
  local name=$1 file=$2 full base
  full=$(rate "$RULES" "$file")
  base=$(rate "$dir/never.yaml" "$file")
  echo "$name $full $base" | awk '{ printf "%s: %d records; rules %.0f records/s, baseline %.0f records/s (median of 3)\n", $1, $2, $3, $5 }'
  echo "$full" | awk '{ print $2 }' >"$dir/$name.rate"
}
report scap "$scap"
if [ -n "$raw" ]; then
  report raw "$raw"
  paste "$dir/scap.rate" "$dir/raw.rate" | awk '{ printf "scap / raw, with the rules: %.2f\n", $1 / $2 }'
fi
