#!/usr/bin/env bash
# Unpack Debian's cloud-init package (not on PyPI) into a cache directory, to be used as a
# library by the tests (the oracle that reads our config drives and metadata service);
# print, on the last line, the directory that holds the `cloudinit` package (what
# INJECT_TEST_CLOUDINIT_DIR is set to).
#
#   bash tools/cloudinit.sh            # as root (apt-get update when the lists lack it)
#
# Nothing is installed: the .deb is downloaded and extracted with dpkg-deb -x. Its Python
# dependencies come from inject's `test` extra (PyYAML, Jinja2, jsonschema, jsonpatch,
# requests, configobj). Idempotent: a second run reuses the unpacked tree.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cache=${INJECT_CLOUDINIT_CACHE:-/var/tmp/inject-tests/cloud-init}
site=$cache/root/usr/lib/python3/dist-packages

if [ ! -f "$cache/.ready" ] || [ ! -d "$site/cloudinit" ]; then
  rm -rf "$cache"
  mkdir -p "$cache/download"
  cd "$cache/download"
  # apt downloads as its own user where it can (no "unsandboxed" warning).
  id _apt >/dev/null 2>&1 && chown _apt "$cache/download" || true
  if ! apt-cache show cloud-init >/dev/null 2>&1; then
    echo "cloudinit: apt-get update (the package lists do not have cloud-init)" >&2
    apt-get update -q >&2
  fi
  echo "cloudinit: downloading Debian's cloud-init" >&2
  apt-get download -q cloud-init >&2 2>&1 || { apt-get update -q >&2; apt-get download -q cloud-init >&2; }
  deb=$(ls cloud-init_*.deb | head -1)
  dpkg-deb -x "$deb" "$cache/root"
  dpkg-deb -f "$deb" Version > "$cache/version"
  [ -d "$site/cloudinit" ] || { echo "cloudinit: no cloudinit package in $deb" >&2; exit 1; }
  touch "$cache/.ready"
fi
echo "cloudinit: cloud-init $(cat "$cache/version") unpacked in $cache/root" >&2
echo "$site"
