"""The worker process: it launches the appliance, works on each disk, shuts it down.

Started by the session (see :mod:`inject.appliance.channel`) as
``python -m inject.cmd.appliance_worker``, in a process group of its own with qemu.
This is the one module of the package that does the injection itself: the parent only
follows the messages it sends.

It watches its parent's lifeline (:mod:`inject.parent_death`): when the process that
started it dies, however it dies, the worker removes the overlays it was given that no
process holds any more and kills its process group -- qemu and libguestfs's helpers, on
every accelerator, and itself (:func:`_orphaned`).
"""

import glob
import logging
import os
import signal
import time

from inject import exception
from inject import injection
from inject import overlay
from inject import parent_death
from inject import vfs
from inject.appliance import channel
from inject.appliance import session
from inject.vfs import handle

LOG = logging.getLogger(__name__)

#: how long an orphaned worker waits for the overlays it was given to be let go of (a
#: commit killed with the agent); what is left then is swept at the agent's next start
ORPHAN_OVERLAY_SECONDS = 5


class _PipeHandler(logging.Handler):
    """Sends the worker's log records to the session, as channel.Log messages."""

    def __init__(self, send):
        super().__init__()
        self._send = send

    def emit(self, record):
        try:
            self._send(channel.Log(record.levelno, record.getMessage()))
        except Exception:
            pass


def worker_main():
    """The worker process: a channel.Start comes pickled on stdin, messages go out on
    stdout."""
    given = []            # the paths of every drive it was given
    parent_death.watch(lambda: _orphaned(given))
    sender, start = channel.worker_end()
    given += [drive.path for drive in start.drives]
    root = logging.getLogger('inject')
    root.handlers[:] = [_PipeHandler(sender.send)]
    root.setLevel(start.log_level)
    root.propagate = False

    def receive_jobs():
        jobs = channel.receive_jobs()
        given.extend(job.drive.path for job in jobs or ())
        return jobs

    try:
        serve(sender.send, vfs.load_driver(start.driver), start.drives,
              start.launch_settings, start.jobs, receive_jobs)
    except exception.InjectError as e:
        sender.send(channel.LaunchFailed(str(e)))
    except BrokenPipeError:
        # The session is gone (its agent stopped or died): nobody is left to tell, and
        # serve() closed the appliance on the way out. If the agent died, the watch
        # removes the overlays and ends the group: let it.
        parent_death.wait_for_cleanup(ORPHAN_OVERLAY_SECONDS)
        raise SystemExit(1) from None
    finally:
        sender.close()


def _orphaned(given):
    """The process that started this worker died: nobody will follow this appliance or
    commit its disks. Remove the overlays among ``given`` that no process holds any
    more (one whose commit was killed half-way is undone first, as the start-up sweep
    does; qemu only ever wrote into the overlays), say so on stderr (the agent's), and
    kill this process group: qemu, libguestfs's helpers and the worker itself."""
    removed = overlay.remove_unheld(given)
    # A qemu-img commit killed with the agent holds its overlay's lock until it is gone.
    deadline = time.monotonic() + ORPHAN_OVERLAY_SECONDS
    while time.monotonic() < deadline and any(
            os.path.exists(path) for path in given
            if path.endswith(overlay.OVERLAY_SUFFIX)):
        time.sleep(0.05)
        removed += overlay.remove_unheld(given)
    os.write(2, ('inject appliance worker %d: the process that started it died; removed '
                 '%d overlay(s), killing its appliance\n' % (os.getpid(), len(removed))
                 ).encode())
    os.killpg(0, signal.SIGKILL)


