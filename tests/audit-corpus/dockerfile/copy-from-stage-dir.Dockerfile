# expect: NRD005@7
# A folder copied from a stage brings the setuid file inside it.
FROM debian:12 AS tools
RUN mkdir -p /opt/t && install -m 4755 /usr/bin/id /opt/t/id
FROM scratch
USER 4242
COPY --from=tools /opt/t /opt/copied/
