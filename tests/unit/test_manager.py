import dataclasses
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from inject import appliance
from inject import exception
from inject import image
from inject import overlay as overlay_mod
from inject import inspection_cache
from inject import manager
from inject import report
from inject.appliance import channel
from inject.appliance import worker
from inject.request import InjectionRequest
from inject.vfs import api
from inject.vfs import guestfs as vfs_guestfs
from tests.unit import fakeguestfs

pytestmark = pytest.mark.skipif(shutil.which('qemu-img') is None,
                                reason='qemu-img is not installed')
QEMU_IO = shutil.which('qemu-io')
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIManagerTestKeyManagerTestKeyManager0 m@t'
DISABLED_REASON = 'not injected: disabled by inject_partition=-2 on this host'


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class Host:
    """A tmp_path host: images/, overlays/, guest trees by disk, a fake appliance.run."""

    def __init__(self, tmp_path, fake):
        self.images = tmp_path / 'images'
        self.overlays = tmp_path / 'overlays'
        self.images.mkdir()
        self.fake = fake
        self.trees = {}          # disk path -> {partition: tree}
        self.roots = {}          # disk path -> what inspect_os finds (fakeguestfs.Disk)
        self.runs = []           # the jobs of each appliance.run call
        self.fail_launch = None

    def disk(self, name, partitions=None, fmt='raw'):
        path = str(self.images / name)
        subprocess.run(['qemu-img', 'create', '-q', '-f', fmt, path, '1M'], check=True)
        if fmt == 'raw':
            with open(path, 'r+b') as f:
                f.write(os.urandom(1 << 20))
        self.trees[path] = partitions or {1: fakeguestfs.linux_tree()}
        return path

    def overlay_files(self):
        return ([n for n in os.listdir(self.overlays) if n.endswith(overlay_mod.OVERLAY_SUFFIX)]
                if self.overlays.exists() else [])

    def run(self, jobs, settings, pool=None, owner=None, on_job=None, workers=None):
        """appliance.run, with serve() in-process over the fake guestfs."""
        self.runs.append(jobs)
        for job in jobs:
            assert job.drive.format == 'qcow2'
            assert os.path.dirname(job.drive.path) == str(self.overlays)
            self.fake.DISKS[job.drive.path] = fakeguestfs.Disk(
                self.trees[job.image_name], roots=self.roots.get(job.image_name))
        if self.fail_launch:
            self.fake.LAUNCH_ERRORS['force_tcg'] = self.fail_launch
        sent = []
        drives = ([job.drive for job in jobs]
                  or [api.Drive('/dev/null', 'raw', readonly=True)])   # as _session does
        worker.serve(sent.append, vfs_guestfs.GuestFSDriver(), drives,
                     api.LaunchSettings('tcg'), jobs)
        outcome = appliance.SessionOutcome(jobs=[None] * len(jobs))
        for message in sent:
            if isinstance(message, channel.Launched):
                outcome.accelerator = 'tcg'
                outcome.timings['launch'] = message.seconds
            elif isinstance(message, channel.LaunchFailed):
                outcome.error = message.reason
                outcome.jobs = [appliance.JobOutcome(error=message.reason) for _ in jobs]
            elif isinstance(message, channel.JobDone):
                outcome.jobs[message.index] = message.outcome
            elif isinstance(message, channel.Shutdown):
                outcome.timings['shutdown'] = message.seconds
                outcome.error = message.error
        if outcome.accelerator and QEMU_IO:
            # what the appliance wrote lands in the overlay, as with a real one
            for job in jobs:
                subprocess.run([QEMU_IO, '-f', 'qcow2', '-c', 'write -P 0xa5 0 64k',
                                job.drive.path], check=True, capture_output=True)
        return outcome


