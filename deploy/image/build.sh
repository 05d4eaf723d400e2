#!/usr/bin/env bash
# Builds the image from the Dockerfile with podman (no Docker daemon): on the local Debian base (base.sh), with
# the host's pip settings and the local folders they name mounted for the build only, never copied into the
# image. Prints the build time and the image size. Needs root and the package index (run it outside any
# network-less namespace). Environment: CLINNLP_IMAGE (tag), CLINNLP_BASE_IMAGE, PYTHON (whose pip settings).
#   --for-tests  what `make test` runs: nothing when the image of this tree exists; a loud warning instead of
#                a failure where it cannot be built (not root, no podman): the image tests then skip.
set -euo pipefail
source "$(dirname "$0")/common.sh"
if [ "${1:-}" = "--for-tests" ]; then
    if [ "$(id -u)" != 0 ] || { ! command -v podman >/dev/null && ! command -v apt-get >/dev/null; }; then
        echo "WARNING: cannot build the image here (needs root and podman or apt-get): the image tests skip" >&2
        exit 0
    fi
    if command -v podman >/dev/null && ctr image exists "$CLINNLP_IMAGE" && [ "$(ctr image inspect --format \
            '{{index .Labels "org.clinnlp.source"}}' "$CLINNLP_IMAGE")" = "$("${PYTHON:-python3}" \
            "$DEPLOY_IMAGE_DIR/source_hash.py")" ]; then
        echo "image $CLINNLP_IMAGE is up to date with this tree" >&2
        exit 0
    fi
fi
need_root "building the image"
"$DEPLOY_IMAGE_DIR/base.sh"

work=$(mktemp -d /var/tmp/clinnlp-build.XXXXXX)
# An interrupted build leaves its working containers (full copies of the tree): remove them too.
trap 'rm -rf "$work"; buildah rm --all >/dev/null 2>&1 || true' EXIT
mounts=(--volume "$work:/run/host-pip:ro")
while read -r path; do
    mounts+=(--volume "$path:$path:ro")
done < <("${PYTHON:-python3}" "$DEPLOY_IMAGE_DIR/pip_settings.py" "$work/pip.conf")

source_hash=$("${PYTHON:-python3}" "$DEPLOY_IMAGE_DIR/source_hash.py")
start=$(date +%s)
# --isolation chroot and --network host: what runs here without user namespaces or a network daemon. With vfs
# storage every cached layer is a full copy of the file tree (2.5 GB each), so the image's own layers are
# squashed into one and no layer cache is kept (--squash implies it): a build then needs a few times the image
# size on disk, not 15 times.
ctr build --isolation chroot --network host --format docker --squash --force-rm \
    --build-arg "BASE_IMAGE=$CLINNLP_BASE_IMAGE" \
    --build-arg PIP_CONFIG_FILE=/run/host-pip/pip.conf \
    --build-arg TORCH_INDEX_URL= --label "org.clinnlp.source=$source_hash" \
    "${mounts[@]}" --tag "$CLINNLP_IMAGE" --file "$REPO_ROOT/Dockerfile" "$REPO_ROOT"
seconds=$(( $(date +%s) - start ))
# Dangling images are older builds of this tag; the named base stays.
ctr image prune --force >/dev/null
size=$(ctr image inspect --format '{{.Size}}' "$CLINNLP_IMAGE")
echo "image $CLINNLP_IMAGE built in ${seconds} s; size $(( size / 1000000 )) MB"
