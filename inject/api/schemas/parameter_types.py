"""Value types several request schemas share (Nova's parameter_types)."""

# JSON booleans and their usual spellings.
BOOLEAN = {'type': ['boolean', 'string'],
           'enum': [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes',
                    'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off',
                    'NO', 'No', 'no']}

# A host name as the services table keeps it (underscores allowed, as Nova's fqdn).
FQDN = {'type': 'string', 'pattern': '^[a-zA-Z0-9-._]*$', 'minLength': 1,
        'maxLength': 255}


def single_param(schema):
    """A query parameter given at most once, whose value satisfies ``schema``."""
    return {'type': 'array', 'items': schema, 'maxItems': 1}
