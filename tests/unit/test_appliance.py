import json
import os
import pathlib
import signal
import time

import pytest

from inject import appliance
from inject import appliance_kernel
from inject import exception
from inject import injection
from inject import report
from inject.vfs import api
from inject.vfs import guestfs as vfs_guestfs
from tests.unit import fakeguestfs

REPO = pathlib.Path(__file__).resolve().parents[2]


def settings(tmp_path, **kwargs):
    kwargs.setdefault('cache_dir', str(tmp_path / 'cache'))
    return appliance.Settings(**kwargs)


def no_kvm_check():
    pytest.fail('kvm_usable() must not be consulted')


def file_item(path, data=b'data\n', mandatory=True):
    return injection.Item('file', path, data, mandatory)


def job(path, partition=0, items=(), name=None):
    return appliance.Job(drive=api.Drive(path, 'qcow2'), image_name=name or path,
                         partition=partition, items=list(items))


# --- accelerator choice --------------------------------------------------------------------

@pytest.mark.parametrize('accelerator', ['tcg', 'kvm'])
def test_configured_accelerator_is_honoured(tmp_path, monkeypatch, accelerator):
    monkeypatch.setattr(appliance, 'kvm_usable', no_kvm_check)
    assert appliance.choose_accelerator(settings(tmp_path, accelerator=accelerator)) == (
        accelerator, False, 'configured')


def test_kvm_usable_without_dev_kvm(fs):      # pyfakefs: an empty filesystem
    assert appliance.kvm_usable() == (False, '/dev/kvm does not exist')


def test_kvm_usable_when_not_accessible(fs, monkeypatch):
    fs.create_file('/dev/kvm')
    monkeypatch.setattr(os, 'access', lambda path, mode: False)
    usable, why = appliance.kvm_usable()
    assert not usable and 'not readable and writable' in why


def test_kvm_usable_when_accessible(fs):
    fs.create_file('/dev/kvm')
    assert appliance.kvm_usable() == (True, None)


def test_auto_without_dev_kvm_is_tcg(fs):
    assert appliance.choose_accelerator(appliance.Settings(cache_dir='/cache')) == (
        'tcg', False, '/dev/kvm does not exist')


def test_auto_with_kvm_probes_kvm(tmp_path, monkeypatch):
    monkeypatch.setattr(appliance, 'kvm_usable', lambda: (True, None))
    accelerator, probing, why = appliance.choose_accelerator(settings(tmp_path))
    assert (accelerator, probing) == ('kvm', True)
    assert 'trying KVM' in why


def write_record(tmp_path, **record):
    cache = tmp_path / 'cache'
    cache.mkdir(exist_ok=True)
    (cache / appliance.RECORD_NAME).write_text(json.dumps(record))


def test_auto_uses_remembered_tcg(tmp_path, monkeypatch):
    monkeypatch.setattr(appliance, 'kvm_usable', lambda: (True, None))
    write_record(tmp_path, host=appliance._host_key(), accelerator='tcg',
                 reason='KVM failed here (x)')
    assert appliance.choose_accelerator(settings(tmp_path)) == (
        'tcg', False, 'remembered: KVM failed here (x)')


def test_auto_with_remembered_kvm_keeps_it_on_trial(tmp_path, monkeypatch):
    monkeypatch.setattr(appliance, 'kvm_usable', lambda: (True, None))
    write_record(tmp_path, host=appliance._host_key(), accelerator='kvm',
                 reason='KVM launched in 2.0 s')
    assert appliance.choose_accelerator(settings(tmp_path)) == (
        'kvm', True, 'remembered: KVM launched in 2.0 s')


def test_record_for_another_host_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(appliance, 'kvm_usable', lambda: (True, None))
    write_record(tmp_path, host='5.10.0-other /usr/bin/qemu-system-x86_64@1',
                 accelerator='tcg', reason='old kernel')
    assert appliance.read_record(settings(tmp_path)) is None
    assert appliance.choose_accelerator(settings(tmp_path))[:2] == ('kvm', True)


