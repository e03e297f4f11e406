"""Servers: create (one or several), show, list, list detail, update, delete, and the
rebuild action. Bodies are built by :mod:`inject.api.views.servers`; personality files
are translated by :mod:`inject.api.personality`."""

import secrets
import string
import uuid as uuid_mod

from oslo_utils import strutils

from inject.api import addresses
from inject.api import block_device
from inject.api import catalog
from inject.api import compute
from inject.api import faults
from inject.api import image_properties
from inject.api import microversion as mv
from inject.api import personality
from inject.api import server_lists
from inject.api import validation
from inject.api.handlers import util
from inject.api.schemas import servers as schema
from inject.api.views import servers as views
from inject.db import system_metadata

_REBUILDABLE = ('active', 'error')
_TRUE = ('true', '1', 'on', 'yes')      # the true spellings of Nova's boolean


def index(req):
    req.authorize('os_compute_api:servers:index', req.context.project_id)
    return server_lists.page(req, views.basic)


def detail(req):
    req.authorize('os_compute_api:servers:detail', req.context.project_id)
    return server_lists.page(req, views.detail)


def show(req, id):
    inst = util.get_instance(req, id)
    req.authorize('os_compute_api:servers:show', inst.project_id)
    return 200, {'server': views.detail(req, inst)}


def _check_personality(req, files):
    """Nova's personality quotas, then the ``personality_without_injection`` policy."""
    req.app.quotas.check_personality(req.context.project_id, files)
    if files and req.app.conf.api.personality_without_injection == 'refuse':
        why = req.app.compute.injection_unavailable()
        if why:
            raise faults.BadRequest(
                'Personality files cannot be injected on this host: %s. Send the data '
                'as user_data or metadata instead.' % why)


def create(req):
    req.authorize('os_compute_api:servers:create', req.context.project_id)
    body = req.body_json()
    validation.validate(mv.select(schema.CREATE, req.version), body)
    server = body['server']
    image_ref = block_device.image_ref(server)
    addresses.check_networks(server.get('networks'))
    addresses.check_security_groups(server.get('security_groups'))
    files = personality.translate(server.get('personality'))
    min_count, max_count = _counts(server)
    key_pair = _key_pair(req, server.get('key_name'))
    wants_drive = _wants_config_drive(server)
    flavor = catalog.flavor(catalog.ref_id(server['flavorRef']))
    if flavor is None:
        raise faults.BadRequest('Invalid flavorRef provided.')
    image = util.get_image(req, image_ref)
    config_drive = _config_drive(req, wants_drive, image)
    metadata = server.get('metadata', {})
    project = req.context.project_id
    req.app.quotas.check_metadata(project, metadata)
    _check_personality(req, files)
    admin_pass = server.get('adminPass') or secrets.token_urlsafe(9)
    reservation_id = _reservation_id()
    boot_roles = _boot_roles(req)

    def rows(count):
        return [(dict(
            uuid=str(uuid_mod.uuid4()), project_id=project, user_id=req.context.user_id,
            name=name, description=server.get('description'),
            vm_state='building', task_state='scheduling', power_state=0,
            image_ref=image.id, flavor=flavor, user_data=server.get('user_data'),
            **addresses.access_ips(server),
            disk_config=server.get('OS-DCF:diskConfig', 'MANUAL'),
            availability_zone=server.get('availability_zone', 'nova'),
            config_drive=config_drive,
            tags=server.get('tags', []), locked=False, deleted=False,
            **_key_values(key_pair)),
            metadata, dict(image_properties.system_metadata(image, flavor),
                           **{system_metadata.RESERVATION_ID: reservation_id,
                              system_metadata.LAUNCH_INDEX: str(index),
                              system_metadata.BOOT_ROLES: boot_roles,
                              system_metadata.BUILDER: compute.builder()}))
            for index, name in enumerate(_names(server['name'], count))]

    # Counting the project's usage and inserting are one decision (no quota race).
    # The servers' create actions start and their files are kept in the same
    # transaction, so their builds start without writing.
    insts, actions = req.app.db.instances_create_started(
        project, req.app.quotas.instance_check(project, flavor, min_count, max_count),
        rows, 'create', req.context, files=files)
    created = []
    for inst, action in zip(insts, actions):
        created.append((inst, compute.BuildRequest(
            image, files, admin_password=admin_pass, metadata=metadata,
            action_id=action, request_id=req.context.request_id,
            key=_injected_key(inst), created=(inst.project_id, inst.config_drive))))
    # All at once: builds of one project that reach the agent together share one
    # appliance launch.
    req.app.compute.start_together([(inst.uuid, build) for inst, build in created])
    if str(server.get('return_reservation_id', False)).lower() in _TRUE:
        return 202, {'reservation_id': reservation_id}
    first = views.created(req, created[0][0], admin_pass)
    return 202, {'server': first}, {'Location': first['links'][0]['href']}


