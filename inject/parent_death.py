"""Child processes that die with the process that started them, however it dies.

A process killed with SIGKILL (by hand, by systemd at the end of its stop timeout, by
the OOM killer) runs no code of its own, so what it started must notice by itself.
inject starts two kinds of children, and each notices in the way that works for it.

**inject's own Python processes** -- the appliance workers (``python -m
inject.cmd.appliance_worker``) and the forked worker processes of inject-api and
inject-metadata -- watch a *lifeline*: the read end of a pipe whose only write end the
parent process holds (:func:`popen_args` for a started program, :func:`before_fork`
for ``os.fork``). When the parent dies the kernel closes its end, the child's blocking
read returns end-of-file, and the child cleans up and exits (:func:`watch`); this is
what oslo.service's ProcessLauncher does with its pipe. End-of-file is a state, not an
event: a parent that died before its child started watching is seen at once. The write
end is close-on-exec and is closed in every forked child (``os.register_at_fork``), so
no other process keeps a dead parent's lifeline open.

``PR_SET_PDEATHSIG`` is not used for them, deliberately: its "parent" is the *thread*
that created the child, and the signal comes when that thread ends, even while the
process lives on. The agent starts appliance workers from threads that end before the
worker does -- a warm appliance is launched by a thread that ends once it is up and
then serves later batches -- so PDEATHSIG would kill healthy appliances. It would also
give a worker no chance to clean up (kill its qemu, remove its overlays), and it misses
a parent that died before the child called prctl. (A forked WSGI worker is created by
the main thread, where PDEATHSIG would be sound; one mechanism for every Python child
is simpler, and it logs why the worker went.)

**Programs that cannot watch a pipe** -- qemu under an appliance worker, qemu-img under
the agent -- run under util-linux's ``setpriv --pdeathsig KILL`` (:func:`setpriv`),
which sets PDEATHSIG and execs them (it is kept across exec). Here the thread rule is
right: the thread that starts each of them waits for it -- the worker's main thread,
where libguestfs forks qemu during ``launch``, and the thread blocked in
``subprocess.run`` for qemu-img -- so the signal comes exactly when the process that
owns them dies.
"""

import atexit
import logging
import os
import select
import shutil
import sys
import threading
import time

LOG = logging.getLogger(__name__)

#: the environment variable that tells a started Python child its lifeline: "FD,PID" (the
#: read end's number, the parent's pid)
ENV = 'INJECT_LIFELINE_FD'
#: how long a process whose parent died may take to clean up before it exits anyway
CLEANUP_SECONDS = 60

_lock = threading.Lock()
# (read fd, write fd, pid) of this process's lifeline, made on first use
_own = None
# (read end, pid) of the lifeline of the process this one was forked from
_inherited = None
_watched = None      # the lifeline this process watches
_orphaned = threading.Event()    # the parent died: the cleanup runs
_cleaned = threading.Event()     # ... and has finished


def _lifeline():
    """The read end of this process's lifeline (made on first use)."""
    global _own
    with _lock:
        if _own is None:
            _own = os.pipe() + (os.getpid(),)      # both ends close-on-exec
        return _own[0]


def _after_fork_in_child():
    """In a forked child: the parent's lifeline becomes the one to watch, and its write
    end -- which would keep it open after the parent's death -- is closed."""
    global _lock, _own, _inherited
    _lock = threading.Lock()          # another thread may have held it at the fork
    if _inherited is not None:        # the grandparent's: not ours to watch
        os.close(_inherited[0])
        _inherited = None
    if _own is not None:
        os.close(_own[1])
        _inherited, _own = (_own[0], _own[2]), None


os.register_at_fork(after_in_child=_after_fork_in_child)


def popen_args():
    """Keyword arguments for ``subprocess.Popen`` of a Python child that calls
    :func:`watch`: it gets the lifeline's read end, and in :data:`ENV` its number and
    this process's pid."""
    fd = _lifeline()
    return {'pass_fds': (fd,),
            'env': dict(os.environ, **{ENV: '%d,%d' % (fd, os.getpid())})}


def before_fork():
    """Call before ``os.fork()`` when the child will call :func:`watch`."""
    _lifeline()


def watch(on_orphaned=None, name=None):
    """In a child started with :func:`popen_args` or after :func:`before_fork`: watch the
    lifeline in a thread of its own, and when the parent dies call ``on_orphaned()``
    (default: log, then exit with status 1 at once). ``name``: the process, for the log.

    The process does not exit normally once its parent is gone before ``on_orphaned``
    has returned (at most :data:`CLEANUP_SECONDS`); a main thread that finds the parent
    gone by itself (a broken pipe to it) calls :func:`wait_for_cleanup`. Returns False
    when there is no lifeline (the process was not started that way), True once
    watching.
    """
    global _inherited, _watched
    fd = parent = None
    with _lock:
        if _inherited is not None:
            (fd, parent), _inherited = _inherited, None
    text = os.environ.pop(ENV, None)
    if fd is None and text is not None:
        try:
            fd, parent = map(int, text.split(','))
            os.set_inheritable(fd, False)     # not for what this process starts
        except (ValueError, OSError):
            fd = None
    if fd is None:
        return False
    name = name or 'process %d' % os.getpid()
    handler = on_orphaned or (lambda: _exit_orphaned(name, parent))
    _watched = fd
    atexit.register(_wait_at_exit)
    threading.Thread(target=_watch, args=(fd, parent, handler),
                     name='inject-parent-watch', daemon=True).start()
    return True


def _watch(fd, parent, handler):
    while True:
        try:
            if not os.read(fd, 1):
                break             # end-of-file: every write end is closed
        except OSError:
            return                # the fd is gone: nothing left to watch
    _orphaned.set()
    # The kernel may close the parent's pipe before its other files (a dying process's
    # files are released in no set order), so the parent's locks may still be held:
    # wait until it is reparented away, which happens after all its files are closed.
    deadline = time.monotonic() + CLEANUP_SECONDS
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        handler()
    except BaseException:
        LOG.exception('Cleaning up after the parent process died failed')
    finally:
        _cleaned.set()


def _exit_orphaned(name, parent):
    LOG.warning('%s: the parent process %d died; exiting', name, parent)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(1)


def wait_for_cleanup(seconds):
    """For a main thread that found the parent gone by itself (a broken pipe to it):
    wait up to ``seconds`` for the watch to see it too, and then for its cleanup. At
    once when nothing is watched."""
    if _watched is not None and _orphaned.wait(seconds):
        _cleaned.wait(CLEANUP_SECONDS)


def _wait_at_exit():
    """At exit, with the parent gone: let the cleanup finish first."""
    if _watched is not None and (_orphaned.is_set()
                                 or select.select([_watched], [], [], 0)[0]):
        _orphaned.wait(CLEANUP_SECONDS)
        _cleaned.wait(CLEANUP_SECONDS)


# --- programs that cannot watch a pipe ----------------------------------------------

def setpriv():
    """``['/usr/bin/setpriv', '--pdeathsig', 'KILL']`` (util-linux) to run a program
    under, so that it gets SIGKILL when the thread that started it ends; [] when
    setpriv is missing (the program then outlives a killed parent)."""
    found = shutil.which('setpriv')
    return [found, '--pdeathsig', 'KILL'] if found else []
