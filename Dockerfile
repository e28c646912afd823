# Sidecar's container image: a static, profile-guided binary built by
# .ci/build (go build -pgo=auto with cmd/sidecar/default.pgo; the script
# integration/container_test.go runs in place of docker build, with the
# same flags) on distroless/static, which has no shell and no libc, run as
# the non-root user 65532. docs/container.md has the details;
# docs/kubernetes.md a fleet on Redis.
#
#   docker build -t sidecar --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" .
#   mkdir -m 755 secrets
#   docker run --rm sidecar keygen --format raw > secrets/session_secrets
#   docker run --rm sidecar keygen --format raw > secrets/header_secret
#   docker run -d -p 8080:8080 -v sidecar-data:/var/lib/sidecar \
#     -v "$PWD/secrets:/run/secrets/sidecar:ro" \
#     -e SIDECAR_UPSTREAMS=app1=http://app:8081 \
#     -e SIDECAR_LOG__LEVEL=info sidecar
#
# The image's config is deploy/container.yaml, at /etc/sidecar/config.yaml:
# no inline secret (they are read from the files mounted at
# /run/secrets/sidecar, which uid 65532 must be able to read), sessions in
# the volume, and the operations listener on port 9100 for the
# HEALTHCHECK. SIDECAR_ variables override any key; mount your own file
# over it to replace it.
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION
ARG COMMIT
# .ci/build: CGO_ENABLED=0 go build -trimpath -pgo=auto -ldflags "-s -w -X ..."
RUN .ci/build -o /out/sidecar && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sidecar /usr/local/bin/sidecar
COPY deploy/container.yaml /etc/sidecar/config.yaml
# The embedded store's file and ACME certificates (when tls.acme is on)
# live on a volume so sessions and certificates survive restarts.
COPY --from=build --chown=65532:65532 /out/data /var/lib/sidecar
# Names the HEALTHCHECK in the warning `sidecar serve` logs and `sidecar
# check` prints when a mounted config turns ops.listen off.
ENV SIDECAR_OPS__NEEDED_BY="the container HEALTHCHECK (sidecar health)"
USER 65532:65532
VOLUME /var/lib/sidecar
# 8080: the proxy. 9100: /healthz, /readyz and /metrics (no token: keep it
# on a private network).
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/sidecar", "health", "--config", "/etc/sidecar/config.yaml", "--timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/sidecar"]
CMD ["serve", "--config", "/etc/sidecar/config.yaml"]
