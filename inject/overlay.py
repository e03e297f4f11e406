"""The overlays writes go through, and undoing a commit that did not finish.

Writes never go to the disk directly. :class:`Overlay` puts a qcow2 overlay in front of
it; the appliance writes into the overlay, and the overlay is committed into the disk only
when every mandatory item succeeded, otherwise it is thrown away and the disk is
byte-for-byte what it was.

A commit that fails or is killed half-way would leave the disk half-written, so the bytes
it may overwrite are saved first (:class:`UndoJournal`): a failed commit is undone at
once, one whose process was killed at the next start (:func:`sweep_stale_overlays`).
"""

import contextlib
import errno
import fcntl
import json
import logging
import os
import tempfile

from inject import exception
from inject import fileutils
from inject import image as image_mod

LOG = logging.getLogger(__name__)

OVERLAY_SUFFIX = '.overlay.qcow2'
# NAME_MAX is 255 bytes; mkstemp adds 8 characters and a dot, the suffix 14.
_PREFIX_BYTES = 200


@contextlib.contextmanager
def _directory_lock(directory, kind):
    """flock ``directory/.lock``: shared while creating overlays, exclusive to sweep."""
    fd = os.open(os.path.join(directory, '.lock'), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 0o600)
    try:
        fcntl.flock(fd, kind)
        yield
    finally:
        os.close(fd)


def _overlay_prefix(image_path):
    name = os.fsencode(os.path.basename(image_path))[:_PREFIX_BYTES]
    return os.fsdecode(name.decode('utf-8', 'ignore').encode('utf-8')) + '.'


