#!/bin/sh
# Lesson 09, your turn. Your notes (shared/notes.txt, for you alone) sit in this
# workspace, and this runs a container of your rootless engine with that folder mounted.
# As it is, the container runs as root, which on a rootless engine is you on the host: it
# reads your notes. Change how it runs so that it cannot, keeping the mount as it is,
# then run:  sh run.sh
[ -n "${NONROOT_LAB_ROOTLESS_HOST:-}" ] && export DOCKER_HOST="$NONROOT_LAB_ROOTLESS_HOST"
chmod 755 shared && chmod 600 shared/notes.txt
docker rm -f {{container}} >/dev/null 2>&1
docker run --name {{container}} \
  -v "$PWD/shared:/shared" \
  {{image.ubuntu}} \
  sh -c 'echo "workspace {{id}} as uid $(id -u)"; if head -c 1 /shared/notes.txt >/dev/null; then echo "notes: readable"; else echo "notes: refused"; fi'
