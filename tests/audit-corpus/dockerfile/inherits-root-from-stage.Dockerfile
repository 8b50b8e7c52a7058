# expect: NRD001@4
FROM ubuntu AS base
RUN apt-get update
USER root
FROM base AS app
COPY app /app
