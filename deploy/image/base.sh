#!/usr/bin/env bash
# Makes the local base image: Debian bookworm (Python 3.11) from Debian packages with debootstrap, imported into
# podman, for machines that cannot reach an image registry. Does nothing when the image already exists.
# Elsewhere, the Dockerfile's default base (python:3.11-slim) needs none of this.
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_root "making the base image"
"$DEPLOY_IMAGE_DIR/tools.sh"

if ctr image exists "$CLINNLP_BASE_IMAGE"; then
    echo "base image $CLINNLP_BASE_IMAGE exists" >&2
    exit 0
fi
start=$(date +%s)
rootfs=$(mktemp -d /var/tmp/clinnlp-rootfs.XXXXXX)
chmod 0755 "$rootfs"  # it becomes the image's /: mktemp's 0700 would lock every non-root user out
trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
echo "debootstrap bookworm from $DEBIAN_MIRROR (about 3 minutes)" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$DEBIAN_MIRROR" \
    >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
# Security updates, then drop what an image never reads (package caches and lists, docs, man pages, locales).
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR bookworm main
deb $DEBIAN_MIRROR bookworm-updates main
deb ${DEBIAN_MIRROR%/debian}/debian-security bookworm-security main
SOURCES
chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq \
    && apt-get clean' >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log
tar --numeric-owner -C "$rootfs" -c . | ctr import --quiet \
    --change 'ENV LANG=C.UTF-8' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$CLINNLP_BASE_IMAGE" >/dev/null
echo "base image $CLINNLP_BASE_IMAGE made in $(( $(date +%s) - start )) s" >&2
