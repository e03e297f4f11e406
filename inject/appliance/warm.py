"""Warm appliances: launched ahead of requests, so a request does not wait for a launch.

Under TCG a launch is most of a request's time (10-25 s against about 1 s of work). The
agent keeps ``[appliance]warm_appliances`` appliances launched, holding no disk. A batch
of up to ``warm_max_disks`` disks takes one, its disks are hot-plugged into it (about 1 s
each), worked on, and the appliance is shut down: a warm appliance serves exactly one
batch, so one project, and is never reused for another tenant. A fresh one is launched
in the background at once.

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
        """Shut it down unused (killed if it does not go within ``timeout``)."""
        channel.send_jobs(self.proc, None)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            channel.kill(self.proc)
        self.receiver.close()


def launch_warm(settings):
    """Launch an appliance with no disk, for disks hot-plugged later; returns a
    :class:`Warm` once it is up. Raises InjectError when the launch fails or hangs
    (the caller's cold launches then settle KVM or PVH trouble, with their fallbacks)."""
    accelerator, probing, _ = accel.choose_accelerator(settings)
    kernel = accel.boot_kernel(settings, accelerator)
    seconds = settings.kvm_probe_timeout if probing else settings.launch_timeout
    with accel.counted() as others:
        launching = accel.launch_settings(settings, accelerator, kernel, others,
                                          hotplug=True)
        accel.admit(launching, settings.warm_max_disks)
        proc = channel.start_worker(channel.Start.of(settings, [], launching, None),
                                    keep_stdin=True)
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

    def __init__(self, settings, size, max_disks, enabled=lambda: True, launch=None):
        """``enabled()``, asked before each launch: False keeps the pool empty (say,
        while injection is disabled on this host) until a request asks for an
        appliance anyway (its own partition overrides the host's setting)."""
        self.settings = settings
        self.size = size
        self.max_disks = max_disks
        self._enabled = enabled
        self._launch = launch or launch_warm
        self._lock = threading.Lock()
        self._ready = []          # [Warm], oldest first
        self._launching = 0
        self._closed = False
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

    def take(self, jobs):
        """A warm appliance for ``jobs`` (now the caller's), or None: launch your own.

        None is waited for: with none ready, a launch started now runs beside the pool's
        own on another core (measured: five disks one after another took 51 s this way,
        73 s waiting for the pool's launches).
        """
        self._asked = True
        if not 0 < len(jobs) <= self.max_disks:
            return None
        found = None
        with self._lock:
            while self._ready and found is None:
                candidate = self._ready.pop(0)
                if candidate.alive():
                    found = candidate
                else:
                    LOG.warning('A warm appliance died while idle (exit code %s)',
                                candidate.proc.returncode)
                    candidate.receiver.close()
        self.refill()
        return found

    def refill(self):
        """Launch what is missing (at start, after a take, after a configuration
        change, when a back-off ends)."""
        if not (self._asked or self._enabled()):
            return
        with self._lock:
            if self._closed or time.monotonic() < self._retry_at:
                return
            missing = self.size - len(self._ready) - self._launching
            self._launching += max(0, missing)
        for _ in range(missing):
            threading.Thread(target=self._launch_one, name='inject-warm-launch',
                             daemon=True).start()

    def _launch_one(self):
        try:
            warm = self._launch(self.settings)
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

    def close(self):
        """Shut the idle appliances down; launches still running stop when they end."""
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
            if self._timer is not None:
                self._timer.cancel()
        for warm in ready:
            warm.stop()
