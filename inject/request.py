"""What a caller asks to be injected into one disk, checked before anything starts."""

import json

from inject import exception
from inject import image as image_mod
from inject import partitions
from inject import passwords
from inject import paths


# The largest guest file (personality file, network config) one request may carry. The
# Compute API's injected_file_content_bytes quota (10240 by default) is far below it; this
# bounds what the CLI reads and what one RPC message carries.
MAX_FILE_BYTES = 16 * 1024 * 1024
# sshd reads authorized_keys lines of up to 16 KiB (an 16384-bit RSA key is about 3 KiB).
MAX_KEY_BYTES = 16 * 1024


class InjectionRequest:
    """One disk and the data to put into it.

    ``files`` is a list of ``(guest_path, contents)`` with ``contents`` as bytes (a
    ``str`` is taken as UTF-8); ``key`` an SSH public key line; ``net`` the content of
    /etc/network/interfaces; ``metadata`` a dict of strings written as /meta.js;
    ``admin_password`` root's new password; ``partition`` overrides
    ``[injection]inject_partition`` for this request when not None.

    Raises :class:`inject.exception.InvalidRequest` or
    :class:`inject.exception.InvalidGuestPath` naming what is wrong.
    """

    def __init__(self, image, files=(), key=None, net=None, metadata=None,
                 admin_password=None, partition=None, request_id=None):
        if not isinstance(image, image_mod.DiskImage):
            raise exception.InvalidRequest(reason='image must be a DiskImage')
        self.image = image
        self.files = [(paths.normalise(path), _as_bytes(contents, 'file %s' % path))
                      for path, contents in files]
        self.key = _check_key(key)
        self.net = _as_bytes(net, 'network config') if net is not None else None
        self.metadata = _check_metadata(metadata)
        self.admin_password = _check_password(admin_password)
        if partition is not None and not partitions.is_valid(partition):
            raise exception.InvalidRequest(
                reason='partition must be an integer >= -2, not %r' % (partition,))
        self.partition = partition
        self.request_id = request_id

    def __repr__(self):
        # Contents, key, metadata and password stay out of logs (Nova logged all but the
        # password at DEBUG).
        return ('InjectionRequest(image=%r, files=%r, key=%s, net=%s, metadata=%s, '
                'admin_password=%s, partition=%r)' % (
                    self.image, [p for p, _ in self.files], _given(self.key),
                    _given(self.net), _given(self.metadata),
                    '<SANITIZED>' if self.admin_password else None, self.partition))


def _given(value):
    return '<given>' if value else None


def _as_bytes(value, what):
    if isinstance(value, str):
        try:
            value = value.encode('utf-8')
        except UnicodeEncodeError:
            raise exception.InvalidRequest(reason='%s is not valid Unicode text' % what)
    if not isinstance(value, bytes):
        raise exception.InvalidRequest(reason='%s must be bytes or text, not %s'
                                       % (what, type(value).__name__))
    if len(value) > MAX_FILE_BYTES:
        raise exception.InvalidRequest(
            reason='%s is %d bytes; at most %d bytes (16 MiB) are injected into a guest '
                   'file (use a config drive or the image itself for larger data)'
            % (what, len(value), MAX_FILE_BYTES))
    return value


def _check_key(key):
    if key is None:
        return None
    if isinstance(key, bytes):
        key = key.decode('utf-8', 'replace')
    key = key.strip()
    if not key:
        raise exception.InvalidRequest(reason='the SSH key is empty')
    if '\n' in key or '\r' in key or '\0' in key:
        raise exception.InvalidRequest(
            reason='the SSH key must be a single authorized_keys line')
    if len(key.encode('utf-8', 'replace')) > MAX_KEY_BYTES:
        raise exception.InvalidRequest(
            reason='the SSH key line is %d bytes; sshd ignores authorized_keys lines '
                   'over %d' % (len(key.encode('utf-8', 'replace')), MAX_KEY_BYTES))
    return key


def _check_metadata(metadata):
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise exception.InvalidRequest(reason='metadata must be a mapping of strings')
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise exception.InvalidRequest(
                reason='metadata %r: keys and values must be strings' % (k,))
    json.dumps(metadata)
    return dict(metadata)


def _check_password(password):
    if password is None:
        return None
    if not isinstance(password, str) or not password:
        raise exception.InvalidRequest(reason='the admin password must be a non-empty string')
    if '\0' in password:
        raise exception.InvalidRequest(reason='the admin password contains a NUL byte')
    try:
        size = len(password.encode('utf-8'))
    except UnicodeEncodeError:
        raise exception.InvalidRequest(reason='the admin password is not valid Unicode '
                                              'text (it holds a lone surrogate)')
    if size > passwords.MAX_PASSWORD_BYTES:
        raise exception.InvalidRequest(
            reason='the admin password is %d bytes long; at most %d are accepted'
            % (size, passwords.MAX_PASSWORD_BYTES))
    return password
