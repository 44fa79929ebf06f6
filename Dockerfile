# Builds every stack's binary and loadgen: docker-compose.yml runs the servers
# from it, and the pods of `loadgen k8s render` (docs/distributed.md) run
# loadgen from it. Not exercised by the tests (no Docker engine there).
FROM rust:1-bookworm AS build
# Go and lib/pq (go-nethttp) from the OS packages; npm for Bun and Hono.
RUN apt-get update \
    && apt-get install -y --no-install-recommends golang-go golang-github-lib-pq-dev npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins \
    && npm ci --prefix servers --no-audit --no-fund \
    && target/release/loadgen stacks build go-nethttp bun bun-hono

FROM debian:bookworm-slim
COPY --from=build /src/target/release/stackbench-hyper /src/target/release/stackbench-axum \
     /src/target/release/stackbench-actix /src/target/release/stackbench-go-nethttp \
     /src/target/release/stackbench-bun /src/target/release/stackbench-bun-hono \
     /src/target/release/loadgen /usr/local/bin/
# The shipped scenarios are inside loadgen; results go to ./results of this directory.
WORKDIR /opt/stackbench
ENV HOST=0.0.0.0
