# Shared by the image scripts (sourced): names, paths and the podman settings that work here as root.
# shellcheck shell=bash
DEPLOY_IMAGE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$DEPLOY_IMAGE_DIR/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$DEPLOY_IMAGE_DIR/containers.conf}"
export CONTAINERS_STORAGE_CONF="${CONTAINERS_STORAGE_CONF:-$DEPLOY_IMAGE_DIR/storage.conf}"
CLINNLP_IMAGE="${CLINNLP_IMAGE:-localhost/clinnlp:dev}"
CLINNLP_BASE_IMAGE="${CLINNLP_BASE_IMAGE:-localhost/clinnlp-base:bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# podman with the storage and runtime settings above (vfs, runc, cgroupfs come from the two files).
ctr() {
    podman "$@"
}

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "$1 needs root (debootstrap and podman with vfs storage here run as root)" >&2
        exit 1
    fi
}
