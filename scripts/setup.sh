#!/usr/bin/env bash
# Brings a fresh machine of Lanner's kind (Debian, root, Rust via rustup) to a state where the
# workspace builds and every test runs. Idempotent: each step checks before it installs.
set -euo pipefail

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Rust toolchains: stable builds the workspace, nightly with rust-src builds the eBPF probe.
if ! rustup toolchain list | grep -q '^nightly'; then
  log "installing nightly toolchain"
  rustup toolchain install nightly --profile minimal --component rust-src
elif ! rustup +nightly component list --installed | grep -q '^rust-src'; then
  log "adding rust-src to nightly"
  rustup component add rust-src --toolchain nightly
fi
if ! rustup target list --installed | grep -qx 'wasm32-wasip2'; then
  log "adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# LLVM 22 for bpf-linker (the eBPF probe's linker).
need_apt=()
dpkg -s llvm-22-dev >/dev/null 2>&1 || need_apt+=(llvm-22-dev)
dpkg -s libpolly-22-dev >/dev/null 2>&1 || need_apt+=(libpolly-22-dev)
# clang 22 compiles ring's C for the email and nats plugins' TLS (wasm32-wasip2, see
# plugins/email/.cargo/config.toml); openssl makes the certificates of its TLS tests.
dpkg -s clang-22 >/dev/null 2>&1 || need_apt+=(clang-22)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# gcc builds the static 32-bit syscall programs of host/lanner/tests/evasion.rs (no libc:
# -nostdlib, so no multilib packages are needed for -m32).
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
# rsyslog: host/lanner/tests/falco_outputs.rs starts its own rsyslogd (foreground, own socket
# and file) to receive syslog_output; the package's system service is not used.
command -v rsyslogd >/dev/null 2>&1 || need_apt+=(rsyslog)
# nats-server (Debian's 2.9): host/lanner/tests/nats.rs and bench/nats.sh start their own
# servers (a JetStream cluster of three on loopback) for the nats sink; the package's system
# service is not used.
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
# sysdig (0.29 in Debian 12) reads .scap captures without a kernel driver (`sysdig -r`): the
# decoding oracle of host/lanner/tests/scap_read.rs. Installed below without its recommended
# kernel driver (falcosecurity-scap-dkms), which reading files does not need.
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v sysdig >/dev/null 2>&1; then
  log "installing sysdig (without its kernel driver)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends sysdig
fi

if ! command -v bpf-linker >/dev/null 2>&1; then
  log "building bpf-linker against LLVM 22 (a few minutes)"
  LLVM_PREFIX=/usr/lib/llvm-22 cargo install --locked bpf-linker --no-default-features --features llvm-22
fi

log "ready"

# ---- deployment artefacts (packaging/, deploy/, Dockerfile): the tools of
# ---- host/lanner/tests/deploy.rs. Pinned; each step checks before it installs.
# systemd-analyze verifies the unit; dpkg-deb lists the .deb that cargo-deb builds.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  log "installing systemd (for systemd-analyze)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq systemd
fi
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
  log "installing cargo-deb $CARGO_DEB_VERSION"
  cargo install --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi
# Helm's Go SDK (helm-python-sdk renders and lints the chart, no helm binary) and the
# Kubernetes JSON schemas (kubernetes-validate), from PyPI into their own virtual environment.
LANNER_DEPLOY_TOOLS="${LANNER_DEPLOY_TOOLS:-/opt/lanner-deploy-tools}"
deploy_reqs="$(dirname "$0")/../deploy/kubernetes/requirements.txt"
if ! cmp -s "$deploy_reqs" "$LANNER_DEPLOY_TOOLS/requirements.txt"; then
  log "installing the Kubernetes manifest checker's tools into $LANNER_DEPLOY_TOOLS"
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
  fi
  $SUDO python3 -m venv "$LANNER_DEPLOY_TOOLS"
  $SUDO "$LANNER_DEPLOY_TOOLS/bin/pip" install -q --disable-pip-version-check -r "$deploy_reqs"
  $SUDO cp "$deploy_reqs" "$LANNER_DEPLOY_TOOLS/requirements.txt"
fi
log "deployment tools ready"
# ---- end of the deployment artefacts' section

