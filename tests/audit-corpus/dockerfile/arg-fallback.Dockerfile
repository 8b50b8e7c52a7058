# expect: none
FROM ubuntu
ARG UID
USER ${UID:-10001}:${GID:-10001}
