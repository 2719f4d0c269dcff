# Multi-stage build of the one `dualhook` binary (serve, worker, migrate, operator commands).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/dualhook ./cmd/dualhook

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 dualhook
COPY --from=build /out/dualhook /usr/local/bin/dualhook
USER dualhook
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dualhook"]
CMD ["serve"]
