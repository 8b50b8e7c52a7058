# expect: none
# build-arg: UID=4242
FROM ubuntu
ARG UID=0
USER ${UID}
