# expect: NRD002@3
# bases: ubuntu:24.04=
FROM ubuntu:24.04
RUN apt-get update
