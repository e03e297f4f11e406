"""Server bodies at the request's microversion, as Nova's ViewBuilder builds them
(``nova/api/openstack/compute/views/servers.py``): the minimal list entry, the full
body, the detail body with the administrators' attributes, and the bodies create and
rebuild answer with."""

import hashlib

from inject.api import microversion as mv
from inject.api.views import links
from inject.api.views import times
from inject.db import system_metadata
from inject.metadata import instance as instance_mod

_STATUS = {'building': 'BUILD', 'active': 'ACTIVE', 'error': 'ERROR',
           'deleted': 'DELETED'}
_PROGRESS = ('ACTIVE', 'BUILD', 'REBUILD')


def status(inst):
    """The API status of an instance (``REBUILD`` while rebuilding)."""
    if inst.task_state == 'rebuilding':
        return 'REBUILD'
    return _STATUS.get(inst.vm_state, 'UNKNOWN')


def _flavor(req, inst):
    f = inst.flavor
    if req.version >= mv.V2_47:
        return {'original_name': f['name'], 'disk': f['disk'], 'ephemeral': f['ephemeral'],
                'ram': f['ram'], 'swap': f['swap'], 'vcpus': f['vcpus'],
                'extra_specs': dict(f.get('extra_specs') or {})}
    _, bookmark = links.prefixes(req)
    return {'id': f['id'], 'links': [{'rel': 'bookmark',
                                      'href': '%s/flavors/%s' % (bookmark, f['id'])}]}


def basic(req, inst):
    """A list entry of ``GET /servers``."""
    return {'id': inst.uuid, 'name': inst.name, 'links': links.resource(req, 'servers', inst.uuid)}


def common(req, inst):
    """The keys of Nova's server view that every full server body has."""
    state = status(inst)
    _, bookmark = links.prefixes(req)
    host_id = (hashlib.sha224((inst.project_id + inst.host).encode()).hexdigest()
               if inst.host else '')
    body = {
        'id': inst.uuid, 'name': inst.name, 'status': state,
        'tenant_id': inst.project_id, 'user_id': inst.user_id,
        'metadata': {m.key: m.value for m in inst.metadata_items},
        'hostId': host_id,
        'image': {'id': inst.image_ref, 'links': [
            {'rel': 'bookmark', 'href': '%s/images/%s' % (bookmark, inst.image_ref)}]},
        'flavor': _flavor(req, inst),
        'created': times.isotime(inst.created_at),
        'updated': times.isotime(inst.updated_at),
        'addresses': {},
        'accessIPv4': inst.access_ip_v4 or '', 'accessIPv6': inst.access_ip_v6 or '',
        'links': links.resource(req, 'servers', inst.uuid),
        'OS-DCF:diskConfig': inst.disk_config,
    }
    if state in _PROGRESS:
        body['progress'] = 100 if state == 'ACTIVE' else 0
    if state in ('ERROR', 'DELETED') and inst.faults:
        fault = inst.faults[-1]
        body['fault'] = {'code': fault.code, 'message': fault.message,
                         'created': times.isotime(fault.created_at)}
        # Details carry host paths (the instance's disk): administrators only,
        # whatever the code (Nova also shows those of non-500 faults to everyone).
        if fault.details and req.is_admin:
            body['fault']['details'] = fault.details
    if req.version >= mv.V2_9:
        body['locked'] = inst.locked
    if req.version >= mv.V2_19:
        body['description'] = inst.description
    if req.version >= mv.V2_26:
        body['tags'] = list(inst.tags or [])
    return body


def detail(req, inst):
    """The body of ``GET /servers/{id}`` and of each ``GET /servers/detail`` entry."""
    body = common(req, inst)
    body.update({
        'key_name': inst.key_name,
        'security_groups': [{'name': 'default'}],
        'OS-SRV-USG:launched_at': times.isotime_usec(inst.launched_at),
        'OS-SRV-USG:terminated_at': times.isotime_usec(inst.terminated_at),
        'OS-EXT-AZ:availability_zone': inst.availability_zone,
        'OS-EXT-STS:task_state': inst.task_state,
        'OS-EXT-STS:vm_state': inst.vm_state,
        'OS-EXT-STS:power_state': inst.power_state,
        'os-extended-volumes:volumes_attached': [],
        'config_drive': inst.config_drive,
    })
    if req.can('os_compute_api:os-extended-server-attributes', inst.project_id):
        body.update(_admin_attributes(req, inst))
    if req.version >= mv.V2_16 and req.can('os_compute_api:servers:show:host_status',
                                           inst.project_id):
        body['host_status'] = 'UP' if inst.host else ''
    return body


def _admin_attributes(req, inst):
    """What Nova's default policy shows administrators only."""
    attrs = {'OS-EXT-SRV-ATTR:host': inst.host,
             'OS-EXT-SRV-ATTR:instance_name': 'instance-%s' % inst.uuid,
             'OS-EXT-SRV-ATTR:hypervisor_hostname': inst.host}
    if req.version >= mv.V2_3:
        sysmeta = system_metadata.values(inst)
        attrs.update({
            'OS-EXT-SRV-ATTR:reservation_id': system_metadata.reservation_id(sysmeta),
            'OS-EXT-SRV-ATTR:launch_index': system_metadata.launch_index(sysmeta),
            'OS-EXT-SRV-ATTR:kernel_id': '',
            'OS-EXT-SRV-ATTR:ramdisk_id': '',
            'OS-EXT-SRV-ATTR:hostname': instance_mod.hostname_from_name(inst.name,
                                                                        inst.uuid),
            'OS-EXT-SRV-ATTR:root_device_name': (instance_mod.ROOT_DEVICE_NAME
                                                 if inst.launched_at else None),
            'OS-EXT-SRV-ATTR:user_data': inst.user_data,
        })
    return attrs


def created(req, inst, admin_pass):
    """The body of the 202 to ``POST /servers``."""
    return {'id': inst.uuid, 'links': links.resource(req, 'servers', inst.uuid),
            'OS-DCF:diskConfig': inst.disk_config,
            'security_groups': [{'name': 'default'}], 'adminPass': admin_pass}


def rebuilt(req, inst, admin_pass):
    """The body of the 202 to the rebuild action."""
    body = common(req, inst)
    body['adminPass'] = admin_pass
    if req.version >= mv.V2_54:
        body['key_name'] = inst.key_name
    if req.version >= mv.V2_57:
        body['user_data'] = inst.user_data
    return body


def collection_links(req, items, limit, detailed):
    """``servers_links`` with the next page of a list cut at ``limit``."""
    own, _ = req.link_prefix()
    return [{'rel': 'next', 'href': '%s/servers%s?limit=%d&marker=%s'
             % (own, '/detail' if detailed else '', limit, items[-1].uuid)}]
