"""Warm appliances: launched ahead of requests, so a request does not wait for a launch.

Under TCG a launch is most of a request's time (10-25 s against about 1 s of work). The
agent keeps ``[appliance]warm_appliances`` appliances launched, holding no disk. A batch
of up to ``warm_max_disks`` disks takes one: its disks are hot-plugged into it together
(about 0.2 s for one, 0.6 s for three), each is worked on and detached as soon as it is
done. A fresh one is launched in the background when the batch is over (not while it
runs: a launch then would take the CPU and memory the batch is using, and a burst of one
project would hold twice the appliances it works with).

A warm appliance belongs to the project (the owner) of the first batch it takes, and
never serves another: after a batch whose disks all came out cleanly it lingers for
``warm_linger`` seconds, holding no disk, for that project's next batch (a project
booting servers one after another pays no launch and no wait), and is then shut down.
The pool's appliances -- launching, ready, lingering, and those at work on the batches
that took them -- are at most ``warm_appliances``: a burst split over all of them gets
no replacement launched beside its last batch, and does not leave twice the appliances
behind. When a lingering one's time is up a fresh one takes its place. Shutting one down
never happens on a request's path.

A batch that finds none ready launches its own, and so do batches of more disks (with
many drives a cold launch costs little more, while hot-plugging goes one disk at a
time). When a warm launch fails, the pool waits (30 s, doubling up to 10 min) before
trying again; requests meanwhile launch their own appliance, whose fallbacks (KVM to
TCG, PVH to stock) settle the trouble.

:func:`launch_warm` launches one (its worker then waits for jobs on its stdin);
:class:`WarmPool` keeps them and hands each out once;
:func:`inject.appliance.session.run` hot-plugs a batch into the one it takes.
"""

import dataclasses
import logging
import subprocess
import threading
import time
from multiprocessing import connection

from inject import exception
from inject.appliance import accelerator as accel
from inject.appliance import channel
from inject.appliance import session

LOG = logging.getLogger(__name__)

RETRY_FIRST = 30.0
RETRY_MAX = 600.0


@dataclasses.dataclass
class Warm:
    """A launched appliance holding no disk, its worker waiting for jobs."""
    proc: subprocess.Popen
    receiver: connection.Connection
    accelerator: str
    kernel_boot: str
    smp: int
    launch_seconds: float
    appliance: str = None    # its id (channel.appliance_id)

    def alive(self):
        return self.proc.poll() is None

    def send_jobs(self, jobs):
        channel.send_jobs(self.proc, jobs)

    def stop(self, timeout=30):
        """Shut it down (killed if it does not go within ``timeout``)."""
        channel.send_jobs(self.proc, None)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            channel.kill(self.proc)
        self.receiver.close()


def launch_warm(settings, workers=None):
    """Launch an appliance with no disk, for disks hot-plugged later; returns a
    :class:`Warm` once it is up. Raises InjectError when the launch fails or hangs
    (the caller's cold launches then settle PVH trouble, with their fallback).
    ``workers``: the :class:`inject.appliance.channel.Workers` its worker is counted in.

    With KVM on trial (accelerator auto), a KVM launch that fails or hangs is
    remembered, as a cold session remembers it, and the appliance is launched under
    TCG: on a host whose KVM is broken the pool gets warm without waiting for a
    request to find that out.
    """
    accelerator, probing, _ = accel.choose_accelerator(settings)
    try:
        warm = _launch_warm(settings, accelerator, settings.kvm_probe_timeout
                            if probing else settings.launch_timeout, workers)
    except exception.InjectError as e:
        if not probing or isinstance(e, (exception.ApplianceDied,
                                         exception.NotEnoughMemory)):
            raise         # killed from outside, or not started: nothing learnt of KVM
        reason = 'KVM failed here (%s)' % e
        accel.write_record(settings, 'tcg', reason)
        LOG.warning('%s; warm appliances use TCG', reason)
        return _launch_warm(settings, 'tcg', settings.launch_timeout, workers)
    if probing:
        accel.write_record(settings, 'kvm', 'KVM launched in %.1f s' % warm.launch_seconds)
    return warm


