# expect: NRD006@3
FROM ubuntu
USER 4242:0
