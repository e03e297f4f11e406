"""Sessions: run() with real worker processes (stand-ins from tests.unit.workers), their
deadlines, and the KVM-to-TCG and PVH-to-stock fallbacks."""

import json
import os
import signal
import threading
import time

from inject import exception
from inject import report
from inject.appliance import accelerator as accel
from inject.appliance import channel
from inject.appliance import session
from tests.unit.appliance.base import file_item
from tests.unit.appliance.base import job
from tests.unit.appliance.base import KERNEL
from tests.unit.appliance.base import settings


def test_settings_from_conf(conf, override):
    override('accelerator', 'tcg', 'appliance')
    override('inject_timeout', 30, 'appliance')
    override('tb_size', 32, 'appliance')
    override('warm_max_disks', 6, 'appliance')
    s = session.Settings.from_conf(conf)
    assert (s.accelerator, s.inject_timeout, s.memsize, s.driver) == ('tcg', 30, 0,
                                                                        'guestfs')
    assert (s.tb_size, s.warm_max_disks) == (32, 6)


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


# --- deadlines ---------------------------------------------------------------------------

def test_hanging_launch_is_killed(tmp_path, worker, monkeypatch):
    started = worker('hang')
    pidfile = tmp_path / 'pids'
    monkeypatch.setenv('INJECT_TEST_PIDFILE', str(pidfile))
    t0 = time.monotonic()
    outcome = session.run([job('/d0.qcow2'), job('/d1.qcow2')],
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
    outcome = session.run([job('/d0.qcow2')],
                          settings(tmp_path, accelerator='tcg', launch_timeout=1))
    assert time.monotonic() - t0 < 8
    assert 'did not finish launch within 1 s' in outcome.error
    assert started[0].returncode == -signal.SIGKILL


def test_dying_worker_is_reported(tmp_path, worker):
    worker('die')
    outcome = session.run([job('/d0.qcow2')], settings(tmp_path, accelerator='tcg'))
    assert outcome.accelerator is None
    assert outcome.error == str(exception.ApplianceDied(stage='launch',
                                                        reason='exit code 3'))
    assert outcome.jobs[0].error == outcome.error


def test_run_with_fake_worker(tmp_path, worker):
    worker('fake')
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/etc/x')]),
                           job('/d1.qcow2', 0, [file_item('/etc')])],
                          settings(tmp_path, accelerator='tcg'))
    assert outcome.error is None
    assert outcome.accelerator == 'tcg'
    assert {'launch', 'shutdown', 'session'} <= set(outcome.timings)
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    assert outcome.jobs[0].results[0].mode == '0644'
    assert [r.status for r in outcome.jobs[1].results] == [report.FAILED]
    assert not os.path.exists(tmp_path / 'cache' / accel.RECORD_NAME)


def test_hang_while_working_on_one_disk(tmp_path, worker, monkeypatch):
    worker('fake')
    monkeypatch.setenv('FAKE_HANG_MOUNT', '/dev/sdb')
    outcome = session.run(
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


# --- KVM on trial ------------------------------------------------------------------------

def test_failing_kvm_falls_back_to_tcg_and_is_remembered(tmp_path, worker, monkeypatch):
    started = worker('fake')
    monkeypatch.setenv('FAKE_LAUNCH_ERROR_KVM', 'qemu: failed to set MSR 0x48b')
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    s = settings(tmp_path)
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert len(started) == 2
    assert outcome.accelerator == 'tcg'
    assert outcome.error is None
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    [note] = outcome.notes
    assert 'KVM failed here' in note and 'failed to set MSR' in note
    assert note.endswith('used TCG instead')
    record = json.loads((tmp_path / 'cache' / accel.RECORD_NAME).read_text())
    assert record['accelerator'] == 'tcg'
    assert record['host'] == accel._host_key()
    assert 'failed to set MSR' in record['reason']
    accelerator, probing, why = accel.choose_accelerator(s)
    assert (accelerator, probing) == ('tcg', False) and why.startswith('remembered: ')


def test_hanging_kvm_falls_back_to_tcg(tmp_path, worker, monkeypatch):
    started = worker('fake')
    monkeypatch.setenv('FAKE_HANG_KVM', '1')
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    outcome = session.run([], settings(tmp_path, kvm_probe_timeout=1))
    assert outcome.accelerator == 'tcg'
    assert 'KVM seems to hang' in outcome.notes[0]
    assert started[0].returncode == -signal.SIGKILL
    assert accel.read_record(settings(tmp_path))['accelerator'] == 'tcg'


def test_working_kvm_is_remembered(tmp_path, worker, monkeypatch):
    worker('fake')
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    outcome = session.run([], settings(tmp_path))
    assert (outcome.accelerator, outcome.error, outcome.notes) == ('kvm', None, [])
    record = accel.read_record(settings(tmp_path))
    assert record['accelerator'] == 'kvm'
    assert record['reason'].startswith('KVM launched in ')


# --- PVH boot ----------------------------------------------------------------------------

def test_pvh_launch_passes_the_kernel_to_supermin(tmp_path, worker, extracted,
                                                  monkeypatch):
    worker('fake')
    record = tmp_path / 'launches'
    monkeypatch.setenv('FAKE_LAUNCH_RECORD', str(record))
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])],
                          settings(tmp_path, accelerator='tcg', kernel_boot='auto'))
    assert (outcome.accelerator, outcome.kernel_boot, outcome.error) == ('tcg', 'pvh', None)
    smp, kernel, cachedir = record.read_text().split()
    assert kernel == KERNEL.path and smp == str(outcome.smp)
    # built apart, one per extracted kernel file
    assert cachedir == str(tmp_path / 'cache' / 'pvh-appliance' / 'vmlinux-6.1')
    assert 'SUPERMIN_KERNEL' not in os.environ


