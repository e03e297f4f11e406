"""``*_links`` of lists, as Nova's ViewBuilder makes them: a ``next`` link when the
page is full (the requested ``limit``, or ``[api]max_limit``, items), carrying the
request's query parameters with the page's last id as ``marker``."""

import urllib.parse


def page_limit(req):
    """The effective page size: ``limit`` capped at ``[api]max_limit`` (absent:
    ``max_limit``). The query schema has checked that ``limit`` is a number."""
    max_limit = req.app.conf.api.max_limit
    if 'limit' in req.GET:
        return min(int(req.GET['limit']), max_limit)
    return max_limit


def collection(req, collection_name, items, id_of, query):
    """``[{'rel': 'next', 'href': ...}]`` when ``items`` fill the page, else [].
    ``query``: the request's ``{name: [values]}`` that the query schema kept; the
    link carries the last value of each (as Nova's)."""
    limit = page_limit(req)
    if not limit or len(items) != limit:
        return []
    params = {name: values[-1] for name, values in sorted(query.items())}
    params['marker'] = id_of(items[-1])
    own, _ = req.link_prefix()
    return [{'rel': 'next', 'href': '%s/%s?%s' % (own, collection_name,
                                                  urllib.parse.urlencode(params))}]


def prefixes(req):
    """``req.link_prefix()``, worked out once per request (a list builds many links)."""
    cached = req.environ.get('inject.link_prefix')
    if cached is None:
        cached = req.environ['inject.link_prefix'] = req.link_prefix()
    return cached


def resource(req, collection_name, ident):
    """The ``self`` and ``bookmark`` links of one resource (as ``req.links``)."""
    own, bookmark = prefixes(req)
    return [{'rel': 'self', 'href': '%s/%s/%s' % (own, collection_name, ident)},
            {'rel': 'bookmark', 'href': '%s/%s/%s' % (bookmark, collection_name, ident)}]


def is_admin(req):
    """``req.is_admin`` (asked of the policy once per request)."""
    return req.is_admin
