# expect: NRD005@4
# bases: debian:12=
# special: debian:12=/usr/bin/su,/usr/bin/mount,/usr/bin/passwd
FROM debian:12
RUN rm -f /usr/bin/su && chmod a-s /usr/bin/mount
USER 4242