def test_failing_pvh_falls_back_to_stock_and_is_remembered(tmp_path, worker, extracted,
                                                           monkeypatch):
    started = worker('fake')
    monkeypatch.setenv('FAKE_LAUNCH_ERROR_PVH', 'qemu: PVH entry not found')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='auto')
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert len(started) == 2
    assert (outcome.accelerator, outcome.kernel_boot, outcome.error) == ('tcg', 'stock',
                                                                         None)
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    [note] = outcome.notes
    assert 'PVH boot of %s failed' % KERNEL.path in note and 'PVH entry not found' in note
    assert note.endswith('used the stock kernel')
    assert 'PVH entry' in accel.read_record(s, accel.KERNEL_RECORD_NAME)['reason']
    # the next launch goes straight to the stock kernel
    started.clear()
    assert session.run([], s).kernel_boot == 'stock' and len(started) == 1


def test_pvh_is_not_blamed_when_the_stock_kernel_fails_too(tmp_path, worker, extracted):
    started = worker('die')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='pvh')
    outcome = session.run([job('/d0.qcow2')], s)
    # PVH twice (the failure says nothing about PVH yet), then stock
    assert len(started) == 3 and outcome.accelerator is None
    assert 'exit code 3' in outcome.error
    assert accel.read_record(s, accel.KERNEL_RECORD_NAME) is None


def kernels_launched(record):
    """The kernel of each launch the fake worker recorded: 'pvh' or 'stock'."""
    return ['stock' if line.split()[1] == '-' else 'pvh'
            for line in record.read_text().splitlines()]


def test_a_pvh_launch_failing_once_is_not_blamed(tmp_path, worker, extracted, monkeypatch):
    # qemu killed from outside during a PVH launch: libguestfs only says the appliance
    # crashed. PVH is launched again, works, and stays on.
    worker('fake')
    record = tmp_path / 'launches'
    monkeypatch.setenv('FAKE_LAUNCH_RECORD', str(record))
    monkeypatch.setenv('FAKE_PVH_FAILS_ONCE', str(tmp_path / 'failed-once'))
    s = settings(tmp_path, accelerator='tcg', kernel_boot='auto')
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert (outcome.accelerator, outcome.kernel_boot, outcome.error) == ('tcg', 'pvh', None)
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    assert kernels_launched(record) == ['pvh', 'pvh']
    [note] = outcome.notes
    assert 'appliance failed to start or crashed' in note and 'launched again' in note
    assert accel.read_record(s, accel.KERNEL_RECORD_NAME) is None
    assert session.run([], s).kernel_boot == 'pvh'


def test_a_killed_pvh_worker_is_not_blamed(tmp_path, worker, extracted, monkeypatch):
    started = worker('fake')
    record = tmp_path / 'launches'
    monkeypatch.setenv('FAKE_LAUNCH_RECORD', str(record))
    monkeypatch.setenv('FAKE_PVH_KILLED', '1')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='auto')
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert started[0].returncode == -signal.SIGKILL
    assert (outcome.accelerator, outcome.kernel_boot, outcome.error) == ('tcg', 'stock',
                                                                         None)
    assert kernels_launched(record) == ['pvh', 'stock']
    [note] = outcome.notes
    assert 'exit code -9' in note and 'says nothing about PVH' in note
    assert accel.read_record(s, accel.KERNEL_RECORD_NAME) is None
    monkeypatch.delenv('FAKE_PVH_KILLED')
    assert session.run([], s).kernel_boot == 'pvh'


def test_a_pvh_launch_past_its_deadline_is_not_blamed(tmp_path, worker, extracted,
                                                     monkeypatch):
    worker('fake')
    monkeypatch.setenv('FAKE_HANG_PVH', '1')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='auto', launch_timeout=1)
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert (outcome.accelerator, outcome.kernel_boot, outcome.error) == ('tcg', 'stock',
                                                                         None)
    assert 'did not finish launch within 1 s' in outcome.notes[0]
    assert accel.read_record(s, accel.KERNEL_RECORD_NAME) is None


