#!/usr/bin/env bash
# Set up inject on a Debian 12 machine (as root): Debian's libguestfs stack, a virtualenv
# in .venv with inject installed, and the guestfs binding exposed to that virtualenv.
#
#   bash tools/setup.sh            # install only
#   bash tools/setup.sh demo       # install, then run the demo (inject demo)
#   bash tools/setup.sh demo --boot  # the demo on the bootable Debian guest image, then
#                                  # boot it and show what the guest sees
#                                  # (tools/guest_demo.py; 6-8 minutes the first time)
#   bash tools/setup.sh test       # install, start PostgreSQL, RabbitMQ and Keystone
#                                  # on loopback (tools/postgresql.sh, rabbitmq.sh,
#                                  # keystone.sh), run the whole test suite
#
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
venv=$top/.venv
export DEBIAN_FRONTEND=noninteractive

# mmdebstrap builds the guest image the guest tests boot (tools/guest_image.py), whose
# SSH client they log in with.
debs=(python3-guestfs libguestfs-tools qemu-system-x86 qemu-utils linux-image-amd64
      python3-venv python3-dev mmdebstrap openssh-client)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# supermin builds the appliance from the host kernel, which must be readable.
for k in /boot/vmlinuz-*; do [ -r "$k" ] && chmod 0644 "$k" || true; done

# The binding is built for Debian's python3, so the virtualenv uses that interpreter.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# Expose only the guestfs binding (not all of dist-packages) to the virtualenv.
for f in /usr/lib/python3/dist-packages/guestfs.py /usr/lib/python3/dist-packages/libguestfsmod.cpython-311-*.so; do
  ln -sf "$f" "$site/$(basename "$f")"
done
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q -e "$top[test]"
"$venv/bin/python" -c 'import guestfs, inject.vfs; inject.vfs.load_driver()' \
  || { echo "setup: the guestfs binding is not importable from $venv" >&2; exit 1; }
echo "setup: ready ($venv)"

case "${1:-}" in
  "") ;;
  demo) shift
        args=()
        boot=
        for arg in "$@"; do
          if [ "$arg" = --boot ]; then boot=1; else args+=("$arg"); fi
        done
        if [ -n "$boot" ]; then
          exec "$venv/bin/python" "$top/tools/guest_demo.py" "${args[@]}"
        fi
        exec "$venv/bin/inject" demo "$@" ;;
  test) shift
        # The API's database tests run against a real PostgreSQL server on loopback.
        INJECT_TEST_POSTGRESQL_URL=$(bash "$top/tools/postgresql.sh" | tail -1)
        export INJECT_TEST_POSTGRESQL_URL
        # The agent's multi-host tests run two agents over a real RabbitMQ on loopback.
        INJECT_TEST_TRANSPORT_URL=$(bash "$top/tools/rabbitmq.sh" | tail -1)
        export INJECT_TEST_TRANSPORT_URL
        # cloud-init (Debian's package, unpacked, not installed) reads the config drives.
        INJECT_TEST_CLOUDINIT_DIR=$(bash "$top/tools/cloudinit.sh" | tail -1)
        export INJECT_TEST_CLOUDINIT_DIR
        # Policy, vendordata and auth_token tests get real tokens from a real Keystone
        # on loopback (tools/keystone.sh; the layout is tests/keystone.py's).
        INJECT_TEST_KEYSTONE_URL=$(bash "$top/tools/keystone.sh" | tail -1)
        export INJECT_TEST_KEYSTONE_URL
        exec "$venv/bin/python" -m pytest "$@" ;;
  *) echo "usage: tools/setup.sh [demo|test] [args...]" >&2; exit 2 ;;
esac
