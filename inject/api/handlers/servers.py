"""Servers: create, show, list, list detail, delete, and the rebuild action."""

import hashlib
import re
import secrets
import uuid as uuid_mod

from inject import exception
from inject import paths
from inject.api import catalog
from inject.api import compute
from inject.api import faults
from inject.api import validation
from inject.api.schemas import servers as schema
from inject.db import models

_STATUS = {'building': 'BUILD', 'active': 'ACTIVE', 'error': 'ERROR',
           'deleted': 'DELETED'}
_PROGRESS = ('ACTIVE', 'BUILD', 'REBUILD')
_REBUILDABLE = ('active', 'error')


def _time(value):
    return value.strftime('%Y-%m-%dT%H:%M:%SZ') if value else None


def _status(inst):
    if inst.task_state == 'rebuilding':
        return 'REBUILD'
    return _STATUS.get(inst.vm_state, 'UNKNOWN')


def _flavor(req, inst):
    f = inst.flavor
    if req.at_least('2.47'):
        return {'original_name': f['name'], 'disk': f['disk'], 'ephemeral': f['ephemeral'],
                'ram': f['ram'], 'swap': f['swap'], 'vcpus': f['vcpus'],
                'extra_specs': dict(f.get('extra_specs') or {})}
    _, bookmark = req.link_prefix()
    return {'id': f['id'], 'links': [{'rel': 'bookmark',
                                      'href': '%s/flavors/%s' % (bookmark, f['id'])}]}


def _common(req, inst):
    """The keys of Nova's server view that every full server body has."""
    status = _status(inst)
    _, bookmark = req.link_prefix()
    host_id = (hashlib.sha224((inst.project_id + inst.host).encode()).hexdigest()
               if inst.host else '')
    body = {
        'id': inst.uuid, 'name': inst.name, 'status': status,
        'tenant_id': inst.project_id, 'user_id': inst.user_id,
        'metadata': {m.key: m.value for m in inst.metadata_items},
        'hostId': host_id,
        'image': {'id': inst.image_ref, 'links': [
            {'rel': 'bookmark', 'href': '%s/images/%s' % (bookmark, inst.image_ref)}]},
        'flavor': _flavor(req, inst),
        'created': _time(inst.created_at), 'updated': _time(inst.updated_at),
        'addresses': {},
        'accessIPv4': inst.access_ip_v4 or '', 'accessIPv6': inst.access_ip_v6 or '',
        'links': req.links('servers', inst.uuid),
        'OS-DCF:diskConfig': inst.disk_config,
    }
    if status in _PROGRESS:
        body['progress'] = 100 if status == 'ACTIVE' else 0
    if status in ('ERROR', 'DELETED') and inst.faults:
        fault = inst.faults[-1]
        body['fault'] = {'code': fault.code, 'created': _time(fault.created_at),
                         'message': fault.message}
        if fault.details and (fault.code != 500 or req.is_admin):
            body['fault']['details'] = fault.details
    if req.at_least('2.9'):
        body['locked'] = inst.locked
    if req.at_least('2.19'):
        body['description'] = inst.description
    if req.at_least('2.26'):
        body['tags'] = list(inst.tags or [])
    return body


def _detail(req, inst):
    body = _common(req, inst)
    body.update({
        'key_name': inst.key_name,
        'security_groups': [{'name': 'default'}],
        'OS-SRV-USG:launched_at': (inst.launched_at.isoformat(timespec='microseconds')
                                   if inst.launched_at else None),
        'OS-SRV-USG:terminated_at': (inst.terminated_at.isoformat(
            timespec='microseconds') if inst.terminated_at else None),
        'OS-EXT-AZ:availability_zone': inst.availability_zone,
        'OS-EXT-STS:task_state': inst.task_state,
        'OS-EXT-STS:vm_state': inst.vm_state,
        'OS-EXT-STS:power_state': inst.power_state,
        'os-extended-volumes:volumes_attached': [],
        'config_drive': inst.config_drive,
    })
    if req.is_admin:
        body.update(_admin_attributes(req, inst))
    return body


def _admin_attributes(req, inst):
    """What Nova's default policy shows administrators only."""
    attrs = {'OS-EXT-SRV-ATTR:host': inst.host,
             'OS-EXT-SRV-ATTR:instance_name': 'instance-%s' % inst.uuid,
             'OS-EXT-SRV-ATTR:hypervisor_hostname': inst.host}
    if req.at_least('2.3'):
        attrs.update({
            'OS-EXT-SRV-ATTR:reservation_id': 'r-%s' % inst.uuid[:8],
            'OS-EXT-SRV-ATTR:launch_index': 0,
            'OS-EXT-SRV-ATTR:kernel_id': '',
            'OS-EXT-SRV-ATTR:ramdisk_id': '',
            'OS-EXT-SRV-ATTR:hostname': _hostname(inst),
            'OS-EXT-SRV-ATTR:root_device_name': '/dev/vda' if inst.launched_at else None,
            'OS-EXT-SRV-ATTR:user_data': inst.user_data,
        })
    if req.at_least('2.16'):
        attrs['host_status'] = 'UP' if inst.host else ''
    return attrs