class Overlay:
    """A temporary qcow2 overlay in front of a disk; commit it or discard it.

    Create it with :meth:`create`; give :attr:`path` (format qcow2) to the appliance;
    then :meth:`commit` copies what was written into the disk, or :meth:`discard` drops
    it. Either way the overlay file is removed.

    While it exists its creator holds an ``flock`` on it (qemu's own image locks are
    byte-range locks, which do not interact with it), so :func:`sweep_stale_overlays`
    can tell an overlay whose process was killed from one still in use; the ``qemu-img
    commit`` of it holds the lock too, while it runs.
    """

    def __init__(self, image, path, lock_fd=None):
        self.image = image
        self.path = path
        self._lock_fd = lock_fd

    @classmethod
    def create(cls, image, directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with _directory_lock(directory, fcntl.LOCK_SH):
            fd, path = tempfile.mkstemp(prefix=_overlay_prefix(image.path),
                                        suffix=OVERLAY_SUFFIX, dir=directory)
            fcntl.flock(fd, fcntl.LOCK_EX)
        overlay = cls(image, path, fd)
        try:
            image_mod.create_overlay(image, path)
        except BaseException:
            overlay._remove()
            raise
        return overlay

    def commit(self):
        """Write the overlay's clusters into the disk, then remove the overlay.

        The disk's bytes that the commit may overwrite are saved first; if ``qemu-img
        commit`` fails (or is killed), they are written back and the disk is
        byte-for-byte what it was: ImageCommandFailed says so. Killed with its caller,
        the commit is undone by the next :func:`sweep_stale_overlays`.
        """
        try:
            try:
                journal = UndoJournal.save(self.image, self.path)
            except exception.ImageCommandFailed as e:
                raise exception.ImageCommandFailed(
                    command='qemu-img commit', path=self.image.path,
                    reason='not attempted, nothing was written to the disk: %s' % e)
            try:
                # qemu-img holds the overlay's lock too: killed with this process (see
                # image.qemu_img), it keeps any sweep off the undo journal until it is
                # gone and no longer writes into the disk.
                held = () if self._lock_fd is None else (self._lock_fd,)
                image_mod.qemu_img(['commit', '-q', '-f', 'qcow2', self.path],
                                   self.image.path, pass_fds=held)
            except exception.ImageCommandFailed as e:
                journal.restore()
                raise exception.ImageCommandFailed(
                    command=e.kwargs.get('command', 'qemu-img commit'),
                    path=self.image.path, reason='%s; the disk was restored to what it '
                    'was before the commit' % e.kwargs.get('reason', e))
            journal.remove()
        finally:
            self._remove()

    def discard(self):
        self._remove()

    def _remove(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


# --- undoing a commit that did not finish --------------------------------------------

UNDO_SUFFIX = '.undo'              # after the overlay's name: the saved bytes
UNDO_INDEX_SUFFIX = '.undo.json'   # what they are: the journal is live while it exists


def _data_extents(fd, start, end):
    """[(offset, length)] of the data (not holes) of ``fd`` in [start, end)."""
    extents = []
    pos = start
    while pos < end:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:      # only a hole from pos on
                break
            raise
        if data >= end:
            break
        hole = min(os.lseek(fd, data, os.SEEK_HOLE), end)
        extents.append((data, hole - data))
        pos = hole
    return extents


class UndoJournal:
    """The bytes of a disk a commit may overwrite, saved beside its overlay.

    A raw disk: the byte ranges the overlay holds (what ``qemu-img map`` shows at depth
    0); the commit writes only there. A qcow2 disk: the whole file (qemu places new
    clusters and metadata anywhere), its data extents only, so a fresh instance disk on
    a base image costs little; its holes are restored as zeros, and the file to its
    original size. The index file (``.undo.json``) is written last and removed first: while
    it exists, the saved bytes are complete and the disk may be half-committed.
    """

    def __init__(self, index_path, record):
        self.index_path = index_path
        self.record = record

    @classmethod
    def save(cls, image, overlay_path):
        data_path = overlay_path + UNDO_SUFFIX
        index_path = overlay_path + UNDO_INDEX_SUFFIX
        try:
            for path in (data_path, index_path):
                _unlink(path)
            with open(image.path, 'rb') as disk, open(data_path, 'wb') as out:
                size = disk.seek(0, os.SEEK_END)
                if image.format == 'raw':
                    ranges = _overlay_ranges(overlay_path, image.path, size)
                    extents = ranges
                else:
                    ranges = [(0, size)]
                    try:
                        extents = _data_extents(disk.fileno(), 0, size)
                    except OSError:          # no SEEK_DATA here (a block device)
                        extents = ranges
                saved = []
                for offset, length in extents:
                    disk.seek(offset)
                    where = out.tell()
                    left = length
                    while left:
                        chunk = disk.read(min(left, 1 << 20))
                        if not chunk:
                            break
                        out.write(chunk)
                        left -= len(chunk)
                    saved.append((offset, length - left, where))
                out.flush()
                os.fsync(out.fileno())
            record = {'disk': image.path, 'format': image.format, 'size': size,
                      'ranges': ranges, 'extents': saved, 'data': data_path}
            with open(index_path + '.tmp', 'w') as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(index_path + '.tmp', index_path)
            fileutils.fsync_directory(os.path.dirname(index_path))
        except (OSError, ValueError, exception.ImageCommandFailed) as e:
            for path in (data_path, index_path + '.tmp'):
                _unlink(path)
            if isinstance(e, exception.ImageCommandFailed):
                raise
            raise exception.ImageCommandFailed(
                command='saving the disk before the commit', path=image.path,
                reason=str(e))
        return cls(index_path, record)

    @classmethod
    def load(cls, index_path):
        with open(index_path) as f:
            return cls(index_path, json.load(f))

    def restore(self):
        """Write the saved bytes back: the disk is again what it was before the commit."""
        r = self.record
        flags = os.O_WRONLY | os.O_CLOEXEC
        with open(r['data'], 'rb') as saved, os.fdopen(os.open(r['disk'], flags),
                                                       'wb') as disk:
            fd = disk.fileno()
            if r['format'] != 'raw':
                # What the commit wrote into the file's holes (or past its end) goes.
                if os.fstat(fd).st_size > r['size'] and not image_mod.is_block_device(r['disk']):
                    os.ftruncate(fd, r['size'])
                covered = [(o, o + n) for o, n, _ in r['extents']]
                for start, end in _gaps(covered, 0, r['size']):
                    try:
                        written = _data_extents(fd, start, end)
                    except OSError:
                        written = [(start, end - start)]
                    for offset, length in written:
                        _write_zeros(disk, offset, length)
            for offset, length, where in r['extents']:
                saved.seek(where)
                disk.seek(offset)
                left = length
                while left:
                    chunk = saved.read(min(left, 1 << 20))
                    disk.write(chunk)
                    left -= len(chunk)
            disk.flush()
            os.fsync(fd)
        self.remove()

    def remove(self):
        _unlink(self.index_path)
        _unlink(self.record['data'])


def _overlay_ranges(overlay_path, disk_path, size):
    """[(offset, length)] of what the overlay holds (its own clusters), within ``size``."""
    entries = json.loads(image_mod.qemu_img(['map', '--output=json', '-f', 'qcow2', overlay_path],
                                  disk_path))
    ranges = []
    for e in entries:
        if e.get('depth') == 0 and e.get('present', True):
            start, end = e['start'], min(e['start'] + e['length'], size)
            if start >= end:
                continue
            if ranges and ranges[-1][0] + ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], ranges[-1][1] + end - start)
            else:
                ranges.append((start, end - start))
    return ranges


