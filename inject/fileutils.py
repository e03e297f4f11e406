"""Host-side helpers for inject's own state files (never guest files)."""

import os
import tempfile


def atomic_write(path, data, mode=0o600):
    """Write ``data`` (bytes or str) to ``path`` so readers see the old or the new file.

    The temporary file is unique (``mkstemp`` in the same directory), so two processes
    writing the same path never write into one temporary; it is removed on failure.
    Raises OSError.
    """
    directory = os.path.dirname(path) or '.'
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp',
                               dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fsync_directory(directory):
    """Make a rename or a new file in ``directory`` durable (fsync of the directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
