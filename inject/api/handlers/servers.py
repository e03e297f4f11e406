"""Servers: create (one or several), show, list, list detail, update, delete, and the
rebuild action. Bodies are built by :mod:`inject.api.views.servers`; personality files
are translated by :mod:`inject.api.personality`."""

import secrets
import string
import uuid as uuid_mod

from oslo_utils import strutils
from oslo_utils import timeutils

from inject.api import addresses
from inject.api import block_device

from inject.api import catalog
from inject.api import compute
from inject.api import faults
from inject.api import microversion as mv
from inject.api import personality
from inject.api import validation
from inject.api.handlers import util
from inject.api.schemas import queries as schema_queries
from inject.api.schemas import servers as schema
from inject.api.views import links as links_mod
from inject.api.views import servers as views
from inject.db import api as db_api

_REBUILDABLE = ('active', 'error')
_TRUE = ('true', '1', 'on', 'yes')      # the true spellings of Nova's boolean


# Nova's server status -> {vm_state: [task_state or 'default']} (common._STATE_MAP).
_STATE_MAP = {
    'active': {'default': 'ACTIVE', 'rebooting': 'REBOOT', 'reboot_pending': 'REBOOT',
               'reboot_started': 'REBOOT', 'rebooting_hard': 'HARD_REBOOT',
               'reboot_pending_hard': 'HARD_REBOOT',
               'reboot_started_hard': 'HARD_REBOOT', 'updating_password': 'PASSWORD',
               'rebuilding': 'REBUILD', 'rebuild_block_device_mapping': 'REBUILD',
               'rebuild_spawning': 'REBUILD', 'migrating': 'MIGRATING',
               'resize_prep': 'RESIZE', 'resize_migrating': 'RESIZE',
               'resize_migrated': 'RESIZE', 'resize_finish': 'RESIZE'},
    'building': {'default': 'BUILD'},
    'stopped': {'default': 'SHUTOFF', 'resize_prep': 'RESIZE',
                'resize_migrating': 'RESIZE', 'resize_migrated': 'RESIZE',
                'resize_finish': 'RESIZE', 'rebuilding': 'REBUILD',
                'rebuild_block_device_mapping': 'REBUILD',
                'rebuild_spawning': 'REBUILD'},
    'resized': {'default': 'VERIFY_RESIZE', 'resize_reverting': 'REVERT_RESIZE'},
    'paused': {'default': 'PAUSED', 'migrating': 'MIGRATING'},
    'suspended': {'default': 'SUSPENDED'},
    'rescued': {'default': 'RESCUE'},
    'error': {'default': 'ERROR', 'rebuilding': 'REBUILD',
              'rebuild_block_device_mapping': 'REBUILD', 'rebuild_spawning': 'REBUILD'},
    'deleted': {'default': 'DELETED'},
    'soft-delete': {'default': 'SOFT_DELETED'},
    'shelved': {'default': 'SHELVED'},
    'shelved_offloaded': {'default': 'SHELVED_OFFLOADED'},
}
_V2_38 = mv.parse('2.38')
# Filters a project member may use (Nova's _get_server_search_options up to 2.57);
# an administrator may use every filter of the query schema. Others are ignored.
_MEMBER_FILTERS = ('reservation_id', 'name', 'status', 'image', 'flavor', 'ip',
                   'changes-since', 'all_tenants', 'ip6')
_TAG_FILTERS = ('tags', 'tags-any', 'not-tags', 'not-tags-any')
_PAGING = ('limit', 'marker', 'sort_key', 'sort_dir')
# Filters matched exactly: parameter -> column.
_EXACT = {'uuid': 'uuid', 'user_id': 'user_id', 'host': 'host', 'image': 'image_ref',
          'image_ref': 'image_ref', 'vm_state': 'vm_state', 'task_state': 'task_state'}
# Filters matched as regular expressions (RE2 search): parameter -> column.
_REGEX = {'name': 'name', 'display_name': 'name', 'description': 'description',
          'display_description': 'description', 'availability_zone': 'availability_zone',
          'key_name': 'key_name', 'access_ip_v4': 'access_ip_v4',
          'access_ip_v6': 'access_ip_v6', 'config_drive': 'config_drive', 'node': 'host'}


