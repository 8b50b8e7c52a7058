# Without `ARG UID` in the stage, ${UID} is empty there: root.
# expect: NRD001@5
ARG UID=4242
FROM ubuntu
USER ${UID}
