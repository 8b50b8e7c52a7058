# expect: NRD005@4 NRD005@5 NRD005@6
FROM ubuntu
RUN apt-get update
RUN cp /usr/bin/id /usr/local/bin/id-suid && chmod u+s /usr/local/bin/id-suid
RUN chmod 4755 /usr/local/bin/other
RUN install -m 6755 tool /usr/local/bin/tool
RUN chmod a-s /usr/bin/su
USER 4242
