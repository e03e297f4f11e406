"""Appliance sessions: one appliance launched for a batch of jobs, with deadlines.

Every session runs in a worker process of its own (its own process group, so qemu is in
it too; see :mod:`inject.appliance.channel`). The parent waits for each stage with a
deadline -- the launch, each disk's work, the shutdown -- and on expiry kills the whole
group: a hung qemu never hangs the caller, and the caller learns which stage hung and for
how long.

When KVM is on trial and fails, the session is relaunched under TCG; when a PVH boot
fails, it is relaunched (:func:`_retry_pvh`), and PVH is remembered as broken only when
the failure is PVH's own (:mod:`inject.appliance.accelerator` remembers both). A batch may instead be hot-plugged into a warm appliance
(:mod:`inject.appliance.warm`), launched before it was asked for.
"""

import dataclasses
import logging
import re
import signal
import subprocess
import time

from inject import exception
from inject import partitions
from inject import vfs
from inject.appliance import accelerator as accel
from inject.appliance import channel
from inject.vfs import api

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Settings:
    """How appliances are launched and waited for (the [appliance] options)."""
    accelerator: str = 'auto'
    memsize: int = 0         # the floor; see inject.appliance.memory.memsize
    smp: int = 0             # 0: auto (see accelerator.launch_settings)
    kernel_boot: str = 'stock'
    launch_timeout: float = 180
    kvm_probe_timeout: float = 60
    inject_timeout: float = 120
    inspect_timeout: float = 60
    cache_dir: str = None
    debug: bool = False
    driver: str = vfs.DEFAULT_DRIVER
    tb_size: int = 64        # TCG translation cache, MiB (0: qemu's default)
    warm_max_disks: int = 4  # what a warm appliance's memory is sized for

    @classmethod
    def from_conf(cls, conf):
        a = conf.appliance
        return cls(accelerator=a.accelerator, memsize=a.memsize, smp=a.smp,
                   kernel_boot=a.kernel_boot, launch_timeout=a.launch_timeout,
                   kvm_probe_timeout=a.kvm_probe_timeout,
                   inject_timeout=a.inject_timeout, inspect_timeout=a.inspect_timeout,
                   cache_dir=a.cache_dir, debug=a.debug, tb_size=a.tb_size,
                   warm_max_disks=a.warm_max_disks)


@dataclasses.dataclass
class Job:
    """The work on one drive of the appliance."""
    drive: api.Drive
    image_name: str          # the caller's disk, for messages
    partition: int
    items: list              # [inject.injection.Item]
    layout: list = None      # with partition -1: a layout remembered for its base image

    @property
    def may_inspect(self):
        """True when finding this disk's root may run libguestfs inspection."""
        return self.partition == partitions.INSPECT and not self.layout


@dataclasses.dataclass
class JobOutcome:
    results: list = dataclasses.field(default_factory=list)   # [report.ItemResult]
    mountpoints: list = dataclasses.field(default_factory=list)
    layout: list = dataclasses.field(default_factory=list)     # relative to the drive
    source: str = None       # how the root was found (see vfs.api.Filesystem.source)
    error: str = None        # the disk could not be mounted / worked on at all
    timings: dict = dataclasses.field(default_factory=dict)
    unattached: bool = False  # a warm appliance could not hot-plug it: nothing touched it
    released: bool = False   # hot-plugged and detached again: the appliance no longer
                             # holds the file, whatever happens to it later
    appliance: str = None    # set when not the session's (a fresh one took it)


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
    failure: str = None      # how it failed (one of FAILURE_KINDS), with ``error``
    appliance: str = None    # an id of the appliance: unique per launch on this host


#: SessionOutcome.failure: the worker reported a failed launch; a deadline passed (the
#: session killed the worker); the worker was killed by a signal it did not send itself
#: (kill -9, the OOM killer, a shutdown); the worker exited without saying why.
FAILURE_KINDS = ('launch-failed', 'timeout', 'killed', 'died')


# --- running a session ----------------------------------------------------------------

