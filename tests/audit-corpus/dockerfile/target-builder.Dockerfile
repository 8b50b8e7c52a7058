# `docker build --target build` ships the builder stage.
# expect: NRD001@5
# target: build
FROM golang:1.22 AS build
USER root
FROM debian:12-slim
USER 65532
