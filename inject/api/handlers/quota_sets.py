"""os-quota-sets: show, detail, defaults, update, delete. There are no per-user quotas:
showing with ``user_id`` gives the project's, changing with it is refused."""

from inject.api import faults
from inject.api import microversion as mv
from inject.api import quotas
from inject.api import validation
from inject.api.schemas import quotas as schema

_CHECKED = ('instances', 'cores', 'ram')


def _body(req, limits, project_id=None):
    body = {name: limits[name] for name in quotas.quota_set_resources(req.version)}
    if project_id is not None:
        body['id'] = project_id
    return body


def show(req, id):
    req.authorize('os_compute_api:os-quota-sets:show', id)
    return 200, {'quota_set': _body(req, req.app.quotas.limits(id), id)}


def detail(req, id):
    req.authorize('os_compute_api:os-quota-sets:detail', id)
    limits = req.app.quotas.limits(id)
    used = req.app.quotas.usage(id)
    body = {name: {'limit': limits[name], 'in_use': used.get(name, 0), 'reserved': 0}
            for name in quotas.quota_set_resources(req.version)}
    body['id'] = id
    return 200, {'quota_set': body}


def defaults(req, id):
    req.authorize('os_compute_api:os-quota-sets:defaults', id)
    return 200, {'quota_set': _body(req, req.app.quotas.defaults(), id)}


def _no_user_quotas(req):
    # Per-user quotas do not exist here; changing the project's instead would surprise.
    if 'user_id' in req.GET:
        raise faults.BadRequest('Per-user quotas are not supported by inject-api; '
                                'update the project\'s quota set without user_id.')


def update(req, id):
    req.authorize('os_compute_api:os-quota-sets:update', id)
    _no_user_quotas(req)
    body = req.body_json()
    validation.validate(mv.select(schema.UPDATE_QUOTA_SET, req.version), body)
    values = dict(body['quota_set'])
    force = str(values.pop('force', False)).lower() == 'true'
    values = {k: int(v) for k, v in values.items()}
    if not force:
        used = req.app.quotas.usage(id)
        for name in _CHECKED:
            if name in values and 0 <= values[name] < used[name]:
                raise faults.BadRequest(
                    'Quota limit %d for %s must be greater than or equal to already '
                    'used and reserved %d.' % (values[name], name, used[name]))
    req.app.db.quota_set(id, values)
    return 200, {'quota_set': _body(req, req.app.quotas.limits(id))}


def delete(req, id):
    req.authorize('os_compute_api:os-quota-sets:delete', id)
    _no_user_quotas(req)
    req.app.db.quota_destroy(id)
    return 202, None
