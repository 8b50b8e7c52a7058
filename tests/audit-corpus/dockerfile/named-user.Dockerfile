# expect: NRD004@3
FROM ubuntu
USER nobody
