"""Request bodies of server create, update and rebuild and of server metadata (Nova's
schemas, restricted to what inject-api can honour): one schema constant per version
range, and the tables ``CREATE``, ``UPDATE`` and ``REBUILD`` of ``(min, max, schema)``
rows that :func:`inject.api.microversion.select` picks from.

Personality ``contents`` is only checked to be a string here: it is decoded once, by
:mod:`inject.api.personality`, which names the file in its 400.
"""

import copy

from inject.api import microversion as mv
from inject.api.schemas import parameter_types
from inject.api.schemas import block_device_mapping as bdm

_NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255}
_DESCRIPTION = {'type': ['string', 'null'], 'minLength': 0, 'maxLength': 255}
_METADATA = {'type': 'object',
             'patternProperties': {'^.{1,255}$': {'type': 'string', 'maxLength': 255}},
             'additionalProperties': False}
_PERSONALITY = {'type': 'array', 'items': {
    'type': 'object',
    'properties': {'path': {'type': 'string'},
                   'contents': {'type': 'string'}},
    'required': ['path', 'contents'],
    'additionalProperties': False}}
_USER_DATA = {'type': 'string', 'format': 'base64', 'maxLength': 65535}
_IP4 = {'type': 'string', 'format': 'ipv4'}
_IP6 = {'type': 'string', 'format': 'ipv6'}
_DISK_CONFIG = {'type': 'string', 'enum': ['AUTO', 'MANUAL']}
_REF = {'type': ['string', 'integer'], 'minLength': 1}
_TAGS = {'type': 'array', 'maxItems': 50,
         'items': {'type': 'string', 'minLength': 1, 'maxLength': 60,
                   'pattern': '^[^,/]*$'}}
_BOOLEAN = parameter_types.BOOLEAN
_IP = {'type': 'string', 'oneOf': [{'format': 'ipv4'}, {'format': 'ipv6'}]}
_PORT = {'type': ['string', 'null'], 'format': 'uuid'}


def _network_list(uuid, tag=False):
    """The list form of ``networks``: ``uuid`` is the schema of a network id."""
    properties = {'fixed_ip': _IP, 'port': _PORT, 'uuid': uuid}
    if tag:
        properties['tag'] = bdm.TAG
    return {'type': 'array', 'items': {'type': 'object', 'properties': properties,
                                       'additionalProperties': False}}


def _network_choice(tag):
    """From 2.37 ``networks`` is a list of uuids, or "auto" or "none"."""
    return {'oneOf': [_network_list({'type': 'string', 'format': 'uuid'}, tag),
                      {'type': 'string', 'enum': ['none', 'auto']}]}


# Before 2.37 a network uuid is checked by the handler (Nova's "Bad networks format").
_NETWORKS_V21 = _network_list({'type': 'string'})
_NETWORKS_V232 = _network_list({'type': 'string'}, tag=True)
_NETWORKS_V237 = _network_choice(tag=False)
_NETWORKS_V242 = _network_choice(tag=True)
# imageRef may be empty (or absent) when a block device mapping says what to boot;
# the handler answers "Missing imageRef attribute" otherwise.
_CREATE_IMAGE_REF = {'type': ['string', 'integer']}

_CREATE = {
    'type': 'object',
    'properties': {
        'server': {
            'type': 'object',
            'properties': {
                'name': _NAME,
                'imageRef': _CREATE_IMAGE_REF,
                'flavorRef': _REF,
                'adminPass': {'type': 'string'},
                'metadata': _METADATA,
                'networks': _NETWORKS_V21,
                'block_device_mapping': bdm.LEGACY,
                'block_device_mapping_v2': bdm.V2,
                'accessIPv4': _IP4,
                'accessIPv6': _IP6,
                'OS-DCF:diskConfig': _DISK_CONFIG,
                'availability_zone': {'type': 'string', 'minLength': 1,
                                      'maxLength': 255},
                'key_name': {'type': 'string'},
                'user_data': _USER_DATA,
                'config_drive': _BOOLEAN,
                'security_groups': {'type': 'array', 'items': {
                    'type': 'object', 'properties': {'name': {'type': 'string'}},
                    'additionalProperties': False}},
                'min_count': {'type': ['integer', 'string'], 'pattern': '^[0-9]+$',
                              'minimum': 1},
                'max_count': {'type': ['integer', 'string'], 'pattern': '^[0-9]+$',
                              'minimum': 1},
                'return_reservation_id': _BOOLEAN,
                'personality': _PERSONALITY,
            },
            'required': ['name', 'flavorRef'],
            'additionalProperties': False,
        },
        'os:scheduler_hints': {'type': 'object'},
        'OS-SCH-HNT:scheduler_hints': {'type': 'object'},
    },
    'required': ['server'],
    'additionalProperties': False,
}

