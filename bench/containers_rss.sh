#!/usr/bin/env bash
# Resident memory of `lanner run` (default rules, the container plugin granted a podman
# service of its own, and a rule on Falco's `container` event so that every new container's
# metadata is looked up and kept) before and after N real containers start: idle RSS, RSS
# with N containers known, the growth per container, and the peak. Needs root, podman, runc
# and busybox-static (scripts/setup.sh). N defaults to 200.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
IMAGE=localhost/lanner-busybox:test
dir=$(mktemp -d)
names=()
cleanup() {
  [ -n "${lanner_pid:-}" ] && kill "$lanner_pid" 2> /dev/null || true
  [ -n "${svc_pid:-}" ] && kill "$svc_pid" 2> /dev/null || true
  podman ps -aq --filter "label=lanner-bench=$$" | xargs -r podman rm -f -t 0 > /dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

cargo build --release -q -p lanner --bin lanner
(cd plugins/container && env -u RUSTFLAGS cargo build --quiet --release --target wasm32-wasip2 \
   --target-dir "$PWD/../../target/wasm-plugins")
echo "command: bench/containers_rss.sh (N=$N)"

if ! podman image exists "$IMAGE"; then
  root=$dir/rootfs
  mkdir -p "$root"/{bin,tmp,etc,proc,sys,dev,root}
  cp "$(command -v busybox)" "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  tar -C "$root" -cf "$dir/rootfs.tar" .
  podman import --change CMD=/bin/sh "$dir/rootfs.tar" "$IMAGE" > /dev/null
fi

sock=$dir/podman.sock
podman system service --time=0 "unix://$sock" 2> /dev/null &
svc_pid=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
mkdir -p "$dir/plugins"
cp target/wasm-plugins/wasm32-wasip2/release/lanner_plugin_container.wasm "$dir/plugins/container.wasm"
cat > "$dir/plugins/container.yaml" <<YAML
config:
  engines:
    podman: {sockets: [$sock]}
    docker: {enabled: false}
    cri: {enabled: false}
grants:
  unix: [$sock]
YAML
cat > "$dir/started.yaml" <<'YAML'
- rule: Container started (bench)
  desc: every new container, with its metadata
  condition: evt.type = container and container.id != host
  output: started %container.id %container.name %container.image.repository
  priority: INFO
YAML
${CARGO_TARGET_DIR:-target}/release/lanner run -r rules/lanner_rules.yaml -r "$dir/started.yaml" \
  -o "plugins_dir=$dir/plugins" -o webserver.enabled=false > "$dir/alerts.txt" 2> "$dir/lanner.log" &
lanner_pid=$!
for _ in $(seq 1 200); do grep -q capturing "$dir/lanner.log" && break; sleep 0.1; done
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$lanner_pid/status"; }
sleep 5
idle=$(rss VmRSS)
ulim=$(ulimit -Hn)
for i in $(seq 1 "$N"); do
  podman --runtime runc run -d --label "lanner-bench=$$" --name "lanner-bench-$$-$i" \
    --ulimit "nofile=$ulim:$ulim" --ulimit nproc=4096:4096 "$IMAGE" sleep 3600 > /dev/null
done
# Every container's event raised (its metadata known), then settle.
for _ in $(seq 1 300); do
  [ "$(grep -c " started [0-9a-f]\{12\} lanner-bench-$$-" "$dir/alerts.txt" || true)" -ge "$N" ] && break
  sleep 0.2
done
known=$(grep -c " started [0-9a-f]\{12\} lanner-bench-$$-" "$dir/alerts.txt" || true)
alerts=$(wc -l < "$dir/alerts.txt")
cut -d" " -f3- "$dir/alerts.txt" | sed "s/ (.*//; s/ | .*//" | sort | uniq -c | sort -rn | awk 'NR <= 8' > "$dir/rules.txt"
sleep 5
with=$(rss VmRSS)
peak=$(rss VmHWM)
echo "alerts of the default rules and the bench's rule while they started: $alerts; the most frequent:"
cat "$dir/rules.txt"
awk -v n="$N" -v k="$known" -v i="$idle" -v w="$with" -v p="$peak" 'BEGIN {
  printf "containers started: %d, container events with their name: %d\n", n, k
  printf "RSS idle: %.1f MiB, with %d containers known: %.1f MiB (+%.1f MiB, %.1f KiB per container), peak %.1f MiB\n",
    i / 1024, n, w / 1024, (w - i) / 1024, (w - i) / n, p / 1024
}'