def _hostname(inst):
    """Nova's sanitisation of a display name into a hostname."""
    host = re.sub(r'[ _]', '-', inst.name.lower())
    host = re.sub(r'[^a-z0-9.-]+', '', host).strip('.-')
    return host[:63] or 'server-%s' % inst.uuid


def get_instance(req, id):
    """The caller's instance (any project's for an administrator), or 404."""
    project = None if req.is_admin else req.context.project_id
    inst = req.app.db.instance_get(id, project_id=project)
    if inst is None:
        raise faults.NotFound('Instance %s could not be found.' % id)
    return inst


def _list(req, view):
    project = req.context.project_id
    if req.is_admin and req.GET.get('all_tenants') not in (None, '0', 'false', 'False'):
        project = None
    try:
        limit = int(req.GET['limit']) if 'limit' in req.GET else None
    except ValueError:
        raise faults.BadRequest('limit param must be an integer')
    if limit is not None and limit < 0:
        raise faults.BadRequest('limit param must be positive')
    items = req.app.db.instance_list(project_id=project, limit=None,
                                     marker=req.GET.get('marker'))
    if items is None:
        raise faults.BadRequest('marker [%s] not found' % req.GET.get('marker'))
    name = req.GET.get('name')
    if name:
        try:
            pattern = re.compile(name)
        except re.error:
            raise faults.BadRequest('Invalid regular expression for name: %s' % name)
        items = [i for i in items if pattern.search(i.name)]
    status = req.GET.get('status')
    if status:
        items = [i for i in items if _status(i) == status.upper()]
    more = limit is not None and len(items) > limit
    items = items[:limit] if limit is not None else items
    body = {'servers': [view(req, i) for i in items]}
    if more and items:
        own, _ = req.link_prefix()
        body['servers_links'] = [{'rel': 'next', 'href': '%s/servers%s?limit=%d&marker=%s'
                                  % (own, '/detail' if view is _detail else '',
                                     limit, items[-1].uuid)}]
    return 200, body


def index(req):
    req.authorize('os_compute_api:servers:index', req.context.project_id)
    return _list(req, lambda r, i: {'id': i.uuid, 'name': i.name,
                                    'links': r.links('servers', i.uuid)})


def detail(req):
    req.authorize('os_compute_api:servers:detail', req.context.project_id)
    return _list(req, _detail)


def show(req, id):
    inst = get_instance(req, id)
    req.authorize('os_compute_api:servers:show', inst.project_id)
    return 200, {'server': _detail(req, inst)}


def _image(req, ref):
    image = catalog.image(req.app.conf.api.image_dir, catalog.ref_id(ref))
    if image is None:
        raise faults.BadRequest('Can not find requested image')
    return image


def _personality(req, items):
    """[(normalised path, decoded bytes)]; schema validation already checked base64."""
    files = []
    for item in items or ():
        try:
            path = paths.normalise(item['path'])
        except exception.InjectError as e:
            raise faults.BadRequest('Invalid personality file path %r: %s'
                                    % (item['path'], e))
        files.append((path, validation.decode_base64(item['contents'])))
    req.app.quotas.check_personality(req.context.project_id, files)
    if files and req.app.conf.api.personality_without_injection == 'refuse':
        why = req.app.compute.injection_unavailable()
        if why:
            raise faults.BadRequest(
                'Personality files cannot be injected on this host: %s. Send the data '
                'as user_data or metadata instead.' % why)
    return files


