# expect: NRD005@6
# ADD unpacks a local archive with its modes: its setuid-root entry ships (the setuid
# file owned by uid 1000 gives no root power and is not counted).
FROM scratch
USER 4242
ADD context/bits.tar /
