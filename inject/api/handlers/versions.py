"""Version documents at ``/``, ``/v2/`` and ``/v2.1/``, in Nova's format."""

from inject.api import microversion

_V20 = {'id': 'v2.0', 'status': 'SUPPORTED', 'version': '', 'min_version': '',
        'updated': '2011-01-21T11:33:21Z'}
_V21 = {'id': 'v2.1', 'status': 'CURRENT', 'version': microversion.MAX_VERSION,
        'min_version': microversion.MIN_VERSION, 'updated': '2013-07-23T11:33:21Z'}


def _entry(req, version, prefix, detail):
    entry = dict(version, links=[{'rel': 'self',
                                  'href': '%s/%s/' % (req.base_url(), prefix)}])
    if detail:
        entry['links'].append({'rel': 'describedby', 'type': 'text/html',
                               'href': 'http://docs.openstack.org/'})
        media = ('application/vnd.openstack.compute+json;version=2'
                 if version is _V20 else
                 'application/vnd.openstack.compute+json;version=2.1')
        entry['media-types'] = [{'base': 'application/json', 'type': media}]
    return entry


def document(req):
    prefix = req.api_path.prefix
    if prefix is None:
        return 200, {'versions': [_entry(req, _V20, 'v2', False),
                                  _entry(req, _V21, 'v2.1', False)]}
    if prefix == 'v2':
        return 200, {'version': _entry(req, _V20, 'v2', True)}
    return 200, {'version': _entry(req, _V21, 'v2.1', True)}