# ---- WASM plugins: componentize-py builds the Python example plugin (plugins/python-jsonkeys)
# ---- that host/plugin-runtime's tests load. Pinned, in its own virtual environment.
LANNER_PLUGIN_TOOLS="${LANNER_PLUGIN_TOOLS:-/opt/lanner-plugin-tools}"
COMPONENTIZE_PY_VERSION=0.25.1
if ! "$LANNER_PLUGIN_TOOLS/bin/componentize-py" --version 2>/dev/null | grep -qF "$COMPONENTIZE_PY_VERSION"; then
  log "installing componentize-py $COMPONENTIZE_PY_VERSION into $LANNER_PLUGIN_TOOLS"
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
  fi
  $SUDO python3 -m venv "$LANNER_PLUGIN_TOOLS"
  $SUDO "$LANNER_PLUGIN_TOOLS/bin/pip" install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
log "plugin tools ready"

# ---- Sink plugins: aiosmtpd is the real SMTP server of the email sink's tests
# ---- (host/plugin-runtime/tests/sinks.rs). Pinned, in its own virtual environment.
LANNER_SMTP_TOOLS="${LANNER_SMTP_TOOLS:-/opt/lanner-smtp-tools}"
AIOSMTPD_VERSION=1.4.6
if ! "$LANNER_SMTP_TOOLS/bin/python3" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
  log "installing aiosmtpd $AIOSMTPD_VERSION into $LANNER_SMTP_TOOLS"
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
  fi
  $SUDO python3 -m venv "$LANNER_SMTP_TOOLS"
  $SUDO "$LANNER_SMTP_TOOLS/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi
log "SMTP test server ready"

# ---- JavaScript plugins: ComponentizeJS and jco build the JavaScript example plugin
# ---- (plugins/js-logfmt) that host/plugin-runtime/tests/javascript.rs loads. Pinned by that
# ---- plugin's package-lock.json, installed with `npm ci` into their own folder.
LANNER_JS_TOOLS="${LANNER_JS_TOOLS:-/opt/lanner-js-tools}"
js_plugin="$(dirname "$0")/../plugins/js-logfmt"
node_ok() {  # Node.js 20.19 or later (oxc's native parts need it; Debian 12 ships 18)
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}
if ! cmp -s "$js_plugin/package-lock.json" "$LANNER_JS_TOOLS/package-lock.json" ||
  [ ! -x "$LANNER_JS_TOOLS/node_modules/.bin/jco" ]; then
  if ! node_ok; then
    log "installing Node.js and npm"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
  fi
  if ! node_ok; then
    echo "setup: Node.js 20.19 or later is needed for jco (found: $(node --version 2>/dev/null || echo none))." >&2
    echo "setup: Debian 13 ships it (apt-get install nodejs npm); on Debian 12 install it from" >&2
    echo "setup: https://nodejs.org or NodeSource's Debian packages, then run this script again." >&2
    exit 1
  fi
  log "installing ComponentizeJS and jco (plugins/js-logfmt/package-lock.json) into $LANNER_JS_TOOLS"
  $SUDO mkdir -p "$LANNER_JS_TOOLS"
  $SUDO cp "$js_plugin/package.json" "$js_plugin/package-lock.json" "$LANNER_JS_TOOLS/"
  (cd "$LANNER_JS_TOOLS" && $SUDO npm ci --no-audit --no-fund --loglevel=error)
fi
log "JavaScript plugin tools ready"

# ---- Containers: podman (with runc: crun cannot set the default ulimits here) runs the real
# ---- containers of host/lanner/tests/containers.rs and plugins/container's tests; their image
# ---- is imported by the tests from a root file system of the static busybox (no registry).
need_apt=()
for p in podman runc busybox-static; do dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p"); done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
log "container tools ready"

# ---- Alert console: host/lanner/tests/console.rs drives Debian's chromium (headless) through
# ---- chromedriver's WebDriver protocol against a live `lanner run`. The console's chart
# ---- library is vendored at build time by host/lanner/build.rs (scripts/vendor-console.sh: npm,
# ---- pinned, integrity checked; Node.js and npm are installed above).
need_apt=()
for p in chromium chromium-driver; do dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p"); done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
log "browser for the console tests ready"
