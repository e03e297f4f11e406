"""Request bodies checked against JSON schemas, with Nova's error wording.

The ``base64`` format (``user_data``) is checked with :func:`inject.encoding.b64decode`,
the one strict decoder; personality contents are decoded by
:mod:`inject.api.personality`, which words its 400 with :func:`invalid_input` too.
"""

import re

import jsonschema
from oslo_utils import uuidutils
import re2

from inject import encoding
from inject.api import faults

_checker = jsonschema.FormatChecker()


@_checker.checks('base64', raises=ValueError)
def _is_base64(value):
    if isinstance(value, str):
        encoding.b64decode(value)
    return True


@_checker.checks('uuid')
def _is_uuid(value):
    """Nova's uuid format: anything ``uuidutils.is_uuid_like`` takes (with or without
    dashes), where jsonschema's own checker wants the dashes."""
    return not isinstance(value, str) or uuidutils.is_uuid_like(value)


def validate(schema, body):
    """Raise a 400 Fault unless ``body`` satisfies ``schema``."""
    validator = jsonschema.Draft4Validator(schema, format_checker=_checker)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return
    if not error.path:
        raise faults.BadRequest(error.message)
    path = list(error.path)
    field = path[-1]
    # Name the personality file whose contents are wrong, not just "contents".
    if len(path) >= 3 and path[-3] == 'personality' and isinstance(body, dict):
        item = _dig(body, path[:-1])
        if isinstance(item, dict) and isinstance(item.get('path'), str):
            field = personality_field(field, item['path'])
    if error.validator == 'format' and error.validator_value == 'base64':
        message = not_base64(error.instance, error.cause)
    else:
        message = error.message
    raise invalid_input(field, error.instance, message)


def invalid_input(field, value, message):
    """Nova's 400 for a field whose value is wrong."""
    return faults.BadRequest('Invalid input for field/attribute %s. Value: %s. %s'
                             % (field, _short(value), message))


def personality_field(field, path):
    """``contents (personality file /etc/motd)``: a field of one personality file."""
    return '%s (personality file %s)' % (field, path)


def not_base64(value, cause):
    """Why ``value`` is refused as base64 (``cause`` is the decoder's ValueError)."""
    return "'%s' is not valid base64: %s" % (_short(value), cause or 'invalid')


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


# --- query strings --------------------------------------------------------------------

_query_checker = jsonschema.FormatChecker()


@_query_checker.checks('regex')
def _is_regex(value):
    """Nova's ``regex`` format, with RE2 (what lists match names with): the empty
    pattern and what RE2 cannot compile are refused."""
    if not isinstance(value, str):
        return True
    return bool(value) and compile_regex(value) is not None


def compile_regex(pattern):
    """``pattern`` compiled by RE2 (linear time, no backtracking), or None."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error:
        return None


def validate_query(schema, req):
    """Check ``req``'s query string against ``schema`` (Nova's query schemas: every
    parameter a list of its values) and return it as ``{name: [values]}``, without
    the parameters the schema does not name when it allows others (Nova strips
    them: they are ignored). Errors are Nova's 400 wording."""
    params = req.GET.dict_of_lists()
    validator = jsonschema.Draft4Validator(schema, format_checker=_query_checker)
    error = jsonschema.exceptions.best_match(validator.iter_errors(params))
    if error is not None:
        if error.path:
            raise faults.BadRequest(
                'Invalid input for query parameters %s. Value: %s. %s'
                % (error.path[0], _short(error.instance), error.message))
        raise faults.BadRequest(error.message)
    if schema.get('additionalProperties', True) is not False:
        patterns = [re.compile(p) for p in schema.get('patternProperties', {})]
        params = {k: v for k, v in params.items()
                  if k in schema['properties'] or any(p.match(k) for p in patterns)}
    return params
