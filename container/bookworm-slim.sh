#!/bin/sh
# bookworm-slim.sh [TAG]: builds the Dockerfile's base image, debian:bookworm-slim, from Debian's own mirror with
# mmdebstrap and imports it into podman's local storage as TAG (default docker.io/library/debian:bookworm-slim, the
# name `FROM debian:bookworm-slim` resolves to), for machines that reach Debian's mirrors but no container registry
# (spec/container_spec.rb). Like the official image: the minbase variant (Essential + apt), no manual pages, info
# pages, translations or documentation but the copyright files, apt keeping no downloaded packages, sources for bookworm,
# bookworm-updates and bookworm-security. Needs root, mmdebstrap and podman; 0.5 to 4 minutes (the mirror's speed).
set -eu
tag=${1:-docker.io/library/debian:bookworm-slim}
mirror=${BOOKA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${BOOKA_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt in the image keeps no downloaded packages, package caches or translations (the official image's apt settings,
# which Dockerfiles rely on for small layers; mmdebstrap writes --aptopt into /etc/apt/apt.conf.d/99mmdebstrap)
clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true'
# merged /usr made by mmdebstrap's hook, as debootstrap does, instead of the usrmerge package (which would bring perl)
mmdebstrap --quiet --variant=minbase --mode=root --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/groff/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --aptopt="DPkg::Post-Invoke { \"$clean\"; };" --aptopt="APT::Update::Post-Invoke { \"$clean\"; };" \
    --aptopt='Dir::Cache::pkgcache "";' --aptopt='Dir::Cache::srcpkgcache "";' --aptopt='Acquire::Languages "none";' \
    bookworm "$work/rootfs.tar" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
# labelled with this script's checksum, so a cached base made by an older version of it can be told apart
sum=$(sha256sum "$0" | cut -d' ' -f1)
podman import --quiet --change 'CMD ["bash"]' --change "LABEL org.booka.bookworm-slim-sh=$sum" "$work/rootfs.tar" "$tag" >/dev/null
echo "bookworm-slim: $tag"
