"""The layers of inject-api's pipeline around its routes (declared in order in
:mod:`inject.api.deploy`): the request id, the request log, the microversion echoed on
every response, Nova's fault bodies, and the negotiation of the content type and the
microversion. Each is a plain WSGI middleware built as ``Layer(app, conf)``."""

import logging
import re
import time

import webob
from oslo_context import context as oslo_context

from inject import exception
from inject.api import faults
from inject.api import microversion
from inject.api import request as request_mod

LOG = logging.getLogger(__name__)

REQUEST_ID_HEADERS = ('X-OpenStack-Request-Id', 'X-Compute-Request-Id')
_GLOBAL_REQUEST_ID = re.compile(r'^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}'
                                r'-[a-f0-9]{12}$')
UNEXPECTED = ('Unexpected API Error. Please report this to the operators of this '
              'inject-api with the request id; the inject-api log has the details.')


def _with_headers(start_response, added):
    """``start_response`` that sets the headers ``added()`` gives (replacing any the
    response has of those names)."""
    def start(status, headers, exc_info=None):
        extra = added()
        names = {name.lower() for name, _ in extra}
        headers = [(n, v) for n, v in headers if n.lower() not in names] + extra
        return start_response(status, headers, exc_info)
    return start


class RequestId:
    """A new ``req-<uuid>`` per request, as oslo.middleware's request_id makes it, kept
    in the environ for the request context (a valid id the client sends in
    ``X-OpenStack-Request-Id`` becomes the global request id), and sent back on every
    response as ``X-OpenStack-Request-Id`` and ``X-Compute-Request-Id``."""

    def __init__(self, app, conf):
        self.app = app

    def __call__(self, environ, start_response):
        request_id = oslo_context.generate_request_id()
        environ['openstack.request_id'] = request_id
        given = environ.get('HTTP_X_OPENSTACK_REQUEST_ID', '')
        if _GLOBAL_REQUEST_ID.match(given):
            environ['openstack.global_request_id'] = given
        headers = [(name, request_id) for name in REQUEST_ID_HEADERS]
        return self.app(environ, _with_headers(start_response, lambda: headers))


class RequestLog:
    """One line per request, as Nova's request log writes it (no bodies, no query)."""

    def __init__(self, app, conf):
        self.app = app

    def __call__(self, environ, start_response):
        start = time.monotonic()
        answered = {}

        def recording(status, headers, exc_info=None):
            answered['status'] = status.split(' ', 1)[0]
            answered['length'] = next((v for n, v in headers
                                       if n.lower() == 'content-length'), 0)
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording)
        req = request_mod.Request(environ)
        LOG.info('%s "%s %s" status: %s len: %s microversion: %s time: %.3f',
                 req.remote_addr, req.method, req.path,
                 answered.get('status'), answered.get('length', 0),
                 environ.get(request_mod.VERSION, microversion.MIN),
                 time.monotonic() - start)
        return body


class VersionHeaders:
    """``OpenStack-API-Version``, ``X-OpenStack-Nova-API-Version`` and ``Vary`` on
    every response, errors included: the negotiated version (2.1 when the request
    never got that far)."""

    def __init__(self, app, conf):
        self.app = app

    def __call__(self, environ, start_response):
        def announced():
            return microversion.headers(environ.get(request_mod.VERSION,
                                                    microversion.MIN))
        return self.app(environ, _with_headers(start_response, announced))


class FaultWrapper:
    """Every error as Nova's body: a :class:`inject.api.faults.Fault` raised by any
    layer inside, a database that cannot be used now as a 503 naming why
    (:class:`inject.exception.DatabaseUnavailable`: nothing was changed, try again), or
    anything else as a 500 that names no detail (the log has the traceback)."""

    def __init__(self, app, conf):
        self.app = app

    def __call__(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        except faults.Fault as f:
            fault = f
        except exception.DatabaseUnavailable as e:   # full, read-only, unreachable
            req = request_mod.Request(environ)
            LOG.error('%s %s answered 503', req.method, req.path)  # oslo.log adds e
            fault = faults.Fault(503, str(e))
        except Exception:
            req = request_mod.Request(environ)
            LOG.exception('%s %s failed', req.method, req.path)
            fault = faults.Fault(500, UNEXPECTED)
        resp = webob.Response(status=fault.code)
        resp.content_type = 'application/json'
        resp.charset = None
        resp.body = faults.body(fault.code, fault.message)
        return resp(environ, start_response)


class Negotiation:
    """What the client may receive: JSON (else 406), at the microversion its headers
    ask for (see :func:`inject.api.microversion.from_headers`; 400 malformed, 406 out
    of range), parsed once into the environ."""

    def __init__(self, app, conf):
        self.app = app

    def __call__(self, environ, start_response):
        req = request_mod.Request(environ)
        if not _acceptable(req.accept):
            raise faults.Fault(406, 'Only application/json is offered.')
        try:
            environ[request_mod.VERSION] = microversion.from_headers(req.headers)
        except microversion.MalformedVersion as e:
            raise faults.BadRequest(str(e))
        except microversion.UnsupportedVersion as e:
            raise faults.Fault(406, str(e))
        return self.app(environ, start_response)


def _acceptable(accept):
    if not accept or str(accept).strip() in ('', '*/*'):
        return True
    return any(accept.acceptable_offers(['application/json']))
