# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on a distroless base with CA
# certificates (outbound calls are HTTPS) and a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/storebridge .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/storebridge /storebridge
ENV DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/storebridge"]
CMD ["serve"]