@pytest.fixture
def host(tmp_path, fake_guestfs, conf, override, monkeypatch):
    h = Host(tmp_path, fake_guestfs)
    override('state_path', str(tmp_path))
    override('overlay_dir', str(h.overlays), 'injection')
    override('image_dirs', [str(h.images)], 'injection')
    override('inject_partition', 1, 'injection')
    override('inject_key', True, 'injection')
    override('inject_password', True, 'injection')
    override('accelerator', 'tcg', 'appliance')
    monkeypatch.setattr(appliance, 'run', h.run)
    return h


def inject(conf, *requests):
    return manager.Manager(conf).inject(list(requests))


def full_request(path, **kwargs):
    return InjectionRequest(image.DiskImage(path, 'raw'), key=KEY, net='auto lo\n',
                            metadata={'role': 'web'}, admin_password='pw',
                            files=[('/etc/motd', b'new motd\n')], **kwargs)


def test_disabled_host_skips_everything_without_appliance(host, conf, override):
    override('inject_partition', -2, 'injection')
    disk = host.disk('d.raw')
    before = sha256(disk)
    [rep] = inject(conf, full_request(disk))
    assert [(r.kind, r.status, r.reason) for r in rep.items] == [
        (kind, report.SKIPPED, DISABLED_REASON)
        for kind in ('key', 'net', 'metadata', 'admin_password', 'file')]
    assert host.runs == []
    assert not rep.ok and not rep.committed
    assert rep.accelerator is None and rep.partition_requested == -2
    assert host.overlay_files() == []
    assert sha256(disk) == before


def test_disabled_host_keeps_policy_reasons(host, conf, override):
    override('inject_partition', -2, 'injection')
    override('inject_key', False, 'injection')
    [rep] = inject(conf, full_request(host.disk('d.raw')))
    assert rep.items[0].reason == 'not injected: inject_key is False on this host'
    assert all(r.reason == DISABLED_REASON for r in rep.items[1:])


def test_request_partition_overrides_disabled_config(host, conf, override):
    override('inject_partition', -2, 'injection')
    disk = host.disk('d.raw', {2: fakeguestfs.linux_tree()})
    [rep] = inject(conf, InjectionRequest(image.DiskImage(disk, 'raw'), partition=2,
                                          files=[('/x', b'x')]))
    assert rep.ok and rep.committed
    assert (rep.partition_requested, rep.partition_used) == (2, '/dev/sda2')
    assert host.runs[0][0].partition == 2


def test_request_can_disable_an_enabled_host(host, conf):
    [rep] = inject(conf, InjectionRequest(image.DiskImage(host.disk('d.raw'), 'raw'),
                                          partition=-2, files=[('/x', b'x')]))
    assert [(r.status, r.reason) for r in rep.items] == [(report.SKIPPED, DISABLED_REASON)]
    assert host.runs == []


def test_success_commits(host, conf):
    disk = host.disk('d.raw')
    before = sha256(disk)
    [rep] = inject(conf, full_request(disk, request_id='req-7'))
    tree = host.trees[disk][1]
    assert rep.ok and rep.committed and rep.error is None
    assert [r.status for r in rep.items] == [report.INJECTED] * 5
    assert rep.items[0].target == '/root/.ssh/authorized_keys'
    assert (rep.items[0].mode, rep.items[0].uid) == ('0600', 0)
    assert tree['/etc/motd'].content == b'new motd\n'
    assert json.loads(tree['/meta.js'].content) == {'role': 'web'}
    assert rep.accelerator == 'tcg'
    assert rep.mountpoints == [['/', '/dev/sda1']]
    assert {'launch', 'mount', 'writes', 'shutdown', 'commit', 'total'} <= set(rep.timings)
    assert host.overlay_files() == []
    if QEMU_IO:
        assert sha256(disk) != before      # the overlay's writes reached the disk


