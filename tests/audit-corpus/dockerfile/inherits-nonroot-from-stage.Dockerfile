# expect: none
FROM ubuntu AS base
USER 4242
FROM base
COPY app /app
