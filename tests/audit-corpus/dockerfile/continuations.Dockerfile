# expect: NRD001@10
FROM ubuntu
RUN apt-get update \
# a comment inside a continuation
 && apt-get install -y \

    curl \
 && rm -rf /var/lib/apt/lists/*
# the USER below starts on line 10
USER \
root
