"""The entry point a compute driver or the CLI calls: requests in, reports out.

For each request: decide the partition (the request's, else ``inject_partition``), plan
the items under this host's policy, check the image, put an overlay in front of it, and
hand every disk that needs writing to one appliance session. Afterwards each overlay is
committed only if all of that disk's mandatory items succeeded; otherwise it is thrown
away, and the disk is byte-for-byte what it was.

Nothing is ever dropped silently: with injection disabled, every item comes back
"skipped" with the reason, and the caller decides what that means for its server.
"""

import dataclasses
import logging
import os
import time

from inject import appliance
from inject import exception
from inject import injection
from inject import overlay as overlay_mod
from inject import partitions
from inject import inspection_cache
from inject import report as report_mod
from inject import vfs
from inject.vfs import api

LOG = logging.getLogger(__name__)


def policy_from_conf(conf):
    i = conf.injection
    return injection.Policy(inject_key=i.inject_key, inject_password=i.inject_password,
                            password_hash=i.password_hash, mandatory=tuple(i.mandatory))


class Manager:
    """Injects requests, sharing one appliance launch between the disks of one call.

    Only hand several requests to one :meth:`inject` call when they belong to the same
    tenant: their disks share an appliance kernel.
    """

    def __init__(self, conf, pool=None):
        """``pool``: an :class:`inject.appliance.WarmPool` to take appliances from."""
        self.conf = conf
        self.pool = pool
        self.workers = appliance.Workers()   # the workers of its own (cold) launches
        self._stopping = None                # why its appliances were killed
        self.inspection_cache = inspection_cache.InspectionCache(
            os.path.join(conf.state_path, 'inspection-cache.json'))
        for path in overlay_mod.sweep_stale_overlays(conf.injection.overlay_dir):
            LOG.warning('Removed %s: an overlay left by a process that was killed (its '
                        'disk was never written)', path)

    def inject(self, requests, on_report=None, owner=None):
        """Return one :class:`inject.report.Report` per request, in order.

        ``on_report(index, report)`` is called as soon as each request's report is final
        -- for a disk a warm appliance has released, before the appliance is done with
        the others. ``owner``: the project these requests belong to (a warm appliance
        may then linger for its next batch).
        """
        call = _Call(self, on_report)
        policy = policy_from_conf(self.conf)
        disks = set()    # one overlay per disk per call: two would both be committed
        try:
            for index, request in enumerate(requests):
                report, work = self._prepare(index, request, policy, disks)
                call.reports.append(report)
                if work is not None:
                    call.work.append(work)
                else:
                    call.announce(index, report)
            if call.work:
                self._run(call, owner)
        finally:
            # Reached with overlays left only when something raised: none may outlive
            # this call (a committed or discarded overlay is already gone).
            for work in call.work:
                if not work.done:
                    work.overlay.discard()
        return call.reports

    def _run(self, call, owner):
        """One appliance session for every disk of ``call`` that needs writing; each
        disk is finished (committed or discarded) as soon as its job is released, or
        when the session ends."""
        settings = appliance.Settings.from_conf(self.conf)
        try:
            session = appliance.run([work.job for work in call.work], settings,
                                    pool=self.pool, owner=owner, on_job=call.released,
                                    workers=self.workers)
        except exception.NotEnoughMemory as e:    # nothing was started
            LOG.warning('%s', e)
            session = appliance.SessionOutcome(
                error=str(e), jobs=[appliance.JobOutcome() for _ in call.work])
        if self._stopping is not None and session.error is not None:
            session.error = '%s: %s' % (self._stopping, session.error)
        for work, outcome in zip(call.work, session.jobs):
            if not work.done:
                call.finish(work, outcome, session)

    def _prepare(self, index, request, policy, disks):
        """(report, :class:`_Work` or None) for request ``index``; its failures stay
        its own.

        Any exception while planning or preparing this disk (a password the hasher
        refuses, an unreadable image, a full overlay directory...) fails this request
        alone, with the reason, and leaves no overlay behind.
        """
        conf = self.conf
        partition = self.partition_for(request)
        report = report_mod.Report(image=request.image.path, format=request.image.format,
                                   partition_requested=partition,
                                   request_id=request.request_id)
        overlay = None
        try:
            entries = injection.plan(request, policy)
            report.items = [result for _, result in entries]
            todo = [(item, result) for item, result in entries if item is not None]
            if partition == partitions.DISABLED:
                for _, result in todo:
                    result.status = report_mod.SKIPPED
                    result.reason = partitions.DISABLED_REASON
                return report, None
            if not todo:
                return report, None
            disk = os.path.realpath(request.image.path)
            if disk in disks:
                raise exception.InvalidRequest(
                    reason='%s is already in this call; send it again after this '
                           'call has finished' % request.image.path)
            disks.add(disk)
            chain = request.image.check(conf.injection.image_dirs)
            key = inspection_cache.key_for(chain) if partition == partitions.INSPECT else None
            overlay = overlay_mod.Overlay.create(request.image, conf.injection.overlay_dir)
            job = appliance.Job(drive=api.Drive(overlay.path, 'qcow2'),
                                image_name=report.image, partition=partition,
                                items=[item for item, _ in todo],
                                layout=self.inspection_cache.get(key))
        except Exception as e:
            if overlay is not None:
                overlay.discard()
            if isinstance(e, exception.InjectError):
                reason = str(e)
            else:
                LOG.exception('Preparing %s failed', request.image.path)
                reason = 'preparing the disk failed: %s: %s' % (type(e).__name__, e)
            report.error = reason
            if report.items:
                report.fail_all(reason, only_pending=True)
            return report, None
        return report, _Work(index, report, overlay, todo, job, key)

    def partition_for(self, request):
        """The request's partition, else this host's inject_partition (read live)."""
        if request.partition is not None:
            return request.partition
        return self.conf.injection.inject_partition

    def exclusive_keys(self, request):
        """Keys two requests must not share to be injected in one appliance.

        The same disk twice would get two overlays, both committed. Disks on one base
        image that still need inspection, or whose remembered layout is LVM, carry that
        base's volume groups and filesystem UUIDs twice, which the appliance cannot tell
        apart; after the first is inspected, the others mount its layout directly.
        That is :meth:`scheduling_keys` (what the request decides, once) filtered by
        :meth:`still_exclusive` (what the inspection cache knows now).
        """
        return {key for key in self.scheduling_keys(request) if self.still_exclusive(key)}

    def scheduling_keys(self, request):
        """Every key that may keep ``request`` apart from others: ``disk:`` its real
        path, and with inspection (-1) on a disk with a backing file ``base:`` the base
        image's inspection cache key. Naming the base reads its first MiB: an agent
        computes these once per request, when it is queued."""
        keys = {'disk:' + os.path.realpath(request.image.path)}
        if self.partition_for(request) != partitions.INSPECT:
            return keys
        try:
            key = inspection_cache.key_for(request.image.check(
                self.conf.injection.image_dirs))
        except (exception.InjectError, OSError):
            return keys        # refused later, with its reason, by inject()
        if key:
            keys.add('base:' + key)
        return keys

    def still_exclusive(self, key):
        """Whether ``key`` keeps requests apart now: a base's key stops doing so once
        its layout is remembered and holds no LVM volume; a disk's never does."""
        if not key.startswith('base:'):
            return True
        layout = self.inspection_cache.get(key[len('base:'):])
        return layout is None or any(spec.startswith('lv:') for _, spec in layout)

    def _finish(self, work, outcome, session, released=False):
        """Commit or discard one disk's overlay (:class:`_Work`) after its job.
        ``released``: the appliance let go of the disk before the session ended, so
        only the job's own outcome counts (the session's later trouble cannot reach
        it)."""
        report, overlay, todo = work.report, work.overlay, work.todo
        report.accelerator = session.accelerator
        report.appliance = outcome.appliance or session.appliance
        report.mountpoints = outcome.mountpoints
        report.root_found_by = outcome.source
        for key in ('launch', 'warm_launch', 'shutdown'):
            if key in session.timings:
                report.timings[key] = session.timings[key]
        report.timings.update(outcome.timings)
        report.notes.extend(session.notes)
        error = outcome.error if released else (session.error or outcome.error)
        if error is None:
            for (item, result), written in zip(todo, outcome.results):
                result.take(written)
            failed = [(item, result) for item, result in todo
                      if item.mandatory and result.status != report_mod.INJECTED]
            if failed:
                item, result = failed[0]
                error = 'mandatory %s %s failed: %s' % (item.kind, item.target,
                                                        result.reason or result.status)
        if error is not None:
            overlay.discard()
            report.error = error
            for item, result in todo:
                if result.status == report_mod.INJECTED:
                    result.fail('rolled back: %s' % error)
                elif result.status is None:
                    result.fail(error)
            return
        t0 = time.monotonic()
        try:
            overlay.commit()
        except exception.InjectError as e:
            report.error = 'committing the overlay into the disk failed: %s' % e
            report.fail_all(report.error)
            return
        report.timings['commit'] = time.monotonic() - t0
        report.committed = True

    def stop_appliances(self, reason):
        """Kill the appliances of this manager's sessions still running (the agent is
        stopping and its drain is over), and any it starts from now on: their disks fail
        with ``reason`` and are left as they were. The warm pool's are the pool's (see
        :meth:`inject.appliance.WarmPool.close`). Returns how many were killed."""
        self._stopping = reason
        return self.workers.kill()

    def status(self):
        """Launch the appliance once and say whether injection works on this host.

        ``ok`` is True only when the appliance launched and injection is enabled.
        """
        settings = appliance.Settings.from_conf(self.conf)
        partition = self.conf.injection.inject_partition
        usable, why_not = appliance.kvm_usable()
        result = {
            'ok': False,
            'inject_partition': partition,
            'injection_enabled': partition != partitions.DISABLED,
            'accelerator_setting': settings.accelerator,
            'kvm_device': 'usable' if usable else why_not,
            'accelerator': None,
            'kernel_boot': None,
            'launch_seconds': None,
            'libguestfs': None,
            'notes': [],
            'reason': None,
        }
        try:
            result['libguestfs'] = vfs.load_driver(settings.driver).version()
        except exception.InjectError as e:
            result['reason'] = str(e)
            return result
        try:
            session = appliance.run([], settings, workers=self.workers)
        except exception.NotEnoughMemory as e:
            result['reason'] = str(e)
            return result
        result.update(accelerator=session.accelerator, notes=session.notes,
                      kernel_boot=session.kernel_boot if session.accelerator else None,
                      launch_seconds=round(session.timings['launch'], 2)
                      if 'launch' in session.timings else None)
        if session.error:
            result['reason'] = session.error
        elif partition == partitions.DISABLED:
            result['reason'] = ('the appliance works, but injection is disabled by '
                                'inject_partition=-2 on this host')
        else:
            result['ok'] = True
        return result


