"""Fixtures every test directory may use: ``keystone``, the identity layout of
tests/keystone.py on the real Keystone that tools/keystone.sh starts on loopback (its
URL comes in INJECT_TEST_KEYSTONE_URL; tools/setup.sh test sets it). Without it the
tests that use the fixture are skipped, and under CI they fail instead."""

import os

import pytest

from tests import keystone as keystone_layout
from tests import services


def pytest_collection_modifyitems(items):
    for item in items:
        if 'keystone' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.keystone)


@pytest.fixture(scope='session')
def keystone():
    """The layout dict of :func:`tests.keystone.ensure_layout` (URL, projects, roles,
    users with passwords); pass it to tests.keystone.token/session/access."""
    url = services.required('INJECT_TEST_KEYSTONE_URL', 'Keystone', 'tools/keystone.sh')
    password = os.environ.get('INJECT_TEST_KEYSTONE_ADMIN_PASSWORD',
                              keystone_layout.DEFAULT_ADMIN_PASSWORD)
    return keystone_layout.ensure_layout(url, password)
