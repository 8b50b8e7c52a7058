# scratch has no user at all: the process runs as root.
# expect: NRD002@3
FROM scratch
COPY app /app
