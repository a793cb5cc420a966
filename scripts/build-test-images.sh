#!/usr/bin/env bash
# Builds real Debian container images for tests and benchmarks, from the Debian
# archive that apt on this machine already uses. Needs root.
#
#   build-test-images.sh [OUT_DIR]      (default: $POSTWATCH_TEST_IMAGES or /var/cache/postwatch-test-images)
#
# For each image NAME it writes, in OUT_DIR:
#   NAME.rootfs/          the root filesystem (a directory)
#   NAME.docker.tar       a `docker save` tarball (manifest.json + layer tar)
#   NAME.oci/             an OCI image layout (gzip layer)
#   NAME.oci.tar          the same layout as one tar
#   NAME.dpkg.tsv         ground truth: package<TAB>version<TAB>source<TAB>arch, from dpkg-query
# Images: bookworm-minbase, bookworm-py (+python3 openssl curl ca-certificates),
#         bullseye-py (Debian 11: +python3 openssl ca-certificates),
#         bookworm-layered: bookworm-py plus a second layer, made by umoci, that purges
#         curl and libcurl4 with dpkg and deletes os-release (whiteouts in a real layer);
#         written as NAME.oci (gzip), NAME.oci-zstd (zstd layers, by skopeo) and
#         NAME.docker.tar, with NAME.dpkg.tsv read from the modified root.
#         bookworm-pyapp: bookworm with python3-requests from Debian (its egg-info is
#         owned by dpkg) plus a second layer with an application's pinned old Python
#         dependencies (/app/site-packages, the dist-info sets of testdata/pkgdb/python);
#         written as NAME.docker.tar, NAME.oci and NAME.rootfs, with NAME.dpkg.tsv and
#         NAME.pypi.tsv (name<TAB>version of every dist-info in the app layer).
# (postwatch copy: adds bookworm-layered and bookworm-pyapp to the shared script.)
# An image already built is kept. Takes about 5 minutes on 2 cores the first time.
# Package versions follow the archive, so compare against NAME.dpkg.tsv, never against
# stored lists.
set -euo pipefail

out=${1:-${POSTWATCH_TEST_IMAGES:-/var/cache/postwatch-test-images}}
mkdir -p "$out"

need=()
for tool in mmdebstrap umoci skopeo; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)

build() {
  local name=$1 suite=$2 include=$3
  if [ -f "$out/$name.dpkg.tsv" ] && [ -f "$out/$name.docker.tar" ]; then
    echo "$name: already built"; return
  fi
  local t0=$SECONDS work="$out/$name.tmp"
  rm -rf "$work" "$out/$name".*
  mkdir -p "$work"
  local inc=()
  [ -n "$include" ] && inc=(--include="$include")
  mmdebstrap --quiet --variant=minbase "${inc[@]}" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$suite" "$work/layer.tar" "$mirror"
  mkdir -p "$out/$name.rootfs"
  tar -C "$out/$name.rootfs" --numeric-owner --exclude='./dev/*' -xf "$work/layer.tar" 2>/dev/null || true
  dpkg-query --admindir="$out/$name.rootfs/var/lib/dpkg" -W \
    -f='${Package}\t${Version}\t${source:Package}\t${Architecture}\n' | sort > "$out/$name.dpkg.tsv"
  umoci init --layout "$work/oci"
  umoci new --image "$work/oci:1"
  umoci raw add-layer --image "$work/oci:1" "$work/layer.tar"
  umoci config --image "$work/oci:1" --config.cmd /bin/bash --os linux --architecture amd64
  umoci gc --layout "$work/oci"
  mv "$work/oci" "$out/$name.oci"
  tar -C "$out/$name.oci" -cf "$out/$name.oci.tar" .
  skopeo copy -q "oci:$out/$name.oci:1" "docker-archive:$out/$name.docker.tar:postwatch-test/$name:1"
  rm -rf "$work"
  echo "$name: $(wc -l < "$out/$name.dpkg.tsv") packages, $((SECONDS - t0)) s"
}

