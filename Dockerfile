# A small image with the `dialer` binary and the provider simulator (`dialer-provider-sim`).
#   docker build -t dialer .
#   docker run --rm -p 8080:8080 dialer serve --listen 0.0.0.0:8080   # embedded store, sim provider
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# No debug info in the image's binaries (the release profile keeps it for profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --workspace --bin dialer --bin dialer-provider-sim

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/dialer --create-home dialer
COPY --from=build /src/target/release/dialer /src/target/release/dialer-provider-sim /usr/local/bin/
COPY config/ /etc/dialer/
USER dialer
WORKDIR /var/lib/dialer
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["dialer"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
