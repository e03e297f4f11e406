"""os-quota-sets: show, detail, defaults, update, delete."""

from inject.api import faults
from inject.api import quotas
from inject.api import validation
from inject.api.schemas import quotas as schema

_CHECKED = ('instances', 'cores', 'ram')


def _body(req, limits, project_id=None):
    body = {name: limits[name] for name in quotas.quota_set_resources(req)}
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
            for name in quotas.quota_set_resources(req)}
    body['id'] = id
    return 200, {'quota_set': body}


def defaults(req, id):
    req.authorize('os_compute_api:os-quota-sets:defaults', id)
    return 200, {'quota_set': _body(req, req.app.quotas.defaults(), id)}


def update(req, id):
    req.authorize('os_compute_api:os-quota-sets:update', id)
    body = req.body_json()
    validation.validate(schema.update(quotas.quota_set_resources(req), 'quota_set',
                                      True), body)
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
    req.app.db.quota_destroy(id)
    return 202, None
