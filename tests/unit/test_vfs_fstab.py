"""Reading /etc/fstab text (inject.vfs.fstab): pure functions, no appliance, no fake."""

import pytest

from inject.vfs import fstab


@pytest.mark.parametrize('text, expected', [
    ('', []),
    ('UUID=a / ext4 defaults 0 1\n', []),
    ('UUID=a /boot ext4 defaults 0 2', [('UUID=a', '/boot')]),
    ('  LABEL=x\t/srv/my\\040data  xfs  defaults  0 0  # comment',
     [('LABEL=x', '/srv/my data')]),
    ('# UUID=a /boot ext4\n', []),
    ('UUID=a /boot\n', [('UUID=a', '/boot')]),
    ('UUID=a none swap sw 0 0\nUUID=b swap swap sw\n', []),
    ('/dev/sdb1 /mnt ext4 defaults,noauto 0 0\n', []),
    ('/a /b none rbind\n', []),
    ('broken-line\n', []),
])
def test_fstab_mounts(text, expected):
    assert fstab.mounts(text) == expected


@pytest.mark.parametrize('spec, tags, match', [
    ('UUID=ABC', {'UUID': 'abc'}, True),
    ('UUID="abc"', {'UUID': 'abc'}, True),
    ('LABEL=Root', {'LABEL': 'root'}, False),    # labels are case-sensitive
    ('LABEL=root', {'LABEL': 'root'}, True),
    ('PARTUUID=x-1', {'PARTUUID': 'X-1'}, True),
    ('PARTLABEL=esp', {'PARTLABEL': 'esp'}, True),
    ('/dev/disk/by-uuid/abc', {'UUID': 'abc'}, True),
    ('/dev/disk/by-label/root', {'LABEL': 'root'}, True),
    ('/dev/disk/by-id/abc', {'UUID': 'abc'}, False),
    ('UUID=abc', {}, False),
    ('/dev/sda1', {'UUID': '/dev/sda1'}, False),
])
def test_spec_matching(spec, tags, match):
    assert fstab.matches(spec, tags) is match


@pytest.mark.parametrize('spec, tag', [
    ('UUID=abc', ('UUID', 'abc')),
    ("LABEL='my root'", ('LABEL', 'my root')),
    ('PARTLABEL="esp"', ('PARTLABEL', 'esp')),
    ('/dev/disk/by-partuuid/x-1', ('PARTUUID', 'x-1')),
    ('/dev/disk/by-partlabel/esp', ('PARTLABEL', 'esp')),
    ('ID=abc', None),                         # not a tag blkid reports
    ('/dev/disk/by-path/pci-0', None),
    ('/dev/sda1', None),
    ('server:/home', None),
])
def test_spec_tag(spec, tag):
    assert fstab.spec_tag(spec) == tag


def test_mounts_of_a_typical_fstab():
    text = """# <file system> <mount point> <type> <options> <dump> <pass>
UUID=1111 / ext4 errors=remount-ro 0 1
UUID=2222 /boot ext4 defaults 0 2
PARTUUID=ab-01 /boot/efi vfat umask=0077 0 1
/dev/disk/by-label/VAR /var xfs defaults 0 2
UUID=3333 none swap sw 0 0
tmpfs /tmp tmpfs defaults 0 0
LABEL=USB /media/usb ext4 noauto,user 0 0
/srv /export none bind 0 0
server:/home /home nfs defaults 0 0
"""
    assert fstab.mounts(text) == [('UUID=2222', '/boot'), ('PARTUUID=ab-01', '/boot/efi'),
                                  ('/dev/disk/by-label/VAR', '/var')]
