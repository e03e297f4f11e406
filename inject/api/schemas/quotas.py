"""Request bodies of os-quota-sets and os-quota-class-sets updates (Nova's schemas:
an integer or its text, -1 to 2**31-1; unknown keys are refused, so injected_* at
>= 2.57 and network quotas at >= 2.36 answer 400)."""

_LIMIT = {'type': ['integer', 'string'], 'pattern': '^-?[0-9]+$',
          'minimum': -1, 'maximum': 0x7FFFFFFF}


def update(resources, key, allow_force):
    props = {name: _LIMIT for name in resources}
    if allow_force:
        props['force'] = {'type': ['boolean', 'string'],
                          'enum': [True, False, 'True', 'False', 'true', 'false']}
    return {'type': 'object',
            'properties': {key: {'type': 'object', 'properties': props,
                                 'additionalProperties': False}},
            'required': [key], 'additionalProperties': False}
