"""Requests as they travel over RPC: JSON-safe dicts, bytes in base64."""

from inject import encoding
from inject import exception
from inject import image
from inject import request as request_mod


def _unb64(text, what):
    if text is None:
        return None
    try:
        return encoding.b64decode(text)
    except (ValueError, TypeError):
        raise exception.InvalidRequest(reason='%s is not valid base64' % what)


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
    """The request a dict describes; raises InvalidRequest/InvalidGuestPath/InvalidImage."""
    try:
        img = payload['image']
        files = [(f['path'], _unb64(f['contents'], 'file %s' % f['path']))
                 for f in payload.get('files') or ()]
        return request_mod.InjectionRequest(
            image.DiskImage(img['path'], img['format']), files=files,
            key=payload.get('key'), net=_unb64(payload.get('net'), 'network config'),
            metadata=payload.get('metadata'), admin_password=payload.get('admin_password'),
            partition=payload.get('partition'), request_id=payload.get('request_id'))
    except (KeyError, TypeError) as e:
        raise exception.InvalidRequest(reason='malformed request payload (%s)' % e)
