"""GET /flavors, /flavors/detail, /flavors/{id} (Nova's classic flavors, all public),
with Nova's filters (minRam, minDisk, is_public), sorting and paging."""

from oslo_utils import strutils

from inject.api import catalog
from inject.api import faults
from inject.api import microversion as mv
from inject.api import validation
from inject.api.schemas import queries
from inject.api.views import links


def _view(req, flavor, detail):
    body = {'id': flavor['id'], 'name': flavor['name'],
            'links': req.links('flavors', flavor['id'])}
    if req.version >= mv.V2_55:
        body['description'] = None
    if detail:
        body.update({'ram': flavor['ram'], 'disk': flavor['disk'],
                     'vcpus': flavor['vcpus'], 'swap': '',
                     'OS-FLV-EXT-DATA:ephemeral': flavor['ephemeral'],
                     'OS-FLV-DISABLED:disabled': False,
                     'rxtx_factor': 1.0, 'os-flavor-access:is_public': True})
    return body


# Nova's flavor sort keys -> the value sorted on (every flavor here is public,
# enabled, without description, rxtx_factor 1.0).
_SORT = {
    'flavorid': lambda f: f['id'], 'id': lambda f: int(f['id']),
    'name': lambda f: f['name'], 'memory_mb': lambda f: f['ram'],
    'root_gb': lambda f: f['disk'], 'ephemeral_gb': lambda f: f['ephemeral'],
    'vcpus': lambda f: f['vcpus'], 'swap': lambda f: f['swap'],
    'rxtx_factor': lambda f: 1.0, 'is_public': lambda f: True,
    'disabled': lambda f: False, 'vcpu_weight': lambda f: 0,
    'description': lambda f: '', 'created_at': lambda f: 0, 'updated_at': lambda f: 0,
}


def _is_public(req, query):
    """Nova's is_public filter: administrators may ask for private flavors (false) or
    all (none); everyone else sees the public ones."""
    if not req.is_admin or 'is_public' not in query:
        return True
    value = query['is_public'][-1]
    if value.strip().lower() == 'none':
        return None
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise faults.BadRequest('Invalid is_public filter [%s]' % value)


def _int_filter(query, name):
    if name not in query:
        return None
    value = query[name][-1]
    try:
        return int(value)
    except ValueError:
        raise faults.BadRequest('Invalid %s filter [%s]' % (name, value))


def _flavors(req):
    """The page of flavors the query asks for: Nova's filters, sort and marker."""
    query = validation.validate_query(mv.select(queries.FLAVORS_INDEX, req.version),
                                      req)
    flavors = catalog.flavors()
    if _is_public(req, query) is False:      # every flavor here is public
        flavors = []
    min_ram, min_disk = _int_filter(query, 'minRam'), _int_filter(query, 'minDisk')
    if min_ram is not None:
        flavors = [f for f in flavors if f['ram'] >= min_ram]
    if min_disk is not None:
        flavors = [f for f in flavors if f['disk'] >= min_disk]
    key = (query.get('sort_key') or ['flavorid'])[-1] or 'flavorid'
    direction = (query.get('sort_dir') or ['asc'])[-1] or 'asc'
    # Nova sorts on the key, then on the internal id, both in sort_dir.
    flavors.sort(key=lambda f: _position(f, key), reverse=direction == 'desc')
    if 'marker' in query:
        marker = catalog.flavor(query['marker'][-1])
        if marker is None:
            raise faults.BadRequest('marker [%s] not found' % query['marker'][-1])
        after = _position(marker, key)
        flavors = [f for f in flavors if (_position(f, key) < after
                                          if direction == 'desc'
                                          else _position(f, key) > after)]
    limit = links.page_limit(req)
    return flavors[:limit], query


def _position(flavor, key):
    return _SORT[key](flavor), int(flavor['id'])


def _list(req, detail):
    flavors, query = _flavors(req)
    body = {'flavors': [_view(req, f, detail) for f in flavors]}
    next_links = links.collection(req, 'flavors/detail' if detail else 'flavors',
                                  flavors, lambda f: f['id'], query)
    if next_links:
        body['flavors_links'] = next_links
    return 200, body


def index(req):
    return _list(req, False)


def detail(req):
    return _list(req, True)


def show(req, id):
    flavor = catalog.flavor(id)
    if flavor is None:
        raise faults.NotFound('Flavor %s could not be found.' % id)
    return 200, {'flavor': _view(req, flavor, True)}
