"""What to mount (inject.vfs.roots): the root probe and when it gives way to inspection,
inspection shared between drives, and a missing partition explained."""

import pytest

from inject import exception
from inject.vfs import roots
from tests.unit import fakeguestfs
from tests.unit.fakeguestfs import Disk
from tests.unit.fakeguestfs import d
from tests.unit.fakeguestfs import f
from tests.unit.test_vfs_guestfs import launch
from tests.unit.test_vfs_guestfs import simple_tree


def root_tree(marker, fstab=''):
    """A Linux root the probe recognises: /etc with fstab and os-release."""
    tree = fakeguestfs.linux_tree()
    tree.update({'/marker': f(marker), '/boot': d(), '/var': d(), '/boot/efi': d(),
                 '/etc/fstab': f(fstab), '/etc/os-release': f('ID=debian\n')})
    return tree


def plain(marker):
    return {'/': d(), '/marker': f(marker)}


# --- the root probe -------------------------------------------------------------------------

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


# --- inspection -------------------------------------------------------------------------------

def test_inspect_no_os(fake_guestfs):
    appliance, _ = launch(fake_guestfs, [Disk({1: simple_tree()})])
    with pytest.raises(exception.NoOperatingSystem, match='No operating system found in d0'):
        appliance.mount(0, -1, 'd0')


def test_inspect_several_os(fake_guestfs):
    appliance, _ = launch(fake_guestfs, [Disk({1: simple_tree(), 2: simple_tree()},
                                              roots={1: {'/': 1}, 2: {'/': 2}})])
    with pytest.raises(exception.SeveralOperatingSystems) as e:
        appliance.mount(0, -1, 'd0')
    assert '/dev/sda1, /dev/sda2' in str(e.value)


def test_inspect_one_os_mounts_root_first(fake_guestfs):
    disk = Disk({1: simple_tree('boot'), 2: simple_tree('root'), 3: simple_tree('var')},
                roots={2: {'/var': 3, '/boot': 1, '/': 2}})
    appliance, g = launch(fake_guestfs, [disk])
    fs = appliance.mount(0, -1, 'd0')
    # shorter mountpoints first, so a parent is always mounted before its children
    assert g.called('mount') == [('/dev/sda2', '/'), ('/dev/sda3', '/var'),
                                 ('/dev/sda1', '/boot')]
    assert fs.mountpoints == (('/', '/dev/sda2'), ('/var', '/dev/sda3'),
                              ('/boot', '/dev/sda1'))
    assert fs.read('/marker') == b'root'
    assert fs.read('/boot/marker') == b'boot'


def test_inspect_once_for_two_drives_and_other_drive_not_mounted(fake_guestfs):
    first = Disk({1: simple_tree('first'), 2: simple_tree('first-var')},
                 roots={1: {'/': 1, '/var': 2, '/boot': '/dev/sdb1'}})
    second = Disk({1: simple_tree('second')}, roots={1: {'/': 1}})
    appliance, g = launch(fake_guestfs, [first, second])
    fs0 = appliance.mount(0, -1, 'd0')
    assert fs0.mountpoints == (('/', '/dev/sda1'), ('/var', '/dev/sda2'))
    assert fs0.read('/marker') == b'first'
    fs0.unmount()
    fs1 = appliance.mount(1, -1, 'd1')
    assert fs1.mountpoints == (('/', '/dev/sdb1'),)
    assert fs1.read('/marker') == b'second'
    assert len(g.called('inspect_os')) == 1
    assert ('/dev/sdb1', '/boot') not in g.called('mount')


def test_inspect_root_on_lv_is_assigned_to_its_drive(fake_guestfs):
    first = Disk({1: simple_tree('first')}, roots={1: {'/': 1}})
    second = Disk({1: {'/': d()}}, lvs={'/dev/vg1/root': simple_tree('lv')}, pv=1,
                  roots={'/dev/vg1/root': {'/': '/dev/vg1/root'}})
    appliance, g = launch(fake_guestfs, [first, second])
    fs = appliance.mount(1, -1, 'd1')
    assert fs.mountpoints == (('/', '/dev/vg1/root'),)
    assert fs.read('/marker') == b'lv'


def test_inspect_with_single_drive_takes_any_root(fake_guestfs):
    # one drive: every root found belongs to it, whatever its device name
    disk = Disk({1: {'/': d()}}, lvs={'/dev/vg0/root': simple_tree('lv')},
                roots={'/dev/vg0/root': {'/': '/dev/vg0/root', '/boot': 1}})
    appliance, _ = launch(fake_guestfs, [disk])
    fs = appliance.mount(0, -1, 'd0')
    assert fs.mountpoints == (('/', '/dev/vg0/root'), ('/boot', '/dev/sda1'))


