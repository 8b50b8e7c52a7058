# expect: NRD005@5
# --chmod (BuildKit only) gives the copied file the bit.
FROM scratch
USER 4242
COPY --chmod=4755 tool /usr/local/bin/tool
