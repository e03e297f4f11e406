"""Nova's own injection, for tools/benchmark.py: run with the benchmark's Nova virtualenv.

    nova-venv/bin/python tools/bench_nova_peer.py PARTITION DISK [DISK...]

Injects the benchmark's files and key into each disk in turn with
nova.virt.disk.api.inject_data, as the libvirt driver does (mandatory files and key),
after force_tcg() as the driver does when virt_type is not kvm (BENCH_ACCELERATOR tcg, the
default; with kvm, LIBGUESTFS_BACKEND_SETTINGS=force_kvm from the benchmark decides), and
after the one-time capability probe a running nova-compute has already done. Prints one
JSON line with each disk's time.
"""

import json
import os
import sys
import time

os.environ.setdefault('LIBGUESTFS_BACKEND_SETTINGS', 'force_tcg')

import nova.conf  # noqa: E402
from nova.virt.disk import api as disk_api  # noqa: E402
from nova.virt.disk.vfs import api as vfs_api  # noqa: E402
from nova.virt.disk.vfs import guestfs as vfs_guestfs  # noqa: E402
from nova.virt.image import model as imgmodel  # noqa: E402


def main():
    partition = int(sys.argv[1])
    files = json.loads(os.environ['BENCH_FILES'])
    key = os.environ['BENCH_KEY']
    nova.conf.CONF([], project='nova')
    if os.environ.get('BENCH_ACCELERATOR', 'tcg') == 'tcg':
        vfs_guestfs.force_tcg()
    # A running nova-compute has already paid its one-time capability probe (a whole
    # appliance launch): pay it here, untimed, so the loop below is Nova's steady state.
    vfs_api.VFS.instance_for_image(
        imgmodel.LocalFileImage(sys.argv[2], imgmodel.FORMAT_QCOW2), partition)
    results = []
    for disk in sys.argv[2:]:
        start = time.monotonic()
        ok = disk_api.inject_data(
            imgmodel.LocalFileImage(disk, imgmodel.FORMAT_QCOW2), key=key,
            files=[(path, content.encode()) for path, content in files],
            partition=partition, mandatory=('files', 'key'))
        results.append({'disk': disk, 'ok': bool(ok), 'seconds': time.monotonic() - start})
    print(json.dumps(results))


if __name__ == '__main__':
    main()
