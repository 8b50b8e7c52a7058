# expect: NRD005@3
FROM ubuntu
RUN ["chmod", "+s", "/usr/bin/ping"]
USER 4242