def run(jobs, settings, pool=None, owner=None, on_job=None, workers=None):
    """Launch one appliance holding every job's drive, do the jobs, shut it down.

    With a :class:`inject.appliance.warm.WarmPool` that has an appliance ready for these
    jobs (one of ``owner``'s that lingers after its last batch, else a fresh one), no
    launch is waited for: their disks are hot-plugged into it, and each is detached as
    soon as it is done, when ``on_job(index, JobOutcome, SessionOutcome so far)`` is
    called (the appliance no longer holds that disk: its overlay may be committed). The appliance then goes back
    to the pool, which keeps it for ``owner``'s next batch for a while or shuts it down
    off the caller's path. A disk it could not hot-plug (nothing touched it) goes into a
    freshly launched appliance instead.

    ``workers``: a :class:`inject.appliance.channel.Workers` the cold launches' workers
    are counted in (their owner may kill them when it stops).

    Never raises for appliance trouble: the outcome says what happened to each job.
    With no jobs, the appliance is launched on /dev/null alone (a self-test). Raises
    :class:`inject.exception.NotEnoughMemory` when the host cannot hold the appliance
    now (:func:`inject.appliance.memory.admit`): nothing was started.
    """
    warm = pool.take(jobs, owner) if pool is not None and jobs else None
    if warm is None:
        return _run_cold(jobs, settings, workers)
    outcome = SessionOutcome(accelerator=warm.accelerator, kernel_boot=warm.kernel_boot,
                             smp=warm.smp, warm=True, appliance=warm.appliance)
    outcome.timings['launch'] = 0.0
    outcome.timings['warm_launch'] = warm.launch_seconds
    LOG.info('Hot-plugging %d disk(s) into a warm appliance (%s, launched in %.1f s)',
             len(jobs), warm.accelerator, warm.launch_seconds)
    try:
        idle = _work_warm(warm, jobs, settings, outcome, on_job)
    except BaseException:
        pool.release(warm, owner, reusable=False)   # its place in the pool is free
        raise
    # Back to the pool either way: a reusable one may linger, any other is shut down
    # (if it still runs) and its place in the pool is free.
    pool.release(warm, owner, reusable=idle is not None)
    again = [i for i, job in enumerate(outcome.jobs) if job.unattached]
    if again and outcome.error is None:
        cold = _run_cold([jobs[i] for i in again], settings, workers)
        for i, job in zip(again, cold.jobs):
            job.timings.setdefault('launch', cold.timings.get('launch', 0.0))
            job.appliance = cold.appliance
            outcome.jobs[i] = job if cold.error is None else JobOutcome(error=cold.error)
        outcome.notes.append('%d disk(s) could not be hot-plugged into the warm '
                             'appliance and went into a fresh one' % len(again))
        outcome.notes.extend(cold.notes)
    return outcome


def _work_warm(warm, jobs, settings, outcome, on_job):
    """Hot-plug ``jobs`` into ``warm`` and follow the work; the worker's Idle when the
    appliance may serve again, else None (it died, or it was shut down because a disk
    could not be detached)."""
    warm.send_jobs(jobs)
    idle = _converse(warm.proc, warm.receiver, jobs, settings, warm.accelerator, outcome,
                     first_stage=None, start=time.monotonic(),
                     warm_launch=warm.launch_seconds, on_job=on_job)
    if idle is not None and not idle.reusable:
        # A disk is still in the appliance (it could not be detached): the appliance
        # shuts down now, flushing it, before that disk's overlay may be committed.
        done = outcome.jobs
        warm.send_jobs(None)
        _converse(warm.proc, warm.receiver, [], settings, warm.accelerator, outcome,
                  first_stage=None, start=time.monotonic(),
                  warm_launch=warm.launch_seconds)
        outcome.jobs = done
        return None
    return idle


def _run_cold(jobs, settings, workers=None):
    accelerator, probing, why = accel.choose_accelerator(settings)
    outcome = SessionOutcome()
    LOG.info('Launching the appliance with %s (%s) for %d disk(s)', accelerator, why,
             len(jobs))
    kernel = accel.boot_kernel(settings, accelerator)
    _session(jobs, settings, accelerator,
             settings.kvm_probe_timeout if probing else settings.launch_timeout, outcome,
             kernel, workers)
    if probing:
        if outcome.accelerator is None:
            reason = 'KVM failed here (%s)' % outcome.error
            note = reason + '; used TCG instead'
            if outcome.failure == 'killed':
                # Killed from outside (kill -9, the OOM killer): nothing learnt of KVM.
                note += ' (not remembered: the launch was killed from outside)'
            else:
                accel.write_record(settings, 'tcg', reason)
            LOG.warning('%s; falling back to TCG', reason)
            accelerator, kernel = 'tcg', accel.boot_kernel(settings, 'tcg')
            outcome = SessionOutcome(notes=[note])
            _session(jobs, settings, accelerator, settings.launch_timeout, outcome, kernel,
                     workers)
        else:
            accel.write_record(settings, 'kvm', 'KVM launched in %.1f s'
                               % outcome.timings['launch'])
    if outcome.accelerator is None and kernel is not None:
        outcome = _retry_pvh(jobs, settings, accelerator, kernel, outcome, workers)
    return outcome