def test_record_is_ignored_without_kvm(fs):
    fs.create_file('/cache/' + appliance.RECORD_NAME, contents=json.dumps(
        {'host': appliance._host_key(), 'accelerator': 'kvm', 'reason': 'x'}))
    assert appliance.choose_accelerator(appliance.Settings(cache_dir='/cache'))[0] == 'tcg'


def test_host_key_changes_with_qemu(fs):
    missing = appliance._host_key()
    fs.create_file(appliance.QEMU_BINARY)
    os.utime(appliance.QEMU_BINARY, (1000, 1000))
    assert appliance._host_key() != missing
    assert appliance._host_key().endswith('qemu-system-x86_64@1000')


def test_unreadable_record_is_ignored(tmp_path):
    (tmp_path / 'cache').mkdir()
    (tmp_path / 'cache' / appliance.RECORD_NAME).write_text('{not json')
    assert appliance.read_record(settings(tmp_path)) is None
    assert appliance.read_record(appliance.Settings(cache_dir=None)) is None


def test_record_that_is_not_an_object_is_ignored(tmp_path):
    (tmp_path / 'cache').mkdir()
    (tmp_path / 'cache' / appliance.RECORD_NAME).write_text('null')
    assert appliance.read_record(settings(tmp_path)) is None


def test_settings_from_conf(conf, override):
    override('accelerator', 'tcg', 'appliance')
    override('inject_timeout', 30, 'appliance')
    s = appliance.Settings.from_conf(conf)
    assert (s.accelerator, s.inject_timeout, s.memsize, s.driver) == ('tcg', 30, 512,
                                                                        'guestfs')


# --- serve(), in-process over the fake ------------------------------------------------------

@pytest.fixture
def two_disks(fake_guestfs):
    trees = [fakeguestfs.linux_tree(), fakeguestfs.linux_tree()]
    fake_guestfs.DISKS['/d0.qcow2'] = fakeguestfs.Disk({0: trees[0]})
    fake_guestfs.DISKS['/d1.qcow2'] = fakeguestfs.Disk({1: trees[1]})
    return trees


def serve(jobs, accelerator='tcg'):
    sent = []
    appliance.serve(sent.append, vfs_guestfs.GuestFSDriver(), [j.drive for j in jobs],
                    api.LaunchSettings(accelerator), jobs)
    return sent


def test_serve_reports_launch_jobs_in_order_and_shutdown(two_disks, fake_guestfs):
    jobs = [job('/d0.qcow2', 0, [file_item('/a')]), job('/d1.qcow2', 1, [file_item('/b')])]
    sent = serve(jobs)
    assert [m[0] for m in sent] == ['launched', 'job', 'job', 'shutdown']
    assert [m[1] for m in sent[1:3]] == [0, 1]
    first, second = sent[1][2], sent[2][2]
    assert first.mountpoints == [['/', '/dev/sda']]
    assert second.mountpoints == [['/', '/dev/sdb1']]
    assert [r.status for r in first.results + second.results] == [report.INJECTED] * 2
    assert first.error is None and set(first.timings) == {'mount', 'writes'}
    assert sent[3][2] is None
    assert '/a' in two_disks[0] and '/b' in two_disks[1]
    g = fake_guestfs.HANDLES[-1]
    assert g.called('shutdown') and g.closed


def test_serve_mount_failure_fails_only_that_job(two_disks):
    jobs = [job('/d0.qcow2', 5, [file_item('/a')], name='disk0'),
            job('/d1.qcow2', 1, [file_item('/b')])]
    sent = serve(jobs)
    assert [m[0] for m in sent] == ['launched', 'job', 'job', 'shutdown']
    assert 'Partition 5 does not exist in disk0' in sent[1][2].error
    assert sent[1][2].results == []
    assert sent[2][2].error is None
    assert [r.status for r in sent[2][2].results] == [report.INJECTED]