def test_inspect_drive_without_os_among_two(fake_guestfs):
    appliance, _ = launch(fake_guestfs, [Disk({1: simple_tree()}, roots={1: {'/': 1}}),
                                         Disk({1: simple_tree()})])
    with pytest.raises(exception.NoOperatingSystem, match='d1'):
        appliance.mount(1, -1, 'd1')

def test_a_volume_group_named_like_a_disk_is_still_an_lv(fake_guestfs):
    # /dev/sdvg/root is an LV (VG "sdvg"), not a disk name: its drive comes from its PV
    first = Disk({1: simple_tree('first')}, roots={1: {'/': 1}})
    second = Disk({1: {'/': d()}}, lvs={'/dev/sdvg/root': simple_tree('lv')}, pv=1,
                  roots={'/dev/sdvg/root': {'/': '/dev/sdvg/root'}})
    appliance, g = launch(fake_guestfs, [first, second])
    fs = appliance.mount(1, -1, 'd1')
    assert fs.mountpoints == (('/', '/dev/sdvg/root'),)
    assert set(g.called('is_lv')) == {('/dev/sdvg/root',)}    # asked, as an LV


def test_drive_of(fake_guestfs):
    first = Disk({1: simple_tree(), 2: simple_tree()})
    second = Disk({0: simple_tree()})
    third = Disk({1: {'/': d()}}, lvs={'/dev/vg2/root': simple_tree()}, pv=1)
    _, g = launch(fake_guestfs, [first, second, third])
    inspection = roots.Inspection(g, ['/dev/sda', '/dev/sdb', '/dev/sdc'])
    assert [inspection.drive_of(dev) for dev in (
        '/dev/sda', '/dev/sda2', '/dev/sdb', '/dev/sdc1', '/dev/vg2/root')] == [0, 0, 1, 2, 2]
    assert inspection.drive_of('/dev/sdd1') is None      # no drive of this appliance
    assert g.called('is_lv') == [('/dev/vg2/root',)]      # disk names need no RPC
    assert inspection.drive_of('/dev/vg9/nothing') is None


def test_inspection_sees_drives_added_after_it_was_made(fake_guestfs):
    _, g = launch(fake_guestfs, [Disk({1: simple_tree()}), Disk({1: simple_tree()})])
    drives = ['/dev/sda']
    inspection = roots.Inspection(g, drives)
    assert inspection.drive_of('/dev/sdb1') is None
    drives.append('/dev/sdb')
    assert inspection.drive_of('/dev/sdb1') == 1


# --- partition N ------------------------------------------------------------------------------

def test_missing_partition_lists_existing(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({1: simple_tree(), 2: simple_tree()}),
                                         Disk({3: simple_tree()})])
    with pytest.raises(exception.PartitionNotFound) as e:
        appliance.mount(0, 3, 'disk0.img')
    message = str(e.value)
    assert 'Partition 3 does not exist in disk0.img' in message
    assert 'its partitions: 1, 2' in message
    # the mount is tried first (the hot path pays no list_partitions); it failed
    assert g.called('mount') == [('/dev/sda3', '/')]
    assert g.mounts == {}


def test_missing_partition_on_unpartitioned_disk(fake_guestfs):
    appliance, _ = launch(fake_guestfs, [Disk({0: simple_tree()})])
    with pytest.raises(exception.PartitionNotFound, match='no partition table'):
        appliance.mount(0, 1, 'disk0.img')


# --- a disk qemu cannot read ---------------------------------------------------------------

CORRUPT = 'Input/output error'


@pytest.mark.parametrize('partition', [1, 0, -1])
def test_an_unreadable_disk_is_called_corrupt_not_unpartitioned(fake_guestfs, partition):
    # A qcow2 with a corrupt L1 table: qemu fails every read, so the appliance sees a
    # disk with no partition table and no filesystem.
    appliance, g = launch(fake_guestfs, [Disk({}, unreadable=CORRUPT)])
    with pytest.raises(exception.GuestFilesystemError) as e:
        appliance.mount(0, partition, 'disk0.img')
    message = str(e.value)
    assert not isinstance(e.value, exception.PartitionNotFound)
    assert message == ('Cannot mount the guest filesystem of disk0.img: the disk image is '
                       'unreadable or corrupt: reading its first sector failed '
                       '(pread_device: /dev/sda: Input/output error).')
    assert g.called('pread_device') == [('/dev/sda', 512, 0)]


def test_a_readable_blank_disk_still_has_no_partition_table(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({})])
    with pytest.raises(exception.PartitionNotFound, match='no partition table'):
        appliance.mount(0, 1, 'disk0.img')
    assert g.called('pread_device') == [('/dev/sda', 512, 0)]


def test_the_probe_reads_only_the_drive_it_is_about(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({1: simple_tree()}),
                                         Disk({}, unreadable=CORRUPT)])
    assert roots.unreadable(g, '/dev/sda') is None
    assert roots.unreadable(g, '/dev/sdb') == 'pread_device: /dev/sdb: ' + CORRUPT