def serve(send, driver, drives, launch_settings, jobs, receive_jobs=None):
    """The worker's work, in-process: launch, the jobs, shutdown.

    With ``launch_settings.hotplug`` the appliance is launched warm, holding no disk:
    ``receive_jobs()`` then gives each list of jobs in turn (None: shut down). Each list's
    disks are hot-plugged together, worked on one by one, and each is detached as soon as
    it is done (:func:`_serve_hotplugged`).

    Reports through ``send``: channel.Launched or channel.LaunchFailed, a
    channel.JobDone for each job (a warm worker: then channel.Idle after each list),
    channel.Shutdown.
    """
    start = time.monotonic()
    try:
        appliance = driver.launch(drives, launch_settings)
    except exception.ApplianceLaunchFailed as e:
        send(channel.LaunchFailed('%s%s' % (e, _launch_hint(str(e)))))
        return
    try:
        send(channel.Launched(time.monotonic() - start))
        if launch_settings.hotplug:
            while True:
                jobs = receive_jobs()
                if not jobs:
                    break
                send(channel.Idle(_serve_hotplugged(send, appliance, jobs)))
        else:
            for index, job in enumerate(jobs):
                send(channel.JobDone(index, _work(appliance, index, job)))
        t2 = time.monotonic()
        error = None
        try:
            appliance.shutdown()
        except exception.InjectError as e:
            error = str(e)
        send(channel.Shutdown(time.monotonic() - t2, error))
    finally:
        appliance.close()


def _serve_hotplugged(send, appliance, jobs):
    """Plug the jobs' disks in together and work on each as soon as it shows (when a
    job may need inspection, once all show: inspection looks at every drive at once),
    detaching each when done (so its overlay can be committed while the appliance goes
    on). True when every disk that was plugged is detached again (the appliance may
    then take more)."""
    t0 = time.monotonic()
    tickets = appliance.plug([job.drive for job in jobs])
    attached = tickets
    if any(job.may_inspect for job in jobs):
        attached = [_attached(appliance, ticket) for ticket in tickets]
    clean = True
    for index, (job, drive) in enumerate(zip(jobs, attached)):
        drive = _attached(appliance, drive)
        if isinstance(drive, exception.HotplugFailed):
            LOG.warning('Cannot hot-plug %s: %s', job.image_name, drive)
            clean = clean and not drive.touched
            send(channel.JobDone(index, session.JobOutcome(
                error=str(drive), unattached=not drive.touched)))
            continue
        attach_seconds = time.monotonic() - t0
        outcome = _work(appliance, drive, job)
        outcome.timings['attach'] = attach_seconds
        t1 = time.monotonic()
        try:
            if outcome.error is not None:
                _unmount_quietly(appliance)
            appliance.detach(drive)
            outcome.released = True
            outcome.timings['detach'] = time.monotonic() - t1
        except exception.InjectError as e:
            LOG.warning('Cannot detach %s (%s): it is released when the appliance shuts '
                        'down', job.image_name, e)
            clean = False
        send(channel.JobDone(index, outcome))
        t0 = time.monotonic()
    return clean


def _attached(appliance, ticket):
    """``ticket``'s drive index once it shows, or the HotplugFailed (as is)."""
    if isinstance(ticket, (int, exception.HotplugFailed)):
        return ticket
    try:
        return appliance.wait_attached(ticket)
    except exception.HotplugFailed as e:
        return e


def _work(appliance, drive, job):
    """Mount drive ``drive`` for ``job``, write its items, unmount: its JobOutcome."""
    outcome = session.JobOutcome()
    t0 = time.monotonic()
    try:
        fs = appliance.mount(drive, job.partition, job.image_name, job.layout)
        outcome.mountpoints = [list(m) for m in fs.mountpoints]
        outcome.layout = [list(m) for m in fs.layout]
        outcome.source = fs.source
        t1 = time.monotonic()
        outcome.timings['mount'] = t1 - t0
        LOG.info('Writing %d item(s) into %s (%s)', len(job.items), job.image_name,
                 fs.source)
        outcome.results = injection.apply(fs, job.items)
        outcome.timings['writes'] = time.monotonic() - t1
        fs.unmount()
        LOG.info('Wrote into %s in %.1f s', job.image_name, outcome.timings['writes'])
    except exception.InjectError as e:
        outcome.error = str(e)
    except Exception as e:   # a bug must fail this disk only, not the batch
        LOG.exception('Unexpected error working on %s', job.image_name)
        outcome.error = 'internal error: %s: %s' % (type(e).__name__,
                                                    handle.error_text(e))
        _unmount_quietly(appliance)
    return outcome


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
