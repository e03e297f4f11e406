"""The routing table of inject-api and the innermost layer of its pipeline: a
request's method and resource path (below ``/v2.1`` or ``/v2`` and an optional project
id, :mod:`inject.api.urls`) to a handler and its arguments, or a 404/405 Fault; the
handler's ``(status, body[, headers])`` as a JSON response. Version documents are
answered before authentication (:class:`VersionDocuments`)."""

import json
import re

import webob

from inject.api import faults
from inject.api import request as request_mod
from inject.api.handlers import aggregates
from inject.api.handlers import flavors
from inject.api.handlers import hypervisors
from inject.api.handlers import images
from inject.api.handlers import instance_actions
from inject.api.handlers import keypairs
from inject.api.handlers import limits
from inject.api.handlers import quota_classes
from inject.api.handlers import quota_sets
from inject.api.handlers import server_metadata
from inject.api.handlers import servers
from inject.api.handlers import services
from inject.api.handlers import versions

ROUTES = [
    ('GET', 'servers', servers.index),
    ('GET', 'servers/detail', servers.detail),
    ('POST', 'servers', servers.create),
    ('GET', 'servers/{id}', servers.show),
    ('DELETE', 'servers/{id}', servers.delete),
    ('PUT', 'servers/{id}', servers.update),
    ('GET', 'servers/{id}/metadata', server_metadata.index),
    ('POST', 'servers/{id}/metadata', server_metadata.create),
    ('PUT', 'servers/{id}/metadata', server_metadata.update_all),
    ('GET', 'servers/{id}/metadata/{key}', server_metadata.show),
    ('PUT', 'servers/{id}/metadata/{key}', server_metadata.update),
    ('DELETE', 'servers/{id}/metadata/{key}', server_metadata.delete),
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
    ('GET', 'v2/images/{id}/file', images.glance_file),
    ('GET', 'limits', limits.index),
    ('GET', 'os-quota-sets/{id}', quota_sets.show),
    ('GET', 'os-quota-sets/{id}/detail', quota_sets.detail),
    ('GET', 'os-quota-sets/{id}/defaults', quota_sets.defaults),
    ('PUT', 'os-quota-sets/{id}', quota_sets.update),
    ('DELETE', 'os-quota-sets/{id}', quota_sets.delete),
    ('GET', 'os-quota-class-sets/{id}', quota_classes.show),
    ('PUT', 'os-quota-class-sets/{id}', quota_classes.update),
    ('GET', 'os-keypairs', keypairs.index),
    ('POST', 'os-keypairs', keypairs.create),
    ('GET', 'os-keypairs/{id}', keypairs.show),
    ('DELETE', 'os-keypairs/{id}', keypairs.delete),
    ('GET', 'os-services', services.index),
    ('PUT', 'os-services/{id}', services.update),
    ('DELETE', 'os-services/{id}', services.delete),
    # Fixed paths before os-hypervisors/{id}: the first route that matches answers.
    ('GET', 'os-hypervisors', hypervisors.index),
    ('GET', 'os-hypervisors/detail', hypervisors.detail),
    ('GET', 'os-hypervisors/statistics', hypervisors.statistics),
    ('GET', 'os-hypervisors/{id}', hypervisors.show),
    ('GET', 'os-hypervisors/{id}/uptime', hypervisors.uptime),
    ('GET', 'os-hypervisors/{id}/search', hypervisors.search),
    ('GET', 'os-hypervisors/{id}/servers', hypervisors.servers),
    ('GET', 'os-aggregates', aggregates.index),
]


def _compile(template):
    pattern = re.sub(r'\\\{(\w+)\\\}', r'(?P<\1>[^/]+)', re.escape(template))
    return re.compile('^%s/?$' % pattern)


_COMPILED = [(method, _compile(t), handler) for method, t, handler in ROUTES]


def route(method, path):
    """``(handler, kwargs)`` for ``method`` on ``path`` (an
    :class:`inject.api.urls.Path`), or a 404 or 405 Fault. An unknown path is a 404
    whatever its second segment (a project id or not), as Nova's router answers
    before anything looks at the project."""
    if path.prefix is None:
        raise faults.NotFound('The resource could not be found.')
    allowed = False
    for route_method, pattern, handler in _COMPILED:
        match = pattern.match(path.resource)
        if match:
            if route_method == method:
                return handler, match.groupdict()
            allowed = True
    if allowed:
        raise faults.Fault(405, 'The method is not allowed for this resource.')
    raise faults.NotFound('The resource could not be found.')


def check_project(path, context):
    """With keystone, a project id in the URL must be the token's (Nova's 400)."""
    if path.project and path.project != context.project_id:
        raise faults.BadRequest(
            "Malformed request URL: URL's project_id '%s' doesn't match "
            "Context's project_id '%s'" % (path.project, context.project_id))


def respond(req, handler, **kwargs):
    """The JSON response of ``handler(req, **kwargs)``, which returns ``(status,
    body[, headers])`` or raises a Fault; a handler whose body is not JSON (an image's
    file) returns its own ``webob.Response``."""
    result = handler(req, **kwargs)
    if isinstance(result, webob.Response):
        return result
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


class Router:
    """The innermost layer: route the request and answer with its handler."""

    def __init__(self, conf):
        self.check_project = conf.api.auth_strategy == 'keystone'

    def __call__(self, environ, start_response):
        req = request_mod.Request(environ)
        handler, kwargs = self.find(req)
        return respond(req, handler, **kwargs)(environ, start_response)

    def find(self, req):
        """``(handler, kwargs)`` of ``req``: a path not served is a 404 before the
        project check."""
        found = route(req.method, req.api_path)
        if self.check_project:
            check_project(req.api_path, req.context)
        return found


class VersionDocuments:
    """``/``, ``/v2`` and ``/v2.1``: answered here, unauthenticated; every other
    path goes on."""

    def __init__(self, app, conf):
        self.app = app

    def __call__(self, environ, start_response):
        req = request_mod.Request(environ)
        if req.api_path.is_version_document:
            return respond(req, versions.document)(environ, start_response)
        return self.app(environ, start_response)