def test_serve_unexpected_exception_fails_only_that_job(two_disks, fake_guestfs,
                                                         monkeypatch):
    real_apply = injection.apply
    calls = []

    def apply(fs, items):
        calls.append(items)
        if len(calls) == 1:
            raise ZeroDivisionError('bug in a writer')
        return real_apply(fs, items)
    monkeypatch.setattr(injection, 'apply', apply)
    sent = serve([job('/d0.qcow2', 0, [file_item('/a')]),
                  job('/d1.qcow2', 1, [file_item('/b')])])
    assert sent[1][2].error == 'internal error: ZeroDivisionError: bug in a writer'
    assert sent[2][2].error is None
    assert '/b' in two_disks[1]
    # the failed disk was unmounted before the next one was mounted
    names = [(call, args) for call, args in fake_guestfs.HANDLES[-1].calls
             if call in ('mount', 'umount_all')]
    assert names[:3] == [('mount', ('/dev/sda', '/')), ('umount_all', ()),
                         ('mount', ('/dev/sdb1', '/'))]
    assert sent[-1][0] == 'shutdown'


def test_serve_launch_failure(fake_guestfs):
    fake_guestfs.LAUNCH_ERRORS['force_kvm'] = 'qemu: failed to set MSR 0x48b'
    sent = serve([job('/d0.qcow2')], accelerator='kvm')
    [(kind, message)] = sent
    assert kind == 'launch_failed'
    assert 'failed to set MSR' in message
    assert 'set [appliance]accelerator = tcg' in message


def test_serve_shutdown_failure_is_reported(two_disks, fake_guestfs, monkeypatch):
    def shutdown(self):
        raise RuntimeError('shutdown: fsync: Input/output error')
    monkeypatch.setattr(fakeguestfs.GuestFS, 'shutdown', shutdown)
    sent = serve([job('/d0.qcow2', 0, [file_item('/a')])])
    assert sent[-1][0] == 'shutdown'
    assert 'flushing the appliance failed' in sent[-1][2]
    assert fake_guestfs.HANDLES[-1].closed


@pytest.mark.parametrize('message, hint', [
    ('could not open /dev/kvm', 'accelerator = tcg'),
    ('qemu-system-x86_64: not found', 'Install qemu-system-x86'),
    ('cannot create /var/cache: Permission denied', 'cache_dir is writable'),
    ('something else', 'libguestfs-test-tool'),
])
def test_launch_hint(message, hint):
    assert hint in appliance._launch_hint(message)


def test_launch_hint_for_unreadable_kernel(monkeypatch):
    monkeypatch.setattr(appliance, 'kernels_readable',
                        lambda: ([], ['/boot/vmlinuz-6.1.0-13-amd64']))
    assert 'chmod 0644 /boot/vmlinuz-6.1.0-13-amd64' in appliance._launch_hint(
        'supermin exited with error status 1')


def test_launch_hint_for_missing_kernel(monkeypatch):
    monkeypatch.setattr(appliance, 'kernels_readable', lambda: ([], []))
    assert 'linux-image-amd64' in appliance._launch_hint('no kernel found')


# --- run(): real worker processes ------------------------------------------------------------

@pytest.fixture
def worker(monkeypatch):
    """worker(name): run() starts tests.unit.workers.<name>; returns the Popen objects."""
    monkeypatch.chdir(REPO)
    started = []
    real_start = appliance._start_worker

    def start(arguments, **kwargs):
        started.append(real_start(arguments, **kwargs))
        return started[-1]
    monkeypatch.setattr(appliance, '_start_worker', start)

    def use(name):
        monkeypatch.setattr(appliance, 'WORKER_MODULE', 'tests.unit.workers.' + name)
        return started
    return use


def gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ')[1].startswith('Z')   # a zombie no longer runs
    except FileNotFoundError:
        return True


def wait_for(path, seconds=10):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert time.monotonic() < deadline, '%s never appeared' % path
        time.sleep(0.02)


def test_hanging_launch_is_killed(tmp_path, worker, monkeypatch):
    started = worker('hang')
    pidfile = tmp_path / 'pids'
    monkeypatch.setenv('INJECT_TEST_PIDFILE', str(pidfile))
    t0 = time.monotonic()
    outcome = appliance.run([job('/d0.qcow2'), job('/d1.qcow2')],
                            settings(tmp_path, accelerator='tcg', launch_timeout=1))
    assert time.monotonic() - t0 < 8
    assert outcome.accelerator is None
    assert 'did not finish launch within 1 s' in outcome.error
    assert 'launch_timeout' in outcome.error
    assert len(outcome.jobs) == 2
    for job_outcome in outcome.jobs:
        assert 'did not finish launch' in job_outcome.error
    [proc] = started
    assert proc.returncode == -signal.SIGKILL
    wait_for(pidfile)
    worker_pid, qemu_pid = map(int, pidfile.read_text().split())
    assert worker_pid == proc.pid
    deadline = time.monotonic() + 5
    while not (gone(worker_pid) and gone(qemu_pid)):
        assert time.monotonic() < deadline, 'the worker or its child survived'
        time.sleep(0.02)