# A two-layer image whose top layer removes things, so whiteouts are real.
build_layered() {
  local name=bookworm-layered base=bookworm-py
  if [ -f "$out/$name.dpkg.tsv" ] && [ -d "$out/$name.oci-zstd" ] && [ -f "$out/$name.docker.tar" ]; then
    echo "$name: already built"; return
  fi
  local t0=$SECONDS work="$out/$name.tmp"
  rm -rf "$work" "$out/$name".*
  mkdir -p "$work"
  cp -a "$out/$base.oci" "$work/oci"
  umoci unpack --image "$work/oci:1" "$work/bundle" >/dev/null
  chroot "$work/bundle/rootfs" dpkg --purge --force-depends curl libcurl4 >/dev/null
  rm -f "$work/bundle/rootfs/etc/os-release" "$work/bundle/rootfs/usr/lib/os-release"
  dpkg-query --admindir="$work/bundle/rootfs/var/lib/dpkg" -W \
    -f='${Package}\t${Version}\t${source:Package}\t${Architecture}\n' | sort > "$out/$name.dpkg.tsv"
  umoci repack --image "$work/oci:1" "$work/bundle"
  umoci gc --layout "$work/oci"
  mv "$work/oci" "$out/$name.oci"
  skopeo copy -q --dest-compress-format zstd --dest-compress "oci:$out/$name.oci:1" "oci:$out/$name.oci-zstd:1"
  skopeo copy -q "oci:$out/$name.oci:1" "docker-archive:$out/$name.docker.tar:postwatch-test/$name:1"
  rm -rf "$work"
  echo "$name: $(wc -l < "$out/$name.dpkg.tsv") packages, $((SECONDS - t0)) s"
}

# Debian's python3-requests plus an app layer of pinned old PyPI packages.
build_pyapp() {
  local name=bookworm-pyapp
  local here; here=$(cd "$(dirname "$0")/.." && pwd)
  if [ -f "$out/$name.pypi.tsv" ] && [ -f "$out/$name.docker.tar" ]; then
    echo "$name: already built"; return
  fi
  local t0=$SECONDS work="$out/$name.tmp"
  rm -rf "$work" "$out/$name".*
  mkdir -p "$work/app/app/site-packages"
  mmdebstrap --quiet --variant=minbase --include=python3,python3-requests \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$work/layer.tar" "$mirror"
  cp -r "$here"/testdata/pkgdb/python/site-packages/*.dist-info "$work/app/app/site-packages/"
  tar -C "$work/app" --numeric-owner --owner=0 --group=0 -cf "$work/app.tar" app
  mkdir -p "$out/$name.rootfs"
  tar -C "$out/$name.rootfs" --numeric-owner --exclude='./dev/*' -xf "$work/layer.tar" 2>/dev/null || true
  tar -C "$out/$name.rootfs" -xf "$work/app.tar"
  dpkg-query --admindir="$out/$name.rootfs/var/lib/dpkg" -W \
    -f='${Package}\t${Version}\t${source:Package}\t${Architecture}\n' | sort > "$out/$name.dpkg.tsv"
  for d in "$work"/app/app/site-packages/*.dist-info; do
    awk -F': ' '/^Name: /{n=$2} /^Version: /{v=$2} /^$/{exit} END{print n "\t" v}' "$d/METADATA"
  done | sort > "$out/$name.pypi.tsv"
  umoci init --layout "$work/oci"
  umoci new --image "$work/oci:1"
  umoci raw add-layer --image "$work/oci:1" "$work/layer.tar"
  umoci raw add-layer --image "$work/oci:1" "$work/app.tar"
  umoci config --image "$work/oci:1" --config.cmd /usr/bin/python3 --os linux --architecture amd64
  umoci gc --layout "$work/oci"
  mv "$work/oci" "$out/$name.oci"
  skopeo copy -q "oci:$out/$name.oci:1" "docker-archive:$out/$name.docker.tar:postwatch-test/$name:1"
  rm -rf "$work"
  echo "$name: $(wc -l < "$out/$name.dpkg.tsv") dpkg + $(wc -l < "$out/$name.pypi.tsv") PyPI packages, $((SECONDS - t0)) s"
}

build bookworm-minbase bookworm ""
build bookworm-py bookworm "python3,openssl,curl,ca-certificates"
build bullseye-py bullseye "python3,openssl,ca-certificates"
build_layered
build_pyapp
echo "images in $out"
