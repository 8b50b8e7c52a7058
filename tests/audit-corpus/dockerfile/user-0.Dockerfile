# expect: NRD001@4
# bases: ubuntu=
FROM ubuntu
USER 0
