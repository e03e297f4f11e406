"""The test servers ``tools/setup.sh test`` starts (PostgreSQL, RabbitMQ, Keystone) or
unpacks (cloud-init), found through the environment variables their scripts print."""

import os

import pytest


def required(variable, what, script):
    """The value of ``variable``. Unset: the test is skipped, naming ``script``; under
    CI (which runs tools/setup.sh test) it fails instead, so a missing server is never
    a silently skipped real component."""
    value = os.environ.get(variable)
    if value:
        return value
    if os.environ.get('CI'):
        pytest.fail('%s is not set: run %s (tools/setup.sh test does)' % (variable, script))
    pytest.skip('no %s: set %s (%s prints it)' % (what, variable, script))
