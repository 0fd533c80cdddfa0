#!/bin/sh
# Builds {{name}}.wasm, the component Lanner loads, beside this script, with jco and
# ComponentizeJS: those of ./node_modules after `npm ci` or `npm install` here (package.json
# pins them), else those Lanner's scripts/setup.sh installs in /opt/lanner-js-tools.
set -eu
cd "$(dirname "$0")"
jco=node_modules/.bin/jco
[ -x "$jco" ] || jco="${LANNER_JS_TOOLS:-/opt/lanner-js-tools}/node_modules/.bin/jco"
# Never --aot: Lanner compiles the component itself.
"$jco" componentize plugin.js --wit wit --world-name {{world}} --out {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
