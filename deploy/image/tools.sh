#!/usr/bin/env bash
# Installs what the image scripts use when it is missing: podman, buildah and runc (Debian's packages build
# and run images without a daemon) and debootstrap (the local base image). Debian/Ubuntu with apt, as root.
set -euo pipefail
source "$(dirname "$0")/common.sh"

missing=()
for tool in podman:podman buildah:buildah runc:runc debootstrap:debootstrap; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
need_root "installing ${missing[*]}"
command -v apt-get >/dev/null || { echo "no apt-get here: install ${missing[*]} yourself" >&2; exit 1; }
echo "installing ${missing[*]} (apt-get)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
