"""Warm appliances: launched with no disk (real worker processes), hot-plugged by run(),
and their pool (appliances launched ahead, one batch each, refilled, backed off)."""

import signal
import threading
import time
import types

import pytest

from inject import exception
from inject import report
from inject.appliance import session
from inject.appliance import warm
from tests.unit.appliance.base import file_item
from tests.unit.appliance.base import job
from tests.unit.appliance.base import settings
from tests.unit.appliance.test_session import gone


# --- launching one, and run() hot-plugging into it ------------------------------------------

class OnePool:
    """Hands out one warm appliance, once."""

    def __init__(self, ready):
        self.ready = ready

    def take(self, jobs, owner=None):
        self.owner = owner
        ready, self.ready = self.ready, None
        return ready

    def release(self, warm, owner, reusable=True):
        self.released = (owner, reusable)
        warm.stop()


def test_run_hot_plugs_disks_into_a_warm_appliance(tmp_path, worker):
    started = worker('fake')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='stock')
    ready = warm.launch_warm(s)
    assert ready.alive() and (ready.accelerator, ready.kernel_boot) == ('tcg', 'stock')
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')]),
                           job('/d1.qcow2', 0, [file_item('/etc')])], s, OnePool(ready))
    assert len(started) == 1                           # no launch for the request
    assert (outcome.warm, outcome.error, outcome.accelerator) == (True, None, 'tcg')
    assert outcome.timings['launch'] == 0.0
    assert outcome.timings['warm_launch'] == ready.launch_seconds
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    assert [r.status for r in outcome.jobs[1].results] == [report.FAILED]   # its own
    assert 'attach' in outcome.jobs[0].timings
    assert [j.released for j in outcome.jobs] == [True, True]     # both detached
    assert ready.proc.returncode == 0                  # given back, and shut down


def test_a_disk_the_warm_appliance_cannot_take_goes_into_a_fresh_one(tmp_path, worker,
                                                                     monkeypatch):
    started = worker('fake')
    monkeypatch.setenv('FAKE_HOTPLUG_ERROR', '/d1.qcow2')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='stock')
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')]),
                           job('/d1.qcow2', 0, [file_item('/y')])], s,
                          OnePool(warm.launch_warm(s)))
    assert len(started) == 2                           # the warm one, then a cold one
    assert outcome.error is None
    assert [[r.status for r in j.results] for j in outcome.jobs] == [
        [report.INJECTED], [report.INJECTED]]
    assert 'launch' in outcome.jobs[1].timings         # it paid for its launch
    assert '1 disk(s) could not be hot-plugged' in outcome.notes[0]


def test_run_without_a_warm_appliance_launches_as_before(tmp_path, worker):
    started = worker('fake')
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])],
                          settings(tmp_path, accelerator='tcg'), OnePool(None))
    assert len(started) == 1 and not outcome.warm and outcome.timings['launch'] > 0


def test_warm_launch_failure_raises_and_leaves_nothing_running(tmp_path, worker):
    started = worker('die')
    with pytest.raises(exception.ApplianceDied):
        warm.launch_warm(settings(tmp_path, accelerator='tcg'))
    assert started[0].returncode is not None


def test_hanging_warm_launch_is_killed(tmp_path, worker):
    started = worker('hang')
    with pytest.raises(exception.ApplianceTimeout):
        warm.launch_warm(settings(tmp_path, accelerator='tcg', launch_timeout=1))
    assert started[0].returncode == -signal.SIGKILL


def test_close_kills_a_launch_under_way_and_what_it_started(tmp_path, worker,
                                                            monkeypatch):
    """The agent stops: a warm launch that hangs (as KVM may) does not outlive it."""
    started = worker('fake')
    monkeypatch.setenv('FAKE_HANG_KVM', '1')
    monkeypatch.setenv('FAKE_QEMU_DIR', str(tmp_path))
    pool = warm.WarmPool(settings(tmp_path, accelerator='kvm', launch_timeout=600), 1, 4)
    pool.start()
    wait_until((tmp_path / 'pids').exists, 30)
    _, qemu = map(int, (tmp_path / 'pids').read_text().split())
    pool.close()
    wait_until(lambda: started[0].poll() is not None and gone(qemu), 10)
    assert started[0].returncode == -signal.SIGKILL
    wait_until(lambda: pool.last_error is not None, 10)
    assert 'died during launch' in pool.last_error
    assert pool._timer is None                 # closed: no retry is planned


