#!/usr/bin/env bash
# Builds the plugins that ship with Lanner (WebAssembly components, wasm32-wasip2, release)
# into target/lanner-plugins/, where the .deb (`cargo deb -p lanner`) and the image take
# them from:
#   sinks/    file, webhook, slack, email: alert sinks, found by name in sink_plugins_dir
#             (/usr/lib/lanner/sinks) by plugin_outputs and file_output
#   plugins/  json, k8saudit, container, pkgowner: extractors and sources, installed to /usr/lib/lanner/plugins;
#             enabled by linking or copying one (with its NAME.yaml) into /etc/lanner/plugins.d
#             container: installed there too, and loaded by default from there (Falco's
#             container plugin fields; a container.yaml beside it overrides its default grants)
# Run it before `cargo deb`. Needs the wasm32-wasip2 target (scripts/setup.sh adds it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${CARGO_TARGET_DIR:-$root/target}/wasm-plugins
out=$root/target/lanner-plugins
rm -rf "$out"
mkdir -p "$out/sinks" "$out/plugins"
for kind_name in sinks/file sinks/webhook sinks/slack sinks/email plugins/json plugins/k8saudit plugins/container plugins/pkgowner; do
  kind=${kind_name%/*}; name=${kind_name#*/}
  (cd "plugins/$name" && env -u RUSTFLAGS -u CARGO_BUILD_TARGET \
     cargo build --quiet --release --target wasm32-wasip2 --target-dir "$build")
  install -m 0644 "$build/wasm32-wasip2/release/lanner_plugin_${name}.wasm" "$out/$kind/$name.wasm"
done
ls -l "$out"/*/
