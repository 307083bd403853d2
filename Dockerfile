# qtestd as a service: a fresh emulated aarch64 `virt` machine per qtest connection.
#   podman build -t qtestd .        (or docker build)
#   podman run -p 127.0.0.1:3737:3737 -p 127.0.0.1:3738:3738 qtestd
# Inside the container it listens on all interfaces (--listen-all: the container's own network);
# publish the ports on loopback as above, unless the whole network may open sessions.
# qtest on TCP 3737, HTTP on 3738 (WebSocket /qtest and /qmp?session=ID, /healthz, /readyz,
# /metrics, /sessions); per-session QMP sockets and the qtest UNIX socket live in /tmp/qtestd.

# --- build: compile the TypeScript ------------------------------------------------------------
FROM node:20-bookworm-slim AS build
LABEL org.opencontainers.image.title="qtestd"
WORKDIR /src
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
# `prepare` would run tsc before the sources are here: scripts off, build explicitly below
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p . && test -f dist/src/cli/qtestd.js

# --- runtime: production dependencies, compiled JavaScript, a non-root user ---------------------
FROM node:20-bookworm-slim
LABEL org.opencontainers.image.title="qtestd" \
      org.opencontainers.image.description="qtest + QMP stand-in for qemu-system-aarch64: a fresh emulated virt machine per connection"
ENV NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf /root/.npm /tmp/* \
 && groupadd --gid 10001 qtestd \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin qtestd
COPY --from=build /src/dist/src ./dist/src
COPY bin/qtestd ./bin/qtestd
COPY protocol ./protocol
# numeric, so that Kubernetes' runAsNonRoot can verify it
USER 10001:10001
EXPOSE 3737 3738
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:3738/healthz', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).setTimeout(2500, () => process.exit(1))"]
# qtestd drains on SIGTERM: open sessions get the replies in flight, then it exits 0 (< 1 s)
STOPSIGNAL SIGTERM
CMD ["bin/qtestd", "--listen-all", "--tcp", "0.0.0.0:3737", "--http", "0.0.0.0:3738", "--unix", "/tmp/qtestd/qtest.sock", "--run-dir", "/tmp/qtestd"]
