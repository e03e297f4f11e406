"""GET /flavors, /flavors/detail, /flavors/{id} (Nova's classic flavors, all public)."""

from inject.api import catalog
from inject.api import faults
from inject.api import microversion as mv


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


def index(req):
    return 200, {'flavors': [_view(req, f, False) for f in catalog.flavors()]}


def detail(req):
    return 200, {'flavors': [_view(req, f, True) for f in catalog.flavors()]}


def show(req, id):
    flavor = catalog.flavor(id)
    if flavor is None:
        raise faults.NotFound('Flavor %s could not be found.' % id)
    return 200, {'flavor': _view(req, flavor, True)}
