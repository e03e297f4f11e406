"""The entry point a compute driver or the CLI calls: requests in, reports out.

For each request: decide the partition (the request's, else ``inject_partition``), plan
the items under this host's policy, check the image, put an overlay in front of it, and
hand every disk that needs writing to one appliance session. Afterwards each overlay is
committed only if all of that disk's mandatory items succeeded; otherwise it is thrown
away, and the disk is byte-for-byte what it was.

Nothing is ever dropped silently: with injection disabled, every item comes back
"skipped" with the reason, and the caller decides what that means for its server.
"""

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
        start = time.monotonic()
        conf = self.conf
        policy = policy_from_conf(conf)
        settings = appliance.Settings.from_conf(conf)
        work = []        # (request index, report, overlay, [(item, result)], job, key)
        reports = []
        done = set()     # positions in work finished (committed or discarded)

        def finish(position, outcome, session, released=False):
            index, report, overlay, todo, _, key = work[position]
            self._finish(report, overlay, todo, outcome, session, released)
            done.add(position)
            if (outcome.source in ('inspection', 'root probe')
                    and outcome.error is None):
                self.inspection_cache.put(key, outcome.layout)
            announce(index, report)

        def announce(index, report):
            report.timings['total'] = time.monotonic() - start
            LOG.info('%s: %s', report.image, 'all injected' if report.ok
                     else report.reason())
            if on_report is not None:
                on_report(index, report)

        disks = set()    # one overlay per disk per call: two would both be committed
        try:
            for index, request in enumerate(requests):
                report, prepared = self._prepare(request, policy, disks)
                reports.append(report)
                if prepared is not None:
                    work.append((index,) + prepared)
                else:
                    announce(index, report)
            if work:
                def released(position, outcome, session):
                    finish(position, outcome, session, released=True)

                try:
                    session = appliance.run([entry[4] for entry in work], settings,
                                            pool=self.pool, owner=owner, on_job=released,
                                            workers=self.workers)
                except exception.NotEnoughMemory as e:    # nothing was started
                    LOG.warning('%s', e)
                    session = appliance.SessionOutcome(
                        error=str(e), jobs=[appliance.JobOutcome() for _ in work])
                if self._stopping is not None and session.error is not None:
                    session.error = '%s: %s' % (self._stopping, session.error)
                for position, outcome in enumerate(session.jobs):
                    if position not in done:
                        finish(position, outcome, session)
        finally:
            # Reached with overlays left only when something raised: none may outlive
            # this call (a committed or discarded overlay is already gone).
            for position, entry in enumerate(work):
                if position not in done:
                    entry[2].discard()
        return reports

    def _prepare(self, request, policy, disks):
        """(report, work entry or None) for one request; its failures stay its own.

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
        return report, (report, overlay, todo, job, key)

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

    def _finish(self, report, overlay, todo, outcome, session, released=False):
        """Commit or discard one disk's overlay after its job. ``released``: the
        appliance let go of the disk before the session ended, so only the job's own
        outcome counts (the session's later trouble cannot reach it)."""
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
                result.status, result.reason = written.status, written.reason
                result.target = written.target
                result.mode, result.uid, result.gid, result.size = (
                    written.mode, written.uid, written.gid, written.size)
                result.notes.extend(written.notes)
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


