"""os-quota-class-sets: show and update (admin only). The "default" class overrides
the configured defaults of every project."""

from inject.api import microversion as mv
from inject.api import quotas
from inject.api import validation
from inject.api.schemas import quotas as schema


def _body(req, limits):
    return {name: limits[name] for name in quotas.quota_class_resources(req.version)}


def show(req, id):
    req.authorize('os_compute_api:os-quota-class-sets:show', req.context.project_id)
    body = _body(req, req.app.quotas.class_limits(id))
    body['id'] = id
    return 200, {'quota_class_set': body}


def update(req, id):
    req.authorize('os_compute_api:os-quota-class-sets:update', req.context.project_id)
    body = req.body_json()
    validation.validate(mv.select(schema.UPDATE_QUOTA_CLASS_SET, req.version), body)
    req.app.db.quota_class_set(id, {k: int(v) for k, v in
                                    body['quota_class_set'].items()})
    return 200, {'quota_class_set': _body(req, req.app.quotas.class_limits(id))}