def test_log_messages_do_not_extend_the_launch_deadline(tmp_path, worker):
    started = worker('chatty')
    t0 = time.monotonic()
    outcome = appliance.run([job('/d0.qcow2')],
                            settings(tmp_path, accelerator='tcg', launch_timeout=1))
    assert time.monotonic() - t0 < 8
    assert 'did not finish launch within 1 s' in outcome.error
    assert started[0].returncode == -signal.SIGKILL


def test_dying_worker_is_reported(tmp_path, worker):
    worker('die')
    outcome = appliance.run([job('/d0.qcow2')], settings(tmp_path, accelerator='tcg'))
    assert outcome.accelerator is None
    assert outcome.error == str(exception.ApplianceDied(stage='launch',
                                                        reason='exit code 3'))
    assert outcome.jobs[0].error == outcome.error


def test_run_with_fake_worker(tmp_path, worker):
    worker('fake')
    outcome = appliance.run([job('/d0.qcow2', 0, [file_item('/etc/x')]),
                             job('/d1.qcow2', 0, [file_item('/etc')])],
                            settings(tmp_path, accelerator='tcg'))
    assert outcome.error is None
    assert outcome.accelerator == 'tcg'
    assert {'launch', 'shutdown', 'session'} <= set(outcome.timings)
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    assert outcome.jobs[0].results[0].mode == '0644'
    assert [r.status for r in outcome.jobs[1].results] == [report.FAILED]
    assert not os.path.exists(tmp_path / 'cache' / appliance.RECORD_NAME)


def test_failing_kvm_falls_back_to_tcg_and_is_remembered(tmp_path, worker, monkeypatch):
    started = worker('fake')
    monkeypatch.setenv('FAKE_LAUNCH_ERROR_KVM', 'qemu: failed to set MSR 0x48b')
    monkeypatch.setattr(appliance, 'kvm_usable', lambda: (True, None))
    s = settings(tmp_path)
    outcome = appliance.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert len(started) == 2
    assert outcome.accelerator == 'tcg'
    assert outcome.error is None
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    [note] = outcome.notes
    assert 'KVM failed here' in note and 'failed to set MSR' in note
    assert note.endswith('used TCG instead')
    record = json.loads((tmp_path / 'cache' / appliance.RECORD_NAME).read_text())
    assert record['accelerator'] == 'tcg'
    assert record['host'] == appliance._host_key()
    assert 'failed to set MSR' in record['reason']
    accelerator, probing, why = appliance.choose_accelerator(s)
    assert (accelerator, probing) == ('tcg', False) and why.startswith('remembered: ')


def test_hanging_kvm_falls_back_to_tcg(tmp_path, worker, monkeypatch):
    started = worker('fake')
    monkeypatch.setenv('FAKE_HANG_KVM', '1')
    monkeypatch.setattr(appliance, 'kvm_usable', lambda: (True, None))
    outcome = appliance.run([], settings(tmp_path, kvm_probe_timeout=1))
    assert outcome.accelerator == 'tcg'
    assert 'KVM seems to hang' in outcome.notes[0]
    assert started[0].returncode == -signal.SIGKILL
    assert appliance.read_record(settings(tmp_path))['accelerator'] == 'tcg'


def test_working_kvm_is_remembered(tmp_path, worker, monkeypatch):
    worker('fake')
    monkeypatch.setattr(appliance, 'kvm_usable', lambda: (True, None))
    outcome = appliance.run([], settings(tmp_path))
    assert (outcome.accelerator, outcome.error, outcome.notes) == ('kvm', None, [])
    record = appliance.read_record(settings(tmp_path))
    assert record['accelerator'] == 'kvm'
    assert record['reason'].startswith('KVM launched in ')


