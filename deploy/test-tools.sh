#!/usr/bin/env bash
# Installs the system tools that some tests need, when they are missing: PostgreSQL's server (throwaway clusters
# for the job and key store tests) and podman/buildah/runc/debootstrap (the image). Debian/Ubuntu, as root.
# Without root or apt it says what is missing and carries on: those tests then skip and say why.
set -uo pipefail

missing=()
pg_bindir() {
    command -v pg_ctl >/dev/null && return 0
    compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}
pg_bindir || missing+=(postgresql)
for tool in podman buildah runc debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "WARNING: missing ${missing[*]} and cannot install them here (needs root and apt-get):" \
         "the PostgreSQL and image tests will skip" >&2
    exit 0
fi
echo "installing ${missing[*]} (apt-get)" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "WARNING: apt-get install ${missing[*]} failed: those tests will skip" >&2
exit 0