def test_mandatory_failure_discards_and_rolls_back(host, conf):
    disk = host.disk('d.raw')
    before = sha256(disk)
    request = InjectionRequest(image.DiskImage(disk, 'raw'), net='auto lo\n',
                               metadata={'a': 'b'}, files=[('/etc', b'x'), ('/z', b'z')])
    [rep] = inject(conf, request)
    assert sha256(disk) == before
    assert host.overlay_files() == []
    assert not rep.ok and not rep.committed
    cause = 'Cannot write /etc in the guest: it is a directory in the guest.'
    assert rep.error == 'mandatory file /etc failed: ' + cause
    net, metadata, bad, last = rep.items
    for rolled in (net, metadata):
        assert (rolled.status, rolled.reason) == (
            report.FAILED, 'rolled back: mandatory file /etc failed: ' + cause)
    assert bad.status == report.FAILED and 'it is a directory in the guest' in bad.reason
    assert last.status == report.FAILED and last.reason.startswith('not attempted')


def test_non_mandatory_failure_is_kept(host, conf, override):
    override('mandatory', ['key'], 'injection')
    disk = host.disk('d.raw')
    request = InjectionRequest(image.DiskImage(disk, 'raw'), files=[('/etc', b'x'),
                                                                      ('/ok', b'ok')])
    [rep] = inject(conf, request)
    assert rep.committed and not rep.ok
    assert [r.status for r in rep.items] == [report.FAILED, report.INJECTED]
    assert rep.reason().startswith('file /etc: failed: ')


def test_mount_failure_fails_the_disk(host, conf):
    disk = host.disk('d.raw')
    before = sha256(disk)
    [rep] = inject(conf, InjectionRequest(image.DiskImage(disk, 'raw'), partition=5,
                                          files=[('/x', b'x')]))
    assert 'Partition 5 does not exist' in rep.error
    assert rep.items[0].status == report.FAILED and rep.items[0].reason == rep.error
    assert not rep.committed and host.overlay_files() == []
    assert sha256(disk) == before


def test_launch_failure_fails_every_disk(host, conf):
    host.fail_launch = 'qemu exited unexpectedly'
    disks = [host.disk('a.raw'), host.disk('b.raw')]
    reports = inject(conf, *[InjectionRequest(image.DiskImage(p, 'raw'),
                                              files=[('/x', b'x')]) for p in disks])
    for rep in reports:
        assert 'qemu exited unexpectedly' in rep.error
        assert rep.items[0].status == report.FAILED
        assert not rep.committed
    assert host.overlay_files() == []


def test_unsafe_backing_file_fails_before_the_appliance(host, conf, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    secret = outside / 'secret.raw'
    secret.write_bytes(b'\0' * 4096)
    disk = str(host.images / 'top.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', str(secret), '-F',
                    'raw', disk, '1M'], check=True)
    request = InjectionRequest(image.DiskImage(disk, 'qcow2'), key=KEY,
                               files=[('/x', b'x')])
    [rep] = inject(conf, request)
    assert host.runs == []
    assert 'refused' in rep.error and str(secret) in rep.error
    assert [(r.status, r.reason) for r in rep.items] == [(report.FAILED, rep.error)] * 2
    assert host.overlay_files() == []


def test_one_bad_disk_does_not_stop_the_batch(host, conf):
    good = host.disk('good.raw')
    reports = inject(conf,
                     InjectionRequest(image.DiskImage(str(host.images / 'gone.raw'), 'raw'),
                                      files=[('/x', b'x')]),
                     InjectionRequest(image.DiskImage(good, 'raw'), files=[('/x', b'x')]))
    assert 'no such file' in reports[0].error
    assert reports[1].ok and reports[1].committed
    assert [[job.image_name for job in jobs] for jobs in host.runs] == [[good]]


def test_disks_of_one_call_share_one_appliance(host, conf):
    disks = [host.disk('a.raw'), host.disk('b.raw', {0: fakeguestfs.linux_tree()})]
    reports = inject(conf,
                     InjectionRequest(image.DiskImage(disks[0], 'raw'), files=[('/a', b'')]),
                     InjectionRequest(image.DiskImage(disks[1], 'raw'), partition=0,
                                      files=[('/b', b'')]))
    assert len(host.runs) == 1
    assert [job.image_name for job in host.runs[0]] == disks
    assert [r.partition_used for r in reports] == ['/dev/sda1', '/dev/sdb']
    assert '/a' in host.trees[disks[0]][1] and '/b' in host.trees[disks[1]][0]


