# expect: none
# bases: debian:12=
# special: debian:12=/usr/bin/su,/usr/bin/mount,/usr/bin/passwd
FROM debian:12
RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +
USER 4242
