# expect: none
FROM ubuntu AS build
RUN chmod u+s /tmp/x
FROM ubuntu
USER 4242