def _states(statuses):
    """(vm_states, task_states) of API statuses (Nova's task_and_vm_state_from_status)."""
    wanted = {s.lower() for s in statuses}
    vm_states, task_states = set(), set()
    for vm_state, tasks in _STATE_MAP.items():
        for task_state, name in tasks.items():
            if name.lower() in wanted:
                vm_states.add(vm_state)
                task_states.add(task_state)
    return sorted(vm_states), sorted(task_states)


def _bool(value, strict):
    try:
        return strutils.bool_from_string(value, strict=strict)
    except ValueError as e:
        raise faults.BadRequest('Invalid input received: %s' % e)


def _sort(req, query):
    """``[(key, dir)]`` of ``sort_key``/``sort_dir`` (Nova's pairing and checks)."""
    keys = [k.strip() for k in query.get('sort_key', [])]
    dirs = [d.strip() for d in query.get('sort_dir', [])]
    if not keys:
        return []
    default = dirs[0] if dirs else 'desc'
    if any(d not in ('asc', 'desc') for d in dirs):
        raise faults.BadRequest("Invalid input received: Unknown sort direction, must "
                                "be 'desc' or 'asc'")
    if len(dirs) > len(keys):
        raise faults.BadRequest('Invalid input received: Sort direction size exceeds '
                                'sort key size')
    dirs += [default] * (len(keys) - len(dirs))
    pairs = []
    for key, direction in zip(keys, dirs):
        if key in schema_queries.SERVER_SORT_IGNORED:
            continue
        if key in ('host', 'node') and not req.is_admin:
            raise faults.Forbidden('Only administrators can sort servers by %s' % key)
        pairs.append((key, direction))
    return pairs


def _tag_predicate(name, wanted):
    wanted = set(wanted.split(','))
    if name == 'tags':
        return lambda tags: wanted <= set(tags or ())
    if name == 'tags-any':
        return lambda tags: bool(wanted & set(tags or ()))
    if name == 'not-tags':
        return lambda tags: not wanted <= set(tags or ())
    return lambda tags: not wanted & set(tags or ())


def _list(req, view):
    """GET /servers and /servers/detail: Nova's filters, sorting and paging, done in
    SQL except regular expressions (RE2, on the selected column only)."""
    detailed = view is views.detail
    query = validation.validate_query(mv.select(schema_queries.SERVERS_INDEX,
                                                req.version), req)
    opts = {k: v[-1] for k, v in query.items() if k not in _PAGING}
    if not req.is_admin:
        allowed = _MEMBER_FILTERS + (_TAG_FILTERS if req.version >= mv.V2_26 else ())
        opts = {k: v for k, v in opts.items() if k in allowed}
    for key in opts:
        if key in schema_queries.SERVER_JOINED or key.startswith('_'):
            raise faults.BadRequest('Invalid filter field: %s.' % key)
    empty = {'servers': []}

    filters, predicates = {}, {}
    if 'status' in opts:
        vm_states, task_states = _states(query['status'])
        if not vm_states:
            if req.version >= _V2_38:
                raise faults.BadRequest('Invalid status value')
            return 200, empty
        opts['vm_state'] = vm_states
        if 'default' not in task_states:
            opts['task_state'] = task_states
    if 'changes-since' in opts:
        try:
            since = timeutils.parse_isotime(opts['changes-since'])
        except ValueError:
            raise faults.BadRequest('Invalid filter field: changes-since.')
        filters['changes_since'] = timeutils.normalize_time(since)
    if 'deleted' in opts:
        filters['deleted'] = _bool(opts['deleted'], False)
    elif 'changes_since' not in filters:
        filters['deleted'] = False
    if opts.get('vm_state') == ['deleted']:
        if not req.is_admin:
            raise faults.Forbidden('Only administrators may list deleted instances')
        filters['deleted'] = True

    all_tenants = False
    if 'all_tenants' in opts:
        all_tenants = (_bool(opts['all_tenants'], True)
                       if opts['all_tenants'] else True)
    if all_tenants:
        req.authorize('os_compute_api:servers:%s:get_all_tenants'
                      % ('detail' if detailed else 'index'))
        project = opts.get('project_id', opts.get('tenant_id'))
        if project is not None:
            filters['project_id'] = project
    else:
        filters['project_id'] = req.context.project_id

    for key, column in _EXACT.items():
        if key in opts:
            value = opts[key]
            filters[column] = value if isinstance(value, list) else str(value)
    if 'flavor' in opts:
        flavor = catalog.flavor(opts['flavor'])
        if flavor is None:       # Nova: FlavorNotFound gives an empty list
            return 200, empty
        filters['flavor_id'] = flavor['id']
    if 'ip' in opts or 'ip6' in opts:
        return 200, empty        # inject-api servers have no addresses
    for key, column in _REGEX.items():
        if key in opts:
            predicates[column] = _searcher(validation.compile_regex(opts[key]))
    if 'reservation_id' in opts:
        pattern = validation.compile_regex(opts['reservation_id'])
        predicates['uuid'] = lambda uuid: pattern.search('r-%s' % uuid[:8])
    for key in _TAG_FILTERS:
        if key in opts:
            predicates['tags'] = _combine(predicates.get('tags'),
                                          _tag_predicate(key, opts[key]))

    limit = links_mod.page_limit(req)
    marker = query['marker'][-1] if 'marker' in query else None
    try:
        items = req.app.db.instance_page(filters, limit=limit, marker=marker,
                                         sort=_sort(req, query), match=predicates,
                                         detail=detailed)
    except db_api.MarkerNotFound:
        raise faults.BadRequest('marker [%s] not found' % marker)
    body = {'servers': [view(req, i) for i in items]}
    links = links_mod.collection(req, 'servers/detail' if detailed else 'servers',
                                 items, lambda i: i.uuid, query)
    if links:
        body['servers_links'] = links
    return 200, body


