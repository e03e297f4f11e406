"""Fixtures shared by the unit tests: the fake guestfs module and oslo.config."""

import sys

import pytest

from tests.unit import fakeguestfs


@pytest.fixture(autouse=True)
def admission(monkeypatch, tmp_path_factory):
    """A fresh launch-time memory check per test, reading a meminfo of 64 GB available
    (``admission.meminfo``: write another there); nothing started carries over."""
    from inject.appliance import memory
    path = tmp_path_factory.mktemp('admission') / 'meminfo'
    path.write_text('MemTotal: 67108864 kB\nMemAvailable: 67108864 kB\n')
    fresh = memory.Admission(meminfo=str(path))
    monkeypatch.setattr(memory, 'ADMISSION', fresh)
    return fresh


@pytest.fixture
def fake_guestfs(monkeypatch):
    """The fake ``guestfs`` module, installed as ``guestfs`` and emptied."""
    fakeguestfs.reset()
    monkeypatch.setitem(sys.modules, 'guestfs', fakeguestfs)
    yield fakeguestfs
    fakeguestfs.reset()


@pytest.fixture
def conf():
    """inject's CONF, parsed once with no config file."""
    from inject import conf as inject_conf
    CONF = inject_conf.register_opts(inject_conf.CONF)
    if getattr(CONF, '_namespace', None) is None:     # parse only once per process
        CONF([], project='inject', default_config_files=[])
    return CONF


@pytest.fixture
def override(conf):
    """``override(name, value, group=None)``: CONF.set_override, cleared afterwards."""
    done = []

    def set_override(name, value, group=None):
        conf.set_override(name, value, group)
        done.append((name, group))

    yield set_override
    for name, group in reversed(done):
        conf.clear_override(name, group)
