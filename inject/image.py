"""Disk images: their formats and their backing chains, checked before any use; and
``qemu-img``, the only host command inject runs.

The format of a disk is always given by the caller and never probed from its content.
A qcow2 disk's backing chain (and external data file) is read from the qcow2 headers by
this module, without qemu, and refused when it leaves the configured image directories:
a backing file naming a host file would show that file to the guest. The overlays writes
go through are :mod:`inject.overlay`'s.
"""

import os
import stat
import struct
import subprocess
import typing

from inject import exception
from inject import parent_death

FORMATS = ('raw', 'qcow2')

QCOW2_MAGIC = b'QFI\xfb'
_EXT_END = 0
_EXT_BACKING_FORMAT = 0xE2792ACA
_EXT_DATA_FILE = 0x44415441
_INCOMPAT_DATA_FILE = 1 << 2
MAX_CHAIN = 16


class DiskImage:
    """A disk image on the host: a path and the format its owner says it has."""

    def __init__(self, path, fmt):
        if fmt not in FORMATS:
            raise exception.InvalidImage(
                path=path, reason='format %r is not supported (use one of: %s)'
                % (fmt, ', '.join(FORMATS)))
        self.path = os.path.abspath(path)
        self.format = fmt

    def __repr__(self):
        return 'DiskImage(%r, %r)' % (self.path, self.format)

    def check(self, image_dirs):
        """Refuse the disk unless it can be handed to the appliance safely.

        The disk itself may live anywhere the caller chose; every file its qcow2 chain
        refers to must lie inside ``image_dirs``. Returns the backing chain, outermost
        first, as a list of :class:`DiskImage`.
        """
        if not os.path.exists(self.path):
            raise exception.InvalidImage(path=self.path, reason='no such file')
        if not (os.path.isfile(self.path) or is_block_device(self.path)):
            raise exception.InvalidImage(
                path=self.path, reason='it is neither a regular file nor a block device')
        if not os.access(self.path, os.R_OK | os.W_OK):
            raise exception.InvalidImage(
                path=self.path, reason='it is not readable and writable by this user')
        allowed = [os.path.realpath(d) for d in image_dirs]
        chain = []
        seen = {os.path.realpath(self.path)}
        current = self
        while current.format == 'qcow2':
            header = read_qcow2_header(current.path)
            problem = layout_problem(header['layout'], header['size'],
                                     None if is_block_device(current.path)
                                     else os.path.getsize(current.path))
            if problem is not None:
                raise exception.InvalidImage(path=self.path, reason=(
                    problem if current is self else 'its backing file %s is not a usable '
                    'qcow2: %s' % (current.path, problem)))
            if header['data_file'] is not None:
                _check_inside(self.path, 'external data file',
                              _resolve(current.path, header['data_file']), allowed)
            if header['backing_file'] is None:
                break
            target = _resolve(current.path, header['backing_file'])
            _check_inside(self.path, 'backing file', target, allowed)
            if header['backing_format'] is None:
                raise exception.UnsafeBackingFile(
                    path=self.path, what='backing file', target=target,
                    reason='has no recorded format, so qemu would probe its content',
                    allowed=', '.join(allowed) or 'none')
            if header['backing_format'] not in FORMATS:
                raise exception.InvalidImage(
                    path=self.path, reason='its backing file %s has format %r; only %s '
                    'are supported' % (target, header['backing_format'], ', '.join(FORMATS)))
            real = os.path.realpath(target)
            if real in seen or len(chain) >= MAX_CHAIN:
                raise exception.InvalidImage(
                    path=self.path, reason='its backing chain loops or is deeper than %d'
                    % MAX_CHAIN)
            seen.add(real)
            current = DiskImage(real, header['backing_format'])
            chain.append(current)
        return chain


