# expect-problem: any
# target: release
FROM ubuntu AS build
USER 4242
