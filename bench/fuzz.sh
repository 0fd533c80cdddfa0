#!/usr/bin/env bash
# Fuzzes the condition parser, the rules loader, the decoders of plugin answers (packed
# values of packed-extractor 0.2.0, the values of a 0.1.0 extract) and the .scap capture
# reader with cargo-fuzz (libFuzzer,
# nightly), each for a bounded time, one after the other, and prints a summary per target: runs, executions
# per second, and whether it crashed: each distinct failure (panic location or libFuzzer error),
# with its smallest reproducer. Exits non-zero when a target crashed. Not run in CI.
#
#   bench/fuzz.sh [target...]        targets: condition rules_loader packed_values values_0_1_0
#                                    scap_reader (default: all)
#
# Environment:
#   FUZZ_SECONDS=60       fuzzing time per target (the build is not counted)
#   FUZZ_TIMEOUT=10       seconds one input may take before it counts as a hang
#   FUZZ_KEEP_CORPUS=1    keep growing fuzz/corpus/<target> from earlier runs instead of
#                         starting again from the seeds
#   FUZZ_CONTINUE=1       keep fuzzing after a crash, timeout or OOM (libFuzzer's fork mode),
#                         to find more than the first bug; FUZZ_JOBS=N parallel jobs (default 1)
#   FUZZ_ARGS="..."       more libFuzzer flags (e.g. -max_len=65536)
#
# Corpus: fuzz/corpus/<target>, seeded from fuzz/seeds/<target> plus the project's rules
# files (rules/*.yaml, tests/rules/*.yaml) and the conditions written in them; for scap_reader
# also Falco's and libs' test captures, decompressed, when the falcosecurity mirrors are on
# this machine (FALCO_GIT, LIBS_GIT). Crashes:
# fuzz/artifacts/<target>/ (reproduce with `cargo +nightly fuzz run --debug-assertions <target> <file>`).
# Logs: fuzz/artifacts/logs/<target>.log. All of fuzz/corpus and fuzz/artifacts is ignored by git.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(condition rules_loader packed_values values_0_1_0 scap_reader)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "cargo-fuzz needs a nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi

echo "building fuzz targets: ${targets[*]}"
for t in "${targets[@]}"; do
  cargo +nightly fuzz build --debug-assertions "$t"
done

