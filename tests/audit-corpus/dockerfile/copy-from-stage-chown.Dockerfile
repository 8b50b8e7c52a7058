# expect: none
# COPY --chown clears the bits of what it brings (measured on the classic builder).
FROM debian:12 AS builder
RUN cp /usr/bin/id /built && chmod u+s /built
FROM scratch
USER 4242
COPY --chown=4242:0 --from=builder /built /usr/local/bin/built
