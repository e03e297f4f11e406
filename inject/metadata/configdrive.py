"""The config drive: Nova's metadata tree in an ISO 9660 image labelled ``config-2``.

Built in process with pycdlib (no genisoimage): ISO 9660 (interchange level 3, names
mapped to d-characters) with Rock Ridge (the real names and modes, what Linux mounts)
and Joliet (the real names, what Windows reads), volume identifier ``config-2``, as
Nova's ``genisoimage -J -r -V config-2``. The image is written to a temporary file
beside the target and renamed over it, so a reader never sees a half-written
``disk.config``; a drive over :data:`MAX_BYTES` is refused before anything is written.
"""

import io
import os
import posixpath
import re
import tempfile

import pycdlib

from inject import exception

VOLUME_LABEL = 'config-2'
PUBLISHER = 'inject'
#: Largest config drive, in bytes: Nova's vfat config drive size (CONFIGDRIVESIZE_BYTES).
MAX_BYTES = 64 * 1024 * 1024
#: ISO 9660 overhead allowance per entry (directory records, RR/Joliet, padding).
_ENTRY_OVERHEAD = 2048 * 3
_FIXED_OVERHEAD = 2048 * 64
# Level 3 names: up to 30 d-characters for name + extension, 31 for a directory.
_NAME_MAX = 30
_DIR_MAX = 31


def _d_chars(text):
    return re.sub(r'[^A-Z0-9_]', '_', text.upper())


class _Namer:
    """Maps each real path to a unique ISO 9660 (level 3) path, per directory."""

    def __init__(self):
        self.taken = {}      # iso dir -> set of names used there
        self.dirs = {'': ''}  # real dir -> iso dir

    def _unique(self, iso_dir, base, ext, limit):
        used = self.taken.setdefault(iso_dir, set())
        room = limit - (len(ext) + 1 if ext else 0)
        candidate = base[:room] or '_'
        n = 0
        while (candidate, ext) in used:
            n += 1
            suffix = '_%d' % n
            candidate = base[:room - len(suffix)] + suffix
        used.add((candidate, ext))
        return candidate

    def directory(self, real_dir):
        if real_dir in self.dirs:
            return self.dirs[real_dir]
        parent, name = posixpath.split(real_dir)
        iso_parent = self.directory(parent)
        iso_name = self._unique(iso_parent, _d_chars(name), '', _DIR_MAX)
        self.dirs[real_dir] = iso_parent + '/' + iso_name
        return self.dirs[real_dir]

    def file(self, real_path):
        parent, name = posixpath.split(real_path)
        iso_parent = self.directory(parent)
        base, dot, ext = name.rpartition('.')
        if not dot:
            base, ext = name, ''
        ext = _d_chars(ext)[:8]
        base = self._unique(iso_parent, _d_chars(base), ext, _NAME_MAX)
        return '%s/%s.%s;1' % (iso_parent, base, ext)


def _normalise(path):
    norm = posixpath.normpath('/' + path).lstrip('/')
    if not norm or '..' in path.split('/'):
        raise exception.InvalidRequest('Invalid config drive path %r.' % (path,))
    return norm


def build_iso(files, fp, *, max_bytes=MAX_BYTES, uuid=None, publisher=PUBLISHER):
    """Write the ISO image of ``files`` (``(path, bytes)`` pairs) to the binary ``fp``.

    Raises :class:`inject.exception.ConfigDriveTooLarge` (before writing anything) when
    the content would exceed ``max_bytes``.
    """
    entries = []
    seen = set()
    total = _FIXED_OVERHEAD
    for path, data in files:
        if isinstance(data, str):
            data = data.encode('utf-8')
        path = _normalise(path)
        if path in seen:
            raise exception.InvalidRequest('Path %r given twice for the config drive.'
                                           % path)
        seen.add(path)
        entries.append((path, data))
        total += len(data) + _ENTRY_OVERHEAD
    if total > max_bytes:
        raise exception.ConfigDriveTooLarge(uuid=uuid, size=total, limit=max_bytes)

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=VOLUME_LABEL, sys_ident='LINUX',
            pub_ident_str=publisher, app_ident_str=publisher, joliet=3,
            rock_ridge='1.09')
    namer = _Namer()
    made = set()

    def make_dir(real_dir):
        if real_dir in made or real_dir == '':
            return
        make_dir(posixpath.dirname(real_dir))
        iso.add_directory(iso_path=namer.directory(real_dir),
                          rr_name=posixpath.basename(real_dir),
                          joliet_path='/' + real_dir, file_mode=0o40555)
        made.add(real_dir)

    for path, data in entries:
        make_dir(posixpath.dirname(path))
        iso.add_fp(io.BytesIO(data), len(data), iso_path=namer.file(path),
                   rr_name=posixpath.basename(path), joliet_path='/' + path,
                   file_mode=0o100444)
    iso.write_fp(fp)
    iso.close()


def write_config_drive(path, files, *, max_bytes=MAX_BYTES, uuid=None, mode=0o600):
    """Build the config drive of ``files`` and put it at ``path`` atomically.

    The image is built in a temporary file in ``path``'s directory, synced, and renamed
    over ``path``; on any failure the temporary file is removed and ``path`` is left as
    it was. ``mode`` defaults to 0600: the drive holds the admin password and the user
    data. Returns the size written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path),
                                   suffix='.tmp')
    except OSError as e:
        raise exception.ConfigDriveWriteFailed(path=path, reason=e.strerror or e) from e
    try:
        with os.fdopen(fd, 'wb') as f:
            build_iso(files, f, max_bytes=max_bytes, uuid=uuid)
            size = f.tell()
            if size > max_bytes:
                raise exception.ConfigDriveTooLarge(uuid=uuid, size=size, limit=max_bytes)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise exception.ConfigDriveWriteFailed(
                path=path, reason=e.strerror or e) from e
        raise
    return size


def build_config_drive(instance_metadata, path, **kwargs):
    """Write the config drive of an :class:`~inject.metadata.base.InstanceMetadata`."""
    return write_config_drive(path, instance_metadata.config_drive_files(),
                              uuid=instance_metadata.info.uuid, **kwargs)


def read_config_drive(path):
    """``{path: bytes}`` of every file in a config drive image, by Rock Ridge names."""
    iso = pycdlib.PyCdlib()
    with open(path, 'rb') as f:
        iso.open_fp(f)
        try:
            found = {}
            for dirpath, _dirs, names in iso.walk(rr_path='/'):
                for name in names:
                    rr = posixpath.join(dirpath, name)
                    out = io.BytesIO()
                    iso.get_file_from_iso_fp(out, rr_path=rr)
                    found[rr.lstrip('/')] = out.getvalue()
            return found
        finally:
            iso.close()


def volume_label(path):
    """The volume identifier of an ISO image (``config-2`` for a config drive)."""
    iso = pycdlib.PyCdlib()
    with open(path, 'rb') as f:
        iso.open_fp(f)
        try:
            return iso.pvd.volume_identifier.decode('ascii').rstrip()
        finally:
            iso.close()


def extract_config_drive(path, dest):
    """Unpack a config drive image into the directory ``dest`` (for readers of trees)."""
    for rel, data in read_config_drive(path).items():
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, 'wb') as f:
            f.write(data)
    return dest
