# The base is not on the engine: its user is unknown, so it may be root.
# expect: NRD002@3
FROM example.test/team/app:1.2
CMD ["app"]
