# expect-problem: 2
USER 4242