def _gaps(covered, start, end):
    """The parts of [start, end) outside the sorted intervals ``covered``."""
    pos = start
    for a, b in covered:
        if a > pos:
            yield pos, min(a, end)
        pos = max(pos, b)
    if pos < end:
        yield pos, end


def _write_zeros(f, offset, length):
    f.seek(offset)
    block = b'\0' * (1 << 20)
    while length:
        n = min(length, len(block))
        f.write(block[:n])
        length -= n


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def sweep_stale_overlays(directory):
    """Remove the overlays in ``directory`` that no live process holds; return their paths.

    An overlay is left behind only when its process was killed. Its disk was never
    touched, unless the process was killed while committing it: then the disk's saved
    bytes are written back first (see :class:`UndoJournal`). Overlays other processes
    are using are locked and kept.
    """
    try:
        names = [n for n in os.listdir(directory) if n.endswith(OVERLAY_SUFFIX)]
    except FileNotFoundError:
        return []
    return _remove_unheld(directory, names)


def remove_unheld(paths):
    """As :func:`sweep_stale_overlays`, for the overlays among ``paths`` only (other
    files are left alone): an appliance worker whose agent died removes those it was
    given. One being committed is held by its ``qemu-img`` (which inherits the lock,
    see :meth:`Overlay.commit`) and kept until that is gone. Returns the removed."""
    by_directory = {}
    for path in paths:
        if path.endswith(OVERLAY_SUFFIX):
            by_directory.setdefault(os.path.dirname(path), []).append(
                os.path.basename(path))
    removed = []
    for directory, names in by_directory.items():
        try:
            removed += _remove_unheld(directory, names)
        except OSError:
            pass          # the directory is gone: so are its overlays
    return removed


def _remove_unheld(directory, names):
    removed = []
    with _directory_lock(directory, fcntl.LOCK_EX):
        for name in names:
            path = os.path.join(directory, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue   # in use
            try:
                _undo_killed_commit(path)
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
            finally:
                os.close(fd)
    return removed


def _undo_killed_commit(overlay_path):
    """Restore the disk of a commit killed half-way, if ``overlay_path`` was being
    committed; drop saved bytes whose journal was never completed."""
    index = overlay_path + UNDO_INDEX_SUFFIX
    if os.path.exists(index):
        journal = UndoJournal.load(index)
        LOG.warning('Restoring %s: the commit of %s into it was killed half-way',
                    journal.record['disk'], overlay_path)
        journal.restore()
    _unlink(index + '.tmp')
    _unlink(overlay_path + UNDO_SUFFIX)
