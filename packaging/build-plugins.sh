#!/usr/bin/env bash
# Builds the plugins that ship with Lanner (WebAssembly components, wasm32-wasip2, release)
# into target/lanner-plugins/, where the .deb (`cargo deb -p lanner`) and the image take
# them from:
#   sinks/    file, webhook, slack, email, nats: alert sinks, found by name in sink_plugins_dir
#             (/usr/lib/lanner/sinks) by plugin_outputs and file_output
#   plugins/  json, k8saudit, container, pkgowner: extractors and sources, installed to /usr/lib/lanner/plugins;
#             enabled by linking or copying one (with its NAME.yaml) into /etc/lanner/plugins.d
#             container: installed there too, and loaded by default from there (Falco's
#             container plugin fields; a container.yaml beside it overrides its default grants)
# Run it before `cargo deb`. Needs the wasm32-wasip2 target (scripts/setup.sh adds it).
#
# Options:
#   --sinks-only          build the five sinks only
#   --install-sinks [DIR] then copy the sinks into DIR, default /usr/lib/lanner/sinks (the
#                         default sink_plugins_dir of config/lanner.yaml): a Lanner run from a
#                         checkout finds them there as the packaged one does
set -euo pipefail

usage() {
  echo "usage: $0 [--sinks-only] [--install-sinks [DIR]]" >&2
  exit 2
}

sinks_only=false
install_dir=
while [ $# -gt 0 ]; do
  case $1 in
    --sinks-only) sinks_only=true ;;
    --install-sinks)
      install_dir=/usr/lib/lanner/sinks
      if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then
        install_dir=$2
        shift
      fi
      ;;
    -h | --help) usage ;;
    *)
      echo "$0: unknown option $1" >&2
      usage
      ;;
  esac
  shift
done
# A relative DIR is taken from where the script was started, as any command's argument is.
if [ -n "$install_dir" ]; then
  case $install_dir in
    /*) ;;
    *) install_dir=$PWD/$install_dir ;;
  esac
fi

cd "$(dirname "$0")/.."
root=$PWD
build=${CARGO_TARGET_DIR:-$root/target}/wasm-plugins
out=$root/target/lanner-plugins
sinks="sinks/file sinks/webhook sinks/slack sinks/email sinks/nats"
others="plugins/json plugins/k8saudit plugins/container plugins/pkgowner"
if $sinks_only; then
  rm -rf "$out/sinks"
  todo=$sinks
else
  rm -rf "$out"
  todo="$sinks $others"
fi
mkdir -p "$out/sinks" "$out/plugins"
for kind_name in $todo; do
  kind=${kind_name%/*}; name=${kind_name#*/}
  (cd "plugins/$name" && env -u RUSTFLAGS -u CARGO_BUILD_TARGET \
     cargo build --quiet --release --target wasm32-wasip2 --target-dir "$build")
  install -m 0644 "$build/wasm32-wasip2/release/lanner_plugin_${name}.wasm" "$out/$kind/$name.wasm"
done
ls -l "$out"/*/
if [ -n "$install_dir" ]; then
  install -d "$install_dir"
  install -m 0644 "$out"/sinks/*.wasm "$install_dir/"
  echo "installed the sinks into $install_dir:"
  ls -l "$install_dir"
fi
