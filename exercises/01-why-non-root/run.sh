#!/bin/sh
# Lesson 01, your turn. This runs a container that looks at the host's shadow file
# (mounted read-only, where the password hashes are). As it is, the container reads it.
# Change how it runs so that it cannot, keeping the mount as it is, then run:  sh run.sh
docker rm -f {{container}} >/dev/null 2>&1
docker run --name {{container}} \
  -v /etc/shadow:/host/shadow:ro \
  {{image.ubuntu}} \
  sh -c 'echo "workspace {{id}} as uid $(id -u)"; if head -c 1 /host/shadow >/dev/null; then echo "shadow: readable"; else echo "shadow: refused"; fi'