def test_nothing_to_write_needs_no_appliance(host, conf, override):
    override('inject_key', False, 'injection')
    [rep] = inject(conf, InjectionRequest(image.DiskImage(host.disk('d.raw'), 'raw'),
                                          key=KEY))
    assert host.runs == []
    assert rep.items[0].status == report.SKIPPED and not rep.ok


def test_interrupted_run_discards_overlays(host, conf, monkeypatch):
    def interrupted(jobs, settings, pool=None, owner=None, on_job=None, workers=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(appliance, 'run', interrupted)
    with pytest.raises(KeyboardInterrupt):
        inject(conf, InjectionRequest(image.DiskImage(host.disk('d.raw'), 'raw'),
                                      files=[('/x', b'x')]))
    assert host.overlay_files() == []


def test_commit_failure_is_reported(host, conf, monkeypatch):
    def broken_commit(self):
        self.discard()
        raise exception.ImageCommandFailed(command='qemu-img commit', path='d',
                                           reason='No space left on device')
    monkeypatch.setattr(overlay_mod.Overlay, 'commit', broken_commit)
    [rep] = inject(conf, InjectionRequest(image.DiskImage(host.disk('d.raw'), 'raw'),
                                          files=[('/x', b'x')]))
    assert not rep.committed
    assert rep.error.startswith('committing the overlay into the disk failed')
    assert rep.items[0].status == report.FAILED


def test_report_json_round_trip(host, conf):
    disk = host.disk('d.raw')
    [rep] = inject(conf, full_request(disk, request_id='req-9'))
    data = json.loads(rep.to_json())
    for key in ('image', 'format', 'partition_requested', 'partition_used', 'accelerator',
                'ok', 'items', 'timings', 'committed', 'error', 'mountpoints', 'notes',
                'request_id'):
        assert key in data, key
    assert data['image'] == disk and data['format'] == 'raw'
    assert (data['partition_requested'], data['partition_used']) == (1, '/dev/sda1')
    assert (data['accelerator'], data['ok'], data['committed']) == ('tcg', True, True)
    assert data['request_id'] == 'req-9'
    assert [i['kind'] for i in data['items']] == ['key', 'net', 'metadata',
                                                  'admin_password', 'file']
    assert data['items'][0]['mode'] == '0600'
    assert all(isinstance(v, float) for v in data['timings'].values())
    assert 'pw' not in json.dumps(data['items']) and KEY not in rep.to_json()


def test_report_text_rendering(host, conf):
    [rep] = inject(conf, full_request(host.disk('d.raw')))
    text = rep.format_text()
    assert 'accelerator: tcg' in text and 'disk:        changed' in text
    assert 'injected key' in text.replace('  ', ' ').replace('  ', ' ')


def test_status_when_disabled(host, conf, override):
    override('inject_partition', -2, 'injection')
    result = manager.Manager(conf).status()
    assert result['ok'] is False and result['injection_enabled'] is False
    assert result['libguestfs'] == '1.48.6'
    assert result['accelerator'] == 'tcg'
    assert 'disabled by inject_partition=-2' in result['reason']


def test_status_ok(host, conf):
    result = manager.Manager(conf).status()
    assert result['ok'] is True and result['reason'] is None


def test_the_same_disk_twice_in_one_call_is_refused_for_the_second(host, conf):
    disk = host.disk('d.raw')
    first, second = inject(conf, full_request(disk), full_request(disk))
    assert first.ok and first.committed
    assert not second.ok and not second.committed
    assert 'is already in this call' in second.error
    assert len(host.runs[0]) == 1


# --- the inspection cache and exclusive keys ----------------------------------------------------

def disk_on(host, name, base, roots=None):
    """A qcow2 disk backed by ``base`` (raw), with one Linux root on partition 1."""
    path = str(host.images / name)
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base,
                    path], check=True)
    host.trees[path] = {1: fakeguestfs.linux_tree()}
    host.roots[path] = {1: {'/': 1}} if roots is None else roots
    return path


