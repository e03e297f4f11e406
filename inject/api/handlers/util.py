"""Helpers the handlers share: the caller's instance, an image by reference, and the
lock check of actions that change a server."""

from inject.api import catalog
from inject.api import faults


def get_instance(req, id):
    """The caller's instance (any project's for an administrator), or 404."""
    project = None if req.is_admin else req.context.project_id
    inst = req.app.db.instance_get(id, project_id=project)
    if inst is None:
        raise faults.NotFound('Instance %s could not be found.' % id)
    return inst


def get_image(req, ref):
    """The base image an ``imageRef`` names, or 400 (as Nova answers create), also
    for an image that is not active (its sidecar is broken: the log says why)."""
    image = catalog.image(req.app.conf.api.image_dir, catalog.ref_id(ref))
    if image is None:
        raise faults.BadRequest('Can not find requested image')
    if image.status != catalog.ACTIVE:
        raise faults.BadRequest('Image %s is not active.' % image.id)
    return image


def check_unlocked(req, inst):
    """409 when ``inst`` is locked and the caller is not an administrator."""
    if inst.locked and not req.is_admin:
        raise faults.Conflict('Instance %s is locked' % inst.uuid)
