"""Appliance device names and drive-relative layouts (inject.vfs.devices): pure."""

import pytest

from inject.vfs import devices


@pytest.mark.parametrize('index, name', [
    (0, '/dev/sda'), (1, '/dev/sdb'), (2, '/dev/sdc'), (25, '/dev/sdz'),
    (26, '/dev/sdaa'), (27, '/dev/sdab')])
def test_device_name(index, name):
    assert devices.device_name(index) == name


def test_device_name_beyond_two_letters():
    assert devices.device_name(26 + 26 * 26) == '/dev/sdaaa'


@pytest.mark.parametrize('index, dev, spec', [
    (0, '/dev/sda', 'whole'),
    (0, '/dev/sda1', 'part:1'),
    (1, '/dev/sdb12', 'part:12'),
    (27, '/dev/sdab3', 'part:3'),
    (0, '/dev/vg0/root', 'lv:vg0/root'),
    (2, '/dev/my.vg-1/lv_root+x', 'lv:my.vg-1/lv_root+x'),
    (0, '/dev/mapper/vg-root', 'lv:mapper/vg-root'),
])
def test_relative_and_absolute_round_trip(index, dev, spec):
    device = devices.device_name(index)
    assert devices.relative(device, dev) == spec
    assert devices.absolute(device, spec) == dev


def test_relative_specs_move_with_the_drive():
    absolute = devices.absolute
    assert [absolute(d, 'part:2') for d in ('/dev/sda', '/dev/sdb', '/dev/sdaa')] == [
        '/dev/sda2', '/dev/sdb2', '/dev/sdaa2']
    assert absolute('/dev/sdd', 'whole') == '/dev/sdd'
    assert absolute('/dev/sdd', 'lv:vg/lv') == '/dev/vg/lv'


def test_a_partition_of_another_drive_is_not_taken_for_this_one():
    # /dev/sdab1 is partition 1 of drive 27, not a partition of /dev/sda
    assert devices.relative('/dev/sda', '/dev/sdab1') != 'part:b1'
    assert not devices.relative('/dev/sda', '/dev/sdab1').startswith('part:')


@pytest.mark.parametrize('spec', ['part:x', 'part:', 'lv:vg', 'lv:a/b/c', 'nfs:x', '',
                                  'lv:../x'])
def test_absolute_refuses_bad_specs(spec):
    with pytest.raises(ValueError, match='not a device spec'):
        devices.absolute('/dev/sda', spec)



@pytest.mark.parametrize('device, dev, number', [
    ('/dev/sda', '/dev/sda1', 1),
    ('/dev/sda', '/dev/sda12', 12),
    ('/dev/sdab', '/dev/sdab3', 3),
    ('/dev/sda', '/dev/sda', None),          # the drive itself
    ('/dev/sda', '/dev/sdab1', None),        # partition 1 of another drive
    ('/dev/sda', '/dev/sdb1', None),
    ('/dev/sda', '/dev/vg0/root', None),
    ('/dev/sda', '/dev/sda1x', None),
    ('/dev/sd.', '/dev/sdx1', None),         # the drive name is not a pattern
])
def test_partition_number(device, dev, number):
    assert devices.partition_number(device, dev) == number
