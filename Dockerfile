# syntax=docker/dockerfile:1
# fapi-gateway container image: the gateway (default command) and the issuer (`issuer --config FILE`).
#
# Build:  docker build -t fapi-gateway:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# Run:    docker run --read-only --tmpfs /tmp -v ./config:/etc/fapi-gateway/config:ro ... fapi-gateway:0.1.0
#
# Pin NODE_IMAGE by digest in your registry mirror (node:24.22.3-bookworm-slim@sha256:...) for reproducible
# builds; the tag below is Node 24 LTS on Debian 12, the platform the test suite runs on.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# --- build: dev dependencies + TypeScript -> dist/ ---------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies only, read-only, non-root --------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="fapi-gateway" \
      org.opencontainers.image.description="FAPI gateway (mTLS, RFC 8705 certificate-bound tokens, FAPI headers) and FAPI token issuer" \
      org.opencontainers.image.source="https://github.com/fapi-gateway/fapi-gateway" \
      org.opencontainers.image.documentation="https://github.com/fapi-gateway/fapi-gateway#readme" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="fapi-gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

# tini as PID 1: the kernel gives PID 1 no default signal actions and nothing else reaps orphaned
# processes; tini forwards SIGTERM to node (which drains, then exits) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; lifecycle scripts off; npm itself is removed afterwards (nothing at
# runtime installs packages, and a smaller image has less to patch).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --cache /tmp/npm-cache \
 && rm -rf /tmp/npm-cache /root/.npm \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
COPY --from=build /src/dist ./dist

# Everything under /app stays owned by root and read-only for the runtime user: the process cannot
# modify its own code. It writes nothing; mount /tmp (emptyDir/tmpfs) and run with a read-only root.
ENV NODE_ENV=production
USER 10001:10001
EXPOSE 8443 9464
STOPSIGNAL SIGTERM
# No Node flags here: the CLI gives itself the V8 heap settings it needs (src/cli/v8-heap.ts), so the image,
# the npm bin and `node dist/cli/main.js` run the same. npm run bench reads the flags (none) from this line.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["gateway", "--config", "/etc/fapi-gateway/config/gateway.yaml"]