def test_a_pvh_failure_reproduced_is_blamed(tmp_path, worker, extracted, monkeypatch):
    # Not a PVH-only message, but PVH fails twice the same way and stock works.
    worker('fake')
    record = tmp_path / 'launches'
    monkeypatch.setenv('FAKE_LAUNCH_RECORD', str(record))
    monkeypatch.setenv('FAKE_LAUNCH_ERROR_PVH', 'appliance closed the connection')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='auto')
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert (outcome.accelerator, outcome.kernel_boot, outcome.error) == ('tcg', 'stock',
                                                                         None)
    assert kernels_launched(record) == ['pvh', 'pvh', 'stock']
    assert 'failed twice' in accel.read_record(s, accel.KERNEL_RECORD_NAME)['reason']
    assert session.run([], s).kernel_boot == 'stock'


def test_pvh_only_failures_are_recognised():
    assert session.pvh_only_failure('qemu-system-x86_64: Error loading uncompressed '
                                    'kernel without PVH ELF Note')
    assert session.pvh_only_failure('launch: qemu: PVH entry not found')
    assert not session.pvh_only_failure('guestfs_launch failed.')
    assert not session.pvh_only_failure('appliance closed the connection unexpectedly')
    assert not session.pvh_only_failure(None)


# --- deadlines that scale with the host's speed and with what the appliance holds -------

def test_slowness_comes_from_the_launch_time():
    usual = accel.USUAL_LAUNCH_SECONDS['tcg']
    assert session.slowness('tcg', usual / 2) == 1.0          # never tighter than usual
    assert session.slowness('tcg', usual * 1.5) == 1.5        # a busy host
    assert session.slowness('tcg', usual * 50) == session.MAX_SLOWNESS
    assert session.slowness('tcg', None) == 1.0               # not launched yet
    assert session.slowness(None, 30) == 1.0


def test_inspection_allowance_grows_with_the_drives(tmp_path):
    s = settings(tmp_path, inject_timeout=100, inspect_timeout=50)
    plain = job('/d1', partition=1)
    inspect = job('/d2', partition=-1)
    remembered = job('/d3', partition=-1)
    remembered.layout = [['/', 'sda1']]
    assert session.work_allowance(s, plain, 4, 1.0) == 100
    assert session.work_allowance(s, remembered, 4, 1.0) == 100
    assert session.work_allowance(s, inspect, 1, 1.0) == 150
    assert session.work_allowance(s, inspect, 4, 1.0) == 300
    assert session.work_allowance(s, inspect, 4, 2.0) == 600


def test_timeout_message_names_the_stretched_allowance(tmp_path, monkeypatch):
    # A launch twice as slow as usual doubles the work deadline the message names.
    s = settings(tmp_path, inject_timeout=7, inspect_timeout=0)
    seen = []

    def receive(receiver, worker, stage, seconds, deadline, accelerator):
        seen.append((stage, seconds))
        raise exception.ApplianceTimeout(stage=stage, seconds=seconds,
                                         accelerator=accelerator, hint='')

    class Worker:
        def wait(self, timeout=None):
            return 0

    class Receiver:
        def close(self):
            pass

    monkeypatch.setattr(session, 'receive', receive)
    monkeypatch.setattr(session.channel, 'kill', lambda worker: None)
    outcome = session.SessionOutcome()
    usual = accel.USUAL_LAUNCH_SECONDS['tcg']
    session._converse(Worker(), Receiver(), [job('/d1', partition=1)], s, 'tcg', outcome,
                      first_stage=None, start=0, warm_launch=usual * 2)
    assert seen == [('work on /d1', 14)]
    assert 'within 14 s' in outcome.jobs[0].error


def test_kvm_launch_killed_from_outside_is_not_remembered(tmp_path, worker, monkeypatch):
    worker('fake')
    monkeypatch.setenv('FAKE_KVM_KILLED', '1')
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    s = settings(tmp_path)
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])], s)
    assert outcome.accelerator == 'tcg' and outcome.error is None
    assert 'not remembered' in outcome.notes[0]
    assert accel.read_record(s) is None
    assert accel.choose_accelerator(s)[1] is True        # KVM stays on trial


def test_killed_workers_end_a_hung_launch_and_any_started_later(tmp_path, worker,
                                                                monkeypatch):
    """What a stopping agent does once its drain is over: the hung launch ends at once
    (killed: not remembered against KVM), and so does any launch after it."""
    started = worker('fake')
    monkeypatch.setenv('FAKE_HANG_KVM', '1')
    monkeypatch.setenv('FAKE_QEMU_DIR', str(tmp_path))
    workers = channel.Workers()
    s = settings(tmp_path, accelerator='kvm', launch_timeout=600)
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(
        session.run([job('/d0.qcow2')], s, workers=workers)))
    thread.start()
    wait_for(str(tmp_path / 'pids'), 30)
    _, qemu = map(int, (tmp_path / 'pids').read_text().split())
    assert workers.kill() == 1
    thread.join(30)
    [outcome] = outcomes
    assert (outcome.failure, outcome.accelerator) == ('killed', None)
    assert 'exit code -9' in outcome.error
    assert gone(qemu)
    again = session.run([job('/d0.qcow2')],   # (a launch that is let run would time out)
                        settings(tmp_path, accelerator='kvm', launch_timeout=30),
                        workers=workers)
    assert again.failure == 'killed' and len(started) == 2
    assert not os.path.exists(tmp_path / 'cache' / accel.RECORD_NAME)