def create(req):
    req.authorize('os_compute_api:servers:create', req.context.project_id)
    body = req.body_json()
    validation.validate(schema.create(req), body)
    server = body['server']
    for key in ('min_count', 'max_count'):
        if int(server.get(key, 1)) != 1:
            raise faults.BadRequest('inject-api creates one server per request; '
                                    '%s must be 1.' % key)
    if server.get('key_name'):
        raise faults.BadRequest('Invalid key_name provided.')
    if str(server.get('config_drive', '')).lower() in ('true', '1', 'yes'):
        raise faults.BadRequest('inject-api does not build config drives; the data '
                                'is injected into the disk instead.')
    flavor = catalog.flavor(catalog.ref_id(server['flavorRef']))
    if flavor is None:
        raise faults.BadRequest('Invalid flavorRef provided.')
    image = _image(req, server['imageRef'])
    metadata = server.get('metadata', {})
    project = req.context.project_id
    req.app.quotas.check_metadata(project, metadata)
    files = _personality(req, server.get('personality'))
    req.app.quotas.check_instance(project, flavor)
    admin_pass = server.get('adminPass') or secrets.token_urlsafe(9)
    uuid = str(uuid_mod.uuid4())
    inst = req.app.db.instance_create(dict(
        uuid=uuid, project_id=project, user_id=req.context.user_id,
        name=server['name'], description=server.get('description'),
        vm_state='building', task_state='scheduling', power_state=0,
        image_ref=image.id, flavor=flavor, user_data=server.get('user_data'),
        access_ip_v4=server.get('accessIPv4'), access_ip_v6=server.get('accessIPv6'),
        disk_config=server.get('OS-DCF:diskConfig', 'MANUAL'),
        availability_zone=server.get('availability_zone', 'nova'), config_drive='',
        tags=server.get('tags', []), locked=False, deleted=False),
        metadata, {'image_base_image_ref': image.id})
    action = req.app.db.action_start(uuid, 'create', req.context)
    req.app.compute.start(uuid, compute.BuildRequest(
        image, files, admin_password=admin_pass, metadata=metadata, action_id=action,
        request_id=req.context.request_id))
    body = {'id': inst.uuid, 'links': req.links('servers', inst.uuid),
            'OS-DCF:diskConfig': inst.disk_config,
            'security_groups': [{'name': 'default'}], 'adminPass': admin_pass}
    return 202, {'server': body}


def delete(req, id):
    inst = get_instance(req, id)
    req.authorize('os_compute_api:servers:delete', inst.project_id)
    if inst.locked and not req.is_admin:
        raise faults.Conflict('Instance %s is locked' % id)
    action = req.app.db.action_start(inst.uuid, 'delete', req.context)
    req.app.db.instance_update(inst.uuid, vm_state='deleted', task_state=None,
                               deleted=True, terminated_at=models.utcnow())
    req.app.compute.remove_disk(inst.uuid)
    req.app.db.action_finish(action)
    return 204, None


def action(req, id):
    body = req.body_json()
    if not isinstance(body, dict) or len(body) != 1:
        raise faults.BadRequest('Malformed request body')
    name = next(iter(body))
    if name != 'rebuild':
        raise faults.BadRequest('There is no such action: %s' % name)
    return _rebuild(req, id, body)


def _rebuild(req, id, body):
    inst = get_instance(req, id)
    req.authorize('os_compute_api:servers:rebuild', inst.project_id)
    validation.validate(schema.rebuild(req), body)
    args = body['rebuild']
    if inst.locked and not req.is_admin:
        raise faults.Conflict('Instance %s is locked' % id)
    if inst.vm_state not in _REBUILDABLE or inst.task_state is not None:
        raise faults.Conflict("Cannot 'rebuild' instance %s while it is in %s %s"
                              % (id, 'task_state' if inst.task_state else 'vm_state',
                                 inst.task_state or inst.vm_state))
    if args.get('key_name'):
        raise faults.BadRequest('Invalid key_name provided.')
    image = _image(req, args['imageRef'])
    metadata = args.get('metadata')
    if metadata is not None:
        req.app.quotas.check_metadata(inst.project_id, metadata)
    files = _personality(req, args.get('personality'))
    admin_pass = args.get('adminPass') or secrets.token_urlsafe(9)
    values = dict(image_ref=image.id, task_state='rebuilding', vm_state='active')
    for key, column in (('name', 'name'), ('accessIPv4', 'access_ip_v4'),
                        ('accessIPv6', 'access_ip_v6'), ('description', 'description'),
                        ('OS-DCF:diskConfig', 'disk_config')):
        if key in args:
            values[column] = args[key]
    if 'key_name' in args:
        values['key_name'] = None
    if req.at_least('2.57') and 'user_data' in args:
        values['user_data'] = args['user_data']   # null clears; absent keeps
    inst = req.app.db.instance_update(inst.uuid, metadata=metadata, **values)
    action = req.app.db.action_start(inst.uuid, 'rebuild', req.context)
    current = {m.key: m.value for m in inst.metadata_items}
    req.app.compute.start(inst.uuid, compute.BuildRequest(
        image, files, admin_password=admin_pass, metadata=current, action_id=action,
        request_id=req.context.request_id))
    view = _common(req, inst)
    view['adminPass'] = admin_pass
    if req.at_least('2.54'):
        view['key_name'] = inst.key_name
    if req.at_least('2.57'):
        view['user_data'] = inst.user_data
    return 202, {'server': view}
