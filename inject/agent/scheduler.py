"""Batching and bounded concurrency for the agent.

Requests queue per project. A project's queue is dispatched once its oldest request has
waited ``batch_window`` seconds or it holds ``max_batch`` requests, whenever fewer than
``max_appliances`` batches are running: as one batch (one appliance, one drive per disk),
or, when it holds at least twice ``SPLIT_MIN`` requests and appliances are free that no other
due project needs, split evenly over them, at least ``SPLIT_MIN`` disks each (16 disks
and 2 free appliances: two batches of 8, worked on side by side; 3 disks: one batch,
since a launch with three drives costs little more than with one). A batch never mixes projects: a crafted image that compromised the appliance
kernel could otherwise reach another tenant's disk. Within a project, requests that
must not share an appliance (the same disk twice; disks on one base image that still
need inspection or hold LVM, whose cloned volume groups collide) wait for a later batch,
and none starts while a running batch holds the same disk or base.

A request's keys are computed once, when it is queued (naming a base image reads its
first MiB). When a batch ends, what it learnt (a base's layout) may lift a key: each
distinct key still queued is asked about once, outside the lock.
"""

import collections
import concurrent.futures
import logging
import threading
import time

from inject import exception

LOG = logging.getLogger(__name__)


#: fewest disks worth an appliance of their own when a project's burst is split
SPLIT_MIN = 4


class _Entry:
    """A queued request: its keys (computed once) and those of them that apply now."""

    __slots__ = ('request', 'future', 'arrived', 'keys', 'exclusive')

    def __init__(self, request, keys, exclusive):
        self.request = request
        self.future = concurrent.futures.Future()
        self.arrived = time.monotonic()
        self.keys = keys
        self.exclusive = exclusive


def _always(key):
    return True


