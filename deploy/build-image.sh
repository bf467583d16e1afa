#!/usr/bin/env bash
# Builds dnstrace's container image with podman from a release binary,
# FROM scratch: the binary (stripped) and the shared libraries ldd says it
# loads, at the same paths, so the C library it was linked against is the
# one it runs with. No registry is needed.
#
# Usage: deploy/build-image.sh [BINARY] [IMAGE]
#   BINARY  default target/release/dnstrace (cargo build --release first)
#   IMAGE   default localhost/dnstrace:<version from Cargo.toml>
# Extra podman options (e.g. --cgroup-manager=cgroupfs): PODMAN_OPTS.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/release/dnstrace}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
image=${2:-localhost/dnstrace:$version}
[ -x "$bin" ] || { echo "build-image: no binary at $bin (cargo build --release)" >&2; exit 1; }

ctx=$(mktemp -d "${TMPDIR:-/tmp}/dnstrace-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/bin"
strip -o "$root/usr/bin/dnstrace" "$bin"
# Each library ldd resolves ("name => /path (addr)") and the loader
# ("/lib64/ld-linux-x86-64.so.2 (addr)"), with the links that lead to it.
# A library it cannot find stops the build.
if ldd "$bin" | grep -q 'not found'; then
    echo "build-image: $bin needs libraries this machine lacks:" >&2
    ldd "$bin" >&2
    exit 1
fi
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
# /etc/localtime absent: text output in UTC (JSON is always UTC).
cp deploy/Containerfile "$ctx/Containerfile"
# shellcheck disable=SC2086
podman ${PODMAN_OPTS:-} build --quiet --no-cache --tag "$image" --file "$ctx/Containerfile" "$ctx" >/dev/null
size=$(podman ${PODMAN_OPTS:-} image inspect --format '{{.Size}}' "$image")
echo "build-image: $image, $size bytes: $(cd "$root" && find . -type f | sort | tr '\n' ' ')"
