"""Where inspection found the root of a base image, remembered for the next disk on it.

``inject_partition = -1`` makes libguestfs inspect every disk for its operating system,
which costs 6-14 s under TCG. Disks built on the same base image (qcow2 overlays, as a
compute host makes them) have the same layout, so the mountpoints inspection found for
one are remembered, keyed by what identifies the base image's content, and the next disk
on that base mounts them directly. A disk whose layout no longer matches (a device is
gone, fails to mount, or the root has no /etc) is inspected again.

The key is the base file's identity and version (device, inode, size, modification
time) and a digest of its first MiB: a base image that is replaced or rewritten in place
gets a new key.
"""

import hashlib
import json
import os
import threading

from inject import fileutils

SAMPLE = 1024 * 1024


def key_for(chain):
    """The cache key of a disk's base image, or None for a disk with no backing file.

    ``chain`` is :meth:`inject.image.DiskImage.check`'s result, outermost first.
    """
    if not chain:
        return None
    base = chain[-1]
    st = os.stat(base.path)
    digest = hashlib.sha256()
    with open(base.path, 'rb') as f:
        digest.update(f.read(SAMPLE))
    return '%s:%d:%d:%d:%d:%s:%s' % (base.format, st.st_dev, st.st_ino, st.st_size,
                                     st.st_mtime_ns, digest.hexdigest()[:32],
                                     os.path.basename(base.path))


class InspectionCache:
    """A small JSON file of {key: [[mountpoint, device spec], ...]}, safe across threads."""

    def __init__(self, path, max_entries=1000):
        self.path = path
        self.max_entries = max_entries
        self._lock = threading.Lock()

    def _load(self):
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key):
        if key is None:
            return None
        with self._lock:
            layout = self._load().get(key)
        if not (isinstance(layout, list) and layout
                and all(isinstance(m, list) and len(m) == 2 for m in layout)):
            return None
        return [tuple(m) for m in layout]

    def put(self, key, layout):
        if key is None or not layout:
            return
        with self._lock:
            data = self._load()
            data.pop(key, None)
            data[key] = [list(m) for m in layout]
            while len(data) > self.max_entries:
                data.pop(next(iter(data)))
            fileutils.atomic_write(self.path, json.dumps(data))
