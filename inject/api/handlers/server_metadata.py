"""Server metadata: ``/servers/{id}/metadata`` (list, merge, replace all) and
``/servers/{id}/metadata/{key}`` (show, set, delete one item), as Nova answers them.

Changes are checked against the ``metadata_items`` quota and, like Nova, refused (409)
while the server is locked (to non-administrators) or not in a stable state: while it
builds or rebuilds, and in ERROR. The metadata written into the disk at build time
(``meta.js``) is not rewritten; the next rebuild injects the current set.
"""

from inject.api import faults
from inject.api import validation
from inject.api.handlers import util
from inject.api.schemas import servers as schema

_RULE = 'os_compute_api:server-metadata:%s'
_CHANGEABLE = ('active',)       # Nova also allows paused, suspended, stopped


def _instance(req, id, rule):
    inst = util.get_instance(req, id)
    req.authorize(_RULE % rule, inst.project_id)
    return inst


def _current(inst):
    return {m.key: m.value for m in inst.metadata_items}


def _check_changeable(req, inst, what):
    """Nova's check_instance_lock and check_instance_state (task_state None)."""
    util.check_unlocked(req, inst)
    if inst.vm_state not in _CHANGEABLE or inst.task_state is not None:
        attr, state = (('task_state', inst.task_state) if inst.task_state is not None
                       else ('vm_state', inst.vm_state))
        raise faults.Conflict("Cannot '%s' instance %s while it is in %s %s"
                              % (what, inst.uuid, attr, state))


def _check_quota(req, inst, metadata):
    """Nova's _check_metadata_properties_quota on the set the server would have."""
    allowed = req.app.quotas.limits(inst.project_id)['metadata_items']
    if 0 <= allowed < len(metadata):
        raise faults.Forbidden('Maximum number of metadata items exceeds %d' % allowed)


def _update(req, inst, values, replace):
    _check_changeable(req, inst, 'update metadata')
    wanted = dict(values) if replace else dict(_current(inst), **values)
    _check_quota(req, inst, wanted)
    result = req.app.db.instance_metadata_update(inst.uuid, values, replace=replace)
    if result is None:             # deleted meanwhile
        raise faults.NotFound('Instance %s could not be found.' % inst.uuid)
    return result


def index(req, id):
    inst = _instance(req, id, 'index')
    return 200, {'metadata': _current(inst)}


def create(req, id):
    """POST: merge the given items into the server's metadata."""
    inst = _instance(req, id, 'create')
    body = req.body_json()
    validation.validate(schema.METADATA, body)
    return 200, {'metadata': _update(req, inst, body['metadata'], replace=False)}


def update_all(req, id):
    """PUT: the given items become the server's whole metadata."""
    inst = _instance(req, id, 'update_all')
    body = req.body_json()
    validation.validate(schema.METADATA, body)
    return 200, {'metadata': _update(req, inst, body['metadata'], replace=True)}


def show(req, id, key):
    inst = _instance(req, id, 'show')
    current = _current(inst)
    if key not in current:
        raise faults.NotFound('Metadata item was not found')
    return 200, {'meta': {key: current[key]}}


def update(req, id, key):
    """PUT one item: the body's only key must be the URL's."""
    inst = _instance(req, id, 'update')
    body = req.body_json()
    meta = body.get('meta') if isinstance(body, dict) else None
    if isinstance(meta, dict) and len(meta) > 1:
        raise faults.BadRequest('Request body contains too many items')
    validation.validate(schema.METADATA_ITEM, body)
    if key not in meta:
        raise faults.BadRequest('Request body and URI mismatch')
    _update(req, inst, meta, replace=False)
    return 200, {'meta': meta}


def delete(req, id, key):
    inst = _instance(req, id, 'delete')
    if key not in _current(inst):
        raise faults.NotFound('Metadata item was not found')
    _check_changeable(req, inst, 'delete metadata')
    if not req.app.db.instance_metadata_delete(inst.uuid, key):
        raise faults.NotFound('Metadata item was not found')
    return 204, None
