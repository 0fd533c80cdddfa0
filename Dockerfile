# syntax=docker/dockerfile:1
# Lanner's container image, for the DaemonSet in deploy/kubernetes/:
#   docker build -t lanner:0.1.0 .
# The builder installs what scripts/setup.sh installs (nightly with rust-src and bpf-linker
# against LLVM 22 for the eBPF probe, npm for the console's chart library); the image is Debian slim with the binary, the packaged
# configuration and the default rules.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends llvm-22-dev libpolly-22-dev clang-22 npm \
 && rm -rf /var/lib/apt/lists/*
RUN rustup toolchain install nightly --profile minimal --component rust-src \
 && rustup target add wasm32-wasip2 \
 && LLVM_PREFIX=/usr/lib/llvm-22 cargo install --locked bpf-linker --no-default-features --features llvm-22
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lanner \
 && install -D -m 0755 target/release/lanner /out/lanner \
 && packaging/build-plugins.sh \
 && mkdir -p /out/lib && cp -r target/lanner-plugins/sinks target/lanner-plugins/plugins /out/lib/

FROM debian:${DEBIAN_RELEASE}-slim
COPY --from=builder /out/lanner /usr/bin/lanner
COPY --from=builder /out/lib /usr/lib/lanner
COPY packaging/etc/lanner.yaml /etc/lanner/lanner.yaml
COPY rules/lanner_rules.yaml rules/lanner_rules.local.yaml /etc/lanner/rules/
COPY config/lanner.yaml /usr/share/doc/lanner/lanner.yaml.example
RUN mkdir -p /etc/lanner/config.d /etc/lanner/rules.d /etc/lanner/plugins.d /var/lib/lanner
# /healthz and /metrics (listen on 0.0.0.0 in a container: see deploy/kubernetes/).
EXPOSE 8765
ENTRYPOINT ["/usr/bin/lanner"]
CMD ["run"]