# Rules files of the project, for seeds.
rules_files=()
for f in rules/*.yaml tests/rules/*.yaml; do
  [ -f "$f" ] && rules_files+=("$f")
done

seed() {
  local t=$1 dir=$2
  if [ "${FUZZ_KEEP_CORPUS:-0}" != 1 ]; then
    rm -rf "$dir"
  fi
  mkdir -p "$dir"
  cp "fuzz/seeds/$t/"* "$dir/"
  case "$t" in
    rules_loader)
      local f
      for f in "${rules_files[@]}"; do
        cp "$f" "$dir/project_$(echo "$f" | tr '/' '_')"
      done
      # Two files in one input (NUL-separated): definitions, then appends and overrides.
      if [ -f tests/rules/golden.yaml ] && [ -f tests/rules/append_override.yaml ]; then
        { cat tests/rules/golden.yaml; printf '\0'; cat tests/rules/append_override.yaml; } \
          >"$dir/project_golden_then_append_override"
      fi
      ;;
    scap_reader)
      # Real captures, decompressed (the reader takes the plain stream): Falco 0.34.1's trace
      # files and libs' test captures.
      local git rev tree name
      for spec in "${FALCO_GIT:-/work/.mirror/falcosecurity+falco/repo} 0.34.1 test/trace_files" \
        "${LIBS_GIT:-/work/.mirror/falcosecurity+libs/repo} HEAD test/libsinsp_e2e/resources/captures"; do
        read -r git rev tree <<<"$spec"
        [ -d "$git" ] || { echo "no $git: scap_reader starts from its seeds only"; continue; }
        while IFS= read -r name; do
          git --git-dir="$git" show "$rev:$name" | gzip -dc >"$dir/capture_$(basename "$name")" 2>/dev/null ||
            git --git-dir="$git" show "$rev:$name" >"$dir/capture_$(basename "$name")"
        done < <(git --git-dir="$git" ls-tree -r --name-only "$rev" "$tree" | grep '\.scap$')
      done
      ;;
    condition)
      # One-line conditions of the project's rules and macros, one seed each.
      local n=0 line
      while IFS= read -r line; do
        n=$((n + 1))
        printf '%s' "$line" >"$dir/project_condition_$n"
      done < <(cat "${rules_files[@]}" /dev/null \
        | sed -n 's/^[[:space:]]*condition:[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1/p' \
        | grep -v '^[>|]' | sort -u)
      ;;
  esac
}


triple=$(rustc +nightly -vV | sed -n 's/^host: //p')

# Where a reproducer fails (a panic's location, or libFuzzer's error kind), and why.
# Prints two lines: the key reproducers are grouped by, then the message.
classify() {
  local bin=$1 file=$2 out
  out=$("$bin" -runs=1 -timeout="$timeout" -rss_limit_mb=2048 "$file" 2>&1 || true)
  out=${out//"$root/"/}
  if grep -q 'panicked at' <<<"$out"; then
    awk '/panicked at/ { loc = $0; sub(/.*panicked at /, "", loc); sub(/:$/, "", loc)
      getline msg; print "panic at " loc; print substr(msg, 1, 160); exit }' <<<"$out"
  elif grep -Eq 'ERROR: (libFuzzer|AddressSanitizer)' <<<"$out"; then
    grep -m1 -Eo 'ERROR: (libFuzzer|AddressSanitizer): [a-z -]+' <<<"$out"
    grep -m1 -A1 -E 'ERROR: (libFuzzer|AddressSanitizer)' <<<"$out" | tail -1 | cut -c1-160
  else
    echo "no failure when run again"
    echo ""
  fi
}

status=0
summaries=()
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  log="fuzz/artifacts/logs/$t.log"
  bin="fuzz/target/$triple/release/$t"
  mkdir -p "$artifacts" fuzz/artifacts/logs
  seed "$t" "$corpus"
  nseeds=$(find "$corpus" -type f | wc -l)
  flags=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048
    -artifact_prefix="$root/$artifacts/" -print_final_stats=1)
  if [ "${FUZZ_CONTINUE:-0}" = 1 ]; then
    flags+=(-fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  # shellcheck disable=SC2206 # FUZZ_ARGS is a list of flags
  flags+=(${FUZZ_ARGS:-})
  echo "fuzzing $t for ${seconds}s ($nseeds inputs in $corpus, log $log)"
  marker=$(mktemp)
  start=$(date +%s.%N)
  set +e
  cargo +nightly fuzz run --debug-assertions "$t" "$corpus" -- "${flags[@]}" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

  # Runs: libFuzzer's final stats, or in fork mode the last status line (`#N: cov: ...`).
  runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -1)
  [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\)[: ].*/\1/p' "$log" | tail -1)
  runs=${runs:-0}
  eps=$(awk -v r="$runs" -v s="$elapsed" 'BEGIN { printf "%.0f", (s > 0) ? r / s : 0 }')
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  units=$(find "$corpus" -type f | wc -l)

  mapfile -t new < <(find "$artifacts" -maxdepth 1 -type f -newer "$marker" | sort)
  rm -f "$marker"
  if [ ${#new[@]} -eq 0 ] && [ "$rc" -eq 0 ]; then
    result="no crash"
  elif [ ${#new[@]} -eq 0 ]; then
    result="FAILED (exit $rc, no reproducer written: see $log)"
    tail -20 "$log" >&2
    status=1
  else
    status=1
    # One line per distinct failure: how many reproducers, and the smallest one.
    declare -A count=() smallest=() message=()
    for f in "${new[@]:0:${FUZZ_CLASSIFY_MAX:-50}}"; do
      mapfile -t c < <(classify "$bin" "$f")
      k=${c[0]:-unknown}
      count[$k]=$((${count[$k]:-0} + 1))
      if [ -z "${smallest[$k]:-}" ] || [ "$(wc -c <"$f")" -lt "$(wc -c <"${smallest[$k]}")" ]; then
        smallest[$k]=$f
        message[$k]=${c[1]:-}
      fi
    done
    max=${FUZZ_CLASSIFY_MAX:-50}
    result="CRASH: ${#new[@]} reproducer(s), ${#count[@]} distinct"
    [ ${#new[@]} -le "$max" ] || result+=" among the first $max"
    for k in "${!count[@]}"; do
      f=${smallest[$k]}
      result+=$'\n'"    ${count[$k]}x $k: ${message[$k]}"
      result+=$'\n'"       smallest: ${f#"$root"/} ($(wc -c <"$f") bytes)"
    done
    unset count smallest message
  fi
  line=$(printf '%-13s %ss: %s runs in %ss, %s exec/s, cov %s, corpus %s -> %s inputs: %s' \
    "$t" "$seconds" "$runs" "$elapsed" "$eps" "${cov:-?}" "$nseeds" "$units" "$result")
  echo "$line"
  summaries+=("$line")
done

echo
echo "summary:"
printf '  %s\n' "${summaries[@]}"
echo "(reproduce a crash: cargo +nightly fuzz run --debug-assertions <target> <file>)"
exit "$status"
