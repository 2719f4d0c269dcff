# Multi-stage build of the one `dualhook` binary (serve, worker, migrate, operator commands).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/dualhook ./cmd/dualhook

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dualhook /usr/local/bin/dualhook
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dualhook"]
CMD ["serve"]
