#!/usr/bin/env bash
# Per-syscall cost of the probe, all measured in this run: a getpid loop and an open/close
# loop of /dev/null (host/capture/examples/syscall_loop.rs, pinned to CPU 1) timed
#   - without any probe;
#   - with an empty program on sys_enter and sys_exit (the floor the tracepoints set);
#   - with the probe loaded but the loops' syscalls filtered out in the kernel;
#   - with the probe delivering open and close to a reader on CPU 0 (decode only);
#   - under `lanner run` with the upstream stable rules (full capture, state and rules).
# The five are run in turn, ROUNDS times (3 by default), and each figure is the median of its
# rounds, so that a disturbance during one run does not decide a ratio.
# Prints ns per iteration, ratios, records read and drops (SKIP_PROBE=1 leaves this part
# out). Then the attach modes of issue 17 (below). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000000}
ROUNDS=${ROUNDS:-3}
RULES=${RULES:-../shared/conformance/falco-rules/falco_rules.yaml}

cargo build --release -q -p lanner --bin lanner
cargo build --release -q -p lanner-capture --example syscall_loop
loop=./target/release/examples/syscall_loop
echo "command: bench/overhead.sh (N=$N: $N getpid calls, $((N / 4)) open/close pairs; median of $ROUNDS rounds; rules $RULES)"

with_lanner() {
  local log; log=$(mktemp)
  taskset -c 0 ./target/release/lanner run -r "$RULES" -o webserver.enabled=false > /dev/null 2> "$log" &
  local pid=$!
  for _ in $(seq 1 100); do grep -q capturing "$log" && break; sleep 0.1; done
  "$loop" "$N" none
  kill -TERM "$pid"; wait "$pid" || echo "lanner exited with $? (3: drops)" >&2
  rm -f "$log"
}

runs=$(mktemp)
for round in $(seq 1 "$([ -n "${SKIP_PROBE:-}" ] && echo 0 || echo "$ROUNDS")"); do
  for mode in none empty filtered captured; do
    "$loop" "$N" "$mode" | sed "s/^/$mode /" >> "$runs"
  done
  with_lanner | sed "s/^/full /" >> "$runs"
done
# The median of a mode's rounds, as "key value" lines.
median_of() {
  awk -v m="$1" '$1 == m { print $2, $3 }' "$runs" | sort -k1,1 -k2,2n |
    awk '{ v[$1] = v[$1] " " $2; n[$1]++ } END { for (k in v) { split(substr(v[k], 2), a, " "); print k, a[int((n[k] + 1) / 2)] } }'
}
none=$(median_of none); empty=$(median_of empty); filtered=$(median_of filtered)
captured=$(median_of captured); full=$(median_of full)
rm -f "$runs"

val() { echo "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
if [ -z "${SKIP_PROBE:-}" ]; then
printf '%-13s %10s %20s %20s %20s %22s\n' loop "no probe" "empty program" "probe, filtered out" "probe, captured" "lanner run + rules"
for k in getpid_ns open_close_ns; do
  awk -v k="$k" -v a="$(val "$none" $k)" -v b="$(val "$empty" $k)" -v c="$(val "$filtered" $k)" \
      -v d="$(val "$captured" $k)" -v e="$(val "$full" $k)" 'BEGIN {
    printf "%-13s %7.1f ns %9.1f ns (%.2fx) %9.1f ns (%.2fx) %9.1f ns (%.2fx) %11.1f ns (%.2fx)\n",
      k, a, b, b / a, c, c / a, d, d / a, e, e / a }'
done
awk -v b="$(val "$empty" getpid_ns)" -v c="$(val "$filtered" getpid_ns)" -v a="$(val "$none" getpid_ns)" 'BEGIN {
  printf "filtered-out getpid over the empty-program floor: %.2fx (target at most 1.10x); probe cost above the floor %.1f ns per syscall\n", c / b, (c - b) }'
awk -v a="$(val "$none" open_close_ns)" -v d="$(val "$captured" open_close_ns)" -v e="$(val "$full" open_close_ns)" 'BEGIN {
  printf "captured open/close: %.2fx no probe (decode only), %.2fx under lanner run (target at most 1.6x)\n", d / a, e / a }'
echo "captured mode: $(val "$captured" records) records read, $(val "$captured" drops) dropped"
fi

# Issue 17: the probe's attach modes (engine.ebpf.attach), each under `lanner run` with the
# upstream stable rules, against no agent, in turns (A B A B: ROUNDS rounds of every mode):
#   - the getpid loop (no rule watches getpid) and the open/close loop (watched);
#   - redis-benchmark PING_INLINE and SET, 50 clients, on loopback, with lanner's resident
#     memory sampled during the run (its peak).
# MODES lists the modes measured; SKIP_LOOPS=1 / SKIP_REDIS=1 leave a part out.
MODES=${MODES:-"raw per_syscall per_syscall_no_compat"}
REQUESTS=${REQUESTS:-200000}
PORT=${PORT:-6399}
echo
echo "command: bench/overhead.sh attach modes (MODES=\"$MODES\", $ROUNDS rounds, N=$N, redis-benchmark -t ping_inline,set -n $REQUESTS -c 50)"

