"""Query strings of the lists (Nova's query schemas, at the versions inject-api
speaks): every parameter is a list of its values. Parameters a schema does not name
are stripped before the handler sees them (Nova ignores them until 2.75, which
inject-api does not speak)."""

import copy

from inject.api import microversion as mv

_STRING = {'type': 'array', 'items': {'type': 'string'}}
_REGEX = {'type': 'array', 'items': {'type': 'string', 'format': 'regex'}}
# One value of a non-negative integer parameter (Nova's non_negative_integer).
NON_NEGATIVE = {'type': ['integer', 'string'], 'pattern': '^[0-9]*$', 'minimum': 0,
                'minLength': 1}
_NON_NEGATIVE = {'type': 'array', 'items': NON_NEGATIVE}
PAGINATION = {'limit': _NON_NEGATIVE, 'marker': _STRING}

# Nova's sort keys of the server list; the ignored ones are accepted and dropped.
SERVER_SORT_IGNORED = [
    'architecture', 'cell_name', 'cleaned', 'default_ephemeral_device',
    'default_swap_device', 'deleted', 'deleted_at', 'disable_terminate',
    'ephemeral_gb', 'ephemeral_key_uuid', 'id', 'key_data', 'launched_on',
    'locked', 'memory_mb', 'os_type', 'reservation_id', 'root_gb',
    'shutdown_terminate', 'user_data', 'vcpus', 'vm_mode']
SERVER_SORT_KEYS = [
    'access_ip_v4', 'access_ip_v6', 'auto_disk_config', 'availability_zone',
    'config_drive', 'created_at', 'display_description', 'display_name', 'host',
    'hostname', 'image_ref', 'instance_type_id', 'kernel_id', 'key_name',
    'launch_index', 'launched_at', 'locked_by', 'node', 'power_state', 'progress',
    'project_id', 'ramdisk_id', 'root_device_name', 'task_state', 'terminated_at',
    'updated_at', 'user_id', 'uuid', 'vm_state'] + SERVER_SORT_IGNORED

# Parameters naming joined tables: 400 "Invalid filter field" (as Nova).
SERVER_JOINED = ('block_device_mapping', 'services', 'metadata', 'system_metadata',
                 'info_cache', 'security_groups', 'pci_devices')

_SERVERS = {
    'type': 'object',
    'properties': dict({
        name: _STRING for name in (
            'user_id', 'project_id', 'tenant_id', 'launch_index', 'image_ref', 'image',
            'vm_state', 'task_state', 'host', 'uuid', 'sort_dir', 'all_tenants',
            'soft_deleted', 'deleted', 'status') + SERVER_JOINED}, **{
        name: _REGEX for name in (
            'kernel_id', 'ramdisk_id', 'hostname', 'key_name', 'power_state', 'node',
            'flavor', 'reservation_id', 'launched_at', 'terminated_at',
            'availability_zone', 'name', 'display_name', 'description',
            'display_description', 'locked_by', 'root_device_name', 'config_drive',
            'access_ip_v4', 'access_ip_v6', 'auto_disk_config', 'progress', 'ip', 'ip6',
            'created_at')},
        **{'sort_key': {'type': 'array',
                        'items': {'type': 'string', 'enum': SERVER_SORT_KEYS}},
           'changes-since': _STRING},
        **PAGINATION),
    'additionalProperties': True,
    'patternProperties': {'^_': _STRING},
}

_SERVERS_V226 = copy.deepcopy(_SERVERS)
_SERVERS_V226['properties'].update({name: _REGEX for name in (
    'tags', 'tags-any', 'not-tags', 'not-tags-any')})

# (min, max, schema) of GET /servers and /servers/detail.
SERVERS_INDEX = [
    (mv.MIN, mv.parse('2.25'), _SERVERS),
    (mv.V2_26, mv.MAX, _SERVERS_V226),
]

FLAVOR_SORT_KEYS = ['created_at', 'description', 'disabled', 'ephemeral_gb', 'flavorid',
                    'id', 'is_public', 'memory_mb', 'name', 'root_gb', 'rxtx_factor',
                    'swap', 'updated_at', 'vcpu_weight', 'vcpus']

_FLAVORS = {
    'type': 'object',
    'properties': dict({
        'is_public': _STRING, 'minRam': _STRING, 'minDisk': _STRING,
        'sort_key': {'type': 'array', 'items': {'type': 'string',
                                                'enum': FLAVOR_SORT_KEYS}},
        'sort_dir': {'type': 'array', 'items': {'type': 'string',
                                                'enum': ['asc', 'desc']}}},
        **PAGINATION),
    'additionalProperties': True,
}

# (min, max, schema) of GET /flavors and /flavors/detail.
FLAVORS_INDEX = [(mv.MIN, mv.MAX, _FLAVORS)]
