"""The WSGI application: microversion negotiation, Nova-style faults and the request
log, around :mod:`inject.api.auth` (who is calling) and :mod:`inject.api.router`
(which handler answers).

Every response, errors and version documents included, carries
``OpenStack-API-Version``, ``X-OpenStack-Nova-API-Version`` and ``Vary``, and the
request's id as ``X-OpenStack-Request-Id`` and ``X-Compute-Request-Id``: a new
``req-<uuid>`` per request, as oslo.middleware's request_id makes it (a valid id the
client sends in ``X-OpenStack-Request-Id`` becomes the global request id).
"""

import json
import logging
import re
import time

import webob
from oslo_context import context as oslo_context

from inject import exception
from inject.api import auth
from inject.api import compute as compute_mod
from inject.api import faults
from inject.api import microversion
from inject.api import policy
from inject.api import quotas
from inject.api import router
from inject.api.handlers import versions
from inject.db import api as db_api

LOG = logging.getLogger(__name__)

# JSON bodies nested deeper than this are refused: Nova's requests nest a few levels,
# and deeper ones would exhaust the interpreter's recursion in later processing.
MAX_BODY_DEPTH = 100
REQUEST_ID_HEADERS = ('X-OpenStack-Request-Id', 'X-Compute-Request-Id')
_GLOBAL_REQUEST_ID = re.compile(r'^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}'
                                r'-[a-f0-9]{12}$')

_UNEXPECTED = ('Unexpected API Error. Please report this to the operators of this '
               'inject-api with the request id; the inject-api log has the details.')


class Request(webob.Request):
    """A request with what the application worked out about it."""
    version = None          # microversion_parse.Version, parsed once per request
    context = None          # oslo_context RequestContext
    app = None              # the Application
    url_project = None      # project id given in the URL, or None

    def body_json(self):
        limit = self.app.conf.api.max_request_body_size
        if self.content_length is not None and self.content_length > limit:
            raise faults.Fault(413, 'Request is too large.')
        raw = self.body_file.read(limit + 1)
        if len(raw) > limit:
            raise faults.Fault(413, 'Request is too large.')
        if not raw:
            raise faults.BadRequest('The request body is empty.')
        ctype = self.content_type
        if ctype and 'json' not in ctype:
            raise faults.Fault(415, 'Unsupported Content-Type')
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise faults.BadRequest('Malformed request body')
        if _deeper_than(body, MAX_BODY_DEPTH):
            raise faults.BadRequest('Malformed request body')
        return body

    def base_url(self):
        return self.application_url.rstrip('/')

    def link_prefix(self):
        """``(self_prefix, bookmark_prefix)`` of links to resources, as Nova builds them:
        the project id appears only when the request URL had it."""
        base = self.base_url()
        project = '/' + self.url_project if self.url_project else ''
        prefix = self.path_info.lstrip('/').split('/', 1)[0]
        prefix = prefix if prefix in router.PREFIXES else 'v2.1'
        return '%s/%s%s' % (base, prefix, project), '%s%s' % (base, project)

    def links(self, collection, ident):
        own, bookmark = self.link_prefix()
        return [{'rel': 'self', 'href': '%s/%s/%s' % (own, collection, ident)},
                {'rel': 'bookmark', 'href': '%s/%s/%s' % (bookmark, collection, ident)}]

    def authorize(self, rule, project_id=None, user_id=None):
        """403 unless policy ``rule`` allows the caller on ``project_id`` (default:
        the caller's own project) and ``user_id`` (default: the caller)."""
        self.app.policy.authorize(self.context, rule, project_id, user_id)

    def can(self, rule, project_id=None):
        """Whether policy ``rule`` allows the caller on ``project_id``; asked of the
        policy once per request (a list view asks for every server it shows)."""
        cache = self.environ.setdefault('inject.policy', {})
        key = (rule, project_id)
        if key not in cache:
            cache[key] = self.app.policy.can(self.context, rule, project_id)
        return cache[key]

    @property
    def is_admin(self):
        cache = self.environ.setdefault('inject.policy', {})
        if 'is_admin' not in cache:
            cache['is_admin'] = self.app.policy.is_admin(self.context)
        return cache['is_admin']


