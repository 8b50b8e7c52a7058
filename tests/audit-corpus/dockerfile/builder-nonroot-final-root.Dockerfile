# Trivy takes the last USER of the file: here the builder's, so it passes a root image.
# expect: NRD002@6
# bases: debian:12-slim=
FROM golang:1.22 AS build
USER 4242
FROM debian:12-slim
COPY --from=build /app /app