def test_hang_while_working_on_one_disk(tmp_path, worker, monkeypatch):
    worker('fake')
    monkeypatch.setenv('FAKE_HANG_MOUNT', '/dev/sdb')
    outcome = appliance.run(
        [job('/d0.qcow2', 0, [file_item('/x')], name='disk0'),
         job('/d1.qcow2', 0, [file_item('/x')], name='disk1'),
         job('/d2.qcow2', 0, [file_item('/x')], name='disk2')],
        settings(tmp_path, accelerator='tcg', inject_timeout=1))
    assert outcome.accelerator == 'tcg'
    assert 'did not finish work on disk1 within 1 s' in outcome.error
    assert 'damaged or hostile' in outcome.error
    assert outcome.jobs[0].error is None
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    assert outcome.jobs[1].error == outcome.error
    assert outcome.jobs[2].error == outcome.error


# --- the appliance kernel and its vCPUs ----------------------------------------------------

KERNEL = appliance_kernel.Kernel('/cache/pvh-kernel/vmlinux-6.1', '6.1', '/lib/modules/6.1')


@pytest.fixture
def extracted(monkeypatch):
    """appliance_kernel.prepare returns KERNEL; the list records its calls."""
    calls = []

    def prepare(cache_dir):
        calls.append(cache_dir)
        return KERNEL
    monkeypatch.setattr(appliance_kernel, 'prepare', prepare)
    return calls


@pytest.mark.parametrize('kernel_boot, accelerator, expected', [
    ('auto', 'tcg', KERNEL), ('auto', 'kvm', None), ('pvh', 'kvm', KERNEL),
    ('pvh', 'tcg', KERNEL), ('stock', 'tcg', None),
])
def test_boot_kernel(tmp_path, extracted, kernel_boot, accelerator, expected):
    s = settings(tmp_path, kernel_boot=kernel_boot)
    assert appliance.boot_kernel(s, accelerator) == expected
    assert extracted == ([s.cache_dir] if expected else [])


def test_boot_kernel_stock_once_pvh_failed_here(tmp_path, extracted):
    s = settings(tmp_path, kernel_boot='auto')
    appliance._write_record(s, 'tcg', 'PVH boot failed', appliance.KERNEL_RECORD_NAME)
    assert appliance.boot_kernel(s, 'tcg') is None and extracted == []


@pytest.mark.parametrize('smp, others, expected', [
    (0, 0, min(2, os.cpu_count())), (0, 1, 1), (0, 3, 1), (3, 0, 3), (1, 0, 1), (2, 5, 2),
])
def test_smp_auto_gives_a_lone_appliance_two_vcpus(tmp_path, smp, others, expected):
    launching = appliance.launch_settings(settings(tmp_path, smp=smp), 'tcg', KERNEL, others)
    assert launching.smp == expected
    assert (launching.accelerator, launching.kernel) == ('tcg', KERNEL)


def test_pvh_launch_passes_the_kernel_to_supermin(tmp_path, worker, extracted,
                                                  monkeypatch):
    worker('fake')
    record = tmp_path / 'launches'
    monkeypatch.setenv('FAKE_LAUNCH_RECORD', str(record))
    outcome = appliance.run([job('/d0.qcow2', 0, [file_item('/x')])],
                            settings(tmp_path, accelerator='tcg', kernel_boot='auto'))
    assert (outcome.accelerator, outcome.kernel_boot, outcome.error) == ('tcg', 'pvh', None)
    smp, kernel, cachedir = record.read_text().split()
    assert kernel == KERNEL.path and smp == str(outcome.smp)
    assert cachedir == str(tmp_path / 'cache' / 'pvh-appliance')   # built apart
    assert 'SUPERMIN_KERNEL' not in os.environ


