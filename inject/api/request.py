"""The request every layer of inject-api's pipeline (:mod:`inject.api.deploy`) and every
handler sees: a webob request whose facts were each worked out once, by the one layer
that owns them, and kept in the WSGI environ.

========================  ===============================  ============================
environ key               what                             set by
========================  ===============================  ============================
``openstack.request_id``  this request's id                ``middleware.RequestId``
``inject.version``        the negotiated microversion      ``middleware.Negotiation``
``inject.path``           the path split once              :attr:`Request.api_path`
``inject.context``        who is calling                   ``auth.Context``
``inject.app``            the Application (db, policy...)  ``wsgi.Application``
========================  ===============================  ============================
"""

import json

import webob

from inject.api import faults
from inject.api import microversion
from inject.api import urls

# JSON bodies nested deeper than this are refused: Nova's requests nest a few levels,
# and deeper ones would exhaust the interpreter's recursion in later processing.
MAX_BODY_DEPTH = 100

VERSION = 'inject.version'
CONTEXT = 'inject.context'
APP = 'inject.app'
PATH = 'inject.path'
_POLICY = 'inject.policy'


class Request(webob.Request):
    """A request with what the pipeline worked out about it."""

    @property
    def version(self):
        """The microversion (2.1 until negotiated)."""
        return self.environ.get(VERSION, microversion.MIN)

    @property
    def context(self):
        """The oslo.context RequestContext of the caller."""
        return self.environ[CONTEXT]

    @property
    def app(self):
        """The :class:`inject.api.wsgi.Application` serving the request."""
        return self.environ[APP]

    @property
    def api_path(self):
        """The path as :func:`inject.api.urls.parse` splits it, split once."""
        path = self.environ.get(PATH)
        if path is None:
            path = self.environ[PATH] = urls.parse(self.path_info)
        return path

    @property
    def url_project(self):
        """The project id given in the URL, or None."""
        return self.api_path.project

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
        path = self.api_path
        project = '/' + path.project if path.project else ''
        return ('%s/%s%s' % (base, path.prefix or urls.PREFIXES[0], project),
                '%s%s' % (base, project))

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
        cache = self.environ.setdefault(_POLICY, {})
        key = (rule, project_id)
        if key not in cache:
            cache[key] = self.app.policy.can(self.context, rule, project_id)
        return cache[key]

    @property
    def is_admin(self):
        cache = self.environ.setdefault(_POLICY, {})
        if 'is_admin' not in cache:
            cache['is_admin'] = self.app.policy.is_admin(self.context)
        return cache['is_admin']


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
