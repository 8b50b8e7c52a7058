# expect: NRD001@5
FROM ubuntu
ARG UID=0
# ${UID} defaults to 0: root unless the build passes another value.
USER ${UID}
