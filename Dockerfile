# syntax=docker/dockerfile:1
#
# The production image: the Node build of the server (dist/, compiled by tsc), production
# dependencies only, run as the unprivileged `node` user with embedded data under /data.
#
#   docker build -t chat .
#   docker run -p 8080:8080 -v chat-data:/data chat
#   docker exec <container> node dist/src/cli/main.node.js token alice
#
# Configuration is the CHAT_* environment (docs/); in production pass CHAT_JWT_SECRET and
# CHAT_MASTER_KEY as secrets rather than letting embedded mode generate them into /data.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile src/, actors/, core/, storage/ to dist/, bundle the server --------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Only tsc runs in this stage: no install script is needed (the `deno` devDependency's would
# copy a 100 MB binary for nothing).
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY actors ./actors
COPY core ./core
COPY storage ./storage
COPY scripts/bundle.mjs ./scripts/bundle.mjs
# tsc, then esbuild bundles the server into dist/bundle/node/ (what CMD runs: a start loads
# one file instead of Effect's few hundred modules).
RUN npm run build
# The web chat served at `/`: bundled from clients/web/ (the SDK included) by esbuild.
COPY clients ./clients
RUN npx tsx clients/web/build.ts

# --- deps: production node_modules, without the dev tools ---------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The built server needs no install script: the packages that have one (esbuild for tsx,
# @parcel/watcher, msgpackr-extract) are unused at run time or fall back to plain JS.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime --------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    CHAT_DATA_DIR=/data \
    CHAT_PORT=8080 \
    CHAT_HOST=0.0.0.0
WORKDIR /app
# package.json marks the compiled .js files as ES modules ("type": "module").
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# src/http/web.ts reads ../../clients/web/dist/ relative to itself: dist/clients/web/dist.
COPY --from=build /app/clients/web/dist ./dist/clients/web/dist
# storage/sql/migrations.node.ts reads ../../sql/ relative to itself: dist/sql for the build.
COPY sql ./dist/sql
# storage/scylla/schema.node.ts reads ../../schema.cql relative to itself: dist/schema.cql.
COPY schema.cql ./dist/schema.cql
# Created here so a new named volume starts out owned by the user the server runs as.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# The server's graceful shutdown (sockets closed with 1001, actors drained) runs on SIGTERM.
STOPSIGNAL SIGTERM
# The slim image has no curl; node's fetch does the probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.CHAT_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/bundle/node/main.js"]
