# Both images from one file, chosen with --target:
#
#   docker build --target proxy  -t pushprox-ts-proxy  .
#   docker build --target client -t pushprox-ts-client .
#
# Without --target, docker builds the last stage (proxy).
# The final images hold only Node.js, production dependencies, the packages'
# package.json, bin/ and compiled dist/src (no TypeScript, no tests). They run
# as the unprivileged `node` user (uid 1000).

ARG NODE_IMAGE=node:20-bookworm-slim

# --- manifests: the workspace's package files only, so the npm ci layers below
# are rebuilt only when dependencies change, not on every source edit.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY packages/proxy/package.json packages/proxy/
COPY packages/client/package.json packages/client/
# npm ci checks every workspace named in package.json against the lock file.
COPY e2e/package.json e2e/

# --- build: all dependencies (TypeScript included), then compile.
# --ignore-scripts skips the root `prepare` (tsc -b), which cannot run before
# the sources are copied; the build runs explicitly below.
FROM manifests AS build
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.base.json ./
COPY packages/ packages/
RUN npx tsc -b packages/proxy packages/client

# --- deps: production dependencies only (no TypeScript, no @types).
FROM manifests AS deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: what both programs need.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# glibc gives threads that call malloc their own arena; V8's helper threads
# then keep ~10 MB of a 36 MB arena in about half of all starts (seen with
# /proc/<pid>/smaps on an idle client). Two arenas: no such arena in 6 starts
# of 6, and the same CPU per scrape.
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/packages/shared/package.json packages/shared/
COPY --from=build /app/packages/shared/dist/src/ packages/shared/dist/src/
# Files above stay owned by root: the programs can read but not change them.
USER node
STOPSIGNAL SIGTERM

# --- client: pushprox-client; metrics on :9369.
FROM runtime AS client
COPY --from=build /app/packages/client/package.json packages/client/
COPY --from=build /app/packages/client/bin/ packages/client/bin/
COPY --from=build /app/packages/client/dist/src/ packages/client/dist/src/
EXPOSE 9369
ENTRYPOINT ["node", "/app/packages/client/bin/pushprox-client.js"]

# --- proxy: pushprox-proxy on :8080.
FROM runtime AS proxy
COPY --from=build /app/packages/proxy/package.json packages/proxy/
COPY --from=build /app/packages/proxy/bin/ packages/proxy/bin/
COPY --from=build /app/packages/proxy/dist/src/ packages/proxy/dist/src/
EXPOSE 8080
ENTRYPOINT ["node", "/app/packages/proxy/bin/pushprox-proxy.js"]
