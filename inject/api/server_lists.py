"""Server lists: Nova's filters, sorting and paging of GET /servers and
/servers/detail, translated into one :meth:`inject.db.api.Database.instance_page`
query (regular expressions run with RE2 on the selected column only)."""

from oslo_utils import strutils
from oslo_utils import timeutils

from inject.api import catalog
from inject.api import faults
from inject.api import microversion as mv
from inject.api import validation
from inject.api.schemas import queries as schema_queries
from inject.api.views import links as links_mod
from inject.api.views import servers as views
from inject.db import listing as db_listing
from inject.db import system_metadata

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


def page(req, view):
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
    if 'reservation_id' in opts:       # the stored one (Nova's column), as a regex
        predicates[db_listing.SystemMetadata(system_metadata.RESERVATION_ID)] = (
            _searcher(validation.compile_regex(opts['reservation_id'])))
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
    except db_listing.MarkerNotFound:
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
