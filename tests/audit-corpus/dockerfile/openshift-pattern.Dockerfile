# Group 0 with the group given the owner's rights: what OpenShift wants.
# expect: none
FROM ubuntu
RUN mkdir -p /app/data \
 && chgrp -R 0 /app/data \
 && chmod -R g=u /app/data
USER 1001:0
