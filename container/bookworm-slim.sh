#!/bin/sh
# bookworm-slim.sh [TAG]: builds the Dockerfile's base image, debian:bookworm-slim, from Debian's own mirror with
# mmdebstrap and imports it into podman's local storage as TAG (default docker.io/library/debian:bookworm-slim, the
# name `FROM debian:bookworm-slim` resolves to), for machines that reach Debian's mirrors but no container registry
# (spec/container_spec.rb). Like the official image: the minbase variant (Essential + apt), no manual pages, info
# pages, translations or documentation but the copyright files, apt lists removed, sources for bookworm,
# bookworm-updates and bookworm-security. Needs root, mmdebstrap and podman; about 30 s and 75 MB.
set -eu
tag=${1:-docker.io/library/debian:bookworm-slim}
mirror=${BOOKA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${BOOKA_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/groff/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    bookworm "$work/rootfs.tar" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
podman import --quiet --change 'CMD ["bash"]' "$work/rootfs.tar" "$tag" >/dev/null
echo "bookworm-slim: $tag"
