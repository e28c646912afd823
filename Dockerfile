# Build a static sidecar binary, then ship it on a distroless base.
#   docker build -t sidecar .
#   docker run -p 8080:8080 -v sidecar-data:/var/lib/sidecar \
#     -e SIDECAR_UPSTREAMS=app1=http://app:8081 \
#     -e SIDECAR_SESSION__SECRETS_FILE=/run/secrets/cookie \
#     -e SIDECAR_HEADERS__SECRET_FILE=/run/secrets/header sidecar
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/sidecar ./cmd/sidecar \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sidecar /usr/local/bin/sidecar
COPY config.example.yaml /etc/sidecar/config.yaml
# The embedded store's file and ACME certificates (when tls.acme is on)
# live on a volume so sessions and certificates survive restarts.
COPY --from=build --chown=65532:65532 /out/data /var/lib/sidecar
ENV SIDECAR_LISTEN=0.0.0.0:8080 \
    SIDECAR_STORE__BOLT__PATH=/var/lib/sidecar/sidecar.db \
    SIDECAR_TLS__ACME__STORAGE=/var/lib/sidecar/acme
VOLUME /var/lib/sidecar
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sidecar"]
CMD ["serve", "--config", "/etc/sidecar/config.yaml"]
