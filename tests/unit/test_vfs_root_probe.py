"""inject_partition=-1 without inspect_os: the quick root probe and when it gives way."""

import pytest

from inject import exception
from inject.vfs import guestfs as vfs_guestfs
from tests.unit import fakeguestfs
from tests.unit.fakeguestfs import Disk
from tests.unit.fakeguestfs import d
from tests.unit.fakeguestfs import f
from tests.unit.test_vfs_guestfs import launch


def root_tree(marker, fstab=''):
    """A Linux root the probe recognises: /etc with fstab and os-release."""
    tree = fakeguestfs.linux_tree()
    tree.update({'/marker': f(marker), '/boot': d(), '/var': d(), '/boot/efi': d(),
                 '/etc/fstab': f(fstab), '/etc/os-release': f('ID=debian\n')})
    return tree


def plain(marker):
    return {'/': d(), '/marker': f(marker)}


def test_one_root_is_mounted_without_inspection(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({1: root_tree('root')})])
    fs = appliance.mount(0, -1, 'd0')
    assert fs.source == 'root probe'
    assert fs.mountpoints == (('/', '/dev/sda1'),)
    assert fs.layout == (('/', 'part:1'),)
    assert fs.read('/marker') == b'root'
    assert g.called('inspect_os') == []
    assert g.called('mount_ro') == [('/dev/sda1', '/')]     # looked at read-only first


def test_unpartitioned_root_is_found(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({0: root_tree('whole')})])
    fs = appliance.mount(0, -1, 'd0')
    assert (fs.source, fs.layout) == ('root probe', (('/', 'whole'),))
    assert g.called('inspect_os') == []


def test_root_among_other_filesystems(fake_guestfs):
    disk = Disk({1: plain('boot'), 2: {}, 3: root_tree('root'), 4: plain('data')},
                types={1: 'ext4', 2: 'swap', 4: 'vfat'})
    appliance, g = launch(fake_guestfs, [disk])
    fs = appliance.mount(0, -1, 'd0')
    assert fs.mountpoints == (('/', '/dev/sda3'),)
    assert g.called('inspect_os') == []
    # only Linux root filesystem types are mounted to look
    assert [dev for dev, _ in g.called('mount_ro')] == ['/dev/sda1', '/dev/sda3']


FSTAB = """# /etc/fstab: static file system information.
UUID=1111-root  /          ext4  errors=remount-ro 0 1
LABEL=BOOT      /boot      ext4  defaults          0 2
PARTUUID=ABCD-04 /boot/efi vfat  umask=0077        0 1
/dev/disk/by-label/VAR /var ext4 defaults 0 2
UUID=5555-swap  none       swap  sw                0 0
tmpfs           /tmp       tmpfs defaults          0 0
proc            /proc      proc  defaults          0 0
LABEL=EXTRA     /mnt/usb   ext4  noauto            0 0
/srv            /export    none  bind              0 0
server:/home    /home      nfs   defaults          0 0
"""


def split_disk():
    boot = dict(plain('boot'), **{'/efi': d()})
    return Disk({1: boot, 2: root_tree('root', FSTAB), 3: plain('var'),
                 4: plain('efi'), 5: {}},
                types={4: 'vfat', 5: 'swap'},
                tags={1: {'LABEL': 'BOOT', 'UUID': '2222'},
                      2: {'UUID': '1111-ROOT'},
                      3: {'LABEL': 'VAR'},
                      4: {'PARTUUID': 'abcd-04', 'UUID': 'AB-CD'},
                      5: {'UUID': '5555-swap'}})


def test_fstab_filesystems_on_the_disk_are_mounted_like_inspection_would(fake_guestfs):
    appliance, g = launch(fake_guestfs, [split_disk()])
    fs = appliance.mount(0, -1, 'd0')
    assert fs.source == 'root probe'
    assert fs.mountpoints == (('/', '/dev/sda2'), ('/var', '/dev/sda3'),
                              ('/boot', '/dev/sda1'), ('/boot/efi', '/dev/sda4'))
    assert fs.layout == (('/', 'part:2'), ('/var', 'part:3'), ('/boot', 'part:1'),
                         ('/boot/efi', 'part:4'))
    assert fs.read('/boot/marker') == b'boot' and fs.read('/var/marker') == b'var'
    assert fs.read('/boot/efi/marker') == b'efi'
    assert g.called('inspect_os') == []


