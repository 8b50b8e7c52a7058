# expect: NRD001@4
# bases: ubuntu=
FROM ubuntu
user root:root
