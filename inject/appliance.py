"""Launching the appliance: accelerator choice, an isolated worker, and deadlines.

Every appliance session runs in a worker process of its own (its own process group, so
qemu is in it too). The parent waits for each stage with a deadline -- the launch, each
disk's work, the shutdown -- and on expiry kills the whole group: a hung qemu never hangs
the caller, and the caller learns which stage hung and for how long.

Accelerator ``auto``: TCG when /dev/kvm is missing or not accessible; otherwise KVM is
tried once with a short deadline (``kvm_probe_timeout``). If it fails (on some hosts qemu
aborts with "failed to set MSR") or hangs, the session is relaunched under TCG and the
outcome is remembered in ``cache_dir`` for this kernel and qemu, so later launches go
straight to what works.
"""

import contextlib
import dataclasses
import glob
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import connection

from inject import appliance_kernel
from inject import exception
from inject import fileutils
from inject import vfs
from inject.vfs import api

LOG = logging.getLogger(__name__)

KVM_DEVICE = '/dev/kvm'
QEMU_BINARY = '/usr/bin/qemu-system-x86_64'
RECORD_NAME = 'accelerator.json'
KERNEL_RECORD_NAME = 'kernel-boot.json'
PVH_APPLIANCE_DIR = 'pvh-appliance'

_running_lock = threading.Lock()
_running = 0         # appliance sessions of this process now running (for smp auto)


@dataclasses.dataclass(frozen=True)
class Settings:
    accelerator: str = 'auto'
    memsize: int = 512
    smp: int = 0             # 0: auto (see launch_settings)
    kernel_boot: str = 'stock'
    launch_timeout: float = 180
    kvm_probe_timeout: float = 60
    inject_timeout: float = 120
    cache_dir: str = None
    debug: bool = False
    driver: str = vfs.DEFAULT_DRIVER

    @classmethod
    def from_conf(cls, conf):
        a = conf.appliance
        return cls(accelerator=a.accelerator, memsize=a.memsize, smp=a.smp,
                   kernel_boot=a.kernel_boot, launch_timeout=a.launch_timeout, kvm_probe_timeout=a.kvm_probe_timeout,
                   inject_timeout=a.inject_timeout, cache_dir=a.cache_dir, debug=a.debug)


@dataclasses.dataclass
class Job:
    """The work on one drive of the appliance."""
    drive: api.Drive
    image_name: str          # the caller's disk, for messages
    partition: int
    items: list              # [inject.injection.Item]
    layout: list = None      # with partition -1: a layout remembered for its base image


@dataclasses.dataclass
class JobOutcome:
    results: list = dataclasses.field(default_factory=list)   # [report.ItemResult]
    mountpoints: list = dataclasses.field(default_factory=list)
    layout: list = dataclasses.field(default_factory=list)     # relative to the drive
    source: str = None       # how the root was found (see vfs.api.Filesystem.source)
    error: str = None        # the disk could not be mounted / worked on at all
    timings: dict = dataclasses.field(default_factory=dict)
    unattached: bool = False  # a warm appliance could not hot-plug it: nothing touched it


@dataclasses.dataclass
class SessionOutcome:
    accelerator: str = None
    jobs: list = dataclasses.field(default_factory=list)     # [JobOutcome], job order
    error: str = None        # launch or shutdown failed: no job's writes can be trusted
    notes: list = dataclasses.field(default_factory=list)
    timings: dict = dataclasses.field(default_factory=dict)
    kernel_boot: str = None  # 'pvh' or 'stock'
    smp: int = None
    warm: bool = False       # a warm appliance (launched ahead, disks hot-plugged)


# --- accelerator choice ---------------------------------------------------------------

def kvm_usable():
    """(True, None) when /dev/kvm can be opened read-write, else (False, why)."""
    if not os.path.exists(KVM_DEVICE):
        return False, '%s does not exist' % KVM_DEVICE
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return False, '%s is not readable and writable by this user' % KVM_DEVICE
    return True, None


def _host_key():
    try:
        qemu = '%s@%d' % (QEMU_BINARY, os.stat(QEMU_BINARY).st_mtime)
    except OSError:
        qemu = QEMU_BINARY + '@missing'
    return '%s %s' % (os.uname().release, qemu)


def _record_path(settings, name):
    return os.path.join(settings.cache_dir, name) if settings.cache_dir else None


