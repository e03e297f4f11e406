"""Request bodies of os-keypairs create (Nova's schemas): a name of letters, digits,
``_``, ``-`` and spaces (not starting or ending with a space), 1 to 255 characters; an
optional ``public_key`` (import); ``type`` (``ssh`` or ``x509``) from 2.2; ``user_id``
(administrators: a key pair for another user) from 2.10. Table ``CREATE`` of
``(min, max, schema)`` rows."""

import copy

from inject.api import microversion as mv

# Nova's keypair_name_special_chars: its allowed characters, and its "name" format
# (no leading or trailing whitespace).
NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255,
        'pattern': r'^(?! )[_\- a-zA-Z0-9]+(?<! )$'}
TYPE = {'type': 'string', 'enum': ['ssh', 'x509']}

_CREATE_V21 = {
    'type': 'object',
    'properties': {
        'keypair': {
            'type': 'object',
            'properties': {'name': NAME, 'public_key': {'type': 'string'}},
            'required': ['name'],
            'additionalProperties': False,
        },
    },
    'required': ['keypair'],
    'additionalProperties': False,
}

_CREATE_V22 = copy.deepcopy(_CREATE_V21)
_CREATE_V22['properties']['keypair']['properties']['type'] = TYPE

_CREATE_V210 = copy.deepcopy(_CREATE_V22)
_CREATE_V210['properties']['keypair']['properties']['user_id'] = {'type': 'string'}

CREATE = [
    (mv.MIN, mv.V2_1, _CREATE_V21),
    (mv.V2_2, mv.V2_9, _CREATE_V22),
    (mv.V2_10, mv.MAX, _CREATE_V210),
]
