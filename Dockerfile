# Both images from one file, chosen with --target, made of the release's
# single executables (node and the program in one file; see scripts/release/):
#
#   npm ci && npm run release        # release/pushprox-proxy, release/pushprox-client
#   docker build --target proxy  -t pushprox-ts-proxy  .
#   docker build --target client -t pushprox-ts-client .
#
# Without --target, docker builds the last stage (proxy). The images hold
# Debian's base system and one executable each: no Node.js, no node_modules.
# They run as the unprivileged user pushprox. .dockerignore sends only the
# two executables as the build context.

ARG BASE_IMAGE=debian:bookworm-slim

# --- runtime: what both programs need. The executables link only libc,
# libstdc++ and libgcc_s, which the base image has (apt needs them too).
FROM ${BASE_IMAGE} AS runtime
RUN useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pushprox
# glibc gives threads that call malloc their own arena; V8's helper threads
# then keep ~10 MB of a 36 MB arena in about half of all starts (seen with
# /proc/<pid>/smaps on an idle client). Two arenas: no such arena in 6 starts
# of 6, and the same CPU per scrape.
ENV MALLOC_ARENA_MAX=2
WORKDIR /
# Files copied below stay owned by root (mode 0755 as built): the programs can
# run but not change them.
USER pushprox
STOPSIGNAL SIGTERM

# --- client: pushprox-client; metrics on :9369.
FROM runtime AS client
COPY release/pushprox-client /usr/bin/pushprox-client
EXPOSE 9369
ENTRYPOINT ["/usr/bin/pushprox-client"]

# --- proxy: pushprox-proxy on :8080.
FROM runtime AS proxy
COPY release/pushprox-proxy /usr/bin/pushprox-proxy
EXPOSE 8080
ENTRYPOINT ["/usr/bin/pushprox-proxy"]
