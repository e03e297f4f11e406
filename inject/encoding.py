"""The one base64 decoder inject uses: personality and user_data at the API, and
every byte string that crosses the agent's RPC boundary."""

import base64
import binascii
import re

_WHITESPACE = re.compile(rb'[ \t\r\n]+')


def b64encode(data):
    """``data`` (bytes) as base64 text; None stays None."""
    return None if data is None else base64.b64encode(data).decode('ascii')


def b64decode(text):
    """Bytes of ``text``, or ValueError saying why it is not base64.

    Strict, unlike Nova (which silently dropped characters outside the alphabet):
    only line breaks and blanks between groups are tolerated, as written by
    base64(1); anything else, or padding that is missing, extra or not canonical
    (``"YWJj="``, ``"YWJj=="``), is refused.
    """
    if not isinstance(text, str):
        raise ValueError('not a string')
    try:
        raw = _WHITESPACE.sub(b'', text.encode('ascii'))
    except UnicodeEncodeError:
        raise ValueError('it contains characters outside the base64 alphabet')
    if len(raw) % 4:
        raise ValueError('its length without blanks (%d) is not a multiple of 4: '
                         'padding is missing or extra' % len(raw))
    try:
        data = base64.b64decode(raw, validate=True)
    except binascii.Error as e:
        raise ValueError(str(e))
    if base64.b64encode(data) != raw:
        raise ValueError('its padding or final bits are not canonical')
    return data
