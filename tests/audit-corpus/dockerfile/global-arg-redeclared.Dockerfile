# A global ARG reaches a stage only when the stage declares it again.
# expect: none
ARG UID=4242
ARG BASE=ubuntu
FROM ${BASE}
ARG UID
USER ${UID}
