# expect: NRD005@5
# bases: debian:12=
# special: debian:12=/usr/bin/su,/usr/bin/mount,/usr/bin/passwd
# The base image's own setuid-root files ship unless a RUN clears them.
FROM debian:12
USER 4242
