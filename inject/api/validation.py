"""Request bodies checked against JSON schemas, with Nova's error wording, and the
strict base64 decoding personality and user_data go through."""

import jsonschema

from inject import encoding
from inject.api import faults

decode_base64 = encoding.b64decode


_checker = jsonschema.FormatChecker()


@_checker.checks('base64', raises=ValueError)
def _is_base64(value):
    if isinstance(value, str):
        decode_base64(value)
    return True


def validate(schema, body):
    """Raise a 400 Fault unless ``body`` satisfies ``schema``."""
    validator = jsonschema.Draft4Validator(schema, format_checker=_checker)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return
    if error.path:
        path = list(error.path)
        field = path[-1]
        # Name the personality file whose contents are wrong, not just "contents".
        if len(path) >= 3 and path[-3] == 'personality' and isinstance(body, dict):
            item = _dig(body, path[:-1])
            if isinstance(item, dict) and isinstance(item.get('path'), str):
                field = '%s (personality file %s)' % (field, item['path'])
        if error.validator == 'format' and error.validator_value == 'base64':
            cause = error.cause or 'invalid'
            message = "'%s' is not valid base64: %s" % (_short(error.instance), cause)
        else:
            message = error.message
        detail = ('Invalid input for field/attribute %s. Value: %s. %s'
                  % (field, _short(error.instance), message))
    else:
        detail = error.message
    raise faults.BadRequest(detail)


def _dig(body, path):
    for key in path:
        try:
            body = body[key]
        except (KeyError, IndexError, TypeError):
            return None
    return body


def _short(value, limit=200):
    text = str(value)
    return text if len(text) <= limit else text[:limit] + '...'
