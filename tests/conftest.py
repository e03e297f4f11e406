"""Fixtures every test directory may use: ``keystone``, the identity layout of
tests/keystone.py on the real Keystone that tools/keystone.sh starts on loopback (its
URL comes in INJECT_TEST_KEYSTONE_URL; tools/setup.sh test sets it). Without it the
tests that use the fixture are skipped, and under CI they fail instead."""

import os

import pytest

from tests import keystone as keystone_layout


def pytest_collection_modifyitems(items):
    for item in items:
        if 'keystone' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.keystone)


@pytest.fixture(scope='session')
def keystone():
    """The layout dict of :func:`tests.keystone.ensure_layout` (URL, projects, roles,
    users with passwords); pass it to tests.keystone.token/session/access."""
    url = os.environ.get('INJECT_TEST_KEYSTONE_URL')
    if not url:
        if os.environ.get('CI'):
            pytest.fail('INJECT_TEST_KEYSTONE_URL is not set: run tools/keystone.sh '
                        '(tools/setup.sh test does)')
        pytest.skip('no Keystone: set INJECT_TEST_KEYSTONE_URL (tools/keystone.sh '
                    'prints it)')
    password = os.environ.get('INJECT_TEST_KEYSTONE_ADMIN_PASSWORD',
                              keystone_layout.DEFAULT_ADMIN_PASSWORD)
    return keystone_layout.ensure_layout(url, password)
