"""The routing table of inject-api and its dispatch: a request's method and path
(under ``/v2.1`` or ``/v2``, with or without a project id after the prefix) to a
handler and its arguments, or a 404/405 Fault."""

import re

from inject.api import faults
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

PREFIXES = ('v2.1', 'v2')
# First path segments after the prefix that are collections, not project ids.
COLLECTIONS = {'servers', 'flavors', 'images', 'limits', 'os-quota-sets',
               'os-quota-class-sets', 'os-keypairs', 'os-services', 'os-hypervisors',
               'os-aggregates', 'v2'}

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


def segments(path_info):
    """The non-empty segments of a request path."""
    return [s for s in path_info.split('/') if s]


def is_version_document(parts):
    """True for ``/``, ``/v2`` and ``/v2.1``: the version documents, served unrouted
    and unauthenticated."""
    return not parts or (len(parts) == 1 and parts[0] in PREFIXES)


def url_project(parts):
    """The project id given after the prefix, or None."""
    return parts[1] if len(parts) > 1 and parts[1] not in COLLECTIONS else None


def route(req, check_project):
    """``(handler, kwargs)`` for ``req``; sets ``req.url_project``. With
    ``check_project`` (keystone), a project id in the URL must be the token's."""
    parts = segments(req.path_info)
    if parts[0] not in PREFIXES:
        raise faults.NotFound('The resource could not be found.')
    rest = parts[1:]
    if rest and rest[0] not in COLLECTIONS:
        req.url_project = rest[0]
        rest = rest[1:]
    # An unknown path is a 404 whatever its second segment (a project id or not), as
    # Nova's router answers before anything looks at the project.
    found = _match(req.method, '/'.join(rest))
    if check_project and req.url_project and req.url_project != req.context.project_id:
        raise faults.BadRequest(
            "Malformed request URL: URL's project_id '%s' doesn't match "
            "Context's project_id '%s'" % (req.url_project, req.context.project_id))
    return found


def _match(method, path):
    """``(handler, kwargs)`` for ``method`` on ``path`` (below the prefix and project
    id), or a 404 or 405 Fault."""
    allowed = False
    for route_method, pattern, handler in _COMPILED:
        match = pattern.match(path)
        if match:
            if route_method == method:
                return handler, match.groupdict()
            allowed = True
    if allowed:
        raise faults.Fault(405, 'The method is not allowed for this resource.')
    raise faults.NotFound('The resource could not be found.')
