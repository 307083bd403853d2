#!/bin/bash
# Builds a local stand-in for the public `node:20-bookworm-slim` image, for machines that cannot
# pull images: a Debian bookworm minbase root file system (debootstrap, from the host's apt
# mirror) plus this host's Node 20 runtime (node and npm), tagged exactly `node:20-bookworm-slim`
# so that `podman build --pull=never` of the project's Dockerfile uses it. Like the real image it
# has /usr/local/bin/{node,npm,npx} and a `node` user (1000:1000). The host's CA bundle goes in
# too (NODE_EXTRA_CA_CERTS), so that `npm ci` in the build trusts the same registry path as the host.
#
# Cached: the minbase tarball under $QTESTD_CONTAINER_CACHE (default /var/tmp/qtestd-container) and
# the image itself (rebuilt only when missing or when the host's node version changed). An image of
# that name that is not our stand-in (a real pulled one) is left alone.
#
# usage: tests/container/make-node-base.sh            (needs root, podman, debootstrap)
set -euo pipefail
TAG=${NODE_BASE_TAG:-node:20-bookworm-slim}
CACHE=${QTESTD_CONTAINER_CACHE:-/var/tmp/qtestd-container}
mkdir -p "$CACHE"

NODE_BIN=$(readlink -f "$(command -v node)")
NODE_VERSION=$("$NODE_BIN" --version)
case "$NODE_VERSION" in v20.*) ;; *) echo "make-node-base: host node is $NODE_VERSION, need v20" >&2; exit 1 ;; esac

if podman image exists "$TAG"; then
  label=$(podman image inspect --format '{{ index .Labels "qtestd.standin.node" }}' "$TAG" 2>/dev/null || true)
  if [ -z "$label" ] || [ "$label" = "<no value>" ]; then
    echo "make-node-base: $TAG exists and is not a stand-in: using it as is" >&2; exit 0
  fi
  if [ "$label" = "$NODE_VERSION" ]; then echo "make-node-base: $TAG stand-in (node $NODE_VERSION) is cached" >&2; exit 0; fi
fi

ROOTFS_TAR="$CACHE/bookworm-minbase.tar"
if [ ! -s "$ROOTFS_TAR" ]; then
  # the host's Debian mirror (deb822 .sources or one-line sources.list)
  MIRROR=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$MIRROR" ] || MIRROR=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
  echo "make-node-base: debootstrap minbase bookworm from $MIRROR (once, ~35 s)" >&2
  tmp=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  debootstrap --variant=minbase bookworm "$tmp/rootfs" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
  tar -C "$tmp/rootfs" -cf "$ROOTFS_TAR.part" .
  mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  rm -rf "$tmp"
  trap - EXIT
fi

work=$(mktemp -d "$CACHE/image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/rootfs"
tar -C "$work/rootfs" -xf "$ROOTFS_TAR"
R="$work/rootfs"
install -D -m 0755 "$NODE_BIN" "$R/usr/local/bin/node"
# npm (and whatever else lives beside the host's node: its lib dir)
NODE_PREFIX=$(dirname "$(dirname "$NODE_BIN")")
if [ -d "$NODE_PREFIX/lib/node_modules/npm" ]; then
  mkdir -p "$R/usr/local/lib/node_modules"
  cp -a "$NODE_PREFIX/lib/node_modules/npm" "$R/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
fi
if [ -d "$NODE_PREFIX/include/node" ]; then mkdir -p "$R/usr/local/include" && cp -a "$NODE_PREFIX/include/node" "$R/usr/local/include/"; fi
# the host's CA bundle: the registry is reached through the same path as from the host
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"
fi
# the `node` user of the official image
grep -q '^node:' "$R/etc/group" || echo 'node:x:1000:' >> "$R/etc/group"
grep -q '^node:' "$R/etc/passwd" || echo 'node:x:1000:1000::/home/node:/bin/bash' >> "$R/etc/passwd"
mkdir -p "$R/home/node" && chown 1000:1000 "$R/home/node"

tar -C "$R" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${NODE_VERSION#v}" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change "LABEL qtestd.standin.node=$NODE_VERSION" \
  --change 'CMD ["node"]' \
  - "$TAG" >/dev/null
echo "make-node-base: built $TAG (stand-in, node $NODE_VERSION)" >&2
