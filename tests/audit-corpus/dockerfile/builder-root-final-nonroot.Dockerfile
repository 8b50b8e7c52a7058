# hadolint warns on the builder's root USER, which never ships.
# expect: none
FROM golang:1.22 AS build
USER root
RUN go build -o /app .
FROM debian:12-slim
COPY --from=build /app /app
USER 65532