def real(path):
    return os.path.realpath(path)


def inspect_request(path, fmt='qcow2', partition=-1):
    return InjectionRequest(image.DiskImage(path, fmt), files=[('/x', b'x')],
                            partition=partition)


def base_key(conf, path):
    return inspection_cache.key_for(image.DiskImage(path, 'qcow2').check(
        conf.injection.image_dirs))


def cached(conf, path):
    return manager.Manager(conf).inspection_cache.get(base_key(conf, path))


def inspections(fake):
    return sum(len(g.called('inspect_os')) for g in fake.HANDLES)


def test_inspection_fills_the_cache_and_the_next_disk_on_that_base_uses_it(host, conf):
    base = host.disk('base.raw')
    first, second = disk_on(host, 'a.qcow2', base), disk_on(host, 'b.qcow2', base)

    [rep] = inject(conf, inspect_request(first))
    assert rep.ok and rep.committed and rep.root_found_by == 'inspection'
    assert host.runs[0][0].layout is None
    assert inspections(host.fake) == 1
    assert cached(conf, first) == [('/', 'part:1')]

    [rep] = inject(conf, inspect_request(second))
    assert host.runs[1][0].layout == [('/', 'part:1')]
    assert rep.ok and rep.committed and rep.root_found_by == 'remembered layout'
    assert rep.mountpoints == [['/', '/dev/sda1']]
    assert inspections(host.fake) == 1                       # no second inspection
    assert '/x' in host.trees[second][1]


def test_a_root_found_by_the_probe_is_remembered_too(host, conf):
    base = host.disk('base.raw')
    first, second = disk_on(host, 'a.qcow2', base), disk_on(host, 'b.qcow2', base)
    for path in (first, second):
        host.trees[path][1]['/etc/os-release'] = fakeguestfs.f('ID=debian\n')

    [rep] = inject(conf, inspect_request(first))
    assert rep.ok and rep.root_found_by == 'root probe'
    assert inspections(host.fake) == 0
    assert cached(conf, first) == [('/', 'part:1')]
    [rep] = inject(conf, inspect_request(second))
    assert rep.ok and rep.root_found_by == 'remembered layout'


def test_a_remembered_layout_is_not_written_again(host, conf, monkeypatch):
    base = host.disk('base.raw')
    first, second = disk_on(host, 'a.qcow2', base), disk_on(host, 'b.qcow2', base)
    inject(conf, inspect_request(first))
    puts = []
    monkeypatch.setattr(inspection_cache.InspectionCache, 'put',
                        lambda self, key, layout: puts.append(layout))
    [rep] = inject(conf, inspect_request(second))
    assert rep.root_found_by == 'remembered layout' and puts == []


def test_an_inspected_disk_that_then_fails_is_not_cached(host, conf, monkeypatch):
    disk = disk_on(host, 'a.qcow2', host.disk('base.raw'))

    def broken(self):
        raise RuntimeError('umount_all: device is busy')
    monkeypatch.setattr(fakeguestfs.GuestFS, 'umount_all', broken)
    [rep] = inject(conf, inspect_request(disk))
    assert rep.root_found_by == 'inspection' and 'device is busy' in rep.error
    assert cached(conf, disk) is None


def test_a_layout_that_no_longer_fits_is_inspected_and_replaced(host, conf):
    base = host.disk('base.raw')
    disk = disk_on(host, 'a.qcow2', base)
    manager.Manager(conf).inspection_cache.put(base_key(conf, disk), [('/', 'part:5')])
    [rep] = inject(conf, inspect_request(disk))
    assert host.runs[0][0].layout == [('/', 'part:5')]
    assert rep.ok and rep.root_found_by == 'inspection'
    assert cached(conf, disk) == [('/', 'part:1')]


