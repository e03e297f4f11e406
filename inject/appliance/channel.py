"""The pipe between a session and its worker process, and the messages on it.

The session starts the worker (``python -m`` :data:`WORKER_MODULE`) in a process group
of its own, so that killing the group reaches qemu too, holding this process's lifeline
(:mod:`inject.parent_death`: the worker ends, with its qemu, when this process dies),
and writes a pickled :class:`Start` on its stdin. A warm worker's stdin stays open: its
jobs follow later (:func:`send_jobs`). The worker answers on its stdout, a
``multiprocessing`` connection, with these messages, any number of :class:`Log` among
them:

  :class:`Launched` or :class:`LaunchFailed` (then nothing more),
  one :class:`JobDone` per job, in job order,
  :class:`Shutdown`.

A warm worker answers each list of jobs it is sent with one :class:`JobDone` per job and
then :class:`Idle` (its disks detached), and waits for the next list; None shuts it down
(:class:`Shutdown`).
"""

import dataclasses
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from multiprocessing import connection

from inject import parent_death
from inject.vfs import api

#: the worker's module (run with python -m); tests stand in workers that hang or die
WORKER_MODULE = 'inject.cmd.appliance_worker'


# --- what the worker reads on its stdin ------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Start:
    """What a worker reads first (``jobs`` None: launch warm, the jobs come later)."""
    driver: str                       # the VFS driver's name (inject.vfs)
    drives: list                      # [api.Drive]
    launch_settings: api.LaunchSettings
    jobs: list                        # [session.Job] or None
    log_level: int

    @classmethod
    def of(cls, settings, drives, launching, jobs):
        """The Start for a session's ``settings`` (a session.Settings)."""
        return cls(settings.driver, drives, launching, jobs,
                   logging.DEBUG if settings.debug else logging.INFO)


# --- what the worker answers on its stdout --------------------------------------------

@dataclasses.dataclass(frozen=True)
class Log:
    """A log record of the worker's, for the session's log."""
    level: int
    text: str


@dataclasses.dataclass(frozen=True)
class Launched:
    seconds: float


@dataclasses.dataclass(frozen=True)
class LaunchFailed:
    reason: str                       # with a hint on what to do about it


@dataclasses.dataclass(frozen=True)
class JobDone:
    index: int                        # the job's place in Start.jobs (or the warm jobs)
    outcome: object                   # session.JobOutcome


@dataclasses.dataclass(frozen=True)
class Idle:
    """A warm worker finished the jobs it was sent and waits for more."""
    reusable: bool                    # every disk it was sent is detached again


@dataclasses.dataclass(frozen=True)
class Shutdown:
    seconds: float
    error: str = None                 # the flush failed: no write can be trusted


# --- the session's end -----------------------------------------------------------------

def start_worker(start, keep_stdin=False, workers=None):
    """Start the worker in a session of its own, so killing its group reaches qemu.

    ``start``: a :class:`Start`. ``keep_stdin``: a warm worker's stdin stays open for
    its jobs (:func:`send_jobs`). ``workers``: the :class:`Workers` it is counted in.
    """
    worker = subprocess.Popen([sys.executable, '-m', WORKER_MODULE],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              start_new_session=True, **parent_death.popen_args())
    if workers is not None:
        workers.add(worker)
    try:
        worker.stdin.write(pickle.dumps(start))
        if keep_stdin:
            worker.stdin.flush()
        else:
            worker.stdin.close()
    except BrokenPipeError:
        pass
    return worker


def appliance_id(worker):
    """An id for the appliance ``worker`` launches: unique per launch on this host."""
    return '%d-%s' % (worker.pid, os.urandom(4).hex())


def receiver_of(worker):
    """The end of the worker's stdout that its messages arrive on."""
    receiver = connection.Connection(os.dup(worker.stdout.fileno()), writable=False)
    worker.stdout.close()
    return receiver


def send_jobs(worker, jobs):
    """Hand a warm worker its next jobs; None: shut down (its stdin is closed)."""
    try:
        worker.stdin.write(pickle.dumps(jobs))
        worker.stdin.flush()
        if jobs is None:
            worker.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass          # it is gone; the conversation that follows says so


def kill(worker):
    """Kill the worker's process group: the worker, qemu, and libguestfs's helpers."""
    _killpg(worker.pid)
    worker.wait()


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Workers:
    """The workers one owner started (an agent's sessions, a warm pool's appliances),
    so that it can kill those still running when it stops: :meth:`kill` kills each
    with its process group (qemu too), and any started after it at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs = set()
        self.killed = False

    def add(self, proc):
        with self._lock:
            self._procs = {p for p in self._procs if p.poll() is None}
            self._procs.add(proc)
            killed = self.killed
        if killed:
            _kill_group(proc)

    def kill(self):
        """Kill every worker still running, and any started from now on; returns how
        many were running."""
        with self._lock:
            self.killed = True
            procs = [p for p in self._procs if p.poll() is None]
        for proc in procs:
            _kill_group(proc)
        return len(procs)


def _kill_group(proc):
    """SIGKILL ``proc``'s group, not waiting: whoever follows the worker reaps it."""
    if proc.poll() is None:      # not reaped yet: its pid (the group's id) is still its
        _killpg(proc.pid)


# --- the worker's end ------------------------------------------------------------------

def worker_end():
    """In the worker: (the connection to send messages on, the :class:`Start` read).

    Stray prints from libraries go to stderr from then on, not into the channel.
    """
    sender = connection.Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    return sender, pickle.load(sys.stdin.buffer)


def receive_jobs():
    """In a warm worker: the jobs sent with :func:`send_jobs` (None: shut down unused)."""
    try:
        return pickle.load(sys.stdin.buffer)
    except EOFError:
        return None
