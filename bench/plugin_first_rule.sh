#!/bin/sh
# Time from `lanner plugin new` to a firing rule, as a plugin author follows the generated
# README: scaffold, ./build.sh, copy NAME.wasm and NAME.yaml into a plugins folder, and
# `lanner replay` of the project's rules and events until the rule fires.
#
#   bench/plugin_first_rule.sh            # with target/release/lanner, else target/debug/lanner
#   LANNER=/usr/bin/lanner bench/plugin_first_rule.sh
#
# Rust, cold: an empty CARGO_HOME and target folder: the SDK's dependencies are downloaded
#   from crates.io and compiled, as on a machine that never built a plugin.
# Rust, fresh target: the crates already in ~/.cargo (as after any build of Lanner's
#   plugins), a fresh target folder: the SDK and its dependencies compile.
# Rust, warm: a second project into the same target folder: the dependencies are reused.
# Python: componentize-py (scripts/setup.sh installs it).
# Each run starts with an empty plugin cache, so Lanner's first compile of the component is
# counted too. Prints one line per case, in seconds.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${LANNER:-}" ]; then
  LANNER="$root/target/release/lanner"
  [ -x "$LANNER" ] || LANNER="$root/target/debug/lanner"
fi
[ -x "$LANNER" ] || { echo "no lanner binary: cargo build --release -p lanner, or set LANNER" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }

# first_rule NAME LANG: seconds from `plugin new` to the rule's alert, then the build's and
# the replay's (with Lanner's first compile of the component) parts.
first_rule() {
  name=$1 lang=$2
  start=$(now)
  "$LANNER" plugin new "$name" --kind extractor --lang "$lang" --dir "$work/$name" >/dev/null
  (cd "$work/$name" && ./build.sh >/dev/null 2>"$work/$name.build.log") ||
    { cat "$work/$name.build.log" >&2; exit 1; }
  built=$(now)
  mkdir -p "$work/$name/plugins"
  cp "$work/$name/$name.wasm" "$work/$name/$name.yaml" "$work/$name/plugins/"
  out=$(cd "$work/$name" && LANNER_PLUGIN_CACHE="$work/cache-$name" \
    "$LANNER" replay --plugins-dir plugins -r rules.yaml events.json)
  end=$(now)
  case $out in
    *"tar started with 5 arguments"*) ;;
    *) echo "the rule did not fire for $name: $out" >&2; exit 1 ;;
  esac
  echo "$start $built $end" | awk '{printf "%.1f s (build %.1f s, replay %.1f s)", $3 - $1, $2 - $1, $3 - $2}'
}

echo "lanner: $LANNER ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "rust extractor, cold (empty CARGO_HOME and target): $(CARGO_HOME="$work/cargo-home" \
  CARGO_TARGET_DIR="$work/target-cold" first_rule firstrule_cold rust)"
export CARGO_TARGET_DIR="$work/target"
echo "rust extractor, crates cached, fresh target:        $(first_rule firstrule_fresh rust)"
echo "rust extractor, warm target:                        $(first_rule firstrule_warm rust)"
echo "python extractor:                                   $(first_rule firstrule_py python)"
