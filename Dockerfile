# The router's image for users with Docker or BuildKit:
#   docker build -t registry.example.com/event-router:0.1.0 .
# CI and the appliance build the same image without a daemon: scripts/build-router-image.sh.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p event-router

# Distroless: glibc, CA certificates, the nonroot user (65532), no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/event-router /usr/local/bin/event-router
USER 65532:65532
EXPOSE 8082
ENTRYPOINT ["/usr/local/bin/event-router"]
CMD ["--config", "/etc/event-router/config.yaml"]