# --- when a PVH boot fails ------------------------------------------------------------

#: failures only a PVH boot produces: qemu refusing the ELF kernel or its entry point
PVH_ONLY = re.compile(r'PVH|ELF note|uncompressed kernel|SUPERMIN_KERNEL|'
                      r'not a valid ELF|ELF (?:image|kernel|header)', re.IGNORECASE)


def pvh_only_failure(error):
    """True when ``error`` is of a kind only a PVH boot produces."""
    return bool(error and PVH_ONLY.search(error))


def external_failure(outcome):
    """True when a failed launch says nothing about the kernel: a deadline passed, or
    the worker was killed by a signal (kill -9, the OOM killer, a host shutdown)."""
    return outcome.failure in ('timeout', 'killed')


def _same_failure(first, second):
    """Whether two launch failures are the same one (numbers -- seconds, pids, addresses
    -- aside)."""
    def kind(outcome):
        return (outcome.failure, re.sub(r'0x[0-9a-f]+|\d+(?:\.\d+)?', '#',
                                        outcome.error or ''))
    return kind(first) == kind(second)


def _retry_pvh(jobs, settings, accelerator, kernel, failed, workers=None):
    """After a failed PVH launch: launch again, and say whether PVH was to blame.

    PVH is remembered as broken on this kernel and qemu (so later launches boot the
    stock kernel) only when the failure is PVH's own and the stock kernel then works:

    - a failure only PVH produces (qemu refusing the ELF): relaunch with the stock kernel;
    - a deadline or a killed worker (kill -9, OOM, shutdown) says nothing about the
      kernel: relaunch with the stock kernel, remember nothing;
    - any other failure (the appliance crashed, qemu exited): relaunch with PVH. Only
      when that fails the same way, and the stock kernel then launches, was it PVH.
    """
    reason = 'PVH boot of %s failed (%s)' % (kernel.path, failed.error)
    notes = list(failed.notes)
    blame = pvh_only_failure(failed.error)
    if not blame and not external_failure(failed):
        LOG.warning('%s; trying PVH once more before blaming it', reason)
        again = SessionOutcome(notes=notes + [reason + '; launched again'])
        _session(jobs, settings, accelerator, settings.launch_timeout, again, kernel,
                 workers)
        if again.accelerator is not None:
            return again
        if not _same_failure(failed, again):
            notes.append(reason)
            reason = 'PVH boot of %s failed again, differently (%s)' % (kernel.path,
                                                                        again.error)
        else:
            reason = 'PVH boot of %s failed twice (%s)' % (kernel.path, again.error)
            blame = True
        failed = again
    elif not blame:
        reason += ', which says nothing about PVH'
    LOG.warning('%s; retrying with the stock kernel', reason)
    retry = SessionOutcome(notes=notes + [reason + '; used the stock kernel'])
    _session(jobs, settings, accelerator, settings.launch_timeout, retry, None, workers)
    if retry.accelerator is None:
        return retry
    if blame:
        accel.write_record(settings, accelerator, reason, accel.KERNEL_RECORD_NAME)
    return retry


def _session(jobs, settings, accelerator, launch_timeout, outcome, kernel=None,
             workers=None):
    drives = [job.drive for job in jobs] or [api.Drive('/dev/null', 'raw', readonly=True)]
    with accel.counted() as others:
        launching = accel.launch_settings(settings, accelerator, kernel, others,
                                          drives=len(drives))
        accel.admit(launching, len(drives))    # NotEnoughMemory: nothing is started
        outcome.kernel_boot = 'pvh' if launching.kernel else 'stock'
        outcome.smp = launching.smp
        start = time.monotonic()
        worker = channel.start_worker(channel.Start.of(settings, drives, launching, jobs),
                                      workers=workers)
        outcome.appliance = channel.appliance_id(worker)
        _converse(worker, channel.receiver_of(worker), jobs, settings, accelerator,
                  outcome, ('launch', launch_timeout), start)


# --- deadlines --------------------------------------------------------------------------