def test_a_failed_inspection_is_not_cached(host, conf):
    disk = disk_on(host, 'a.qcow2', host.disk('base.raw'), roots={})
    [rep] = inject(conf, inspect_request(disk))
    assert 'No operating system found' in rep.error
    assert cached(conf, disk) is None


@pytest.mark.parametrize('partition', [1, 0])
def test_no_cache_without_inspection(host, conf, partition):
    disk = disk_on(host, 'a.qcow2', host.disk('base.raw'))
    host.trees[disk] = {partition: fakeguestfs.linux_tree()}
    [rep] = inject(conf, inspect_request(disk, partition=partition))
    assert rep.ok and host.runs[0][0].layout is None
    assert cached(conf, disk) is None


def test_a_disk_without_backing_file_is_not_cached(host, conf, tmp_path):
    disk = host.disk('d.raw')
    host.roots[disk] = {1: {'/': 1}}
    [rep] = inject(conf, inspect_request(disk, fmt='raw'))
    assert rep.ok and rep.root_found_by == 'inspection'
    assert host.runs[0][0].layout is None
    assert not (tmp_path / 'inspection-cache.json').exists()


def test_exclusive_keys_of_one_disk_are_equal(host, conf, tmp_path):
    disk = host.disk('d.raw')
    alias = tmp_path / 'alias.raw'
    alias.symlink_to(disk)
    m = manager.Manager(conf)
    keys = m.exclusive_keys(inspect_request(disk, fmt='raw', partition=1))
    assert keys == {'disk:' + real(disk)}
    assert m.exclusive_keys(inspect_request(str(alias), fmt='raw', partition=1)) == keys
    assert not keys & m.exclusive_keys(inspect_request(host.disk('e.raw'), fmt='raw'))


def test_exclusive_keys_of_a_base_still_to_inspect(host, conf):
    base = host.disk('base.raw')
    first, second = disk_on(host, 'a.qcow2', base), disk_on(host, 'b.qcow2', base)
    m = manager.Manager(conf)
    keys = m.exclusive_keys(inspect_request(first))
    assert keys == {'disk:' + real(first), 'base:' + base_key(conf, first)}
    assert keys & m.exclusive_keys(inspect_request(second)) == {
        'base:' + base_key(conf, first)}


def test_exclusive_keys_follow_inject_partition_when_the_request_has_none(
        host, conf, override):
    disk = disk_on(host, 'a.qcow2', host.disk('base.raw'))
    req = inspect_request(disk, partition=None)
    m = manager.Manager(conf)
    assert m.exclusive_keys(req) == {'disk:' + real(disk)}            # inject_partition = 1
    override('inject_partition', -1, 'injection')
    assert m.partition_for(req) == -1
    assert 'base:' + base_key(conf, disk) in m.exclusive_keys(req)


@pytest.mark.parametrize('layout, shared', [
    ([('/', 'part:1')], False),
    ([('/', 'whole')], False),
    ([('/', 'lv:vg0/root')], True),                     # LVM: cloned VGs collide
    ([('/', 'part:1'), ('/var', 'lv:vg0/var')], True),
])
def test_exclusive_keys_once_the_layout_is_known(host, conf, layout, shared):
    disk = disk_on(host, 'a.qcow2', host.disk('base.raw'))
    m = manager.Manager(conf)
    m.inspection_cache.put(base_key(conf, disk), layout)
    keys = m.exclusive_keys(inspect_request(disk))
    assert ('base:' + base_key(conf, disk) in keys) is shared
    assert 'disk:' + real(disk) in keys and len(keys) == 1 + shared


def test_exclusive_keys_after_an_inspection(host, conf):
    base = host.disk('base.raw')
    first, second = disk_on(host, 'a.qcow2', base), disk_on(host, 'b.qcow2', base)
    inject(conf, inspect_request(first))
    assert manager.Manager(conf).exclusive_keys(inspect_request(second)) == {
        'disk:' + real(second)}


