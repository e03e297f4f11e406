"""How an inject-api URL path splits: a prefix (``v2.1`` or ``v2``), an optional
project id after it, and the resource path below them. Split once per request
(:attr:`inject.api.request.Request.api_path`) for the version documents, the noauth
project, routing and links."""

import typing

PREFIXES = ('v2.1', 'v2')
# First path segments after the prefix that are collections, not project ids.
COLLECTIONS = frozenset({'servers', 'flavors', 'images', 'limits', 'os-quota-sets',
                         'os-quota-class-sets', 'os-keypairs', 'os-services',
                         'os-hypervisors', 'os-aggregates', 'v2'})


class Path(typing.NamedTuple):
    """A request path, split."""
    #: The non-empty segments of the whole path.
    segments: tuple
    #: ``v2.1`` or ``v2``; None when the path does not start with one.
    prefix: str | None
    #: The project id given after the prefix, or None.
    project: str | None
    #: The resource path below the prefix and the project id (``servers/abc``).
    resource: str

    @property
    def is_version_document(self):
        """True for ``/``, ``/v2`` and ``/v2.1``: the version documents, served
        unrouted and unauthenticated."""
        return not self.segments or (len(self.segments) == 1
                                     and self.prefix is not None)


def parse(path_info):
    """The :class:`Path` of a request's ``PATH_INFO``."""
    segments = tuple(s for s in path_info.split('/') if s)
    if not segments or segments[0] not in PREFIXES:
        return Path(segments, None, None, '/'.join(segments[1:]))
    rest = segments[1:]
    project = None
    if rest and rest[0] not in COLLECTIONS:
        project, rest = rest[0], rest[1:]
    return Path(segments, segments[0], project, '/'.join(rest))
