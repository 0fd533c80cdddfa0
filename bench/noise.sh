#!/usr/bin/env bash
# Noise of Lanner's default rules during a real workload: `lanner run` (the embedded default
# rules, every match reported: -o rule_matching=all) while this project is built from scratch
# (`cargo build --workspace --all-targets` in a separate, empty target directory) and its test
# suite is run. Prints the number of alerts at WARNING or above, and which rules raised them,
# then the quieter ones. Needs root (live capture).
#
# The live-capture test targets (`live`, `default_rules`) perform attacks on purpose (they read
# /etc/shadow, start reverse shells, load BPF ...): they are built but not run, unless
# NOISE_LIVE=1. Everything else runs: unit, integration and doc tests.
#
# Environment: NOISE_TARGET_DIR (the workload's target directory, emptied first; default
# target/noise), NOISE_SRC (the source tree to build and test, default this checkout; e.g. an
# export of a commit: `git archive HEAD | tar -x -C DIR`), NOISE_LIVE=1 (also run the live
# tests), NOISE_KEEP=1 (keep the alert file).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work_target=${NOISE_TARGET_DIR:-$root/target/noise}
live=${NOISE_LIVE:-0}
src=${NOISE_SRC:-$root}
python=/usr/bin/python3

cargo build --release -q -p lanner --bin lanner
lanner=${CARGO_TARGET_DIR:-$root/target}/release/lanner
out=$(mktemp -d)
echo "command: bench/noise.sh (workload: $src, target dir $work_target, live tests run: $live)"

# The default rules, unchanged but for one field added to every output: the ancestors' pids,
# which tell the workload's alerts from those of whatever else runs on the machine.
"$lanner" list-rules --json -r rules/lanner_rules.yaml > "$out/rules.json"
"$python" - "$out/rules.json" > "$out/ancestors.yaml" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["rules"]:
    name = json.dumps(r["info"]["name"])
    print("- rule: " + name + '\n  output: "ancestors=%proc.apid"\n  override:\n    output: append')
PY

rm -rf "$work_target"
"$lanner" run -r rules/lanner_rules.yaml -r "$out/ancestors.yaml" -o json_output=true -o rule_matching=all -o webserver.enabled=false \
  > "$out/alerts.jsonl" 2> "$out/lanner.log" &
lanner_pid=$!
for _ in $(seq 1 600); do grep -qs capturing "$out/lanner.log" && break; sleep 0.1; done
grep -q capturing "$out/lanner.log" || { cat "$out/lanner.log"; echo "lanner run did not start" >&2; exit 1; }

start=$(date +%s)
workload_status=0
(
  export CARGO_TARGET_DIR=$work_target
  cd "$src"
  cargo build --workspace --all-targets
  cargo test --workspace --no-run --message-format=json > "$out/tests.json"
  # Every test executable, run from its package's directory as cargo test does.
  "$python" - "$out/tests.json" "$live" > "$out/tests.list" <<'PY'
import json, os, sys
live = sys.argv[2] == "1"
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("executable") or not m["profile"]["test"]:
        continue
    if not live and m["target"]["name"] in ("live", "default_rules"):
        continue
    print(os.path.dirname(m["manifest_path"]), m["executable"])
PY
  failed=0
  while read -r dir exe; do
    echo "== $exe"
    (cd "$dir" && "$exe" -q) || failed=1
  done < "$out/tests.list"
  cargo test --workspace --doc || failed=1
  exit $failed
) > "$out/workload.log" 2>&1 &
workload_pid=$!
wait "$workload_pid" || workload_status=$?
end=$(date +%s)

kill -TERM "$lanner_pid"
lanner_status=0
wait "$lanner_pid" || lanner_status=$?

echo "workload: $((end - start)) s, exit status $workload_status ($(grep -c '^== ' "$out/workload.log" || true) test executables run; log $out/workload.log)"
echo "lanner run: exit status $lanner_status (3: records were dropped)"
grep -iE 'drop|lost' "$out/lanner.log" | tail -3 || true
"$python" - "$out/alerts.jsonl" "$workload_pid" <<'PY'
import collections, json, sys
severe = {"Emergency", "Alert", "Critical", "Error", "Warning"}
workload = int(sys.argv[2])
loud, quiet, other, internal = (collections.Counter() for _ in range(4))
examples = {}
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("source") == "internal":
        internal[a["rule"]] += 1
        continue
    f = a["output_fields"]
    key = (a["priority"], a["rule"])
    examples.setdefault(key, " ".join(a["output"].split()))
    if workload not in (f.get("proc.apid") or []) and f.get("proc.pid") != workload:
        other[key] += 1
    else:
        (loud if a["priority"] in severe else quiet)[key] += 1
def show(title, counts):
    print(f"{title}: {sum(counts.values())}")
    for (prio, rule), n in counts.most_common():
        print(f"  {n:6d}  {prio:9s} {rule}\n          e.g. {examples[(prio, rule)][:400]}")
show("workload alerts at WARNING or above", loud)
show("workload alerts below WARNING", quiet)
show("alerts from processes outside the workload (other users of the machine), not counted", other)
for rule, n in internal.items():
    print(f"internal: {n} x {rule}")
PY
if [ "${NOISE_KEEP:-0}" = 1 ]; then echo "alerts kept in $out/alerts.jsonl"; else rm -f "$out/alerts.jsonl"; fi