def test_an_unused_warm_appliance_shuts_down_cleanly(tmp_path, worker):
    worker('fake')
    ready = warm.launch_warm(settings(tmp_path, accelerator='tcg'))
    ready.stop()
    assert ready.proc.returncode == 0 and not ready.alive()


# --- the pool -------------------------------------------------------------------------------


class FakeWarm:
    accelerator, kernel_boot, launch_seconds = 'tcg', 'pvh', 12.0

    def __init__(self, n):
        self.n, self.stopped, self.dead = n, False, False
        self.proc = type('Proc', (), {'returncode': None})()
        self.receiver = type('Receiver', (), {'close': lambda self: None})()

    def alive(self):
        return not self.dead

    def stop(self):
        self.stopped = True


class Launcher:
    """Stands in for warm.launch_warm: numbered FakeWarms, or failures. ``started``
    holds the launch threads the pool started: a pool decides to launch in refill(),
    synchronously, so right after the call that would have launched, ``started`` says
    whether it did, however slow the thread is."""

    def __init__(self):
        self.count = 0
        self.fail = None
        self.gate = threading.Event()
        self.gate.set()
        self.started = []

    def thread(self, *args, **kwargs):
        thread = threading.Thread(*args, **kwargs)
        if kwargs.get('name') == 'inject-warm-launch':
            self.started.append(thread)
        return thread

    def finish(self):
        """Wait (with a deadline) for every launch started so far to be over."""
        for thread in list(self.started):
            thread.join(DEADLINE)
            assert not thread.is_alive(), 'a launch did not end in %d s' % DEADLINE

    def __call__(self, settings, workers=None):
        self.gate.wait(10)
        self.count += 1
        if self.fail:
            raise RuntimeError(self.fail)
        return FakeWarm(self.count)


# Bounds a wait for fake launches and threads: a hang guard, not a speed check.
DEADLINE = 30


def wait_until(predicate, seconds=DEADLINE):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture
def launcher(monkeypatch):
    launcher = Launcher()
    monkeypatch.setattr(warm, 'threading', types.SimpleNamespace(
        Thread=launcher.thread, Timer=threading.Timer, Lock=threading.Lock))
    return launcher


def pool_of(launcher, size=1, max_disks=4, enabled=lambda: True, linger=0.0):
    return warm.WarmPool(session.Settings(), size, max_disks, enabled=enabled,
                         launch=launcher, linger=linger)


def test_start_fills_the_pool(launcher):
    pool = pool_of(launcher, size=2).start()
    wait_until(lambda: pool.ready() == 2)
    assert launcher.count == 2


def test_take_hands_over_an_appliance_and_its_replacement_comes_after_the_batch(launcher):
    pool = pool_of(launcher).start()
    wait_until(lambda: pool.ready() == 1)
    taken = pool.take(['job'])
    assert taken.n == 1
    assert len(launcher.started) == 1         # no launch beside the running batch
    pool.release(taken, None)
    wait_until(lambda: pool.ready() == 1)
    assert pool.take(['job']).n == 2          # never the same appliance twice


def test_take_with_none_ready_does_not_wait(launcher):
    launcher.gate.clear()                      # launches hang
    pool = pool_of(launcher).start()
    t0 = time.monotonic()
    assert pool.take(['job']) is None
    assert time.monotonic() - t0 < 1
    launcher.gate.set()


@pytest.mark.parametrize('jobs', [[], ['j'] * 5])
def test_batches_outside_the_size_launch_their_own(launcher, jobs):
    pool = pool_of(launcher, max_disks=4).start()
    wait_until(lambda: pool.ready() == 1)
    assert pool.take(jobs) is None and pool.ready() == 1


def test_a_dead_appliance_is_not_handed_out(launcher):
    pool = pool_of(launcher, size=2).start()
    wait_until(lambda: pool.ready() == 2)
    first = pool._ready[0]
    first.dead = True
    assert pool.take(['job']) is not first


def test_disabled_pool_stays_empty_until_a_request_asks(launcher):
    pool = pool_of(launcher, enabled=lambda: False).start()
    assert launcher.started == []
    assert pool.take(['job']) is None          # this request launches its own...
    wait_until(lambda: pool.ready() == 1)      # ...and the pool fills for the next