def read_qcow2_header(path):
    """Parse the parts of a qcow2 header that name other files.

    Returns ``{'version', 'backing_file', 'backing_format', 'data_file', 'size'}``;
    names are ``None`` when absent. Raises InvalidImage for a file that is not qcow2,
    is encrypted, or has a corrupt header.
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(104)
            if len(head) < 72 or head[:4] != QCOW2_MAGIC:
                raise exception.InvalidImage(
                    path=path, reason='it was given as qcow2 but has no qcow2 header')
            (version, backing_offset, backing_size, cluster_bits, size, crypt_method,
             l1_size, l1_table_offset, refcount_table_offset, refcount_table_clusters,
             nb_snapshots, snapshots_offset) = struct.unpack('>IQIIQIIQQIIQ', head[4:72])
            if version not in (2, 3):
                raise exception.InvalidImage(
                    path=path, reason='qcow2 version %d is not supported' % version)
            if crypt_method:
                raise exception.InvalidImage(
                    path=path, reason='it is an encrypted qcow2; inject cannot open it')
            incompatible = 0
            header_length = 72
            if version == 3:
                if len(head) < 104:
                    raise exception.InvalidImage(path=path, reason='truncated qcow2 header')
                incompatible = struct.unpack('>Q', head[72:80])[0]
                header_length = struct.unpack('>I', head[100:104])[0]
            extensions = _read_extensions(f, path, header_length)
            backing_file = None
            if backing_offset:
                if backing_size == 0 or backing_size > 1023:
                    raise exception.InvalidImage(
                        path=path, reason='corrupt qcow2 backing file name length')
                f.seek(backing_offset)
                raw_name = f.read(backing_size)
                backing_file = _decode_name(path, raw_name)
    except OSError as e:
        raise exception.InvalidImage(path=path, reason='cannot read it (%s)' % e.strerror)
    data_file = extensions.get(_EXT_DATA_FILE)
    if incompatible & _INCOMPAT_DATA_FILE and data_file is None:
        raise exception.InvalidImage(
            path=path, reason='it needs an external data file but names none')
    fmt = extensions.get(_EXT_BACKING_FORMAT)
    return {
        'version': version,
        'size': size,
        'backing_file': backing_file,
        'backing_format': _decode_name(path, fmt) if fmt is not None else None,
        'data_file': _decode_name(path, data_file) if data_file is not None else None,
        'layout': Qcow2Layout(cluster_bits, header_length, incompatible, l1_size,
                              l1_table_offset, refcount_table_offset,
                              refcount_table_clusters, nb_snapshots, snapshots_offset),
    }


class Qcow2Layout(typing.NamedTuple):
    """Where a qcow2 header says its tables are."""
    cluster_bits: int
    header_length: int
    incompatible: int
    l1_size: int
    l1_table_offset: int
    refcount_table_offset: int
    refcount_table_clusters: int
    nb_snapshots: int
    snapshots_offset: int


_INCOMPAT_EXTENDED_L2 = 1 << 4
_SNAPSHOT_HEADER = 40                       # sizeof(QCowSnapshotHeader)
_INT64_MAX = (1 << 63) - 1


def layout_problem(layout, size, file_size):
    """Why qemu would refuse to open a qcow2 file with this ``layout`` (of virtual
    ``size``), or why it is truncated (its L1 or refcount table ends beyond
    ``file_size``; None: a block device, not checked); None when neither.

    qemu checks the same at open (qcow2_do_open): a disk it refuses would make the
    whole appliance fail to launch, every other disk of the batch with it, with an
    error naming none of them. Tables past the end of a file read as zeros in qemu:
    the guest would see an empty disk."""
    if not 9 <= layout.cluster_bits <= 21:
        return 'its cluster size (2^%d) is not one qemu supports' % layout.cluster_bits
    cluster = 1 << layout.cluster_bits
    if layout.header_length > cluster:
        return 'its header (%d bytes) is longer than a cluster' % layout.header_length
    l2_entries = cluster // (16 if layout.incompatible & _INCOMPAT_EXTENDED_L2 else 8)
    needed = -(-size // (cluster * l2_entries))
    tables = (('reference count table', layout.refcount_table_offset,
               layout.refcount_table_clusters * cluster),
              ('L1 table', layout.l1_table_offset, layout.l1_size * 8),
              ('snapshot table', layout.snapshots_offset,
               layout.nb_snapshots * _SNAPSHOT_HEADER))
    if layout.refcount_table_clusters == 0:
        return 'it has no reference count table'
    if layout.l1_size * 8 > _MAX_L1_BYTES:
        return 'its L1 table (%d entries) is larger than qemu allows' % layout.l1_size
    if layout.l1_size < needed:
        return ('its L1 table (%d entries) is too small for its virtual size (%d bytes '
                'need %d)' % (layout.l1_size, size, needed))
    for name, offset, length in tables:
        if length and (offset % cluster or offset > _INT64_MAX - length):
            return ('its %s offset %#x is not a multiple of its cluster size (%d)'
                    % (name, offset, cluster))
    if file_size is not None:
        for name, offset, length in tables[:2]:
            if length and offset + length > file_size:
                return ('it is truncated: its %s (offset %#x, %d bytes) ends beyond the '
                        'end of the file (%d bytes)' % (name, offset, length, file_size))
    return None


def _read_extensions(f, path, offset):
    extensions = {}
    for _ in range(64):
        f.seek(offset)
        raw = f.read(8)
        if len(raw) < 8:
            raise exception.InvalidImage(path=path, reason='truncated qcow2 header extension')
        ext_type, length = struct.unpack('>II', raw)
        if ext_type == _EXT_END:
            return extensions
        data = f.read(length)
        if len(data) < length:
            raise exception.InvalidImage(path=path, reason='truncated qcow2 header extension')
        extensions[ext_type] = data
        offset += 8 + (length + 7) // 8 * 8
    raise exception.InvalidImage(path=path, reason='too many qcow2 header extensions')


def _decode_name(path, raw):
    try:
        return raw.rstrip(b'\0').decode('utf-8')
    except UnicodeDecodeError:
        raise exception.InvalidImage(path=path, reason='a file name in its qcow2 header '
                                                       'is not UTF-8')


def _resolve(image_path, name):
    """Where qemu would look for ``name`` written in the header of ``image_path``."""
    first_slash = name.find('/')
    colon = name.find(':')
    if colon != -1 and (first_slash == -1 or colon < first_slash):
        # qemu reads "proto:..." (json:, nbd:, http:, file:...) as a protocol, not a path.
        return name
    return os.path.normpath(os.path.join(os.path.dirname(image_path), name))


def _check_inside(image_path, what, target, allowed):
    def refuse(reason):
        raise exception.UnsafeBackingFile(path=image_path, what=what, target=target,
                                          reason=reason, allowed=', '.join(allowed) or 'none')
    if not target.startswith('/'):
        refuse('is a qemu protocol specification, not a file')
    real = os.path.realpath(target)
    if not any(real == d or real.startswith(d.rstrip('/') + '/') for d in allowed):
        if real != os.path.normpath(target):
            refuse('resolves through a symbolic link to %s, which lies outside the '
                   'configured image directories' % real)
        refuse('lies outside the configured image directories')
    if not os.path.isfile(real):
        refuse('does not exist or is not a regular file')


def is_block_device(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def qemu_img(args, path, pass_fds=()):
    """Run ``qemu-img`` (the only host command inject runs); raise ImageCommandFailed.

    It runs under ``setpriv --pdeathsig KILL`` (:mod:`inject.parent_death`): killed
    with this process, it does not go on writing into a disk. ``pass_fds``: descriptors
    it inherits (an overlay's lock, held while it runs).
    """
    command = ['qemu-img'] + list(args)
    missing = exception.ImageCommandFailed(
        command='qemu-img', path=path,
        reason='qemu-img is not installed (Debian package qemu-utils)')
    try:
        result = subprocess.run(parent_death.setpriv() + command, capture_output=True,
                                text=True, timeout=600, stdin=subprocess.DEVNULL,
                                pass_fds=pass_fds)
    except FileNotFoundError:
        raise missing
    except subprocess.TimeoutExpired:
        raise exception.ImageCommandFailed(command=' '.join(command[:2]), path=path,
                                           reason='timed out after 600 s')
    if result.returncode == 127 and 'failed to execute qemu-img' in result.stderr:
        raise missing             # said by setpriv
    if result.returncode != 0:
        raise exception.ImageCommandFailed(
            command=' '.join(command[:2]), path=path,
            reason=(result.stderr or result.stdout).strip() or 'exit %d' % result.returncode)
    return result.stdout


def create_overlay(image, path):
    """Make ``path`` a qcow2 file whose backing file is ``image`` (a DiskImage), as
    ``qemu-img create -f qcow2 -F FORMAT -b PATH`` makes it (see
    :func:`write_qcow2_overlay`; no qemu-img process)."""
    write_qcow2_overlay(path, image.path, image.format)


QCOW2_CLUSTER_BITS = 16
_CLUSTER = 1 << QCOW2_CLUSTER_BITS
_L1_COVERS = _CLUSTER * (_CLUSTER // 8)      # bytes one L1 entry (one L2 table) maps
_MAX_L1_BYTES = 32 * 1024 * 1024            # qemu's QCOW_MAX_L1_SIZE
_MAX_BACKING_NAME = 1023                    # qemu's limit on a backing file name
_HEADER_LENGTH = 112                        # version 3 with the compression type byte
_REFCOUNT_TABLE = _CLUSTER                  # cluster 1
_REFCOUNT_BLOCK = 2 * _CLUSTER              # cluster 2
_L1_TABLE = 3 * _CLUSTER                    # cluster 3 onwards


def write_qcow2_overlay(path, backing, backing_format):
    """Write ``path`` (created 0644, or truncated: its mode kept) as an empty qcow2 v3
    image whose backing file is ``backing`` (written as given; a relative name is
    relative to ``path``'s directory, as qemu reads it) in ``backing_format``, of the
    backing file's virtual size rounded up to 512 bytes: the file ``qemu-img create -q
    -f qcow2 -F FORMAT -b BACKING PATH`` (qemu 7) writes, without the optional feature
    name table, 64 KiB clusters, 16-bit refcounts.

    Like qemu-img, it refuses a backing file that cannot be opened: missing, a qcow2
    with a corrupt or encrypted header, or a backing chain below it naming a missing
    file (or looping, or deeper than :data:`MAX_CHAIN`); and a qemu protocol name
    (``nbd:...``), which qemu-img would have opened as a protocol.
    """
    if backing_format not in FORMATS:
        raise exception.InvalidImage(
            path=backing, reason='format %r is not supported (use one of: %s)'
            % (backing_format, ', '.join(FORMATS)))
    name = os.fsencode(backing)
    if not name or len(name) > _MAX_BACKING_NAME:
        raise exception.InvalidImage(
            path=backing, reason='its name is empty or longer than %d bytes, which '
            'a qcow2 header cannot hold' % _MAX_BACKING_NAME)
    size = _virtual_size(_resolve(path, backing), backing_format, backing)
    size = (size + 511) // 512 * 512
    l1_size = -(-size // _L1_COVERS)
    if l1_size * 8 > _MAX_L1_BYTES:
        raise exception.InvalidImage(path=backing, reason='its virtual size %d is too '
                                     'large for a qcow2 overlay' % size)
    l1_clusters = -(-l1_size * 8 // _CLUSTER)
    fmt = backing_format.encode('ascii')
    extensions = (struct.pack('>II', _EXT_BACKING_FORMAT, len(fmt))
                  + fmt.ljust((len(fmt) + 7) // 8 * 8, b'\0')
                  + struct.pack('>II', _EXT_END, 0))
    name_offset = _HEADER_LENGTH + len(extensions)
    header = struct.pack(
        '>4sIQIIQIIQQIIQQQQII', QCOW2_MAGIC, 3, name_offset, len(name),
        QCOW2_CLUSTER_BITS, size, 0, l1_size, _L1_TABLE if l1_size else 0,
        _REFCOUNT_TABLE, 1, 0, 0, 0, 0, 0, 4, _HEADER_LENGTH)
    header = header.ljust(_HEADER_LENGTH, b'\0') + extensions + name
    clusters = 3 + l1_clusters       # header, refcount table and block, L1 table
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.pwrite(fd, header, 0)
        os.pwrite(fd, struct.pack('>Q', _REFCOUNT_BLOCK), _REFCOUNT_TABLE)
        os.pwrite(fd, struct.pack('>%dH' % clusters, *[1] * clusters), _REFCOUNT_BLOCK)
        os.ftruncate(fd, _L1_TABLE + l1_size * 8)     # the L1 table: zeros
    except OSError as e:
        raise exception.ImageCommandFailed(command='writing the qcow2 overlay', path=path,
                                           reason=e.strerror or str(e))
    finally:
        os.close(fd)


def _virtual_size(target, fmt, name):
    """The virtual size of the backing file at ``target`` (``name`` as the overlay
    will say it), after checking that qemu could open it and its chain."""
    colon, slash = name.find(':'), name.find('/')
    if colon != -1 and (slash == -1 or colon < slash):     # as _resolve reads it
        raise exception.InvalidImage(
            path=name, reason='it is a qemu protocol specification, not a file')
    try:
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise exception.InvalidImage(path=target, reason='cannot open it as a backing '
                                     'file (%s)' % (e.strerror or e))
    try:
        raw_size = os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)
    if fmt == 'raw':
        return raw_size
    header = read_qcow2_header(target)
    _check_chain_opens(target, header)
    return header['size']


def _check_chain_opens(path, header):
    """Refuse, as qemu-img would fail to open it, a qcow2 chain below ``path`` that
    names a missing file, loops or is deeper than :data:`MAX_CHAIN`."""
    seen = {os.path.realpath(path)}
    current = path
    for _ in range(MAX_CHAIN):
        if header['data_file'] is not None:
            data = _resolve(current, header['data_file'])
            if not os.path.exists(data):
                raise exception.InvalidImage(
                    path=path, reason='its external data file %s does not exist' % data)
        if header['backing_file'] is None:
            return
        target = _resolve(current, header['backing_file'])
        if not os.path.exists(target):
            raise exception.InvalidImage(
                path=path, reason='its backing file %s does not exist' % target)
        real = os.path.realpath(target)
        if real in seen:
            break
        seen.add(real)
        if header['backing_format'] != 'qcow2':
            return
        current, header = target, read_qcow2_header(target)
    raise exception.InvalidImage(
        path=path, reason='its backing chain loops or is deeper than %d' % MAX_CHAIN)
