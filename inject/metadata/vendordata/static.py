"""StaticJSON: the file of ``[api]vendordata_jsonfile_path``.

Read once and kept while the file's identity (device, inode, size, mtime) is unchanged,
so an edited or replaced file is served at the next request without a restart (Nova read
it for every InstanceMetadata object it built). No path configured gives ``{}``.

A file that is missing, unreadable, not UTF-8 JSON, or whose top level is not an object,
list or string (the roots cloud-init accepts; anything else would make it reject the
whole datasource) raises :class:`~inject.exception.StaticVendorDataInvalid` naming the
file and the reason, as Nova re-raised (B-2.3): a vendor's data is never silently
replaced by ``{}``. The error is logged once per state of the file, not per request.
"""

import json
import logging
import os
import threading

from inject import exception

LOG = logging.getLogger(__name__)

#: Top-level JSON types cloud-init accepts in vendor_data*.json.
ACCEPTED_ROOTS = (dict, list, str)


class StaticJSON:
    """The provider; :meth:`get` is the content (a fresh copy is not made: callers only
    serialise it)."""

    def __init__(self, path):
        self.path = path or None
        self._lock = threading.Lock()
        self._stamp = None      # (dev, ino, size, mtime_ns) of what _value came from
        self._value = None      # the parsed JSON, or the StaticVendorDataInvalid

    def get(self):
        if not self.path:
            return {}
        try:
            st = os.stat(self.path)
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError as e:
            stamp = ('error', e.errno)
        with self._lock:
            if stamp != self._stamp:
                self._value = self._load()
                self._stamp = stamp
                if isinstance(self._value, exception.StaticVendorDataInvalid):
                    LOG.error('%s', self._value)
            value = self._value
        if isinstance(value, Exception):
            raise value
        return value

    def _load(self):
        def invalid(reason):
            return exception.StaticVendorDataInvalid(path=self.path, reason=reason)
        try:
            with open(self.path, 'rb') as f:
                raw = f.read()
        except FileNotFoundError:
            return invalid('the file does not exist')
        except IsADirectoryError:
            return invalid('it is a directory')
        except OSError as e:
            return invalid('it cannot be read (%s)' % (e.strerror or e))
        try:
            value = json.loads(raw.decode('utf-8-sig'))
        except UnicodeDecodeError as e:
            return invalid('it is not UTF-8 (%s)' % e.reason)
        except ValueError as e:
            return invalid('it is not JSON (%s)' % e)
        if not isinstance(value, ACCEPTED_ROOTS):
            return invalid('its top level is %s; cloud-init accepts only an object, a '
                           'list or a string' % _json_type(value))
        return value


def _json_type(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    return 'a number'