_REBUILD = {
    'type': 'object',
    'properties': {
        'rebuild': {
            'type': 'object',
            'properties': {
                'name': _NAME,
                'imageRef': _REF,
                'adminPass': {'type': 'string'},
                'metadata': _METADATA,
                'preserve_ephemeral': {'type': 'boolean'},
                'accessIPv4': _IP4,
                'accessIPv6': _IP6,
                'OS-DCF:diskConfig': _DISK_CONFIG,
                'personality': _PERSONALITY,
            },
            'required': ['imageRef'],
            'additionalProperties': False,
        },
    },
    'required': ['rebuild'],
    'additionalProperties': False,
}


def _derive(schema, key, add=None, drop=(), require=()):
    """A copy of ``schema`` whose ``key`` object gains properties ``add``, loses
    ``drop`` and requires ``require`` too (built once, at import)."""
    schema = copy.deepcopy(schema)
    body = schema['properties'][key]
    body['properties'].update(copy.deepcopy(add or {}))
    for name in drop:
        del body['properties'][name]
    body['required'].extend(require)
    return schema


CREATE_V21 = _CREATE
CREATE_V219 = _derive(CREATE_V21, 'server', add={'description': _DESCRIPTION})
# Device tags on networks and block devices at 2.32 only, then on networks (2.33)...
CREATE_V232 = _derive(CREATE_V219, 'server', add={
    'networks': _NETWORKS_V232, 'block_device_mapping_v2': bdm.V2_TAGGED})
CREATE_V233 = _derive(CREATE_V219, 'server', add={'networks': _NETWORKS_V232})
# ...not on networks from 2.37, where networks become required...
CREATE_V237 = _derive(CREATE_V219, 'server', add={'networks': _NETWORKS_V237},
                      require=['networks'])
# ...and on both again from 2.42.
CREATE_V242 = _derive(CREATE_V237, 'server', add={
    'networks': _NETWORKS_V242, 'block_device_mapping_v2': bdm.V2_TAGGED})
CREATE_V252 = _derive(CREATE_V242, 'server', add={'tags': _TAGS})
CREATE_V257 = _derive(CREATE_V252, 'server', drop=['personality'])

CREATE = [
    (mv.MIN, mv.V2_18, CREATE_V21),
    (mv.V2_19, mv.V2_31, CREATE_V219),
    (mv.V2_32, mv.V2_32, CREATE_V232),
    (mv.V2_33, mv.V2_36, CREATE_V233),
    (mv.V2_37, mv.V2_41, CREATE_V237),
    (mv.V2_42, mv.V2_51, CREATE_V242),
    (mv.V2_52, mv.V2_56, CREATE_V252),
    (mv.V2_57, mv.MAX, CREATE_V257),
]

REBUILD_V21 = _REBUILD
REBUILD_V219 = _derive(REBUILD_V21, 'rebuild', add={'description': _DESCRIPTION})
REBUILD_V254 = _derive(REBUILD_V219, 'rebuild',
                       add={'key_name': {'type': ['string', 'null']}})
REBUILD_V257 = _derive(REBUILD_V254, 'rebuild', drop=['personality'],
                       add={'user_data': dict(_USER_DATA, type=['string', 'null'])})

REBUILD = [
    (mv.MIN, mv.V2_18, REBUILD_V21),
    (mv.V2_19, mv.V2_53, REBUILD_V219),
    (mv.V2_54, mv.V2_56, REBUILD_V254),
    (mv.V2_57, mv.MAX, REBUILD_V257),
]

# PUT /servers/{id}: what may change of a server (Nova's update schemas; "hostname"
# comes at 2.90, past inject-api's maximum).
_UPDATE = {
    'type': 'object',
    'properties': {
        'server': {
            'type': 'object',
            'properties': {
                'name': _NAME,
                'OS-DCF:diskConfig': _DISK_CONFIG,
                'accessIPv4': _IP4,
                'accessIPv6': _IP6,
            },
            'additionalProperties': False,
        },
    },
    'required': ['server'],
    'additionalProperties': False,
}

UPDATE_V21 = _UPDATE
UPDATE_V219 = copy.deepcopy(UPDATE_V21)
UPDATE_V219['properties']['server']['properties']['description'] = _DESCRIPTION

UPDATE = [
    (mv.MIN, mv.V2_18, UPDATE_V21),
    (mv.V2_19, mv.MAX, UPDATE_V219),
]

# /servers/{id}/metadata: POST (merge) and PUT (replace all) take the whole set;
# PUT /servers/{id}/metadata/{key} exactly one item, whose key is the URL's (the
# handler says so when there are more, in Nova's words).
METADATA = {
    'type': 'object',
    'properties': {'metadata': _METADATA},
    'required': ['metadata'],
    'additionalProperties': False,
}

METADATA_ITEM = {
    'type': 'object',
    'properties': {'meta': dict(_METADATA, minProperties=1)},
    'required': ['meta'],
    'additionalProperties': False,
}
