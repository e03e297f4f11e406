"""Fixtures every test directory may use: ``keystone``, the identity layout of
tests/keystone.py on the real Keystone that tools/keystone.sh starts on loopback (its
URL comes in INJECT_TEST_KEYSTONE_URL; tools/setup.sh test sets it). Without it the
tests that use the fixture are skipped, and under CI they fail instead.

A run that leaves out a real service (tests/services.py: skipped for want of it, or
deselected by ``-m`` as tox does) says which, and how many tests, in its summary line
(``without PostgreSQL``...) and in a section above it; ``tools/setup.sh test`` runs
them all."""

import collections
import os

import pytest

from tests import keystone as keystone_layout
from tests import services

# Fixtures that need a real service: the marker their tests get.
_FIXTURE_MARKERS = {'keystone': 'keystone', 'cloudinit_dir': 'cloudinit',
                    'postgresql_url': 'postgresql'}
_deselected = collections.Counter()      # service -> tests deselected


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in _FIXTURE_MARKERS.items():
            if fixture in getattr(item, 'fixturenames', ()):
                item.add_marker(getattr(pytest.mark, marker))


class _Markers(dict):
    """Names of an expression of ``-m``: whether the item carries that marker."""

    def __init__(self, item):
        super().__init__()
        self.item = item

    def __missing__(self, name):
        return self.item.get_closest_marker(name) is not None


def _left_out_by_m(item):
    """Whether ``-m``'s expression leaves ``item`` out (``-k`` says nothing about
    services)."""
    expression = item.config.option.markexpr
    if not expression:
        return False
    try:
        return not eval(compile(expression, '-m', 'eval'), {'__builtins__': {}},
                        _Markers(item))
    except Exception:       # an expression with marker arguments: not ours to read
        return False


def pytest_deselected(items):
    for item in items:
        if not _left_out_by_m(item):
            continue
        for marker, service in services.MARKERS.items():
            if item.get_closest_marker(marker) is not None:
                _deselected[service] += 1


def _skipped_for_want(terminalreporter):
    """service -> tests skipped because it is missing (their skip reason says so)."""
    missing = collections.Counter()
    for report in terminalreporter.stats.get('skipped', ()):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ''
        if services.MISSING in reason:
            name = reason.split(services.MISSING, 1)[1].split(' (', 1)[0]
            missing[name] += 1
    return missing


def pytest_terminal_summary(terminalreporter):
    skipped = _skipped_for_want(terminalreporter)
    without = skipped + _deselected
    if not without:
        return
    terminalreporter.section('real services not used in this run', sep='!',
                             yellow=True, bold=True)
    for service, count in sorted(without.items()):
        how = []
        if skipped[service]:
            how.append('%d skipped for want of it' % skipped[service])
        if _deselected[service]:
            how.append('%d deselected by -m' % _deselected[service])
        terminalreporter.line('%s: %s' % (service, ', '.join(how)), yellow=True,
                              bold=True)
        # a part of the summary line: "... 120 without PostgreSQL"
        terminalreporter.stats.setdefault('without ' + service, []).extend(
            [None] * count)
    terminalreporter.line('bash tools/setup.sh test runs every test with every real '
                          'service.', yellow=True)


@pytest.fixture(scope='session')
def keystone():
    """The layout dict of :func:`tests.keystone.ensure_layout` (URL, projects, roles,
    users with passwords); pass it to tests.keystone.token/session/access."""
    url = services.required('INJECT_TEST_KEYSTONE_URL', 'Keystone', 'tools/keystone.sh')
    password = os.environ.get('INJECT_TEST_KEYSTONE_ADMIN_PASSWORD',
                              keystone_layout.DEFAULT_ADMIN_PASSWORD)
    return keystone_layout.ensure_layout(url, password)