class Application:
    """inject-api. ``conf`` is the oslo.config CONF; ``db`` a :class:`Database`."""

    def __init__(self, conf, db=None, compute=None):
        self.conf = conf
        self.db = db or db_api.Database(conf.database.connection,
                                        sync=conf.database.sync_on_start)
        self.policy = policy.Enforcer(conf)
        self.quotas = quotas.Quotas(conf, self.db)
        self.compute = compute or compute_mod.Compute(conf, self.db)
        self._authenticated = auth.wrap(self._routed, conf)

    def __call__(self, environ, start_response):
        start = time.monotonic()
        request_id = _request_ids(environ)
        req = Request(environ)
        version = microversion.MIN
        try:
            if not _acceptable(req.accept):
                raise faults.Fault(406, 'Only application/json is offered.')
            try:
                version = microversion.from_headers(req.headers)
            except microversion.MalformedVersion as e:
                raise faults.BadRequest(str(e))
            except microversion.UnsupportedVersion as e:
                raise faults.Fault(406, str(e))
            environ['inject.version'] = version
            segments = router.segments(req.path_info)
            if router.is_version_document(segments):
                resp = self._respond(req, versions.document, segments)
            else:
                resp = req.get_response(self._authenticated)
        except faults.Fault as f:
            resp = _fault_response(f)
        except Exception:
            LOG.exception('%s %s failed', req.method, req.path)
            resp = _fault_response(faults.Fault(500, _UNEXPECTED))
        for name, value in microversion.headers(version):
            resp.headers[name] = value
        for name in REQUEST_ID_HEADERS:
            resp.headers[name] = request_id
        # One line per request, as Nova's request log writes it (no bodies, no query).
        LOG.info('%s "%s %s" status: %s len: %s microversion: %s time: %.3f',
                 req.remote_addr, req.method, req.path, resp.status_int,
                 resp.content_length or 0, version, time.monotonic() - start)
        return resp(environ, start_response)

    def _routed(self, environ, start_response):
        req = Request(environ)
        try:
            req.version = environ['inject.version']
            req.context = auth.context(req, self.conf)
            handler, kwargs = router.route(
                req, check_project=self.conf.api.auth_strategy == 'keystone')
            resp = self._respond(req, handler, **kwargs)
        except faults.Fault as f:
            resp = _fault_response(f)
        return resp(environ, start_response)

    def _respond(self, req, handler, *args, **kwargs):
        req.app = self
        req.version = req.environ.get('inject.version', microversion.MIN)
        try:
            result = handler(req, *args, **kwargs)
        except faults.Fault:
            raise
        except exception.DatabaseUnavailable as e:   # full, read-only, unreachable
            LOG.error('%s %s answered 503', req.method, req.path)  # oslo.log adds e
            raise faults.Fault(503, str(e))
        except Exception:
            LOG.exception('%s %s failed', req.method, req.path)
            raise faults.Fault(500, _UNEXPECTED)
        status, body = result[0], result[1]
        headers = result[2] if len(result) > 2 else {}
        resp = webob.Response(status=status)
        if body is None:
            resp.content_type = None
            resp.body = b''
        else:
            resp.content_type = 'application/json'
            resp.charset = None
            resp.body = json.dumps(body).encode('utf-8')
        for name, value in headers.items():
            resp.headers[name] = value
        return resp


def _request_ids(environ):
    """A new request id, kept in ``environ`` for the request context, and the client's
    ``X-OpenStack-Request-Id`` as the global request id when it is a valid one."""
    request_id = oslo_context.generate_request_id()
    environ['openstack.request_id'] = request_id
    given = environ.get('HTTP_X_OPENSTACK_REQUEST_ID', '')
    if _GLOBAL_REQUEST_ID.match(given):
        environ['openstack.global_request_id'] = given
    return request_id


def _deeper_than(value, limit):
    """True when lists and objects in ``value`` nest deeper than ``limit`` levels
    (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _acceptable(accept):
    if not accept or str(accept).strip() in ('', '*/*'):
        return True
    return any(accept.acceptable_offers(['application/json']))


def _fault_response(fault):
    resp = webob.Response(status=fault.code)
    resp.content_type = 'application/json'
    resp.charset = None
    resp.body = faults.body(fault.code, fault.message)
    return resp


def make_app(conf, db=None, compute=None):
    return Application(conf, db=db, compute=compute)
