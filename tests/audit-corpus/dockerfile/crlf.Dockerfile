# expect: NRD001@3
FROM ubuntu
USER root
