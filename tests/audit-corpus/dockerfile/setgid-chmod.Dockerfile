# A setgid bit is a warning: harmless on a directory.
# expect: NRD005@4
FROM ubuntu
RUN mkdir /shared && chmod g+s /shared
USER 4242