def test_failed_launch_backs_off(launcher, monkeypatch):
    monkeypatch.setattr(warm, 'RETRY_FIRST', 0.2)
    launcher.fail = 'qemu: failed to set MSR'
    pool = pool_of(launcher).start()
    wait_until(lambda: pool.last_error is not None)
    assert 'failed to set MSR' in pool.last_error and pool.ready() == 0
    launcher.finish()
    started = len(launcher.started)
    pool.refill()                              # inside the back-off: nothing happens
    assert len(launcher.started) == started
    launcher.fail = None
    wait_until(lambda: pool.ready() == 1)      # the timer retried
    assert pool.last_error is None


def test_close_stops_idle_appliances_and_late_launches(launcher):
    pool = pool_of(launcher, size=2).start()
    wait_until(lambda: pool.ready() == 2)
    idle = list(pool._ready)
    launcher.gate.clear()
    pool.release(pool.take(['job']), None)     # a replacement launch is now running
    pool.close()
    assert all(w.stopped for w in idle[1:])
    launcher.gate.set()
    launcher.finish()
    assert launcher.count == 3
    assert pool.ready() == 0                   # the late one was stopped, not kept


# --- lingering for the same project ------------------------------------------------------

def test_an_appliance_lingers_for_its_own_project_only(launcher):
    pool = pool_of(launcher, size=2, linger=30).start()
    wait_until(lambda: pool.ready() == 2)
    used = pool.take(['job'], 'p1')
    pool.release(used, 'p1')
    assert pool.lingering() == 1 and not used.stopped
    other = pool.take(['job'], 'p2')           # another project: never the lingering one
    assert other is not used and other.n == 2
    assert pool.take(['job'], 'p1') is used    # its own project gets it back
    assert pool.lingering() == 0
    pool.close()


def test_a_lingering_appliance_is_stopped_when_its_time_is_up(launcher):
    pool = pool_of(launcher, linger=0.2).start()
    wait_until(lambda: pool.ready() == 1)
    used = pool.take(['job'], 'p1')
    pool.release(used, 'p1')
    wait_until(lambda: used.stopped)
    assert pool.lingering() == 0
    pool.close()


@pytest.mark.parametrize('owner, reusable, linger', [
    ('p1', False, 30),      # a disk did not come out cleanly
    (None, True, 30),       # nobody to linger for (the CLI)
    ('p1', True, 0),        # lingering is off
])
def test_an_appliance_that_may_not_linger_is_stopped(launcher, owner, reusable, linger):
    pool = pool_of(launcher, linger=linger).start()
    wait_until(lambda: pool.ready() == 1)
    used = pool.take(['job'], owner)
    pool.release(used, owner, reusable=reusable)
    wait_until(lambda: used.stopped)
    assert pool.lingering() == 0
    pool.close()


def test_at_most_size_appliances_linger_and_close_stops_them(launcher):
    pool = pool_of(launcher, size=1, linger=30).start()
    wait_until(lambda: pool.ready() == 1)
    first = pool.take(['job'], 'p1')
    pool.release(first, 'p1')
    second = FakeWarm(99)                      # another batch's, done at the same time
    pool.release(second, 'p2')
    wait_until(lambda: first.stopped)          # the oldest made way
    assert pool.lingering() == 1 and not second.stopped
    pool.close()
    assert second.stopped


# --- a warm launch with KVM on trial ------------------------------------------------------

def test_a_warm_launch_whose_kvm_fails_uses_tcg_and_remembers_it(tmp_path, worker,
                                                                  monkeypatch):
    import json
    from inject.appliance import accelerator as accel
    started = worker('fake')
    monkeypatch.setenv('FAKE_LAUNCH_ERROR_KVM', 'qemu: failed to set MSR 0x48b')
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    s = settings(tmp_path, kernel_boot='stock')
    ready = warm.launch_warm(s)
    try:
        assert len(started) == 2 and ready.accelerator == 'tcg' and ready.alive()
        record = json.loads((tmp_path / 'cache' / accel.RECORD_NAME).read_text())
        assert record['accelerator'] == 'tcg' and 'failed to set MSR' in record['reason']
    finally:
        ready.stop()
    assert accel.choose_accelerator(s)[:2] == ('tcg', False)   # the next goes straight


