"""Query strings of os-hypervisors (Nova's query schemas), in tables of ``(min, max,
schema)`` rows: ``INDEX`` for the list and the detail list, ``SHOW`` for one."""

from inject.api import microversion as mv
from inject.api.schemas import parameter_types as types
from inject.api.schemas import queries

_LOOSE = {'type': 'object', 'properties': {}, 'additionalProperties': True}

# 2.33: limit and marker (others are ignored).
_INDEX_V233 = {'type': 'object', 'properties': dict(queries.PAGINATION),
               'additionalProperties': True}

# 2.53: strict; a hostname pattern and with_servers.
_INDEX_V253 = {
    'type': 'object',
    'properties': {
        'limit': types.single_param(queries.NON_NEGATIVE),
        'marker': types.single_param({'type': 'string'}),
        'hypervisor_hostname_pattern': types.single_param(types.FQDN),
        'with_servers': types.single_param(types.BOOLEAN),
    },
    'additionalProperties': False,
}

_SHOW_V253 = {
    'type': 'object',
    'properties': {'with_servers': types.single_param(types.BOOLEAN)},
    'additionalProperties': False,
}

INDEX = [
    (mv.MIN, mv.V2_32, _LOOSE),
    (mv.V2_33, mv.V2_52, _INDEX_V233),
    (mv.V2_53, mv.MAX, _INDEX_V253),
]

SHOW = [
    (mv.MIN, mv.V2_52, _LOOSE),
    (mv.V2_53, mv.MAX, _SHOW_V253),
]
