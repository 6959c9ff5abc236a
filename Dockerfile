# One recipe for every Go program's image: the four services and the load
# generator, chosen by the PROGRAM build argument (docker-compose.yml sets it):
#   docker build --build-arg PROGRAM=user -t roboshop/user .
# Build context: the repository root (a program needs ../kit, and the go.mod
# files its module graph names).
FROM golang:1.26-bookworm AS build
ARG PROGRAM
WORKDIR /src
# Test-only dependencies (testkit, topology, frontend) are part of the module
# graph, so their go.mod files come too; their code does not.
COPY kit/go.mod kit/go.sum kit/
COPY testkit/go.mod testkit/go.sum testkit/
COPY topology/go.mod topology/
COPY frontend/go.mod frontend/go.sum frontend/
COPY ${PROGRAM}/go.mod ${PROGRAM}/go.sum ${PROGRAM}/
RUN test -n "$PROGRAM" && cd "$PROGRAM" && GOWORK=off go mod download
COPY kit/ kit/
COPY ${PROGRAM}/ ${PROGRAM}/
# Static, trimmed; nomsgpack leaves out gin's unused msgpack codec, which halves
# a service's binary (about 14 MB).
RUN cd "$PROGRAM" && GOWORK=off CGO_ENABLED=0 go build -tags nomsgpack -trimpath -ldflags="-s -w" -o /out/app .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER nonroot:nonroot
EXPOSE 8080
# distroless has no shell or curl: a service's binary probes its own /healthz
# (compose turns this off for the load generator, which serves nothing).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/app", "healthcheck"]
ENTRYPOINT ["/app"]