def _searcher(pattern):
    return lambda value: value is not None and pattern.search(value) is not None


def _combine(first, second):
    if first is None:
        return second
    return lambda value: first(value) and second(value)


def index(req):
    req.authorize('os_compute_api:servers:index', req.context.project_id)
    return _list(req, views.basic)


def detail(req):
    req.authorize('os_compute_api:servers:detail', req.context.project_id)
    return _list(req, views.detail)


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
    config_drive = _config_drive(req, server)
    flavor = catalog.flavor(catalog.ref_id(server['flavorRef']))
    if flavor is None:
        raise faults.BadRequest('Invalid flavorRef provided.')
    image = util.get_image(req, image_ref)
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
            metadata, {'image_base_image_ref': image.id,
                       'reservation_id': reservation_id, 'launch_index': str(index),
                       'boot_roles': boot_roles})
            for index, name in enumerate(_names(server['name'], count))]

    # Counting the project's usage and inserting are one decision (no quota race).
    insts = req.app.db.instances_create(
        project, req.app.quotas.instance_check(project, flavor, min_count, max_count),
        rows)
    created = []
    for inst in insts:
        action = req.app.db.action_start(inst.uuid, 'create', req.context)
        created.append((inst, compute.BuildRequest(
            image, files, admin_password=admin_pass, metadata=metadata,
            action_id=action, request_id=req.context.request_id,
            key=_injected_key(inst))))
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


def _config_drive(req, server):
    """``instances.config_drive`` of a new server: Nova's stored string, 'True' when
    the request asks for a config drive (any of Nova's boolean spellings) or
    ``[DEFAULT]force_config_drive`` is on, else ''."""
    value = server.get('config_drive')
    try:
        wanted = bool(value) and strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise faults.BadRequest('Invalid config_drive provided.')
    if wanted or req.app.conf.force_config_drive:
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
    inst = req.app.db.instance_update(inst.uuid, metadata=metadata, **values)
    action = req.app.db.action_start(inst.uuid, 'rebuild', req.context)
    current = {m.key: m.value for m in inst.metadata_items}
    req.app.compute.start(inst.uuid, compute.BuildRequest(
        image, files, admin_password=admin_pass, metadata=current, action_id=action,
        request_id=req.context.request_id, key=_injected_key(inst)))
    return 202, {'server': views.rebuilt(req, inst, admin_pass)}
