# expect: NRD003@5
FROM ubuntu AS base
USER 4242
FROM base
USER root
