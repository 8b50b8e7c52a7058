# expect: NRD004@4
# bases: alpine:3=
FROM --platform=linux/amd64 alpine:3 AS run
USER app
