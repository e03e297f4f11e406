"""Request bodies of os-quota-sets and os-quota-class-sets updates (Nova's schemas:
an integer or its text, -1 to 2**31-1; unknown keys are refused, so injected_* at
>= 2.57 and network quotas at >= 2.36 answer 400): one schema per version range of
:mod:`inject.api.quotas`' resource tables, in tables ``UPDATE_QUOTA_SET`` and
``UPDATE_QUOTA_CLASS_SET`` of ``(min, max, schema)`` rows."""

from inject.api import quotas

_LIMIT = {'type': ['integer', 'string'], 'pattern': '^-?[0-9]+$',
          'minimum': -1, 'maximum': 0x7FFFFFFF}
_FORCE = {'type': ['boolean', 'string'],
          'enum': [True, False, 'True', 'False', 'true', 'false']}


def _update(resources, key, allow_force):
    props = {name: _LIMIT for name in resources}
    if allow_force:
        props['force'] = _FORCE
    return {'type': 'object',
            'properties': {key: {'type': 'object', 'properties': props,
                                 'additionalProperties': False}},
            'required': [key], 'additionalProperties': False}


UPDATE_QUOTA_SET = [(low, high, _update(names, 'quota_set', True))
                    for low, high, names in quotas.QUOTA_SET_RESOURCES]
UPDATE_QUOTA_CLASS_SET = [(low, high, _update(names, 'quota_class_set', False))
                          for low, high, names in quotas.QUOTA_CLASS_RESOURCES]
