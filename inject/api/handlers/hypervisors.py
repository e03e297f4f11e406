"""os-hypervisors: the compute nodes, one per inject-agent service (its host), as Nova
shows them: list, detail and show; paging from 2.33; from 2.53 uuids,
``hypervisor_hostname_pattern`` and ``with_servers``, and before 2.53 the
``/{pattern}/search`` and ``/{pattern}/servers`` routes; ``statistics``. A node's
state is its service's heartbeat state. ``/{id}/uptime`` answers 501, as Nova does
for a driver that cannot tell (inject runs no guests)."""

from oslo_utils import strutils
from oslo_utils import uuidutils

from inject import servicegroup
from inject.api import faults
from inject.api import microversion as mv
from inject.api import validation
from inject.api.schemas import hypervisors as schema
from inject.api.views import hypervisors as views
from inject.api.views import links as links_mod

_RULE = 'os_compute_api:os-hypervisors:%s'
_COLLECTION = 'os-hypervisors'


def index(req):
    req.authorize(_RULE % 'list')
    return _list(req, detail=False)


def detail(req):
    req.authorize(_RULE % 'list-detail')
    return _list(req, detail=True)


def _last(query, name, default=None):
    values = query.get(name)
    return values[-1] if values else default


def _list(req, detail):
    query = validation.validate_query(mv.select(schema.INDEX, req.version), req)
    pattern = with_servers = None
    if req.version >= mv.V2_53:
        pattern = _last(query, 'hypervisor_hostname_pattern')
        with_servers = strutils.bool_from_string(_last(query, 'with_servers', False),
                                                 strict=True)
    paging = req.version >= mv.V2_33
    if pattern is not None:
        if 'limit' in req.GET or _last(query, 'marker'):
            raise faults.BadRequest(
                'Paging over hypervisors with the hypervisor_hostname_pattern query '
                'parameter is not supported.')
        rows, now = _matching(req, pattern)
        paging = False
    elif paging:
        rows, now = req.app.db.service_page(
            servicegroup.BINARY, limit=links_mod.page_limit(req),
            marker=_marker(req, _last(query, 'marker')))
    else:
        rows, now = req.app.db.service_page(servicegroup.BINARY)
    body = {'hypervisors': _views(req, rows, now, detail, with_servers)}
    if paging:
        name = _COLLECTION + ('/detail' if detail else '')
        found = links_mod.collection(req, name, body['hypervisors'],
                                     lambda h: h['id'], query)
        if found:
            body['hypervisors_links'] = found
    return 200, body


def _marker(req, marker):
    """The service id after which a page starts (the node id, a uuid from 2.53), or
    400 for one that names no node."""
    if marker is None:
        return None
    if req.version >= mv.V2_53:
        row, _ = req.app.db.service_get(node_uuid=marker, binary=servicegroup.BINARY)
    else:
        row = None
        if marker.isdigit():
            row, _ = req.app.db.service_get(id=int(marker), binary=servicegroup.BINARY)
    if row is None:
        raise faults.BadRequest('marker [%s] not found' % marker)
    return row.id


def _matching(req, pattern):
    rows, now = req.app.db.service_page(servicegroup.BINARY, host_like=pattern)
    if not rows:
        raise faults.NotFound("No hypervisor matching '%s' could be found." % pattern)
    return rows, now


def _views(req, rows, now, detail, with_servers=False):
    hosts = [row.host for row in rows]
    usage = req.app.db.host_usage(hosts) if detail else {}
    servers = req.app.db.host_servers(hosts) if with_servers else {}
    return [views.hypervisor(req, row, now, detail, usage.get(row.host),
                             servers.get(row.host)) for row in rows]


def show(req, id):
    req.authorize(_RULE % 'show')
    query = validation.validate_query(mv.select(schema.SHOW, req.version), req)
    with_servers = False
    if req.version >= mv.V2_53:
        with_servers = strutils.bool_from_string(_last(query, 'with_servers', False),
                                                 strict=True)
    row, now = _node(req, id)
    return 200, {'hypervisor': _views(req, [row], now, True, with_servers)[0]}


def _node(req, id):
    """``(the node's service row, the database's time)``: ``id`` is a uuid from 2.53
    (else 400), an integer before (else 404); 404 for no such node."""
    row = now = None
    if req.version >= mv.V2_53:
        if not uuidutils.is_uuid_like(id):
            raise faults.BadRequest('Invalid uuid %s' % id)
        row, now = req.app.db.service_get(node_uuid=id, binary=servicegroup.BINARY)
    elif id.isdigit():
        row, now = req.app.db.service_get(id=int(id), binary=servicegroup.BINARY)
    if row is None:
        raise faults.NotFound("Hypervisor with ID '%s' could not be found." % id)
    return row, now


def uptime(req, id):
    """501 for a node that exists: no uptime is known for it."""
    req.authorize(_RULE % 'uptime')
    _node(req, id)
    raise faults.Fault(501, 'The requested functionality is not supported.')


def _before_253(req):
    if req.version >= mv.V2_53:
        raise faults.NotFound('The resource could not be found.')


def search(req, id):
    """Nodes whose host name contains ``id`` (up to 2.52)."""
    _before_253(req)
    req.authorize(_RULE % 'search')
    rows, now = _matching(req, id)
    return 200, {'hypervisors': _views(req, rows, now, False)}


def servers(req, id):
    """Nodes whose host name contains ``id``, with their servers (up to 2.52)."""
    _before_253(req)
    req.authorize(_RULE % 'servers')
    rows, now = _matching(req, id)
    return 200, {'hypervisors': _views(req, rows, now, False, with_servers=True)}


def statistics(req):
    """Sums over the enabled nodes (Nova's compute_node_statistics)."""
    req.authorize(_RULE % 'statistics')
    rows, _ = req.app.db.service_page(servicegroup.BINARY)
    rows = [row for row in rows if not row.disabled]
    usage = req.app.db.host_usage([row.host for row in rows])
    totals = dict.fromkeys(views.figures({}, {}), 0)
    totals['count'] = len(rows)
    for row in rows:
        for name, value in views.figures(views.reported(row), usage.get(row.host)).items():
            totals[name] += value
    return 200, {'hypervisor_statistics': totals}
