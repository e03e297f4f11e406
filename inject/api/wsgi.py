"""The WSGI application: routing, microversion negotiation, auth, Nova-style faults.

Every response, errors included, carries ``OpenStack-API-Version``,
``X-OpenStack-Nova-API-Version`` and ``Vary``. Requests are routed by method and path
under ``/v2.1`` (and ``/v2``, served by the same code), with or without a project id
after the version prefix.
"""

import json
import logging
import re
import time

import webob
from oslo_context import context as oslo_context

from inject.api import compute as compute_mod
from inject.api import faults
from inject.api import microversion
from inject.api import policy
from inject.api import quotas
from inject.api.handlers import flavors
from inject.api.handlers import images
from inject.api.handlers import instance_actions
from inject.api.handlers import limits
from inject.api.handlers import quota_classes
from inject.api.handlers import quota_sets
from inject.api.handlers import servers
from inject.api.handlers import versions
from inject.db import api as db_api

LOG = logging.getLogger(__name__)

PREFIXES = ('v2.1', 'v2')
# First path segments after the prefix that are collections, not project ids.
COLLECTIONS = {'servers', 'flavors', 'images', 'limits', 'os-quota-sets',
               'os-quota-class-sets', 'v2'}

ROUTES = [
    ('GET', 'servers', servers.index),
    ('GET', 'servers/detail', servers.detail),
    ('POST', 'servers', servers.create),
    ('GET', 'servers/{id}', servers.show),
    ('DELETE', 'servers/{id}', servers.delete),
    ('POST', 'servers/{id}/action', servers.action),
    ('GET', 'servers/{id}/os-instance-actions', instance_actions.index),
    ('GET', 'servers/{id}/os-instance-actions/{request_id}', instance_actions.show),
    ('GET', 'flavors', flavors.index),
    ('GET', 'flavors/detail', flavors.detail),
    ('GET', 'flavors/{id}', flavors.show),
    ('GET', 'images', images.index),
    ('GET', 'images/detail', images.detail),
    ('GET', 'images/{id}', images.show),
    ('GET', 'v2/images', images.glance_index),
    ('GET', 'v2/images/{id}', images.glance_show),
    ('GET', 'limits', limits.index),
    ('GET', 'os-quota-sets/{id}', quota_sets.show),
    ('GET', 'os-quota-sets/{id}/detail', quota_sets.detail),
    ('GET', 'os-quota-sets/{id}/defaults', quota_sets.defaults),
    ('PUT', 'os-quota-sets/{id}', quota_sets.update),
    ('DELETE', 'os-quota-sets/{id}', quota_sets.delete),
    ('GET', 'os-quota-class-sets/{id}', quota_classes.show),
    ('PUT', 'os-quota-class-sets/{id}', quota_classes.update),
]


def _compile(template):
    pattern = re.sub(r'\\\{(\w+)\\\}', r'(?P<\1>[^/]+)', re.escape(template))
    return re.compile('^%s/?$' % pattern)


_UNEXPECTED = ('Unexpected API Error. Please report this to the operators of this '
               'inject-api with the request id; the inject-api log has the details.')

_COMPILED = [(method, _compile(t), handler) for method, t, handler in ROUTES]


class Request(webob.Request):
    """A request with what the application worked out about it."""
    version = None          # microversion_parse.Version
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
            return json.loads(raw)
        except ValueError:
            raise faults.BadRequest('Malformed request body')

    def base_url(self):
        return self.application_url.rstrip('/')

    def link_prefix(self):
        """``(self_prefix, bookmark_prefix)`` of links to resources, as Nova builds them:
        the project id appears only when the request URL had it."""
        base = self.base_url()
        project = '/' + self.url_project if self.url_project else ''
        prefix = self.path_info.lstrip('/').split('/', 1)[0]
        prefix = prefix if prefix in PREFIXES else 'v2.1'
        return '%s/%s%s' % (base, prefix, project), '%s%s' % (base, project)

    def links(self, collection, ident):
        own, bookmark = self.link_prefix()
        return [{'rel': 'self', 'href': '%s/%s/%s' % (own, collection, ident)},
                {'rel': 'bookmark', 'href': '%s/%s/%s' % (bookmark, collection, ident)}]

    def at_least(self, text):
        return microversion.at_least(self.version, text)

    def authorize(self, rule, project_id):
        self.app.policy.authorize(self.context, rule, project_id)

    @property
    def is_admin(self):
        return self.app.policy.is_admin(self.context)


