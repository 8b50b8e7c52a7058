# expect: NRD005@6
# special: tools:1=/usr/bin/su,/usr/bin/mount
# COPY --from an image brings its setuid-root file; its other files are harmless.
FROM scratch
USER 4242
COPY --from=tools:1 /usr/bin/su /bin/su
COPY --from=tools:1 /etc/hosts /etc/hosts
