"""Nova's own injection, for tools/benchmark.py: run with the benchmark's Nova virtualenv.

    nova-venv/bin/python tools/bench_nova_peer.py PARTITION DISK [DISK...]

Injects the benchmark's files and key into each disk in turn with
nova.virt.disk.api.inject_data, as the libvirt driver does (mandatory files and key),
after force_tcg() as the driver does when virt_type is not kvm. Prints one JSON line.
"""

import json
import os
import sys
import time

os.environ.setdefault('LIBGUESTFS_BACKEND_SETTINGS', 'force_tcg')

import nova.conf  # noqa: E402
from nova.virt.disk import api as disk_api  # noqa: E402
from nova.virt.disk.vfs import guestfs as vfs_guestfs  # noqa: E402
from nova.virt.image import model as imgmodel  # noqa: E402


def main():
    partition = int(sys.argv[1])
    files = json.loads(os.environ['BENCH_FILES'])
    key = os.environ['BENCH_KEY']
    nova.conf.CONF([], project='nova')
    vfs_guestfs.force_tcg()
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