class Application:
    """inject-api. ``conf`` is the oslo.config CONF; ``db`` a :class:`Database`."""

    def __init__(self, conf, db=None, compute=None):
        self.conf = conf
        self.db = db or db_api.Database(conf.database.connection,
                                        sync=conf.database.sync_on_start)
        self.policy = policy.Enforcer(conf)
        self.quotas = quotas.Quotas(conf, self.db)
        self.compute = compute or compute_mod.Compute(conf, self.db)
        self._authenticated = self._routed
        if conf.api.auth_strategy == 'keystone':
            from keystonemiddleware import auth_token
            self._authenticated = auth_token.AuthProtocol(
                self._routed, {'oslo_config_config': conf})

    def __call__(self, environ, start_response):
        start = time.monotonic()
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
            segments = [s for s in req.path_info.split('/') if s]
            if not segments or (len(segments) == 1 and segments[0] in PREFIXES):
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
        # One line per request, as Nova's request log writes it (no bodies, no query).
        LOG.info('%s "%s %s" status: %s len: %s microversion: %s time: %.3f',
                 req.remote_addr, req.method, req.path, resp.status_int,
                 resp.content_length or 0, version, time.monotonic() - start)
        return resp(environ, start_response)

    def _routed(self, environ, start_response):
        req = Request(environ)
        try:
            req.version = environ['inject.version']
            req.context = self._context(req)
            handler, kwargs = self._route(req)
            resp = self._respond(req, handler, **kwargs)
        except faults.Fault as f:
            resp = _fault_response(f)
        return resp(environ, start_response)

    def _route(self, req):
        segments = [s for s in req.path_info.split('/') if s]
        if segments[0] not in PREFIXES:
            raise faults.NotFound('The resource could not be found.')
        rest = segments[1:]
        if rest and rest[0] not in COLLECTIONS:
            req.url_project = rest[0]
            rest = rest[1:]
            if self.conf.api.auth_strategy == 'keystone' and (
                    req.url_project != req.context.project_id):
                raise faults.BadRequest(
                    "Malformed request URL: URL's project_id '%s' doesn't match "
                    "Context's project_id '%s'" % (req.url_project,
                                                   req.context.project_id))
        path = '/'.join(rest)
        allowed = False
        for method, pattern, handler in _COMPILED:
            match = pattern.match(path)
            if match:
                if method == req.method:
                    return handler, match.groupdict()
                allowed = True
        if allowed:
            raise faults.Fault(405, 'The method is not allowed for this resource.')
        raise faults.NotFound('The resource could not be found.')

    def _context(self, req):
        h = req.headers
        if self.conf.api.auth_strategy == 'keystone':
            if h.get('X-Identity-Status') != 'Confirmed':
                raise faults.Fault(401, 'Authentication required')
            project = h.get('X-Project-Id')
            user = h.get('X-User-Id')
            roles = [r.strip() for r in h.get('X-Roles', '').split(',') if r.strip()]
        else:
            segments = [s for s in req.path_info.split('/') if s]
            url_project = (segments[1] if len(segments) > 1
                           and segments[1] not in COLLECTIONS else None)
            # Nova's noauth2 convention: a token "user:project" names both.
            token = h.get('X-Auth-Token', '')
            token_user, _, token_project = token.partition(':') if ':' in token else (
                None, None, None)
            project = (url_project or h.get('X-Project-Id') or token_project
                       or self.conf.api.noauth_project)
            user = h.get('X-User-Id') or token_user or self.conf.api.noauth_user
            roles = ([r.strip() for r in h['X-Roles'].split(',') if r.strip()]
                     if 'X-Roles' in h else list(self.conf.api.noauth_roles))
        request_id = h.get('X-OpenStack-Request-Id') or None
        ctx = oslo_context.RequestContext(user_id=user, project_id=project, roles=roles,
                                          request_id=request_id)
        if not ctx.request_id.startswith('req-'):
            ctx.request_id = oslo_context.generate_request_id()
        return ctx

    def _respond(self, req, handler, *args, **kwargs):
        req.app = self
        req.version = req.environ.get('inject.version', microversion.MIN)
        try:
            result = handler(req, *args, **kwargs)
        except faults.Fault:
            raise
        except Exception:
            LOG.exception('%s %s failed', req.method, req.path)
            raise faults.Fault(500, _UNEXPECTED)
        status, body = result[0], result[1]
        resp = webob.Response(status=status)
        if body is None:
            resp.content_type = None
            resp.body = b''
        else:
            resp.content_type = 'application/json'
            resp.charset = None
            resp.body = json.dumps(body).encode('utf-8')
        if req.context is not None:
            resp.headers['X-OpenStack-Request-Id'] = req.context.request_id
            resp.headers['X-Compute-Request-Id'] = req.context.request_id
        return resp


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