def _key_pair(req, name):
    """The caller's key pair called ``name`` (None for no name), or Nova's 400: key
    pairs belong to users, so an administrator or another member of the project
    names their own (Nova looks the name up for the request's user)."""
    if name is None:
        return None
    kp = req.app.db.key_pair_get(req.context.user_id, name)
    if kp is None:
        raise faults.BadRequest('Invalid key_name provided.')
    return kp


def _key_values(kp):
    """The server columns that keep its key (as it is now: Nova's key_data)."""
    if kp is None:
        return {'key_name': None, 'key_data': None, 'key_type': None}
    return {'key_name': kp.name, 'key_data': kp.public_key, 'key_type': kp.type}


def _injected_key(inst):
    """The key written into the disk's authorized_keys (with [injection]inject_key):
    an SSH key's; an x509 certificate is for the metadata only."""
    return inst.key_data if inst.key_data and inst.key_type != 'x509' else None


def _wants_config_drive(server):
    """Whether the create request asks for a config drive (any of Nova's boolean
    spellings), or 400."""
    value = server.get('config_drive')
    try:
        return bool(value) and strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise faults.BadRequest('Invalid config_drive provided.')


def _config_drive(req, wanted, image):
    """``instances.config_drive`` of a new server: Nova's stored string, 'True' when
    the request asks for a config drive, ``[DEFAULT]force_config_drive`` is on or the
    image requires one (``img_config_drive = mandatory``), else ''."""
    if (wanted or req.app.conf.force_config_drive
            or image_properties.config_drive_required(image.properties)):
        return compute.CONFIG_DRIVE_TRUE
    return ''


def _boot_roles(req):
    """The creating user's roles, comma-joined (system metadata ``boot_roles``, sent
    to dynamic vendordata targets as ``boot-roles``; kept through rebuilds)."""
    return ','.join(req.context.roles or ())


def _counts(server):
    """``(min_count, max_count)``: max_count defaults to min_count, as in Nova."""
    min_count = int(server.get('min_count', 1))
    max_count = int(server.get('max_count', min_count))
    if min_count > max_count:
        raise faults.BadRequest('min_count must be <= max_count')
    return min_count, max_count


def _names(name, count):
    """Display names: ``name`` alone, or ``name-1`` ... ``name-N`` (Nova's)."""
    if count == 1:
        return [name]
    names = ['%s-%d' % (name, i) for i in range(1, count + 1)]
    if len(names[-1]) > 255:
        raise faults.BadRequest(
            'Invalid input for field/attribute name. Value: %s. With the suffix -%d '
            'that numbers %d servers it is longer than 255 characters.'
            % (name, count, count))
    return names


def _reservation_id():
    """``r-`` and 8 random characters, as Nova's utils.generate_uid('r')."""
    alphabet = string.digits + string.ascii_lowercase
    return 'r-' + ''.join(secrets.choice(alphabet) for _ in range(8))


