# One recipe for every Go program's image: the four services, the load
# generator and the card gateway stand-in, chosen by the PROGRAM build argument (docker-compose.yml sets it):
#   docker build --build-arg PROGRAM=user -t roboshop/user .
# Build context: the repository root (a program needs ../kit, and the go.mod
# files its module graph names).
#
# The build stage compiles all six programs, one after another in one
# container, so the packages they share (kit, gin, the OpenTelemetry and
# Prometheus clients) are compiled once; it names no build argument, so the
# six images of `docker compose build` share it from the builder's cache and
# it runs once for all of them.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Test-only dependencies (testkit, topology, frontend) are part of the module
# graphs, so their go.mod files come too; their code does not.
COPY kit/go.mod kit/go.sum kit/
COPY testkit/go.mod testkit/go.sum testkit/
COPY topology/go.mod topology/
COPY frontend/go.mod frontend/go.sum frontend/
COPY user/go.mod user/go.sum user/
COPY catalogue/go.mod catalogue/go.sum catalogue/
COPY cart/go.mod cart/go.sum cart/
COPY payment/go.mod payment/go.sum payment/
COPY loadgen/go.mod loadgen/go.sum loadgen/
RUN for program in user catalogue cart payment loadgen; do \
      (cd "$program" && GOWORK=off go mod download) || exit 1; \
    done
COPY kit/ kit/
COPY user/ user/
COPY catalogue/ catalogue/
COPY cart/ cart/
COPY payment/ payment/
COPY loadgen/ loadgen/
# Static, trimmed; nomsgpack leaves out gin's unused msgpack codec, which halves
# a service's binary (about 14 MB).
RUN for program in user catalogue cart payment loadgen; do \
      (cd "$program" && GOWORK=off CGO_ENABLED=0 go build -tags nomsgpack -trimpath -ldflags="-s -w" -o "/out/$program" .) || exit 1; \
    done \
 && (cd payment && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cardgateway ./cmd/cardgateway) \
 && mkdir /out/data
# Past the shared steps: the one this image is for.
ARG PROGRAM
RUN test -n "$PROGRAM" && test -f "/out/$PROGRAM" \
 || { echo "PROGRAM must be one of: user catalogue cart payment loadgen cardgateway" >&2; exit 1; }

FROM gcr.io/distroless/static-debian12:nonroot
ARG PROGRAM
COPY --from=build /out/${PROGRAM} /app
# The card gateway stand-in's ledger lives here (a volume, which takes this
# directory's owner when first made); the services write nothing.
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
EXPOSE 8080
# distroless has no shell or curl: a service's binary probes its own /healthz
# (compose turns this off for the load generator, which serves nothing).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/app", "healthcheck"]
ENTRYPOINT ["/app"]
