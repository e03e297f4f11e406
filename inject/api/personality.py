"""Personality files, translated once, at the API: each item's base64 ``contents``
decoded (with :func:`inject.encoding.b64decode`, the one strict decoder) and its
``path`` normalised (with :func:`inject.paths.normalise`). The quota checks and the
spawn flow use the result, ``[(normalised path, bytes)]``; nothing decodes again.

The schema has checked the shape (a list of ``{"path": str, "contents": str}``); a
contents that is not base64, or a path that cannot name a file in the guest, is a 400
naming the file and the reason.
"""

from inject import encoding
from inject import exception
from inject import paths
from inject.api import faults
from inject.api import validation


def translate(items):
    """``[(normalised path, decoded bytes)]`` of a request's ``personality`` list
    (None or empty: ``[]``); raises a 400 Fault. Every contents is decoded before any
    path is checked, so a bad encoding is reported first, whichever file has it."""
    items = list(items or ())
    decoded = [_decode(item) for item in items]
    return [(_normalise(item['path']), data) for item, data in zip(items, decoded)]


def _decode(item):
    try:
        return encoding.b64decode(item['contents'])
    except ValueError as e:
        raise validation.invalid_input(
            validation.personality_field('contents', item['path']), item['contents'],
            validation.not_base64(item['contents'], e))


def _normalise(path):
    try:
        return paths.normalise(path)
    except exception.InjectError as e:
        raise faults.BadRequest('Invalid personality file path %r: %s' % (path, e))