def test_a_warm_launch_with_working_kvm_remembers_it(tmp_path, worker, monkeypatch):
    import json
    from inject.appliance import accelerator as accel
    worker('fake')
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    ready = warm.launch_warm(settings(tmp_path, kernel_boot='stock'))
    ready.stop()
    assert ready.accelerator == 'kvm'
    record = json.loads((tmp_path / 'cache' / accel.RECORD_NAME).read_text())
    assert record['accelerator'] == 'kvm'


def test_no_replacement_is_launched_while_the_pools_other_appliance_works(launcher):
    """A burst split over both appliances: the first one done lingers, and nothing is
    launched beside the second one's batch (a third appliance would take the memory
    and CPU the batch uses); once both are back the pool is full."""
    pool = pool_of(launcher, size=2, linger=30).start()
    wait_until(lambda: pool.ready() == 2)
    first, second = pool.take(['job'], 'p1'), pool.take(['job'], 'p1')
    pool.release(first, 'p1')
    assert len(launcher.started) == 2 and pool.lingering() == 1
    pool.release(second, 'p1')
    assert len(launcher.started) == 2 and pool.lingering() == 2
    pool.close()


def test_nothing_is_launched_once_refills_stop(launcher):
    pool = pool_of(launcher, size=1).start()
    wait_until(lambda: pool.ready() == 1)
    taken = pool.take(['job'])
    pool.stop_refills()                        # the agent is stopping
    pool.release(taken, None)
    assert len(launcher.started) == 1
    wait_until(lambda: taken.stopped)
    pool.close()


def test_an_appliance_that_failed_its_batch_frees_its_place(launcher):
    pool = pool_of(launcher, size=1, linger=30).start()
    wait_until(lambda: pool.ready() == 1)
    broken = pool.take(['job'], 'p1')
    pool.release(broken, 'p1', reusable=False)
    wait_until(lambda: broken.stopped)
    wait_until(lambda: pool.ready() == 1)      # a fresh one in its place
    assert launcher.count == 2 and pool.lingering() == 0
    pool.close()


def test_a_lingering_appliance_counts_toward_the_pool_size(launcher):
    pool = pool_of(launcher, size=1, linger=0.3).start()
    wait_until(lambda: pool.ready() == 1)
    used = pool.take(['job'], 'p1')
    pool.release(used, 'p1')                   # lingers: the pool holds its one
    assert len(launcher.started) == 1 and pool.ready() == 0 and pool.lingering() == 1
    wait_until(lambda: used.stopped)           # its time is up...
    wait_until(lambda: pool.ready() == 1)      # ...and a fresh one takes its place
    assert launcher.count == 2
    pool.close()


def test_a_disk_not_detached_is_flushed_by_a_shutdown_before_the_run_returns(
        tmp_path, worker, monkeypatch):
    """Its overlay is committed after run() returns: qemu must be done with it by then,
    so the appliance shuts down (and never lingers) instead of going back to the pool."""
    worker('fake')
    monkeypatch.setenv('FAKE_DETACH_ERROR', '1')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='stock')
    ready = warm.launch_warm(s)
    pool = OnePool(ready)
    seen = []
    outcome = session.run([job('/d0.qcow2', 0, [file_item('/x')])], s, pool,
                          owner='p1', on_job=lambda *args: seen.append(args))
    assert seen == []                                  # not released: not finished early
    assert not outcome.jobs[0].released and outcome.error is None
    assert [r.status for r in outcome.jobs[0].results] == [report.INJECTED]
    assert 'shutdown' in outcome.timings
    assert ready.proc.returncode == 0                  # gone before run() returned
    assert pool.released == ('p1', False)              # handed back, never to linger


def test_a_warm_appliance_goes_back_to_the_pool_when_the_caller_fails(tmp_path, worker):
    """Whatever goes wrong on the caller's side (here its on_job callback), the taken
    appliance is handed back (never to linger), so its place in the pool is not lost."""
    worker('fake')
    s = settings(tmp_path, accelerator='tcg', kernel_boot='stock')
    ready = warm.launch_warm(s)
    pool = OnePool(ready)

    def broken(*args):
        raise RuntimeError('commit bookkeeping failed')
    with pytest.raises(RuntimeError, match='commit bookkeeping failed'):
        session.run([job('/d0.qcow2', 0, [file_item('/x')])], s, pool, owner='p1',
                    on_job=broken)
    assert pool.released == ('p1', False)
    ready.proc.wait(30)