def slowness(accelerator, launch_seconds):
    """How much slower than usual this appliance runs, from its own launch time.

    A launch that took twice the usual time (a busy host, a shared CI machine) means the
    work in that appliance will too, so every later deadline of the session is stretched
    by that factor (at least 1, at most MAX_SLOWNESS). The same rule serves production
    and the tests: no deadline is a tight constant that load can break.
    """
    usual = accel.USUAL_LAUNCH_SECONDS.get(accelerator)
    if not usual or not launch_seconds:
        return 1.0
    return min(MAX_SLOWNESS, max(1.0, launch_seconds / usual))


MAX_SLOWNESS = 4.0


def work_allowance(settings, job, drives, factor):
    """Seconds the work on ``job`` may take in an appliance holding ``drives`` drives.

    ``inject_timeout`` for mounting, writing and unmounting; a disk that may need
    inspection gets ``inspect_timeout`` more per drive, since libguestfs inspects every
    drive of the appliance at once: the first such disk of a batch pays for all of them,
    and is not charged against its own allowance.
    """
    seconds = settings.inject_timeout
    if job.may_inspect:
        seconds += settings.inspect_timeout * max(1, drives)
    return seconds * factor


# --- the conversation with the worker -------------------------------------------------

def _converse(worker, receiver, jobs, settings, accelerator, outcome, first_stage, start,
              warm_launch=None, on_job=None):
    """Follow the worker's messages into ``outcome`` until it shuts down, dies or misses
    a deadline, or (a warm worker) says it is idle: then that channel.Idle is returned,
    the worker left running; else None, the worker gone. ``first_stage``: ('launch',
    seconds), or None when it has launched (a warm appliance, which took
    ``warm_launch`` seconds to launch). ``on_job(index, JobOutcome, outcome)`` is
    called for each job whose disk the worker has released."""
    pending = list(range(len(jobs)))
    outcome.jobs = [None] * len(jobs)
    # Stretched by how slowly this appliance launched (see slowness()).
    factor = slowness(accelerator, warm_launch)

    def next_stage():
        if pending:
            job = jobs[pending[0]]
            return ('work on %s' % job.image_name,
                    round(work_allowance(settings, job, len(jobs), factor)))
        return 'shutdown', round(settings.inject_timeout * factor)

    if first_stage is None:
        stage, seconds = next_stage()
    else:
        stage, seconds = first_stage
    deadline = time.monotonic() + seconds
    idle = None
    try:
        while True:
            message = receive(receiver, worker, stage, seconds, deadline, accelerator)
            match message:
                case channel.Log():
                    LOG.log(message.level, '[appliance] %s', message.text)
                    continue
                case channel.Launched():
                    outcome.accelerator = accelerator
                    outcome.timings['launch'] = message.seconds
                    factor = slowness(accelerator, message.seconds)
                case channel.LaunchFailed():
                    outcome.error = message.reason
                    outcome.failure = 'launch-failed'
                    break
                case channel.JobDone():
                    outcome.jobs[message.index] = message.outcome
                    pending.remove(message.index)
                    if on_job is not None and message.outcome.released:
                        on_job(message.index, message.outcome, outcome)
                case channel.Idle() if not pending:
                    idle = message
                    break
                case channel.Shutdown():
                    outcome.timings['shutdown'] = message.seconds
                    if message.error:
                        outcome.error = message.error
                    break
            stage, seconds = next_stage()
            deadline = time.monotonic() + seconds
    except exception.InjectError as e:
        outcome.error = str(e)
        if isinstance(e, exception.ApplianceTimeout):
            outcome.failure = 'timeout'
        else:   # the worker's own exit status, before our kill of its group sets one
            outcome.failure = ('killed' if _killed_by_signal(worker.poll()) else 'died')
        channel.kill(worker)
    finally:
        if idle is None:
            receiver.close()
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                channel.kill(worker)
        outcome.timings['session'] = time.monotonic() - start
    for index in pending:
        outcome.jobs[index] = JobOutcome(
            error=outcome.error or 'the appliance stopped before this disk was done')
    return idle


def _killed_by_signal(returncode):
    """A worker exit status that a signal from outside caused (not its own exit)."""
    return returncode is not None and returncode < 0 and -returncode in (
        signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def receive(receiver, worker, stage, seconds, deadline, accelerator):
    """The worker's next message, or ApplianceTimeout once ``deadline`` has passed
    (``seconds`` is the stage's allowance, for the message), or ApplianceDied."""
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