start_lanner() { # mode, log file; sets LANNER_PID (not in a subshell: it must stay our child)
  taskset -c 0 ./target/release/lanner run -r "$RULES" -o webserver.enabled=false -o "engine.ebpf.attach=$1" > /dev/null 2> "$2" &
  LANNER_PID=$!
  for _ in $(seq 1 200); do grep -q capturing "$2" && break; sleep 0.1; done
  grep -q capturing "$2" || { cat "$2" >&2; echo "lanner ($1) did not start" >&2; exit 1; }
}
stop_lanner() { kill -TERM "$1"; wait "$1" || echo "lanner exited with $? (3: drops)" >&2; }

mruns=$(mktemp)
if [ -z "${SKIP_LOOPS:-}" ]; then
  for round in $(seq 1 "$ROUNDS"); do
    "$loop" "$N" none | sed "s/^/none /" >> "$mruns"
    for m in $MODES; do
      log=$(mktemp); start_lanner "$m" "$log"; pid=$LANNER_PID
      [ "$round" = 1 ] && grep -oE 'capture started: [^"]*attached|raw_tracepoints=[a-z]+' "$log" | tr '\n' ' ' | sed "s/^/$m: /; s/$/\n/" | head -1
      "$loop" "$N" none | sed "s/^/$m /" >> "$mruns"
      stop_lanner "$pid"; rm -f "$log"
    done
  done
  printf '%-22s %16s %16s\n' mode "getpid (unwatched)" "open/close (watched)"
  for m in none $MODES; do
    awk -v m="$m" '$1 == m { print $2, $3 }' "$mruns" | sort -k1,1 -k2,2n |
      awk -v m="$m" -v base="$(awk '$1 == "none" && $2 == "getpid_ns" { print $3 }' "$mruns" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')" \
          -v obase="$(awk '$1 == "none" && $2 == "open_close_ns" { print $3 }' "$mruns" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')" '
        { v[$1] = v[$1] " " $2; n[$1]++ }
        END {
          split(substr(v["getpid_ns"], 2), g, " "); split(substr(v["open_close_ns"], 2), o, " ")
          gm = g[int((n["getpid_ns"] + 1) / 2)]; om = o[int((n["open_close_ns"] + 1) / 2)]
          printf "%-22s %8.1f ns (%.2fx) %8.1f ns (%.2fx)\n", m, gm, gm / base, om, om / obase }'
  done
  echo "(medians of $ROUNDS rounds; goals: getpid at most 1.25x, open/close at most 1.5x no agent)"
fi
rm -f "$mruns"

if [ -z "${SKIP_REDIS:-}" ]; then
  if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
  fi
  redis-server --port "$PORT" --save '' --appendonly no --daemonize yes --logfile /dev/null
  trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT
  sleep 0.5
  rb() { # one run: "PING_INLINE rps" and "SET rps" lines
    redis-benchmark -p "$PORT" -t ping_inline,set -n "$REQUESTS" -c 50 -q 2>/dev/null | tr '\r' '\n' |
      awk '/requests per second/ { t = $1; sub(":", "", t); for (i = 2; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print t, $i; break } }'
  }
  rruns=$(mktemp)
  for round in $(seq 1 "$ROUNDS"); do
    rb | sed "s/^/none /" >> "$rruns"
    for m in $MODES; do
      log=$(mktemp); start_lanner "$m" "$log"; pid=$LANNER_PID
      peak=0
      ( while kill -0 "$pid" 2>/dev/null; do awk '/VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null; sleep 0.2; done ) > "$log.rss" &
      sampler=$!
      # lanner's own CPU time during the run (utime + stime, clock ticks), as a share of one
      # CPU: what of the loss is its user-space work rather than the kernel's tracing.
      ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
      t0=$(ticks); w0=$(date +%s.%N)
      rb | sed "s/^/$m /" >> "$rruns"
      t1=$(ticks); w1=$(date +%s.%N)
      awk -v m="$m" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v w0="$w0" -v w1="$w1" \
        'BEGIN { printf "%s CPU_pct %.2f\n", m, t / hz / (w1 - w0) * 100 }' >> "$rruns"
      peak=$(sort -n "$log.rss" | tail -1)
      stop_lanner "$pid"; wait "$sampler" 2>/dev/null || true
      echo "$m RSS_KiB $peak" >> "$rruns"
      rm -f "$log" "$log.rss"
    done
  done
  printf '%-22s %22s %22s %12s %12s\n' mode "PING_INLINE req/s" "SET req/s" "peak RSS" "lanner CPU"
  med() { awk -v m="$1" -v k="$2" '$1 == m && $2 == k { print $3 }' "$rruns" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
  pb=$(med none PING_INLINE); sb=$(med none SET)
  for m in none $MODES; do
    awk -v m="$m" -v p="$(med "$m" PING_INLINE)" -v s="$(med "$m" SET)" -v pb="$pb" -v sb="$sb" -v r="$(med "$m" RSS_KiB)" -v c="$(med "$m" CPU_pct)" 'BEGIN {
      rss = (m == "none") ? "-" : sprintf("%.1f MiB", r / 1024)
      cpu = (m == "none") ? "-" : sprintf("%.2f%%", c)
      printf "%-22s %10.0f (%5.1f%% lost) %10.0f (%5.1f%% lost) %12s %12s\n", m, p, (pb - p) / pb * 100, s, (sb - s) / sb * 100, rss, cpu }'
  done
  echo "(medians of $ROUNDS rounds; goals: at most 5% lost, RSS at most 64 MiB; lanner CPU: its share of one CPU during the run)"
  rm -f "$rruns"
fi