def test_failing_pvh_falls_back_to_stock_and_is_remembered(tmp_path, worker, extracted,
                                                           monkeypatch):
    started = worker('fake')
    monkeypatch.setenv('FAKE_LAUNCH_ERROR_PVH', 'qemu: PVH entry not found')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='auto')
    outcome = appliance.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert len(started) == 2
    assert (outcome.accelerator, outcome.kernel_boot, outcome.error) == ('tcg', 'stock',
                                                                         None)
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    [note] = outcome.notes
    assert 'PVH boot of %s failed' % KERNEL.path in note and 'PVH entry not found' in note
    assert note.endswith('used the stock kernel')
    assert 'PVH entry' in appliance.read_record(s, appliance.KERNEL_RECORD_NAME)['reason']
    # the next launch goes straight to the stock kernel
    started.clear()
    assert appliance.run([], s).kernel_boot == 'stock' and len(started) == 1


def test_pvh_is_not_blamed_when_the_stock_kernel_fails_too(tmp_path, worker, extracted):
    started = worker('die')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='pvh')
    outcome = appliance.run([job('/d0.qcow2')], s)
    assert len(started) == 2 and outcome.accelerator is None
    assert 'exit code 3' in outcome.error
    assert appliance.read_record(s, appliance.KERNEL_RECORD_NAME) is None


# --- warm appliances ----------------------------------------------------------------------

class OnePool:
    """Hands out one warm appliance, once."""

    def __init__(self, warm):
        self.warm = warm

    def take(self, jobs):
        warm, self.warm = self.warm, None
        return warm


def test_run_hot_plugs_disks_into_a_warm_appliance(tmp_path, worker):
    started = worker('fake')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='stock')
    warm = appliance.launch_warm(s)
    assert warm.alive() and (warm.accelerator, warm.kernel_boot) == ('tcg', 'stock')
    outcome = appliance.run([job('/d0.qcow2', 0, [file_item('/x')]),
                             job('/d1.qcow2', 0, [file_item('/etc')])], s, OnePool(warm))
    assert len(started) == 1                           # no launch for the request
    assert (outcome.warm, outcome.error, outcome.accelerator) == (True, None, 'tcg')
    assert outcome.timings['launch'] == 0.0
    assert outcome.timings['warm_launch'] == warm.launch_seconds
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    assert [r.status for r in outcome.jobs[1].results] == [report.FAILED]   # its own
    assert 'attach' in outcome.jobs[0].timings
    assert warm.proc.returncode == 0                   # shut down after its one batch


def test_a_disk_the_warm_appliance_cannot_take_goes_into_a_fresh_one(tmp_path, worker,
                                                                     monkeypatch):
    started = worker('fake')
    monkeypatch.setenv('FAKE_HOTPLUG_ERROR', '/d1.qcow2')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='stock')
    outcome = appliance.run([job('/d0.qcow2', 0, [file_item('/x')]),
                             job('/d1.qcow2', 0, [file_item('/y')])], s,
                            OnePool(appliance.launch_warm(s)))
    assert len(started) == 2                           # the warm one, then a cold one
    assert outcome.error is None
    assert [[r.status for r in j.results] for j in outcome.jobs] == [
        [report.INJECTED], [report.INJECTED]]
    assert 'launch' in outcome.jobs[1].timings         # it paid for its launch
    assert '1 disk(s) could not be hot-plugged' in outcome.notes[0]


def test_run_without_a_warm_appliance_launches_as_before(tmp_path, worker):
    started = worker('fake')
    outcome = appliance.run([job('/d0.qcow2', 0, [file_item('/x')])],
                            settings(tmp_path, accelerator='tcg'), OnePool(None))
    assert len(started) == 1 and not outcome.warm and outcome.timings['launch'] > 0


def test_warm_launch_failure_raises_and_leaves_nothing_running(tmp_path, worker):
    started = worker('die')
    with pytest.raises(exception.ApplianceDied):
        appliance.launch_warm(settings(tmp_path, accelerator='tcg'))
    assert started[0].returncode is not None


def test_hanging_warm_launch_is_killed(tmp_path, worker):
    started = worker('hang')
    with pytest.raises(exception.ApplianceTimeout):
        appliance.launch_warm(settings(tmp_path, accelerator='tcg', launch_timeout=1))
    assert started[0].returncode == -signal.SIGKILL


def test_an_unused_warm_appliance_shuts_down_cleanly(tmp_path, worker):
    worker('fake')
    warm = appliance.launch_warm(settings(tmp_path, accelerator='tcg'))
    warm.stop()
    assert warm.proc.returncode == 0 and not warm.alive()
