# expect: NRD001@4
FROM ubuntu
ARG UID
USER $UID
