# expect: NRD003@6
FROM ubuntu
USER 4242
RUN id
# Back to root to install something, and never away again.
USER root
RUN apt-get install -y curl
