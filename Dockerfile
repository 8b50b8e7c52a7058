# The lab as an image: the auditor for CI jobs that have Docker but no Rust toolchain.
#
#   cargo build --release && docker build -t nonroot-lab .
#   docker run --rm -v "$PWD:/work:ro" nonroot-lab audit dockerfile --no-engine .
#   docker save myapp:1 | docker run --rm -i nonroot-lab audit image --input -
#
# BASE is the Debian 12 image scripts/offline-images builds from Debian's packages (no
# image registry is needed); any Debian 12 image will do. BINARY is the release build.
ARG BASE=nonroot-lab-offline/debian:12
FROM ${BASE}
ARG BINARY=target/release/nonroot-lab
COPY ${BINARY} /usr/local/bin/nonroot-lab
COPY docs/rules/ /usr/share/doc/nonroot-lab/rules/
# No setuid or setgid file may hand root back to the user the lab runs as; HOME for the
# lab's state, writable by that user and, for OpenShift's arbitrary uids, by group 0.
RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} + \
 && mkdir -p /home/lab \
 && chown 10001:0 /home/lab \
 && chmod g=u /home/lab
ENV HOME=/home/lab
WORKDIR /work
USER 10001
ENTRYPOINT ["nonroot-lab"]
CMD ["--help"]
