#!/bin/sh
# Builds {{name}}.wasm, the component Lanner loads, beside this script, with componentize-py
# (on PATH, or where Lanner's scripts/setup.sh installs it: /opt/lanner-plugin-tools/bin).
set -eu
cd "$(dirname "$0")"
tool=componentize-py
command -v "$tool" >/dev/null 2>&1 || tool=/opt/lanner-plugin-tools/bin/componentize-py
PYTHONDONTWRITEBYTECODE=1 "$tool" -d wit -w {{world}} componentize app -o {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
