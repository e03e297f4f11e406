"""Request bodies of server create and rebuild at a microversion (Nova's schemas,
restricted to what inject-api can honour)."""

import copy

_NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255}
_DESCRIPTION = {'type': ['string', 'null'], 'minLength': 0, 'maxLength': 255}
_METADATA = {'type': 'object',
             'patternProperties': {'^.{1,255}$': {'type': 'string', 'maxLength': 255}},
             'additionalProperties': False}
_PERSONALITY = {'type': 'array', 'items': {
    'type': 'object',
    'properties': {'path': {'type': 'string'},
                   'contents': {'type': 'string', 'format': 'base64'}},
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
_NETWORKS = {'oneOf': [
    {'type': 'array', 'items': {'type': 'object', 'properties': {
        'fixed_ip': {'type': 'string'}, 'port': {'type': ['string', 'null']},
        'uuid': {'type': 'string'}, 'tag': {'type': 'string'}},
        'additionalProperties': False}},
    {'type': 'string', 'enum': ['none', 'auto']}]}

_CREATE = {
    'type': 'object',
    'properties': {
        'server': {
            'type': 'object',
            'properties': {
                'name': _NAME,
                'imageRef': _REF,
                'flavorRef': _REF,
                'adminPass': {'type': 'string'},
                'metadata': _METADATA,
                'networks': _NETWORKS,
                'accessIPv4': _IP4,
                'accessIPv6': _IP6,
                'OS-DCF:diskConfig': _DISK_CONFIG,
                'availability_zone': {'type': 'string', 'minLength': 1,
                                      'maxLength': 255},
                'key_name': {'type': 'string'},
                'user_data': _USER_DATA,
                'config_drive': {'type': ['boolean', 'string']},
                'security_groups': {'type': 'array', 'items': {
                    'type': 'object', 'properties': {'name': {'type': 'string'}},
                    'additionalProperties': False}},
                'min_count': {'type': ['integer', 'string'], 'pattern': '^[0-9]+$',
                              'minimum': 1},
                'max_count': {'type': ['integer', 'string'], 'pattern': '^[0-9]+$',
                              'minimum': 1},
                'return_reservation_id': {'type': ['boolean', 'string']},
                'personality': _PERSONALITY,
            },
            'required': ['name', 'imageRef', 'flavorRef'],
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


def create(req):
    schema = copy.deepcopy(_CREATE)
    server = schema['properties']['server']
    if req.at_least('2.19'):
        server['properties']['description'] = _DESCRIPTION
    if req.at_least('2.37'):
        server['required'].append('networks')
    if req.at_least('2.52'):
        server['properties']['tags'] = _TAGS
    if req.at_least('2.57'):
        del server['properties']['personality']
    return schema


def rebuild(req):
    schema = copy.deepcopy(_REBUILD)
    props = schema['properties']['rebuild']['properties']
    if req.at_least('2.19'):
        props['description'] = _DESCRIPTION
    if req.at_least('2.54'):
        props['key_name'] = {'type': ['string', 'null']}
    if req.at_least('2.57'):
        del props['personality']
        props['user_data'] = dict(_USER_DATA, type=['string', 'null'])
    return schema
