# expect-problem: 4
FROM ubuntu
USER 4242
RUN <<EOF
echo never ends