def _launch_warm(settings, accelerator, seconds, workers=None):
    kernel = accel.boot_kernel(settings, accelerator)
    with accel.counted() as others:
        launching = accel.launch_settings(settings, accelerator, kernel, others,
                                          hotplug=True)
        accel.admit(launching, settings.warm_max_disks)
        proc = channel.start_worker(channel.Start.of(settings, [], launching, None),
                                    keep_stdin=True, workers=workers)
        receiver = channel.receiver_of(proc)
        deadline = time.monotonic() + seconds
        try:
            while True:
                message = session.receive(receiver, proc, 'launch', seconds, deadline,
                                          accelerator)
                match message:
                    case channel.Log():
                        LOG.log(message.level, '[warm appliance] %s', message.text)
                    case channel.Launched():
                        break
                    case channel.LaunchFailed():
                        raise exception.InjectError(message.reason)
                    case _:
                        raise exception.InjectError(
                            'the warm appliance said %r before launching' % (message,))
        except BaseException:
            receiver.close()
            channel.kill(proc)
            raise
    return Warm(proc, receiver, accelerator, 'pvh' if kernel else 'stock', launching.smp,
                message.seconds, channel.appliance_id(proc))


class WarmPool:
    """Warm appliances launched ahead, each handed out once (see the module's text)."""

    def __init__(self, settings, size, max_disks, enabled=lambda: True, launch=None,
                 linger=0.0):
        """``enabled()``, asked before each launch: False keeps the pool empty (say,
        while injection is disabled on this host) until a request asks for an
        appliance anyway (its own partition overrides the host's setting).
        ``linger``: seconds an appliance waits for its owner's next batch."""
        self.settings = settings
        self.size = size
        self.max_disks = max_disks
        self.linger = linger
        self._lingering = []      # [(Warm, owner, timer)], oldest first
        self._enabled = enabled
        self._launch = launch or launch_warm
        self.workers = channel.Workers()     # every worker of the pool's appliances
        self._lock = threading.Lock()
        self._ready = []          # [Warm], oldest first
        self._busy = set()        # ids of the taken ones, until released
        self._launching = 0
        self._closed = False
        self._refills = True      # False once the agent stops: nothing new is launched
        self._retry_delay = 0.0
        self._retry_at = 0.0
        self._timer = None
        self._asked = False
        self.last_error = None

    def start(self):
        self.refill()
        return self

    def ready(self):
        with self._lock:
            return len(self._ready)

    def lingering(self):
        with self._lock:
            return len(self._lingering)

    def take(self, jobs, owner=None):
        """A warm appliance for ``jobs`` of ``owner`` (now the caller's), or None: launch
        your own. One of ``owner``'s own lingering appliances comes first.

        None is waited for: with none ready, a launch started now runs beside the pool's
        own on another core (measured: five disks one after another took 51 s this way,
        73 s waiting for the pool's launches).
        """
        self._asked = True
        if not 0 < len(jobs) <= self.max_disks:
            return None
        found = None
        with self._lock:
            for entry in list(self._lingering):
                if owner is not None and entry[1] == owner:
                    self._lingering.remove(entry)
                    entry[2].cancel()
                    if entry[0].alive():
                        found = entry[0]
                        self._busy.add(id(found))
                        break
                    entry[0].receiver.close()
        if found is not None:
            return found
        with self._lock:
            while self._ready and found is None:
                candidate = self._ready.pop(0)
                if candidate.alive():
                    found = candidate
                    self._busy.add(id(found))
                else:
                    LOG.warning('A warm appliance died while idle (exit code %s)',
                                candidate.proc.returncode)
                    candidate.receiver.close()
        if found is None:
            self.refill()      # this batch launches its own; the pool fills for the next
        return found

    def release(self, warm, owner, reusable=True):
        """Take back ``warm`` after its batch (every taken one comes back, whatever
        happened to it): it lingers for ``owner``'s next one when it is ``reusable`` (its
        disks all detached) and lingering is on, else (and once its time is up) it is
        shut down in the background."""
        stop = []
        with self._lock:
            self._busy.discard(id(warm))
            if (reusable and owner is not None and self.linger > 0 and not self._closed
                    and self.size > 0 and warm.alive()):
                timer = threading.Timer(self.linger, self._expire, args=(warm,))
                timer.daemon = True
                self._lingering.append((warm, owner, timer))
                while len(self._lingering) > self.size:
                    old = self._lingering.pop(0)
                    old[2].cancel()
                    stop.append(old[0])
                timer.start()
            else:
                stop.append(warm)
        for each in stop:
            _stop_in_background(each)
        self.refill()           # the replacement for the one taken, now that it is done

    def _expire(self, warm):
        with self._lock:
            entries = [e for e in self._lingering if e[0] is warm]
            for entry in entries:
                self._lingering.remove(entry)
        if entries:
            LOG.info('A lingering warm appliance was not asked for again in %g s; '
                     'shutting it down', self.linger)
            warm.stop()
            self.refill()           # its place goes to a fresh one, for any project

    def refill(self):
        """Launch what is missing (at start, after a take, after a configuration
        change, when a back-off ends)."""
        if not (self._asked or self._enabled()):
            return
        with self._lock:
            if (self._closed or not self._refills
                    or time.monotonic() < self._retry_at):
                return
            # the pool's own appliances, idle or at work, are at most ``size``
            missing = (self.size - len(self._ready) - self._launching
                       - len(self._lingering) - len(self._busy))
            self._launching += max(0, missing)
        for _ in range(missing):
            threading.Thread(target=self._launch_one, name='inject-warm-launch',
                             daemon=True).start()

    def _launch_one(self):
        try:
            warm = self._launch(self.settings, workers=self.workers)
        except Exception as e:           # every failure only delays the next attempt
            with self._lock:
                self._launching -= 1
                self._retry_delay = min(RETRY_MAX, self._retry_delay * 2 or RETRY_FIRST)
                self._retry_at = time.monotonic() + self._retry_delay
                self.last_error = str(e)
                closed = self._closed
                if not closed:
                    self._timer = threading.Timer(self._retry_delay, self.refill)
                    self._timer.daemon = True
                    self._timer.start()
            if not closed:
                LOG.warning('A warm appliance did not launch (%s); requests launch their '
                            'own, next try in %.0f s', e, self._retry_delay)
            return
        with self._lock:
            self._launching -= 1
            self._retry_delay = 0.0
            self.last_error = None
            closed = self._closed
            if not closed:
                self._ready.append(warm)
        if closed:
            warm.stop()
        else:
            LOG.info('A warm appliance is ready (%s, %s kernel, launched in %.1f s)',
                     warm.accelerator, warm.kernel_boot, warm.launch_seconds)

    def stop_refills(self):
        """Launch nothing more (the agent is stopping: the batches still running and
        queued use what is there, or launch their own)."""
        with self._lock:
            self._refills = False

    def close(self):
        """Kill every appliance of the pool at once -- launching, ready, lingering (none
        holds a disk), and any still at work on a batch (the agent stops and its drain is
        over: that batch fails, saying so) -- and launch nothing more."""
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
            lingering, self._lingering = self._lingering, []
            if self._timer is not None:
                self._timer.cancel()
        for warm, _, timer in lingering:
            timer.cancel()
            ready.append(warm)
        self.workers.kill()
        for warm in ready:
            warm.stop()       # reaps it


def _stop_in_background(warm):
    threading.Thread(target=warm.stop, name='inject-warm-stop', daemon=True).start()