@pytest.mark.parametrize('partition', [1, 0, -2])
def test_exclusive_keys_without_inspection_are_the_disk_only(host, conf, partition):
    disk = disk_on(host, 'a.qcow2', host.disk('base.raw'))
    assert manager.Manager(conf).exclusive_keys(inspect_request(disk, partition=partition)) \
        == {'disk:' + real(disk)}


def test_exclusive_keys_of_a_disk_that_will_be_refused(host, conf):
    gone = str(host.images / 'gone.qcow2')
    assert manager.Manager(conf).exclusive_keys(inspect_request(gone)) == {'disk:' + real(gone)}


def test_exclusive_keys_of_a_disk_without_backing_file(host, conf):
    disk = host.disk('d.raw')
    assert manager.Manager(conf).exclusive_keys(inspect_request(disk, fmt='raw')) == {
        'disk:' + real(disk)}


def test_unexpected_error_planning_one_disk_fails_it_alone(host, conf, monkeypatch):
    from inject import passwords
    real = passwords.hash_password

    def hash_password(password, *args, **kwargs):
        if password == 'explodes':
            raise ValueError('the hasher refused it')
        return real(password, *args, **kwargs)

    monkeypatch.setattr(passwords, 'hash_password', hash_password)
    good1, bad, good2 = host.disk('a.raw'), host.disk('b.raw'), host.disk('c.raw')
    reps = inject(conf, full_request(good1),
                  InjectionRequest(image.DiskImage(bad, 'raw'), admin_password='explodes',
                                   files=[('/etc/motd', b'x')]),
                  full_request(good2))
    assert [r.ok for r in reps] == [True, False, True]
    assert 'preparing the disk failed: ValueError: the hasher refused it' in reps[1].error
    assert len(host.runs) == 1 and len(host.runs[0]) == 2
    assert host.overlay_files() == []


def test_overlay_failure_for_one_disk_leaves_no_overlay(host, conf, monkeypatch):
    first, second = host.disk('a.raw'), host.disk('b.raw')
    real = overlay_mod.Overlay.create

    def create(img, directory):
        if img.path == second:
            raise OSError(28, 'No space left on device')
        return real(img, directory)

    monkeypatch.setattr(overlay_mod.Overlay, 'create', create)
    reps = inject(conf, full_request(first), full_request(second))
    assert [r.ok for r in reps] == [True, False]
    assert 'No space left on device' in reps[1].error
    assert all(r.status == report.FAILED for r in reps[1].items)
    assert host.overlay_files() == []


def test_crash_in_the_session_discards_every_overlay(host, conf, monkeypatch):
    disks = [host.disk('a.raw'), host.disk('b.raw')]
    before = [sha256(d) for d in disks]

    def run(jobs, settings, pool=None, owner=None, on_job=None, workers=None):
        assert len(host.overlay_files()) == 2
        raise RuntimeError('worker pipe broke')

    monkeypatch.setattr(appliance, 'run', run)
    with pytest.raises(RuntimeError):
        inject(conf, *[full_request(d) for d in disks])
    assert host.overlay_files() == []
    assert [sha256(d) for d in disks] == before


def test_a_released_disk_is_committed_and_answered_before_the_session_ends(
        host, conf, monkeypatch):
    """A warm appliance lets go of each disk when done: that disk is committed and its
    report handed out at once; trouble the session meets later cannot reach it."""
    first, second = host.disk('first.img'), host.disk('second.img')
    reported = []
    real = host.run

    def run(jobs, settings, pool=None, owner=None, on_job=None, workers=None):
        assert owner == 'p1'
        outcome = real(jobs, settings)
        outcome.jobs[0].released = True
        on_job(0, outcome.jobs[0], outcome)
        assert reported == [(0, True)]           # answered while the session runs on
        outcome.error = 'flushing the appliance failed'
        return outcome
    monkeypatch.setattr(appliance, 'run', run)
    reports = manager.Manager(conf).inject(
        [full_request(first), full_request(second)],
        on_report=lambda i, r: reported.append((i, r.committed)), owner='p1')
    assert reported == [(0, True), (1, False)]
    assert reports[0].ok and reports[0].committed
    assert not reports[1].ok and 'flushing the appliance failed' in reports[1].error
    assert host.overlay_files() == []


