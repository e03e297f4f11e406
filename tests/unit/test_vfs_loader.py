import sys

import pytest

from inject import exception
from inject import vfs
from inject.vfs import guestfs as vfs_guestfs


def test_load_driver_with_fake_module(fake_guestfs):
    driver = vfs.load_driver()
    assert isinstance(driver, vfs_guestfs.GuestFSDriver)
    assert driver._guestfs is fake_guestfs
    assert driver.version() == '1.48.6'


def test_load_driver_by_name(fake_guestfs):
    assert isinstance(vfs.load_driver('guestfs'), vfs_guestfs.GuestFSDriver)


def test_guestfs_not_importable(monkeypatch):
    monkeypatch.setitem(sys.modules, 'guestfs', None)     # import guestfs -> ImportError
    with pytest.raises(exception.VFSDriverUnavailable) as e:
        vfs.load_driver()
    message = str(e.value)
    assert 'python3-guestfs' in message
    assert 'libguestfs Python binding cannot be imported' in message


def test_unknown_driver_name(fake_guestfs):
    with pytest.raises(exception.VFSDriverUnavailable) as e:
        vfs.load_driver('localfs')
    assert "no driver named 'localfs'" in str(e.value)
    assert 'inject.vfs' in str(e.value)


def test_other_load_errors_are_wrapped(fake_guestfs, monkeypatch):
    def broken(self):
        raise ValueError('boom')
    monkeypatch.setattr(vfs_guestfs.GuestFSDriver, '__init__', broken)
    with pytest.raises(exception.VFSDriverUnavailable) as e:
        vfs.load_driver()
    assert 'inject.vfs.guestfs:GuestFSDriver' in str(e.value)
    assert 'ValueError: boom' in str(e.value)
