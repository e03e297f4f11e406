"""os-services: the compute services (inject-agent on each host) that registered in
the database, with their heartbeat state, as Nova lists nova-compute; an
administrator enables, disables (with a reason), forces down or deletes one.

Before 2.53 an update is ``PUT /os-services/{action}`` (``enable``, ``disable``,
``disable-log-reason``, from 2.11 ``force-down``) naming the service by host and
binary; from 2.53 ``PUT /os-services/{uuid}`` with a flat body. Only inject-agent
services can be updated (Nova: only nova-compute). A disabled or forced-down host gets
no new builds (:meth:`inject.api.compute.Compute.host_refusal`).
"""

from oslo_utils import strutils
from oslo_utils import uuidutils

from inject import servicegroup
from inject.api import faults
from inject.api import microversion as mv
from inject.api import validation
from inject.api.schemas import services as schema
from inject.api.views import services as views

_RULE = 'os_compute_api:os-services:%s'


def index(req):
    req.authorize(_RULE % 'list')
    query = validation.validate_query(schema.INDEX_QUERY, req)
    # Nova: the last value of each, an empty one meaning no filter.
    host = (query.get('host') or [''])[-1] or None
    binary = (query.get('binary') or [''])[-1] or None
    rows, now = req.app.db.service_list(host=host, binary=binary)
    return 200, {'services': [views.service(req, row, now) for row in rows]}


def update(req, id):
    body = req.body_json()
    validation.validate(mv.select(schema.UPDATE, req.version), body)
    if req.version >= mv.V2_53:
        return _update_by_uuid(req, id, body)
    return _update_by_action(req, id, body)


def _only_agents(binary):
    if binary != servicegroup.BINARY:
        raise faults.BadRequest(
            'Updating a %s service is not supported. Only %s services can be updated.'
            % (binary, servicegroup.BINARY))


def _update_by_action(req, action, body):
    req.authorize(_RULE % 'update')
    actions = {'enable': _enable, 'disable': _disable,
               'disable-log-reason': _disable_log_reason}
    if req.version >= mv.V2_11:
        actions['force-down'] = _force_down
    if action not in actions:
        raise faults.NotFound('Unknown action')
    return actions[action](req, body)


def _by_host_and_binary(req, body, **values):
    _only_agents(body['binary'])
    row, _ = req.app.db.service_get(host=body['host'], binary=body['binary'])
    if row is None:
        raise faults.NotFound('Could not find binary %s on host %s.'
                              % (body['binary'], body['host']))
    req.app.db.service_update(row.id, **values)


def _enable(req, body):
    _by_host_and_binary(req, body, disabled=False, disabled_reason=None)
    return 200, {'service': {'host': body['host'], 'binary': body['binary'],
                             'status': 'enabled'}}


def _disable(req, body, reason=None):
    _by_host_and_binary(req, body, disabled=True, disabled_reason=reason)
    answer = {'host': body['host'], 'binary': body['binary'], 'status': 'disabled'}
    if reason:
        answer['disabled_reason'] = reason
    return 200, {'service': answer}


def _disable_log_reason(req, body):
    if 'disabled_reason' not in body:
        raise faults.BadRequest('Missing disabled reason field')
    return _disable(req, body, body['disabled_reason'])


def _force_down(req, body):
    if 'forced_down' not in body:
        raise faults.BadRequest('Missing forced_down field')
    forced_down = strutils.bool_from_string(body['forced_down'])
    _by_host_and_binary(req, body, forced_down=forced_down)
    return 200, {'service': {'host': body['host'], 'binary': body['binary'],
                             'forced_down': forced_down}}


def _update_by_uuid(req, id, body):
    if not uuidutils.is_uuid_like(id):
        raise faults.BadRequest('Invalid uuid %s' % id)
    req.authorize(_RULE % 'update')
    row, _ = req.app.db.service_get(uuid=id)
    if row is None:
        raise faults.NotFound('Service %s could not be found.' % id)
    _only_agents(row.binary)
    values = {}
    if body.get('status') == 'enabled':
        if body.get('disabled_reason'):
            raise faults.BadRequest(
                "Specifying 'disabled_reason' with status 'enabled' is invalid.")
        values.update(disabled=False, disabled_reason=None)
    elif body.get('status') == 'disabled':
        values.update(disabled=True, disabled_reason=body.get('disabled_reason'))
    if 'forced_down' in body:
        values['forced_down'] = strutils.bool_from_string(body['forced_down'],
                                                          strict=True)
    if not values:
        raise faults.BadRequest("No updates were requested. Fields 'status' or "
                                "'forced_down' should be specified.")
    row, now = req.app.db.service_update(row.id, **values)
    if row is None:            # deleted meanwhile
        raise faults.NotFound('Service %s could not be found.' % id)
    return 200, {'service': views.service(req, row, now)}


def delete(req, id):
    """Remove a service that holds no servers (Nova's 409 otherwise). Its agent, if it
    still runs, logs that its record is gone and stops heartbeating: restart it to
    register again."""
    req.authorize(_RULE % 'delete')
    if req.version >= mv.V2_53:
        if not uuidutils.is_uuid_like(id):
            raise faults.BadRequest('Invalid uuid %s' % id)
        match = {'uuid': id}
    else:
        try:
            match = {'id': int(id)}
        except ValueError:
            raise faults.BadRequest('Invalid input received: id must be an integer')
    row, _ = req.app.db.service_get(**match)
    if row is None:
        raise faults.NotFound('Service %s not found.' % id)
    if row.binary == servicegroup.BINARY and req.app.db.host_usage([row.host]):
        raise faults.Conflict('Unable to delete compute service that is hosting '
                              'instances. Migrate or delete the instances first.')
    if not req.app.db.service_delete(row.id):
        raise faults.NotFound('Service %s not found.' % id)
    return 204, None