@dataclasses.dataclass
class _Work:
    """One request's disk that an appliance works on in a :meth:`Manager.inject`
    call."""
    index: int                  # the request's position in the call
    report: report_mod.Report
    overlay: overlay_mod.Overlay
    todo: list                  # [(injection.Item, report.ItemResult)] to write
    job: appliance.Job
    cache_key: str = None       # its base image's inspection cache key (partition -1)
    done: bool = False          # committed or discarded, and announced


class _Call:
    """One :meth:`Manager.inject` call: its reports in request order, the disks its
    appliance works on, and the announcement of each report once final."""

    def __init__(self, manager, on_report):
        self.manager = manager
        self.on_report = on_report
        self.start = time.monotonic()
        self.reports = []
        self.work = []          # [_Work], in the order of the appliance's jobs

    def announce(self, index, report):
        report.timings['total'] = time.monotonic() - self.start
        LOG.info('%s: %s', report.image, 'all injected' if report.ok
                 else report.reason())
        if self.on_report is not None:
            self.on_report(index, report)

    def finish(self, work, outcome, session, released=False):
        """Commit or discard ``work``'s overlay after its job, remember a layout its
        root probe or inspection found, and announce its report."""
        self.manager._finish(work, outcome, session, released)
        work.done = True
        if (outcome.source in ('inspection', 'root probe')
                and outcome.error is None):
            self.manager.inspection_cache.put(work.cache_key, outcome.layout)
        self.announce(work.index, work.report)

    def released(self, position, outcome, session):
        """The appliance let go of job ``position``'s disk before the session ended
        (``on_job`` of :func:`inject.appliance.run`)."""
        self.finish(self.work[position], outcome, session, released=True)
