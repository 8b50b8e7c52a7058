# expect: NRD005@7
# The bit set in a builder reaches the shipped stage through COPY --from, which keeps it.
FROM debian:12 AS builder
RUN cp /usr/bin/id /built && chmod u+s /built
FROM scratch
USER 4242
COPY --from=builder /built /usr/local/bin/built
