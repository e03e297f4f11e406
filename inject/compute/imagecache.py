"""The base images of a compute host: fetched by id through the Image API
(:mod:`.glance`) into ``[api]instances_path/[image_cache]subdirectory_name`` (Nova's
``_base``), one file per image, ``<SHA-1 of the id>.<format>``.

A fetch holds an inter-process lock on the image (``flock`` of
``instances_path/locks/inject-<SHA-1>``), so builds of one image on a host -- threads
or processes, or hosts sharing ``instances_path`` -- download it once; a base already
there is used as it is. The download goes to ``<base>.part`` (removed first if a
killed fetch left one) and becomes the base only when it is complete and verified:
its size is the image's, its digest is Glance's ``os_hash_value`` (with
``os_hash_algo``; else the MD5 ``checksum``, else the ``Content-MD5`` header, as
python-glanceclient falls back for Nova; an image with none of them is logged as
unverified), its format is what the image says (a qcow2 with a qcow2 header naming
no backing or data file, which would show a host file to the guest; a raw image that
is not a qcow2 in disguise), and it is on disk (``fsync`` of the file, then of the
directory after the rename). Anything else removes the ``.part`` and raises; a
partial download never becomes a base.

Refused before a byte is read: an id that is not a UUID, an image that is not
active, a format other than raw and qcow2, a container other than bare, a
Content-Length that is not the image's size, a size the base directory's filesystem
cannot hold.
"""

import contextlib
import fcntl
import hashlib
import logging
import os

import requests

from inject import exception
from inject import fileutils
from inject import image as image_mod
from inject.compute import glance

LOG = logging.getLogger(__name__)

FORMATS = ('qcow2', 'raw')
_CHUNK = 1024 * 1024


def base_name(image_id):
    """The cache's name for an image: the SHA-1 of its id (as Nova's ``_base``)."""
    return hashlib.sha1(image_id.encode('utf-8')).hexdigest()


class ImageCache:
    """This host's base images. ``api`` (an :class:`inject.compute.glance.ImageAPI`)
    defaults to the one ``[glance]`` configures."""

    def __init__(self, conf, api=None):
        self.base_dir = os.path.join(conf.api.instances_path,
                                     conf.image_cache.subdirectory_name)
        self.lock_dir = os.path.join(conf.api.instances_path, 'locks')
        self.api = api or glance.ImageAPI(conf)

    def cached(self, image_id):
        """The base of ``image_id`` as a :class:`inject.image.DiskImage`, or None."""
        glance.check_image_id(image_id)
        name = base_name(image_id)
        for fmt in FORMATS:
            path = os.path.join(self.base_dir, '%s.%s' % (name, fmt))
            if os.path.isfile(path):
                return image_mod.DiskImage(path, fmt)
        return None

    def fetch(self, image_id):
        """The base of ``image_id`` (a :class:`inject.image.DiskImage`), fetched and
        verified first unless this host has it."""
        glance.check_image_id(image_id)
        with self._locked(base_name(image_id)):
            found = self.cached(image_id)
            if found is not None:
                return found
            meta = self.api.show(image_id)
            fmt = _acceptable(image_id, meta)
            path = os.path.join(self.base_dir, '%s.%s' % (base_name(image_id), fmt))
            self._download(image_id, meta, path)
            LOG.info('Image %s fetched into %s (%d bytes)', image_id, path, meta['size'])
            return image_mod.DiskImage(path, fmt)

    @contextlib.contextmanager
    def _locked(self, name):
        os.makedirs(self.lock_dir, exist_ok=True)
        # A file descriptor of its own per fetch: flock excludes other open files,
        # in this process (threads) as in others.
        fd = os.open(os.path.join(self.lock_dir, 'inject-%s' % name),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _download(self, image_id, meta, path):
        os.makedirs(self.base_dir, exist_ok=True)
        size = meta['size']
        st = os.statvfs(self.base_dir)
        part = path + '.part'
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)                   # left by a fetch that was killed
        if size > st.f_bavail * st.f_frsize:
            raise exception.ImageUnacceptable(
                image_id=image_id, reason='its %d bytes do not fit in %s (%d bytes free)'
                % (size, self.base_dir, st.f_bavail * st.f_frsize))
        url, resp = self.api.download(image_id)
        try:
            with resp:
                _check_length(image_id, url, resp, size)
                hasher, expected, what = _verifier(image_id, meta, resp)
                _write(image_id, url, resp, part, size, hasher)
            if hasher is not None and hasher.hexdigest() != expected:
                raise exception.ImageDownloadFailed(
                    image_id=image_id, url=url,
                    reason='Corrupt image download: its %s is %s, the Image API says %s'
                    % (what, hasher.hexdigest(), expected))
            _check_format(image_id, part, meta['disk_format'])
            os.rename(part, path)
            fileutils.fsync_directory(self.base_dir)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
            raise