class Scheduler:
    """``inject_batch(requests) -> reports`` runs one batch; ``keys(request)`` gives the
    keys two requests of one batch must not share (or an empty set), called once per
    request; ``still_exclusive(key)`` says whether a key applies now (by default:
    always)."""

    def __init__(self, inject_batch, keys, window, max_batch, max_appliances,
                 host='localhost', still_exclusive=_always, streams=False):
        """``streams``: ``inject_batch`` takes ``on_report(index, report)`` (called as
        each report is final, which answers that request at once) and ``owner`` (the
        project)."""
        self._inject_batch = inject_batch
        self._streams = streams
        self._keys = keys
        self._still_exclusive = still_exclusive
        self.window = window
        self.max_batch = max_batch
        self.max_appliances = max_appliances
        self.host = host
        self._cv = threading.Condition()
        self._queues = collections.OrderedDict()    # project -> deque of _Entry
        self._running = 0
        self._busy = collections.Counter()          # exclusive keys of running batches
        self._closing = False
        self._stopped = False
        self._dispatcher = threading.Thread(target=self._dispatch, name='inject-dispatch',
                                            daemon=True)
        self.batches = 0

    def start(self):
        self._dispatcher.start()

    def submit(self, project_id, request):
        """Queue ``request``; the returned Future gives its Report."""
        keys = frozenset(self._keys(request))
        entry = _Entry(request, keys, frozenset(filter(self._still_exclusive, keys)))
        with self._cv:
            if self._closing:
                raise exception.AgentStopping(host=self.host,
                                              reason='it is shutting down')
            self._queues.setdefault(project_id, collections.deque()).append(entry)
            self._cv.notify_all()
        return entry.future

    def queued(self):
        with self._cv:
            return sum(len(q) for q in self._queues.values())

    def running(self):
        with self._cv:
            return self._running

    # --- dispatching ---------------------------------------------------------------

    def _due(self, now):
        """(projects due now, in turn order; seconds until the next one is, or None).

        A project whose every queued request is blocked by a running batch (the same
        disk, or a base image being inspected) is not due until that batch ends.
        """
        due, wait = [], None
        for project, queue in self._queues.items():
            if all(entry.exclusive & self._busy.keys() for entry in queue):
                continue
            at = queue[0].arrived + self.window
            if self._closing or len(queue) >= self.max_batch or at <= now:
                due.append(project)
            else:
                wait = at - now if wait is None else min(wait, at - now)
        return due, wait

    def _batch_size(self, project, due):
        """How many of ``project``'s queued requests go into its next batch: all (up to
        ``max_batch``), or an even share when free appliances outnumber the projects
        due (each due project keeps at least one appliance's worth)."""
        free = self.max_appliances - self._running
        queued = len(self._queues[project])
        share = max(1, min(free // max(1, len(due)), queued // SPLIT_MIN))
        return max(1, min(self.max_batch, -(-queued // share)))

    def _take_batch(self, project, size=None):
        queue = self._queues[project]
        size = self.max_batch if size is None else size
        batch, keys, kept = [], set(), collections.deque()
        while queue and len(batch) < size:
            entry = queue.popleft()
            if entry.exclusive & keys or entry.exclusive & self._busy.keys():
                kept.append(entry)
            else:
                keys |= entry.exclusive
                batch.append(entry)
        kept.extend(queue)
        if kept:
            self._queues[project] = kept
            self._queues.move_to_end(project)     # other projects get their turn
        else:
            del self._queues[project]
        return batch

    def _dispatch(self):
        while True:
            with self._cv:
                while True:
                    if self._stopped or (self._closing and not self._queues):
                        return
                    if self._running < self.max_appliances:
                        due, wait = self._due(time.monotonic())
                        if due:
                            project = due[0]
                            break
                    else:
                        wait = None
                    self._cv.wait(wait)
                batch = self._take_batch(project, self._batch_size(project, due))
                self._running += 1
                self.batches += 1
                for entry in batch:
                    self._busy.update(entry.exclusive)
            threading.Thread(target=self._run, args=(project, batch),
                             name='inject-batch', daemon=True).start()

    def _run(self, project, batch):
        LOG.info('Injecting a batch of %d disk(s) for project %s', len(batch), project)
        def answer(index, report):
            if not batch[index].future.done():
                batch[index].future.set_result(report)
        try:
            requests = [entry.request for entry in batch]
            if self._streams:
                reports = self._inject_batch(requests, on_report=answer, owner=project)
            else:
                reports = self._inject_batch(requests)
            for index, report in enumerate(reports):
                answer(index, report)
            if len(reports) != len(batch):
                raise RuntimeError('%d reports for %d requests' % (len(reports), len(batch)))
        except BaseException as e:     # a bug fails this batch's requests, not the agent
            LOG.exception('Batch for project %s failed', project)
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(e)
        finally:
            self._finished(batch)

    def _finished(self, batch):
        """Free ``batch``'s keys, and reconsider those of the requests still queued:
        what the batch learnt (a base image's layout, by inspection) may free the
        requests that waited for it to share one appliance."""
        with self._cv:
            queued = {key for queue in self._queues.values() for entry in queue
                      for key in entry.keys}
        try:       # outside the lock: the answer may come from a file
            live = {key: self._still_exclusive(key) for key in queued}
        except Exception:
            LOG.exception('Could not reconsider the keys of queued requests')
            live = {}
        with self._cv:
            self._running -= 1
            for entry in batch:
                self._busy.subtract(entry.exclusive)
            self._busy += collections.Counter()      # drop keys that reached zero
            for queue in self._queues.values():
                for entry in queue:
                    entry.exclusive = frozenset(
                        key for key in entry.keys
                        if live.get(key, key in entry.exclusive))
            self._cv.notify_all()

    # --- stopping -------------------------------------------------------------------

    def stop(self, timeout):
        """Refuse new requests, work off the queued ones (no more waiting for a batch
        window), and wait up to ``timeout`` s; requests still queued then are answered
        with AgentStopping. Returns the number of requests answered that way."""
        deadline = time.monotonic() + timeout
        with self._cv:
            self._closing = True
            self._cv.notify_all()
            while (self._queues or self._running) and time.monotonic() < deadline:
                self._cv.wait(max(0.0, deadline - time.monotonic()))
            self._stopped = True
            left = [e for q in self._queues.values() for e in q]
            self._queues.clear()
            self._cv.notify_all()
        for entry in left:
            entry.future.set_exception(exception.AgentStopping(
                host=self.host, reason='drain_timeout of %s s ran out' % timeout))
        return len(left)