def update(req, id):
    """PUT /servers/{id}: name, description (2.19), accessIPv4/v6, diskConfig; the
    answer is the server as Nova's update shows it (before 2.75: without the detail
    and administrator attributes)."""
    inst = util.get_instance(req, id)
    req.authorize('os_compute_api:servers:update', inst.project_id)
    body = req.body_json()
    validation.validate(mv.select(schema.UPDATE, req.version), body)
    values = {}
    for key, column in (('name', 'name'), ('description', 'description'),
                        ('accessIPv4', 'access_ip_v4'), ('accessIPv6', 'access_ip_v6'),
                        ('OS-DCF:diskConfig', 'disk_config')):
        if key in body['server']:
            values[column] = body['server'][key]
    inst = req.app.db.instance_update(inst.uuid, **values)
    if inst is None:             # deleted meanwhile
        raise faults.NotFound('Instance %s could not be found.' % id)
    return 200, {'server': views.common(req, inst)}


def delete(req, id):
    inst = util.get_instance(req, id)
    req.authorize('os_compute_api:servers:delete', inst.project_id)
    util.check_unlocked(req, inst)
    action = req.app.db.action_start(inst.uuid, 'delete', req.context)
    req.app.db.instance_delete(inst.uuid)
    req.app.compute.remove_disk(inst.uuid)        # disk and disk.config
    # The record stays (soft delete); what it kept for the guest does not.
    req.app.db.instance_files_set(inst.uuid, [])
    req.app.db.vendordata_answers_delete(inst.uuid)
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
    inst = util.get_instance(req, id)
    req.authorize('os_compute_api:servers:rebuild', inst.project_id)
    validation.validate(mv.select(schema.REBUILD, req.version), body)
    args = body['rebuild']
    files = personality.translate(args.get('personality'))
    util.check_unlocked(req, inst)
    if inst.vm_state not in _REBUILDABLE or inst.task_state is not None:
        # Nova checks vm_state first: a building server is "in vm_state building".
        attr = 'vm_state' if inst.vm_state not in _REBUILDABLE else 'task_state'
        raise faults.Conflict("Cannot 'rebuild' instance %s while it is in %s %s"
                              % (id, attr, getattr(inst, attr)))
    if 'key_name' in args:     # from 2.54 (the schema): the caller's, or null to unset
        key_values = _key_values(_key_pair(req, args['key_name']))
    image = util.get_image(req, args['imageRef'])
    metadata = args.get('metadata')
    if metadata is not None:
        req.app.quotas.check_metadata(inst.project_id, metadata)
    _check_personality(req, files)
    admin_pass = args.get('adminPass') or secrets.token_urlsafe(9)
    values = dict(image_ref=image.id, task_state='rebuilding', vm_state='active')
    for key, column in (('name', 'name'), ('description', 'description'),
                        ('OS-DCF:diskConfig', 'disk_config')):
        if key in args:
            values[column] = args[key]
    values.update(addresses.access_ips(args))
    if 'key_name' in args:
        values.update(key_values)
    if req.version >= mv.V2_57 and 'user_data' in args:
        values['user_data'] = args['user_data']   # null clears; absent keeps
    if image_properties.config_drive_required(image.properties):
        values['config_drive'] = compute.CONFIG_DRIVE_TRUE     # Nova: at the spawn
    inst = req.app.db.instance_update(inst.uuid, metadata=metadata, **values)
    # The new image's snapshot replaces the old one (Nova's _reset_image_metadata).
    req.app.db.instance_system_metadata_replace(
        inst.uuid, system_metadata.IMAGE_PREFIX,
        image_properties.system_metadata(image, inst.flavor))
    action = req.app.db.action_start(inst.uuid, 'rebuild', req.context)
    current = {m.key: m.value for m in inst.metadata_items}
    req.app.compute.start(inst.uuid, compute.BuildRequest(
        image, files, admin_password=admin_pass, metadata=current, action_id=action,
        request_id=req.context.request_id, key=_injected_key(inst)))
    return 202, {'server': views.rebuilt(req, inst, admin_pass)}