def _acceptable(image_id, meta):
    """The image's format, after refusing what a base cannot be made of."""
    def refuse(reason):
        raise exception.ImageUnacceptable(image_id=image_id, reason=reason)
    if meta.get('status') != 'active':
        refuse('its status is %r, not active' % meta.get('status'))
    fmt = meta.get('disk_format')
    if fmt not in FORMATS:
        refuse('its disk_format is %r; inject uses %s' % (fmt, ' and '.join(FORMATS)))
    if meta.get('container_format') not in ('bare', None):
        refuse('its container_format is %r, not bare' % meta.get('container_format'))
    size = meta.get('size')
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        refuse('its size is %r, not a number of bytes' % (size,))
    return fmt


def _check_length(image_id, url, resp, size):
    length = resp.headers.get('Content-Length')
    if length is not None and length != str(size):
        raise exception.ImageDownloadFailed(
            image_id=image_id, url=url, reason='it announces %s bytes (Content-Length); '
            'the image has %d' % (length[:40], size))


def _verifier(image_id, meta, resp):
    """``(hasher, expected hex digest, what it is)``, or (None, None, None) for an
    image with nothing to verify it against."""
    if meta.get('os_hash_value'):
        algo = meta.get('os_hash_algo')
        try:
            hasher = hashlib.new(algo)
        except (TypeError, ValueError):
            raise exception.ImageUnacceptable(
                image_id=image_id, reason='its os_hash_algo %r is not a hash algorithm '
                                          'this host knows' % (algo,))
        return hasher, meta['os_hash_value'], '%s digest' % algo
    for expected, what in ((meta.get('checksum'), 'MD5 checksum'),
                           (resp.headers.get('Content-MD5'), 'MD5 (Content-MD5)')):
        if expected:
            return hashlib.md5(usedforsecurity=False), expected, what
    LOG.warning('Image %s has no os_hash_value, checksum or Content-MD5: its data '
                'cannot be verified', image_id)
    return None, None, None


def _write(image_id, url, resp, part, size, hasher):
    """Stream the body into ``part`` (synced to disk): exactly ``size`` bytes."""
    got = 0
    with open(part, 'xb') as f:
        try:
            for chunk in resp.iter_content(_CHUNK):
                got += len(chunk)
                if got > size:
                    raise exception.ImageDownloadFailed(
                        image_id=image_id, url=url,
                        reason='it sent more than the image\'s %d bytes' % size)
                if hasher is not None:
                    hasher.update(chunk)
                f.write(chunk)
        except requests.RequestException as e:
            raise exception.ImageDownloadFailed(
                image_id=image_id, url=url, reason='the transfer broke after %d of %d '
                'bytes: %s' % (got, size, e))
        if got != size:
            raise exception.ImageDownloadFailed(
                image_id=image_id, url=url,
                reason='it sent %d bytes; the image has %d' % (got, size))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(part, 0o644)


def _check_format(image_id, path, fmt):
    """The file is what the image says it is, and refers to no other file."""
    try:
        if fmt == 'qcow2':
            header = image_mod.read_qcow2_header(path)
            for name, what in (('backing_file', 'a backing file'),
                               ('data_file', 'an external data file')):
                if header[name] is not None:
                    raise exception.ImageUnacceptable(
                        image_id=image_id, reason='it names %s (%r), which would show '
                        'a file of this host to the guest' % (what, header[name]))
        else:
            with open(path, 'rb') as f:
                if f.read(4) == image_mod.QCOW2_MAGIC:
                    raise exception.ImageUnacceptable(
                        image_id=image_id, reason='its disk_format is raw but its data '
                                                  'is a qcow2 image')
    except exception.InvalidImage as e:
        raise exception.ImageUnacceptable(image_id=image_id, reason=str(e))
