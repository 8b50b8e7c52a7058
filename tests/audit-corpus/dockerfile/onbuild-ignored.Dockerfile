# ONBUILD runs in the images built FROM this one, not here.
# expect: none
FROM ubuntu
ONBUILD USER root
USER 4242
