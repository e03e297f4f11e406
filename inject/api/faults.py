"""Errors as Nova shows them: ``{"badRequest": {"code": 400, "message": "..."}}``."""

import json

# Nova's names for each status (nova/api/openstack/wsgi.py Fault._fault_names).
_NAMES = {400: 'badRequest', 401: 'unauthorized', 403: 'forbidden', 404: 'itemNotFound',
          405: 'badMethod', 409: 'conflictingRequest', 413: 'overLimit',
          415: 'badMediaType', 429: 'overLimit', 501: 'notImplemented',
          503: 'serviceUnavailable'}


class Fault(Exception):
    """Raise from a handler to answer with Nova's error body."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def BadRequest(message):
    return Fault(400, message)


def Forbidden(message):
    return Fault(403, message)


def NotFound(message):
    return Fault(404, message)


def Conflict(message):
    return Fault(409, message)


def body(code, message):
    name = _NAMES.get(code, 'computeFault')
    return json.dumps({name: {'code': code, 'message': message}}).encode('utf-8')
