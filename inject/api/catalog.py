"""What servers are made of: the flavors (Nova's classic five) and the base images,
which are the files NAME.qcow2 and NAME.raw in ``[api]image_dir``, each with the
Glance properties of its sidecar NAME.json (:mod:`inject.api.image_properties`)."""

import datetime
import logging
import os
import uuid

from inject import exception
from inject.api import image_properties

LOG = logging.getLogger(__name__)

FLAVORS = {
    # id: (name, ram MiB, root disk GiB, vcpus)
    '1': ('m1.tiny', 512, 1, 1),
    '2': ('m1.small', 2048, 20, 1),
    '3': ('m1.medium', 4096, 40, 2),
    '4': ('m1.large', 8192, 80, 4),
    '5': ('m1.xlarge', 16384, 160, 8),
}

_IMAGE_NAMESPACE = uuid.UUID('5b1d3b5c-52a7-4be4-9b7e-0a6a4f3c2f11')
IMAGE_FORMATS = {'.qcow2': 'qcow2', '.raw': 'raw', '.img': 'raw'}


def flavor(flavor_id):
    """The flavor as a dict (what a server embeds from 2.47), or None."""
    if flavor_id not in FLAVORS:
        return None
    name, ram, disk, vcpus = FLAVORS[flavor_id]
    return {'id': flavor_id, 'name': name, 'ram': ram, 'disk': disk, 'vcpus': vcpus,
            'swap': 0, 'ephemeral': 0, 'extra_specs': {}}


def flavors():
    return [flavor(i) for i in sorted(FLAVORS, key=int)]


ACTIVE = 'active'
#: The status of an image whose sidecar cannot be used (Glance's status of an image
#: that cannot be read): it is listed, and a server cannot be made from it.
KILLED = 'killed'
_reported = set()           # sidecar problems already logged (path, problem)


class Image:
    def __init__(self, path, fmt):
        self.path = path
        self.format = fmt
        base = os.path.basename(path)
        self.name = os.path.splitext(base)[0]
        self.id = str(uuid.uuid5(_IMAGE_NAMESPACE, base))
        st = os.stat(path)
        self.size = st.st_size
        #: What tells one version of the file from another (its computed hashes).
        self.identity = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        self.created = datetime.datetime.fromtimestamp(
            st.st_mtime, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        self.status, self.error = ACTIVE, None
        try:
            self.properties, self.recorded = image_properties.read(path)
        except exception.InvalidImageProperties as e:
            self.properties, self.recorded = {}, {}
            self.status, self.error = KILLED, str(e)
            if (path, self.error) not in _reported:
                _reported.add((path, self.error))
                LOG.warning('Image %s (%s): %s', self.name, self.id, self.error)

    def hashes(self):
        """Glance's checksum, os_hash_algo and os_hash_value (None for an image that
        is not active)."""
        if self.status != ACTIVE:
            return dict.fromkeys(image_properties.RECORDED)
        return image_properties.hashes(self)


def images(image_dir):
    """Every base image, sorted by name."""
    try:
        names = sorted(os.listdir(image_dir))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        fmt = IMAGE_FORMATS.get(os.path.splitext(name)[1])
        path = os.path.join(image_dir, name)
        if fmt and os.path.isfile(path):
            found.append(Image(path, fmt))
    return found


def image(image_dir, image_id):
    """The image with this id, or None. By id only, as Nova and Glance look images up:
    clients find an image by name through the list (``/v2/images?name=``), and a
    name that looked like an id would make ``GET /images/{name}`` answer for it."""
    for img in images(image_dir):
        if image_id == img.id:
            return img
    return None


def ref_id(ref):
    """The id at the end of an imageRef or flavorRef (an id or a URL)."""
    return str(ref).rstrip('/').rsplit('/', 1)[-1]