def read_record(settings, name=RECORD_NAME):
    """The remembered outcome of the last KVM probe (or, with KERNEL_RECORD_NAME, PVH
    boot) on this kernel and qemu, or None."""
    path = _record_path(settings, name)
    try:
        with open(path) as f:
            record = json.load(f)
    except (TypeError, OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get('host') == _host_key() else None


def _write_record(settings, accelerator, reason, name=RECORD_NAME):
    path = _record_path(settings, name)
    if not path:
        return
    try:
        fileutils.atomic_write(path, json.dumps(
            {'host': _host_key(), 'accelerator': accelerator, 'reason': reason,
             'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}), mode=0o644)
    except OSError as e:
        LOG.warning('Cannot remember the accelerator probe in %s: %s', path, e)


def choose_accelerator(settings):
    """(accelerator, probing, why): ``probing`` means KVM is on trial (auto mode)."""
    if settings.accelerator in ('kvm', 'tcg'):
        return settings.accelerator, False, 'configured'
    usable, why = kvm_usable()
    if not usable:
        return 'tcg', False, why
    record = read_record(settings)
    if record and record['accelerator'] == 'tcg':
        return 'tcg', False, 'remembered: ' + record['reason']
    # KVM stays on trial: should it start failing, the session falls back to TCG.
    return 'kvm', True, ('remembered: ' + record['reason'] if record
                         else '%s is accessible; trying KVM' % KVM_DEVICE)


def boot_kernel(settings, accelerator):
    """The extracted kernel to PVH-boot (appliance_kernel.Kernel), or None for stock."""
    if settings.kernel_boot == 'stock' or (settings.kernel_boot == 'auto'
                                           and accelerator != 'tcg'):
        return None
    if read_record(settings, KERNEL_RECORD_NAME):
        return None       # PVH failed here before, and the stock kernel worked
    return appliance_kernel.prepare(settings.cache_dir)


def launch_settings(settings, accelerator, kernel=None, others_running=0, hotplug=False):
    """The driver's LaunchSettings, with smp auto resolved."""
    smp = settings.smp
    if not smp:
        smp = 1 if others_running else max(1, min(2, os.cpu_count() or 1))
    cache_dir = settings.cache_dir
    if kernel and cache_dir:
        # The PVH appliance is built apart: supermin would not notice the kernel change
        # in an appliance it has already built.
        cache_dir = os.path.join(cache_dir, PVH_APPLIANCE_DIR)
    return api.LaunchSettings(accelerator=accelerator, memsize=settings.memsize, smp=smp,
                              debug=settings.debug, cache_dir=cache_dir, kernel=kernel,
                              hotplug=hotplug)


# --- running a session ----------------------------------------------------------------

def run(jobs, settings, pool=None):
    """Launch one appliance holding every job's drive, do the jobs, shut it down.

    With a :class:`inject.warm_pool.WarmPool` that has an appliance ready for these jobs,
    no launch is waited for: their disks are hot-plugged into it. A disk it could not
    hot-plug (nothing touched it) goes into a freshly launched appliance instead.

    Never raises for appliance trouble: the outcome says what happened to each job.
    With no jobs, the appliance is launched on /dev/null alone (a self-test).
    """
    warm = pool.take(jobs) if pool is not None and jobs else None
    if warm is None:
        return _run_cold(jobs, settings)
    outcome = SessionOutcome(accelerator=warm.accelerator, kernel_boot=warm.kernel_boot,
                             smp=warm.smp, warm=True)
    outcome.timings['launch'] = 0.0
    outcome.timings['warm_launch'] = warm.launch_seconds
    LOG.info('Hot-plugging %d disk(s) into a warm appliance (%s, launched in %.1f s)',
             len(jobs), warm.accelerator, warm.launch_seconds)
    warm.send_jobs(jobs)
    _converse(warm.proc, warm.receiver, jobs, settings, warm.accelerator, outcome,
              first_stage=None, start=time.monotonic())
    again = [i for i, job in enumerate(outcome.jobs) if job.unattached]
    if again and outcome.error is None:
        cold = _run_cold([jobs[i] for i in again], settings)
        for i, job in zip(again, cold.jobs):
            job.timings.setdefault('launch', cold.timings.get('launch', 0.0))
            outcome.jobs[i] = job if cold.error is None else JobOutcome(error=cold.error)
        outcome.notes.append('%d disk(s) could not be hot-plugged into the warm '
                             'appliance and went into a fresh one' % len(again))
        outcome.notes.extend(cold.notes)
    return outcome


def _run_cold(jobs, settings):
    accelerator, probing, why = choose_accelerator(settings)
    outcome = SessionOutcome()
    LOG.info('Launching the appliance with %s (%s) for %d disk(s)', accelerator, why,
             len(jobs))
    kernel = boot_kernel(settings, accelerator)
    _session(jobs, settings, accelerator,
             settings.kvm_probe_timeout if probing else settings.launch_timeout, outcome,
             kernel)
    if probing:
        if outcome.accelerator is None:
            reason = 'KVM failed here (%s)' % outcome.error
            LOG.warning('%s; falling back to TCG', reason)
            _write_record(settings, 'tcg', reason)
            accelerator, kernel = 'tcg', boot_kernel(settings, 'tcg')
            outcome = SessionOutcome(notes=[reason + '; used TCG instead'])
            _session(jobs, settings, accelerator, settings.launch_timeout, outcome, kernel)
        else:
            _write_record(settings, 'kvm', 'KVM launched in %.1f s'
                          % outcome.timings['launch'])
    if outcome.accelerator is None and kernel is not None:
        # Launch failures rarely depend on the disks (their headers were checked), but
        # may: PVH is only blamed when the stock kernel then launches.
        reason = 'PVH boot of %s failed (%s)' % (kernel.path, outcome.error)
        LOG.warning('%s; retrying with the stock kernel', reason)
        retry = SessionOutcome(notes=outcome.notes + [reason + '; used the stock kernel'])
        _session(jobs, settings, accelerator, settings.launch_timeout, retry, None)
        if retry.accelerator is not None:
            _write_record(settings, accelerator, reason, KERNEL_RECORD_NAME)
            outcome = retry
    return outcome


@contextlib.contextmanager
def _counted():
    """Count a launch or session as running (for smp auto); yields how many others run."""
    global _running
    with _running_lock:
        others, _running = _running, _running + 1
    try:
        yield others
    finally:
        with _running_lock:
            _running -= 1


def _session(jobs, settings, accelerator, launch_timeout, outcome, kernel=None):
    with _counted() as others:
        _session_counted(jobs, settings, accelerator, launch_timeout, outcome,
                         launch_settings(settings, accelerator, kernel, others))


def _session_counted(jobs, settings, accelerator, launch_timeout, outcome, launching):
    drives = [job.drive for job in jobs] or [api.Drive('/dev/null', 'raw', readonly=True)]
    outcome.kernel_boot = 'pvh' if launching.kernel else 'stock'
    outcome.smp = launching.smp
    start = time.monotonic()
    worker = _start_worker(worker_arguments(settings, drives, launching, jobs))
    _converse(worker, receiver_of(worker), jobs, settings, accelerator, outcome,
              ('launch', launch_timeout), start)


def worker_arguments(settings, drives, launching, jobs):
    """What a worker reads first on its stdin (jobs None: launch warm, jobs come later)."""
    return (settings.driver, drives, launching, jobs,
            logging.DEBUG if settings.debug else logging.INFO)


def receiver_of(worker):
    """The end of the worker's stdout that its messages arrive on."""
    receiver = connection.Connection(os.dup(worker.stdout.fileno()), writable=False)
    worker.stdout.close()
    return receiver


def _converse(worker, receiver, jobs, settings, accelerator, outcome, first_stage, start):
    """Follow the worker's messages into ``outcome`` until it shuts down, dies or misses
    a deadline. ``first_stage``: ('launch', seconds), or None when it has launched."""
    pending = list(range(len(jobs)))
    outcome.jobs = [None] * len(jobs)
    if first_stage is None:
        stage = ('work on %s' % jobs[0].image_name) if jobs else 'shutdown'
        seconds = settings.inject_timeout
    else:
        stage, seconds = first_stage
    deadline = time.monotonic() + seconds
    try:
        while True:
            message = _receive(receiver, worker, stage, seconds, deadline, accelerator)
            kind = message[0]
            if kind == 'log':
                LOG.log(message[1], '[appliance] %s', message[2])
                continue
            if kind == 'launched':
                outcome.accelerator = accelerator
                outcome.timings['launch'] = message[1]
            elif kind == 'launch_failed':
                outcome.error = message[1]
                break
            elif kind == 'job':
                outcome.jobs[message[1]] = message[2]
                pending.remove(message[1])
            elif kind == 'shutdown':
                outcome.timings['shutdown'] = message[1]
                if message[2]:
                    outcome.error = message[2]
                break
            stage = ('work on %s' % jobs[pending[0]].image_name) if pending else 'shutdown'
            seconds = settings.inject_timeout
            deadline = time.monotonic() + seconds
    except exception.InjectError as e:
        outcome.error = str(e)
        _kill(worker)
    finally:
        receiver.close()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            _kill(worker)
        outcome.timings['session'] = time.monotonic() - start
    for index in pending:
        outcome.jobs[index] = JobOutcome(
            error=outcome.error or 'the appliance stopped before this disk was done')


# --- warm appliances -----------------------------------------------------------------

@dataclasses.dataclass
class Warm:
    """A launched appliance holding no disk, its worker waiting for jobs."""
    proc: subprocess.Popen
    receiver: connection.Connection
    accelerator: str
    kernel_boot: str
    smp: int
    launch_seconds: float

    def alive(self):
        return self.proc.poll() is None

    def send_jobs(self, jobs):
        send_jobs(self.proc, jobs)

    def stop(self, timeout=30):
        """Shut it down unused (killed if it does not go within ``timeout``)."""
        send_jobs(self.proc, None)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill(self.proc)
        self.receiver.close()


def launch_warm(settings):
    """Launch an appliance with no disk, for disks hot-plugged later; returns a
    :class:`Warm` once it is up. Raises InjectError when the launch fails or hangs
    (the caller's cold launches then settle KVM or PVH trouble, with their fallbacks)."""
    accelerator, probing, _ = choose_accelerator(settings)
    kernel = boot_kernel(settings, accelerator)
    seconds = settings.kvm_probe_timeout if probing else settings.launch_timeout
    with _counted() as others:
        launching = launch_settings(settings, accelerator, kernel, others, hotplug=True)
        proc = _start_worker(worker_arguments(settings, [], launching, None),
                             keep_stdin=True)
        receiver = receiver_of(proc)
        deadline = time.monotonic() + seconds
        try:
            while True:
                message = _receive(receiver, proc, 'launch', seconds, deadline, accelerator)
                if message[0] == 'log':
                    LOG.log(message[1], '[warm appliance] %s', message[2])
                elif message[0] == 'launched':
                    break
                else:
                    raise exception.InjectError(str(message[1]))
        except BaseException:
            receiver.close()
            _kill(proc)
            raise
    return Warm(proc, receiver, accelerator, 'pvh' if kernel else 'stock', launching.smp,
                message[1])


#: the worker's module (run with python -m); tests stand in workers that hang or die
WORKER_MODULE = 'inject.cmd.appliance_worker'


def _start_worker(arguments, keep_stdin=False):
    """Start the worker in a session of its own, so killing its group reaches qemu.

    ``keep_stdin``: a warm worker's stdin stays open for its jobs (send_jobs).
    """
    worker = subprocess.Popen([sys.executable, '-m', WORKER_MODULE],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              start_new_session=True)
    try:
        worker.stdin.write(pickle.dumps(arguments))
        if keep_stdin:
            worker.stdin.flush()
        else:
            worker.stdin.close()
    except BrokenPipeError:
        pass
    return worker


def send_jobs(worker, jobs):
    """Hand a warm worker its jobs (None: shut down unused), and close its stdin."""
    try:
        worker.stdin.write(pickle.dumps(jobs))
        worker.stdin.close()
    except (BrokenPipeError, ValueError):
        pass          # it is gone; the conversation that follows says so


def _receive(receiver, worker, stage, seconds, deadline, accelerator):
    """The worker's next message, or ApplianceTimeout once ``deadline`` has passed
    (``seconds`` is the stage's allowance, for the message)."""
    try:
        ready = receiver.poll(max(0.0, deadline - time.monotonic()))
    except (EOFError, OSError):
        ready = True
    if not ready:
        if stage == 'launch':
            hint = ('KVM seems to hang on this host: set [appliance]accelerator = tcg.'
                    if accelerator == 'kvm' else
                    'If this host is only slow, raise [appliance]launch_timeout.')
        else:
            hint = 'The disk may be damaged or hostile; nothing was written to it.'
        raise exception.ApplianceTimeout(stage=stage, seconds=seconds,
                                         accelerator=accelerator, hint=hint)
    try:
        return receiver.recv()
    except Exception:       # EOF, a broken pipe, or a garbled message: the worker is gone
        try:
            code = worker.wait(5)
        except subprocess.TimeoutExpired:
            code = 'none yet'
        raise exception.ApplianceDied(stage=stage, reason='exit code %s' % code)


def _kill(worker):
    """Kill the worker's process group: the worker, qemu, and libguestfs's helpers."""
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    worker.wait()


# --- the worker process ---------------------------------------------------------------

class _PipeHandler(logging.Handler):
    def __init__(self, send):
        super().__init__()
        self._send = send

    def emit(self, record):
        try:
            self._send(('log', record.levelno, record.getMessage()))
        except Exception:
            pass


def worker_main():
    """The worker process: arguments come pickled on stdin, messages go out on stdout."""
    sender = connection.Connection(os.dup(1), readable=False)
    os.dup2(2, 1)          # stray prints from libraries go to stderr, not the channel
    driver_name, drives, launch_settings, jobs, level = pickle.load(sys.stdin.buffer)
    root = logging.getLogger('inject')
    root.handlers[:] = [_PipeHandler(sender.send)]
    root.setLevel(level)
    root.propagate = False

    def receive_jobs():
        try:
            return pickle.load(sys.stdin.buffer)
        except EOFError:
            return None
    try:
        serve(sender.send, vfs.load_driver(driver_name), drives, launch_settings, jobs,
              receive_jobs)
    except exception.InjectError as e:
        sender.send(('launch_failed', str(e)))
    finally:
        sender.close()


def serve(send, driver, drives, launch_settings, jobs, receive_jobs=None):
    """The worker's work, in-process: launch, each job in turn, shutdown.

    With ``launch_settings.hotplug`` the appliance is launched warm, holding no disk:
    ``receive_jobs()`` then waits for the jobs (None: shut down unused), and each job's
    disk is hot-plugged before its work.

    Reports through ``send``: ('launched', s), ('launch_failed', why),
    ('job', index, JobOutcome), ('shutdown', s, error or None).
    """
    from inject import injection   # the worker's only need for it

    start = time.monotonic()
    try:
        appliance = driver.launch(drives, launch_settings)
    except exception.ApplianceLaunchFailed as e:
        send(('launch_failed', '%s%s' % (e, _launch_hint(str(e)))))
        return
    send(('launched', time.monotonic() - start))
    try:
        if launch_settings.hotplug:
            jobs = receive_jobs() or []
        for index, job in enumerate(jobs):
            outcome = JobOutcome()
            t0 = time.monotonic()
            drive = index
            if launch_settings.hotplug:
                try:
                    drive = appliance.attach(job.drive)
                except exception.InjectError as e:
                    LOG.warning('Cannot hot-plug %s: %s', job.image_name, e)
                    send(('job', index, JobOutcome(
                        error=str(e), unattached=not getattr(e, 'touched', False))))
                    continue
                outcome.timings['attach'] = time.monotonic() - t0
                t0 = time.monotonic()
            try:
                fs = appliance.mount(drive, job.partition, job.image_name, job.layout)
                outcome.mountpoints = [list(m) for m in fs.mountpoints]
                outcome.layout = [list(m) for m in fs.layout]
                outcome.source = fs.source
                t1 = time.monotonic()
                outcome.timings['mount'] = t1 - t0
                outcome.results = injection.apply(fs, job.items)
                outcome.timings['writes'] = time.monotonic() - t1
                fs.unmount()
            except exception.InjectError as e:
                outcome.error = str(e)
            except Exception as e:   # a bug must fail this disk only, not the batch
                LOG.exception('Unexpected error working on %s', job.image_name)
                outcome.error = 'internal error: %s: %s' % (type(e).__name__, e)
                _unmount_quietly(appliance)
            send(('job', index, outcome))
        t2 = time.monotonic()
        error = None
        try:
            appliance.shutdown()
        except exception.InjectError as e:
            error = str(e)
        send(('shutdown', time.monotonic() - t2, error))
    finally:
        appliance.close()


def _unmount_quietly(appliance):
    try:
        appliance.handle.umount_all()
    except Exception:
        pass


def kernels_readable():
    """(readable, unreadable) lists of /boot/vmlinuz-* for supermin's appliance build."""
    readable, unreadable = [], []
    for path in sorted(glob.glob('/boot/vmlinuz-*')):
        (readable if os.access(path, os.R_OK) else unreadable).append(path)
    return readable, unreadable


def _launch_hint(message):
    lower = message.lower()
    if 'msr' in lower or 'kvm' in lower:
        return (' KVM does not work on this host: set [appliance]accelerator = tcg '
                '(auto falls back to TCG by itself).')
    if 'kernel' in lower or 'vmlinuz' in lower or 'supermin' in lower:
        readable, unreadable = kernels_readable()
        if unreadable:
            return (' libguestfs cannot read the host kernel to build its appliance: '
                    'chmod 0644 %s.' % ' '.join(unreadable))
        if not readable:
            return (' libguestfs needs a kernel in /boot to build its appliance: install '
                    'linux-image-amd64.')
    if 'qemu' in lower and ('not found' in lower or 'no such file' in lower):
        return ' Install qemu-system-x86.'
    if 'permission denied' in lower:
        return (' Check that [appliance]cache_dir is writable by this user.')
    return (' Run "inject status" with [appliance]debug = true (or libguestfs-test-tool) '
            'to see the appliance console.')

