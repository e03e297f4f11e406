"""Requests of os-services (Nova's schemas): the update bodies per version range, in
the ``UPDATE`` table of ``(min, max, schema)`` rows, and the list's query."""

import copy

from inject.api import microversion as mv
from inject.api.schemas import parameter_types as types

_REASON = {'type': 'string', 'minLength': 1, 'maxLength': 255}

# Before 2.53: PUT /os-services/{action} naming the service by host and binary.
_UPDATE_V21 = {
    'type': 'object',
    'properties': {
        'host': types.FQDN,
        'binary': {'type': 'string', 'minLength': 1, 'maxLength': 255},
        'disabled_reason': _REASON,
    },
    'required': ['host', 'binary'],
    'additionalProperties': False,
}

_UPDATE_V211 = copy.deepcopy(_UPDATE_V21)
_UPDATE_V211['properties']['forced_down'] = types.BOOLEAN

# From 2.53: PUT /os-services/{uuid}, a flat body, nothing required.
_UPDATE_V253 = {
    'type': 'object',
    'properties': {
        'status': {'type': 'string', 'enum': ['enabled', 'disabled']},
        'disabled_reason': _REASON,
        'forced_down': types.BOOLEAN,
    },
    'additionalProperties': False,
}

UPDATE = [
    (mv.MIN, mv.V2_10, _UPDATE_V21),
    (mv.V2_11, mv.V2_52, _UPDATE_V211),
    (mv.V2_53, mv.MAX, _UPDATE_V253),
]

# GET /os-services: exact host and binary filters; other parameters are ignored.
INDEX_QUERY = {
    'type': 'object',
    'properties': {
        'host': {'type': 'array', 'items': {'type': 'string'}},
        'binary': {'type': 'array', 'items': {'type': 'string'}},
    },
    'additionalProperties': True,
}
