#!/usr/bin/env bash
# A local stand-in for python:3.11-slim-bookworm, made from Debian's packages (no image
# registry is reachable here): a minbase bookworm root with Debian's Python 3.11 in a
# virtualenv at /usr/local, so that `python` and `pip` are where the official image has
# them. Imported straight into the engine (no `docker build`, nothing cached between runs).
#   sudo tests/deploy/make-base-image.sh [TAG]    (root: debootstrap and dockerd need it)
set -euo pipefail
TAG=${1:-local/python:3.11-slim-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOTFS=$(mktemp -d /tmp/coedit-rootfs.XXXXXX)
cleanup() {  # debootstrap may leave /proc (or device binds) mounted inside after a failure
  awk -v root="$ROOTFS/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$ROOTFS" "$MIRROR" >/dev/null
# pip inside a build verifies TLS with this machine's CA bundle (it may hold a proxy's CA).
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/host-ca.crt"
chroot "$ROOTFS" python3 -m venv /usr/local
# What python:3.11-slim leaves out too: docs, man pages, locales, apt's lists and caches.
rm -rf "$ROOTFS"/usr/share/{doc,man,info,locale}/* "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/log/*.log
tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt' \
  --change 'CMD ["python3"]' - "$TAG" >/dev/null
echo "$TAG"
