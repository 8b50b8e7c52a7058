# expect: none
FROM scratch
COPY app /app
USER 65532:65532
