"""Requests as they travel over RPC: JSON-safe dicts, bytes in base64.

:func:`from_dict` is the agent's one decoder: every field is checked and every byte
string decoded there (with :func:`inject.encoding.b64decode`), once per request.
"""

from inject import encoding
from inject import exception
from inject import image
from inject import request as request_mod


def malformed(what):
    """The InvalidRequest for a payload that cannot be decoded, saying ``what``."""
    return exception.InvalidRequest(reason='malformed request payload (%s)' % what)


_KINDS = {dict: 'an object', list: 'a list', str: 'a string'}


def _typed(value, where, kind):
    if not isinstance(value, kind):
        raise malformed('%s must be %s, not %s' % (where, _KINDS[kind],
                                                    type(value).__name__))
    return value


def _required(mapping, name, where, kind=None):
    if name not in mapping:
        raise malformed('%s is missing' % where)
    return mapping[name] if kind is None else _typed(mapping[name], where, kind)


def _optional(mapping, name, kind):
    value = mapping.get(name)
    return None if value is None else _typed(value, name, kind)


def _unb64(text, what):
    if text is None:
        return None
    try:
        return encoding.b64decode(text)
    except ValueError as e:
        raise exception.InvalidRequest(reason='%s is not valid base64 (%s)' % (what, e))


def _image_path(img):
    path = _required(img, 'path', 'image.path', str)
    if not path:
        raise malformed('image.path is empty')
    if '\0' in path:
        raise malformed('image.path contains a NUL byte')
    if len(path.encode('utf-8', 'surrogatepass')) > MAX_IMAGE_PATH:
        raise malformed('image.path is longer than %d bytes' % MAX_IMAGE_PATH)
    return path


#: PATH_MAX of the host
MAX_IMAGE_PATH = 4096


def project_of(payload):
    """The project a payload's request is queued under ('-' when it names none)."""
    if not isinstance(payload, dict):
        return '-'
    return _optional(payload, 'project_id', str) or '-'


def to_dict(req, instance_id=None, project_id=None):
    """An :class:`inject.request.InjectionRequest` as a JSON-safe dict."""
    return {
        'instance_id': instance_id,
        'project_id': project_id,
        'request_id': req.request_id,
        'image': {'path': req.image.path, 'format': req.image.format},
        'partition': req.partition,
        'files': [{'path': p, 'contents': encoding.b64encode(c)} for p, c in req.files],
        'key': req.key,
        'net': encoding.b64encode(req.net),
        'metadata': req.metadata,
        'admin_password': req.admin_password,
    }


def from_dict(payload):
    """The request a dict describes: decoded and checked here, once, at the agent's
    trust boundary (the request's constructor normalises its guest paths).

    Raises InvalidRequest naming the field that is missing, mistyped or not base64, or
    the request's own InvalidRequest/InvalidGuestPath/InvalidImage.
    """
    payload = _typed(payload, 'the payload', dict)
    img = _required(payload, 'image', 'image', dict)
    disk = image.DiskImage(_image_path(img), _required(img, 'format', 'image.format', str))
    files = []
    for index, entry in enumerate(_optional(payload, 'files', list) or ()):
        where = 'files[%d]' % index
        entry = _typed(entry, where, dict)
        path = _required(entry, 'path', where + '.path', str)
        files.append((path, _unb64(_required(entry, 'contents', where + '.contents'),
                                   'file %s' % path)))
    return request_mod.InjectionRequest(
        disk, files=files, key=_optional(payload, 'key', str),
        net=_unb64(payload.get('net'), 'network config'),
        metadata=payload.get('metadata'), admin_password=payload.get('admin_password'),
        partition=payload.get('partition'),
        request_id=_optional(payload, 'request_id', str))
