"""Rules for guest paths, applied on the host before any appliance starts.

A guest path is only ever interpreted inside the guest: the appliance resolves it in a
chroot of the guest filesystem, so symlinks in the guest stay in the guest. This module
never joins a guest path to a host directory; it only normalises the text and refuses
what cannot name a file inside the guest root.
"""

import posixpath

from inject import exception

PATH_MAX = 4096     # bytes, including the leading '/'
NAME_MAX = 255      # bytes per component


def normalise(path):
    """Return ``path`` as an absolute, normalised guest path naming a file.

    Accepts ``str`` or UTF-8 ``bytes``. A relative path is taken from the guest root, as
    Nova did (``inject-file`` is ``/inject-file``). Raises
    :class:`inject.exception.InvalidGuestPath` naming the path for: a non-UTF-8 name, an
    empty path, a NUL byte, ``..`` climbing above ``/``, a path naming a directory
    (``/``, a trailing ``/``, a final ``.`` or ``..``), and over-long paths or names.
    """
    if isinstance(path, bytes):
        try:
            path = path.decode('utf-8')
        except UnicodeDecodeError:
            raise exception.InvalidGuestPath(path=path, reason='the name is not valid UTF-8')
    if not isinstance(path, str):
        raise exception.InvalidGuestPath(path=path, reason='a path must be a string')
    if path == '':
        raise exception.InvalidGuestPath(path=path, reason='the path is empty')
    if '\0' in path:
        raise exception.InvalidGuestPath(path=path, reason='it contains a NUL byte')
    try:
        encoded = path.encode('utf-8')
    except UnicodeEncodeError:
        raise exception.InvalidGuestPath(path=path, reason='the name is not valid UTF-8')
    if len(encoded) + (0 if path.startswith('/') else 1) > PATH_MAX:
        raise exception.InvalidGuestPath(
            path=path[:64] + '...', reason='it is longer than %d bytes' % PATH_MAX)

    parts = path.split('/')
    if parts[-1] in ('', '.', '..'):
        raise exception.InvalidGuestPath(
            path=path, reason='it names a directory, not a file')
    depth = 0
    for part in parts:
        if part == '..':
            depth -= 1
            if depth < 0:
                raise exception.InvalidGuestPath(
                    path=path, reason="'..' climbs above the guest root")
        elif part not in ('', '.'):
            if len(part.encode('utf-8')) > NAME_MAX:
                raise exception.InvalidGuestPath(
                    path=path, reason='a name in it is longer than %d bytes' % NAME_MAX)
            depth += 1
    return posixpath.normpath('/' + path.lstrip('/'))


def parents(path):
    """The ancestors of a normalised guest path, outermost first, ``/`` excluded."""
    result = []
    parent = posixpath.dirname(path)
    while parent != '/':
        result.append(parent)
        parent = posixpath.dirname(parent)
    return list(reversed(result))