@pytest.mark.parametrize('line', [
    '/dev/sda3 /var ext4 defaults 0 2',          # a kernel name: inspection maps those
    'UUID=9999 /var ext4 defaults 0 2',          # not on this disk
    '/dev/mapper/vg-var /var ext4 defaults 0 2',
])
def test_an_fstab_entry_it_cannot_resolve_means_inspection(fake_guestfs, line):
    disk = Disk({1: root_tree('root', 'LABEL=R / ext4 defaults 0 1\n' + line + '\n'),
                 3: plain('var')}, tags={3: {'UUID': '3333'}}, roots={1: {'/': 1, '/var': 3}})
    appliance, g = launch(fake_guestfs, [disk])
    fs = appliance.mount(0, -1, 'd0')
    assert fs.source == 'inspection' and len(g.called('inspect_os')) == 1
    assert fs.mountpoints == (('/', '/dev/sda1'), ('/var', '/dev/sda3'))


def test_two_roots_mean_inspection(fake_guestfs):
    disk = Disk({1: root_tree('one'), 2: root_tree('two')},
                roots={1: {'/': 1}, 2: {'/': 2}})
    appliance, g = launch(fake_guestfs, [disk])
    with pytest.raises(exception.SeveralOperatingSystems):
        appliance.mount(0, -1, 'd0')
    assert len(g.called('inspect_os')) == 1


def test_no_root_means_inspection(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({1: plain('data')})])
    with pytest.raises(exception.NoOperatingSystem):
        appliance.mount(0, -1, 'd0')
    assert len(g.called('inspect_os')) == 1
    assert g.mounts == {}


@pytest.mark.parametrize('fstype', ['LVM2_member', 'linux_raid_member', 'crypto_LUKS'])
def test_lvm_raid_or_luks_mean_inspection_before_mounting_anything(fake_guestfs, fstype):
    disk = Disk({1: root_tree('root'), 2: {}}, types={2: fstype}, roots={1: {'/': 1}})
    appliance, g = launch(fake_guestfs, [disk])
    fs = appliance.mount(0, -1, 'd0')
    assert fs.source == 'inspection'
    assert g.called('mount_ro') == []


def test_lvm_disk_is_inspected(fake_guestfs):
    disk = Disk({1: plain('boot')}, lvs={'/dev/vg0/root': root_tree('lv')}, pv=2,
                roots={'/dev/vg0/root': {'/': '/dev/vg0/root', '/boot': 1}})
    appliance, g = launch(fake_guestfs, [disk])
    fs = appliance.mount(0, -1, 'd0')
    assert fs.source == 'inspection'
    assert fs.mountpoints == (('/', '/dev/vg0/root'), ('/boot', '/dev/sda1'))


def test_the_probe_looks_only_at_its_own_drive(fake_guestfs):
    # drive 0 has no root of its own; drive 1's root must not be taken for it
    appliance, g = launch(fake_guestfs, [Disk({1: plain('data')}),
                                         Disk({1: root_tree('other')})])
    with pytest.raises(exception.NoOperatingSystem):
        appliance.mount(0, -1, 'd0')
    fs = appliance.mount(1, -1, 'd1')
    assert fs.mountpoints == (('/', '/dev/sdb1'),) and fs.source == 'root probe'
    assert all(dev.startswith('/dev/sdb') for dev, _ in g.called('mount_ro')[-1:])


def test_etc_without_os_markers_is_not_a_root(fake_guestfs):
    tree = fakeguestfs.linux_tree()     # /etc but no fstab or os-release
    appliance, g = launch(fake_guestfs, [Disk({1: tree}, roots={1: {'/': 1}})])
    fs = appliance.mount(0, -1, 'd0')
    assert fs.source == 'inspection'


def test_usr_lib_os_release_is_enough(fake_guestfs):
    tree = fakeguestfs.linux_tree()
    tree.update({'/usr': d(), '/usr/lib': d(), '/usr/lib/os-release': f('ID=x\n')})
    appliance, g = launch(fake_guestfs, [Disk({1: tree})])
    assert appliance.mount(0, -1, 'd0').source == 'root probe'


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
    assert vfs_guestfs.fstab_mounts(text) == expected


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
    assert vfs_guestfs._matches(spec, tags) is match
