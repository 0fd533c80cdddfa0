#!/bin/sh
# Vendors the console's chart library (uPlot, MIT) from npm at a pinned version into DEST,
# checking the tarball against the integrity the registry published for that version, so the
# binary embeds exactly that release and the page loads nothing from the internet.
# host/lanner/build.rs runs it into the build's OUT_DIR (the repository carries none of the
# library); run it by hand to vendor for an offline build (LANNER_CONSOLE_VENDOR_DIR=DEST).
# Usage: scripts/vendor-console.sh DEST
set -eu
NAME=uplot
VERSION=1.6.32
INTEGRITY='sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=='
DEST=${1:?usage: vendor-console.sh DEST}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# npm pack checks the registry's own integrity; the pin below checks it is the one we chose.
npm pack --silent "$NAME@$VERSION" >/dev/null
TGZ="$NAME-$VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
    echo "vendor-console: $TGZ has integrity $GOT, expected $INTEGRITY" >&2
    exit 1
fi
tar -xzf "$TGZ"
mkdir -p "$DEST"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$DEST/"
printf '%s@%s %s\n' "$NAME" "$VERSION" "$INTEGRITY" > "$DEST/VERSION"
echo "vendor-console: $NAME@$VERSION in $DEST"
