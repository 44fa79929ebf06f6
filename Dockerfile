# Builds every stackbench binary; docker-compose.yml runs the servers from it.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins

FROM debian:bookworm-slim
COPY --from=build /src/target/release/stackbench-hyper /src/target/release/stackbench-axum \
     /src/target/release/stackbench-actix /src/target/release/loadgen /usr/local/bin/
# The shipped scenarios are inside loadgen; results go to ./results of this directory.
WORKDIR /opt/stackbench
ENV HOST=0.0.0.0