def test_a_host_short_of_memory_fails_each_disk_with_the_numbers(host, conf, monkeypatch):
    disk = host.disk('d.img')

    def refuse(jobs, settings, pool=None, owner=None, on_job=None, workers=None):
        raise exception.NotEnoughMemory(need=409, what='tcg, 1 drive(s)', available=300,
                                        pending=0)
    monkeypatch.setattr(appliance, 'run', refuse)
    [r] = inject(conf, full_request(disk))
    assert not r.ok and not r.committed
    assert r.error.startswith('Not enough memory to start an appliance')
    assert all(i.status == report.FAILED for i in r.items)
    assert host.overlay_files() == []


@dataclasses.dataclass
class _ExtendedItemResult(report.ItemResult):
    """ItemResult with a field added later, such as a checksum of what was written."""
    checksum: str = None


@pytest.mark.parametrize('result_class', [report.ItemResult, _ExtendedItemResult],
                         ids=['today', 'with-a-new-field'])
def test_every_field_the_worker_reports_reaches_the_report(host, conf, monkeypatch,
                                                           result_class):
    """What the worker reports of each item reaches the caller whole: every field of
    ItemResult, a field added to it later included (nothing merges them by hand)."""
    monkeypatch.setattr(report, 'ItemResult', result_class)
    sample = {int: lambda n: 1000 + n, str: lambda n: 'from the worker %d' % n,
              list: lambda n: ['note from the worker %d' % n]}
    fields = dataclasses.fields(result_class)
    for field in fields:
        assert field.name in ('kind', 'status') or field.type in sample, (
            'ItemResult.%s: give this test a sample %s' % (field.name, field.type))
    written = []

    def worker_result(item):
        result = result_class(item.kind, item.target)
        for n, field in enumerate(fields):
            if field.name not in ('kind', 'status'):
                setattr(result, field.name, sample[field.type](n))
        result.status = report.INJECTED
        written.append(result)
        return result

    def run(jobs, settings, pool=None, owner=None, on_job=None, workers=None):
        return appliance.SessionOutcome(accelerator='tcg', jobs=[appliance.JobOutcome(
            results=[worker_result(item) for item in job.items],
            mountpoints=[['/', '/dev/sda1']], source='partition 1') for job in jobs])
    monkeypatch.setattr(appliance, 'run', run)
    [r] = inject(conf, full_request(host.disk('d.raw')))
    assert r.ok and r.committed, r.format_text()
    assert len(r.items) == len(written) == 5
    for item, result in zip(r.items, written):
        for field in fields:
            assert getattr(item, field.name) == getattr(result, field.name), field.name


def test_disks_whose_appliance_was_killed_by_a_stopping_agent_say_so(host, conf,
                                                                     monkeypatch):
    disk = host.disk('d.img')
    before = sha256(disk)
    mgr = manager.Manager(conf)
    passed = []

    def killed(jobs, settings, pool=None, owner=None, on_job=None, workers=None):
        passed.append(workers)
        return appliance.SessionOutcome(
            error='The appliance worker died during launch (exit code -9).',
            failure='killed', jobs=[appliance.JobOutcome() for _ in jobs])
    monkeypatch.setattr(appliance, 'run', killed)
    assert mgr.stop_appliances('inject-agent h is stopping (drain_timeout ran out)') == 0
    [r] = mgr.inject([full_request(disk)])
    assert passed == [mgr.workers] and mgr.workers.killed
    assert r.error == ('inject-agent h is stopping (drain_timeout ran out): The appliance '
                       'worker died during launch (exit code -9).')
    assert not r.committed and sha256(disk) == before
    assert host.overlay_files() == []
