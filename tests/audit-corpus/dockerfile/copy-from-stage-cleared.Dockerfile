# expect: none
# The builder sets the bit, then takes it away before anything is copied.
FROM debian:12 AS builder
RUN cp /usr/bin/id /built && chmod u+s /built
RUN chmod a-s /built
FROM scratch
USER 4242
COPY --from=builder /built /usr/local/bin/built
