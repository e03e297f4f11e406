"""The real services the tests use: the servers ``tools/setup.sh test`` starts
(PostgreSQL, RabbitMQ, Keystone) or unpacks (cloud-init), found through the
environment variables their scripts print; the real appliance and the real client
processes, selected by their markers. A run without some of them says so, loudly, in
its summary (tests/conftest.py)."""

import os

import pytest

#: Markers of tests that use a real service, and the service's name in the summary.
MARKERS = {
    'integration': 'the real appliance',
    'clients': 'real clients',
    'postgresql': 'PostgreSQL',
    'keystone': 'Keystone',
    'cloudinit': 'cloud-init',
}
#: The skip reason of a test whose service is missing starts with this, then its name.
MISSING = 'real service missing: '


def required(variable, what, script):
    """The value of ``variable``. Unset: the test is skipped, naming ``script``; under
    CI (which runs tools/setup.sh test) it fails instead, so a missing server is never
    a silently skipped real component."""
    value = os.environ.get(variable)
    if value:
        return value
    if os.environ.get('CI'):
        pytest.fail('%s is not set: run %s (tools/setup.sh test does)' % (variable, script))
    pytest.skip('%s%s (set %s: %s prints it)' % (MISSING, what, variable, script))
