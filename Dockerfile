# syntax=docker/dockerfile:1
#
# logpipe's container image: the logpipe daemons (the entrypoint), the
# logpipectl CLI and a healthcheck probe, as static binaries on distroless
# (CA certificates and time zones, no shell), running as a non-root user.
#
#   docker build -t logpipe:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm logpipe:dev version
#   docker run --rm --entrypoint /usr/local/bin/logpipectl logpipe:dev version

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Modules first, in a layer of their own: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/bin/ ./cmd/logpipe ./cmd/logpipectl ./deploy/healthcheck
# The agent's default --data-dir, owned by the runtime user, so that a
# volume mounted there starts out writable.
RUN mkdir -p /out/state/agent

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/logpipe /out/bin/logpipectl /out/bin/healthcheck /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/state /var/lib/logpipe
# nonroot (65532) from distroless' /etc/passwd.
USER 65532:65532
# /metrics, /healthz and /readyz (--http-addr): the controller's 9464, the
# agent's 9465, and 9466, which deploy/ gives the transfer.
EXPOSE 9464 9465 9466
ENTRYPOINT ["/usr/local/bin/logpipe"]
CMD ["--help"]
