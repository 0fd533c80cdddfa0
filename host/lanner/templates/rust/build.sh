#!/bin/sh
# Builds {{name}}.wasm, the component Lanner loads, beside this script.
set -eu
cd "$(dirname "$0")"
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{name}}.wasm" {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
