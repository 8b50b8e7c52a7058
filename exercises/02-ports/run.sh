#!/bin/sh
# Lesson 02, your turn. This starts the app's server as uid 4242 on an engine whose port
# floor is 1024 (as on a host, CRI-O or containerd 1.x): as it is, it cannot start.
# Make it start and keep running whatever the floor: without root, without lowering
# the floor. Then run:  sh run.sh   (it replaces the container each time)
docker rm -f {{container}} >/dev/null 2>&1
docker run -d --name {{container}} \
  --user 4242 \
  --sysctl net.ipv4.ip_unprivileged_port_start=1024 \
  -e PORT=80 \
  -v "$PWD/server.pl:/app/server.pl:ro" \
  {{image.ubuntu}} \
  perl /app/server.pl
