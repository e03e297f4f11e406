"""Block device mappings in a server create request, as Nova's schema accepts them
(``block_device_mapping`` in the legacy form, ``block_device_mapping_v2`` in the new
one); which mappings inject-api can serve is decided by :mod:`inject.api.block_device`.

Device ``tag`` is accepted at 2.32 and from 2.42, as in Nova; ``volume_type`` (2.67) is
beyond the versions served here.
"""

import copy

from inject.api.schemas import parameter_types

_UUID = {'type': 'string', 'format': 'uuid'}
_BOOLEAN = parameter_types.BOOLEAN
_VOLUME_SIZE = {'type': ['integer', 'string'], 'pattern': '^[0-9]+$',
                'minimum': 1, 'maximum': 0x7FFFFFFF}
TAG = {'type': 'string', 'pattern': '^[^,/]*$', 'minLength': 1, 'maxLength': 60}

LEGACY_ITEM = {
    'type': 'object',
    'properties': {
        'virtual_name': {'type': 'string', 'maxLength': 255},
        'volume_id': _UUID,
        'snapshot_id': _UUID,
        'volume_size': _VOLUME_SIZE,
        'device_name': {'type': 'string', 'minLength': 1, 'maxLength': 255,
                        'pattern': '^[a-zA-Z0-9._/-]*$'},
        'delete_on_termination': _BOOLEAN,
        'no_device': {},
        'connection_info': {'type': 'string', 'maxLength': 16777215},
    },
    'additionalProperties': False,
}

V2_ITEM = copy.deepcopy(LEGACY_ITEM)
V2_ITEM['properties'].update({
    'source_type': {'type': 'string', 'enum': ['volume', 'image', 'snapshot', 'blank']},
    'uuid': {'type': 'string', 'minLength': 1, 'maxLength': 255,
             'pattern': '^[a-zA-Z0-9._-]*$'},
    'image_id': _UUID,
    'destination_type': {'type': 'string', 'enum': ['local', 'volume']},
    'guest_format': {'type': 'string', 'maxLength': 255},
    'device_type': {'type': 'string', 'maxLength': 255},
    'disk_bus': {'type': 'string', 'maxLength': 255},
    # boot_index null is accepted (legacy v2 API compatibility), meaning -1
    'boot_index': {'type': ['integer', 'string', 'null'], 'pattern': '^-?[0-9]+$'},
})

V2_ITEM_TAGGED = copy.deepcopy(V2_ITEM)
V2_ITEM_TAGGED['properties']['tag'] = TAG

LEGACY = {'type': 'array', 'items': LEGACY_ITEM}
V2 = {'type': 'array', 'items': V2_ITEM}
V2_TAGGED = {'type': 'array', 'items': V2_ITEM_TAGGED}
