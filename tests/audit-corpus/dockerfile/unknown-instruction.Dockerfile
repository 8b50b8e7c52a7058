# expect-problem: 3
FROM ubuntu
USR 4242
