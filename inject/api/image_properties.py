"""An image's Glance properties, for the images inject-api serves from its image
directory: the sidecar ``NAME.json`` beside ``NAME.qcow2`` (Glance's property names),
the image's checksums (recorded there, or computed once per file), and what a server
keeps of them in its system metadata (Nova's ``image_*`` snapshot).

A sidecar is one JSON object. It may record ``os_hash_algo`` and ``os_hash_value``
(both, Glance's multihash) and ``checksum`` (MD5), which are then served as they are
(record them for a large image: otherwise the file is read once per inject-api
process to compute them); every other key is an extra property, a string, served as
Glance serves extra properties (at the top of the image). Glance's other image
attributes (``name``, ``size``, ``disk_format``...) come from the file and may not be
given. The properties inject gives a meaning are checked with Nova's values:
``img_config_drive`` (``optional``, ``mandatory``: a server of the image always gets
a config drive) and ``os_type`` (``linux``, ``windows``, any case). A sidecar that
breaks these rules makes its image unusable
(:class:`inject.exception.InvalidImageProperties`), never half-read.
"""

import hashlib
import json
import os
import threading

from inject import exception
from inject.db import system_metadata as sysmeta_keys

#: Glance's default ``hashing_algorithm``.
HASH_ALGO = 'sha512'
#: Largest sidecar read (a sidecar holds a few properties).
MAX_SIDECAR_BYTES = 65536
#: Glance's image attributes: served from the file, never from a sidecar (the hashes
#: may be recorded there).
ATTRIBUTES = frozenset((
    'id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'owner', 'size',
    'virtual_size', 'min_ram', 'min_disk', 'disk_format', 'container_format',
    'created_at', 'updated_at', 'tags', 'self', 'file', 'schema', 'locations',
    'direct_url', 'stores'))
RECORDED = ('checksum', 'os_hash_algo', 'os_hash_value')
#: Extra properties inject gives a meaning: their values, as Nova's enums.
ENUMS = {'img_config_drive': ('optional', 'mandatory'), 'os_type': ('linux', 'windows')}
_LOWERED = ('os_type',)          # Nova canonicalises these to lower case
#: Keys of Nova's image snapshot that are not properties (SM_INHERITABLE_KEYS) and the
#: properties it never snapshots (SM_SKIP_KEYS).
_SKIPPED = ('mappings', 'block_device_mapping', 'img_mappings', 'img_block_device_mapping')
_CHUNK = 1024 * 1024


def _invalid(path, reason):
    return exception.InvalidImageProperties(path=path, reason=reason)


def sidecar_path(image_path):
    return os.path.splitext(image_path)[0] + '.json'


def read(image_path):
    """``(properties, recorded hashes)`` of the image at ``image_path`` from its
    sidecar (empty without one). Raises InvalidImageProperties."""
    path = sidecar_path(image_path)
    try:
        with open(path, 'rb') as f:
            raw = f.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return {}, {}
    except OSError as e:
        raise _invalid(path, 'it cannot be read (%s)' % (e.strerror or e))
    if len(raw) > MAX_SIDECAR_BYTES:
        raise _invalid(path, 'it is larger than %d bytes' % MAX_SIDECAR_BYTES)
    try:
        given = json.loads(raw)
    except ValueError as e:
        raise _invalid(path, 'it is not JSON (%s)' % e)
    if not isinstance(given, dict):
        raise _invalid(path, 'it must hold a JSON object of Glance property names')
    properties, recorded = {}, {}
    for key, value in given.items():
        if key in ATTRIBUTES:
            raise _invalid(path, 'it gives %r, which Glance derives from the image '
                                 'file' % key)
        if not isinstance(value, str):
            raise _invalid(path, 'the value of %r must be a string (Glance\'s extra '
                                 'properties are strings)' % key)
        if not 0 < len(key) <= 255:
            raise _invalid(path, 'a property name must have 1 to 255 characters')
        (recorded if key in RECORDED else properties)[key] = value
    for key, allowed in ENUMS.items():
        if key in properties:
            if key in _LOWERED:
                properties[key] = properties[key].lower()
            if properties[key] not in allowed:
                raise _invalid(path, '%s must be one of %s, not %r'
                               % (key, ', '.join(allowed), properties[key]))
    _check_recorded(path, recorded)
    return properties, recorded


def _is_hex(text, length):
    return (isinstance(text, str) and len(text) == length
            and all(c in '0123456789abcdef' for c in text))


def _check_recorded(path, recorded):
    if ('os_hash_algo' in recorded) != ('os_hash_value' in recorded):
        raise _invalid(path, 'os_hash_algo and os_hash_value go together')
    algo = recorded.get('os_hash_algo')
    if algo is not None:
        try:
            size = hashlib.new(algo).digest_size
        except ValueError:
            raise _invalid(path, 'os_hash_algo %r is not a hash algorithm this host '
                                 'knows' % algo)
        if not _is_hex(recorded['os_hash_value'], size * 2):
            raise _invalid(path, 'os_hash_value is not a %s digest (%d lower-case hex '
                                 'digits)' % (algo, size * 2))
    if 'checksum' in recorded and not _is_hex(recorded['checksum'], 32):
        raise _invalid(path, 'checksum is not an MD5 digest (32 lower-case hex digits)')


_computed = {}                  # file identity -> (md5, sha512)
_computing = {}                 # file identity -> Lock
_lock = threading.Lock()


def hashes(image):
    """``{'checksum', 'os_hash_algo', 'os_hash_value'}`` of ``image`` (a
    :class:`inject.api.catalog.Image`): what its sidecar records, else computed from
    the file (once per file version and process, however many ask at once)."""
    recorded = image.recorded
    if 'os_hash_value' in recorded:
        return {'checksum': recorded.get('checksum'),
                'os_hash_algo': recorded['os_hash_algo'],
                'os_hash_value': recorded['os_hash_value']}
    md5, sha512 = _computed_hashes(image.path, image.identity)
    return {'checksum': recorded.get('checksum', md5), 'os_hash_algo': HASH_ALGO,
            'os_hash_value': sha512}


def _computed_hashes(path, identity):
    with _lock:
        if identity in _computed:
            return _computed[identity]
        busy = _computing.setdefault(identity, threading.Lock())
    with busy:
        with _lock:
            if identity in _computed:
                return _computed[identity]
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.new(HASH_ALGO)
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(_CHUNK), b''):
                md5.update(chunk)
                sha.update(chunk)
        with _lock:
            _computed[identity] = (md5.hexdigest(), sha.hexdigest())
            _computing.pop(identity, None)
            return _computed[identity]


def config_drive_required(properties):
    """Whether the image requires a config drive (``img_config_drive = mandatory``,
    the 2.57 spec's first way to ask for one)."""
    return properties.get('img_config_drive') == 'mandatory'


def system_metadata(image, flavor):
    """Nova's snapshot of the image in a server's system metadata: ``image_<prop>``
    for each property (at most 255 characters), the inheritable attributes
    (``min_disk`` at least the flavor's root disk, as Nova keeps it) and
    ``image_base_image_ref``."""
    found = {sysmeta_keys.IMAGE_PREFIX + key: value[:255]
             for key, value in image.properties.items() if key not in _SKIPPED}
    found.update({sysmeta_keys.IMAGE_PREFIX + key: str(value) for key, value in (
        ('min_ram', 0), ('min_disk', max(0, flavor['disk'])),
        ('disk_format', image.format), ('container_format', 'bare'),
        ('base_image_ref', image.id))})
    return found
