"""The agent's scheduler: per-project batches, bounded concurrency, exclusive keys, stop."""

import collections
import threading
import time

import pytest

from inject import exception
from inject.agent import scheduler as scheduler_mod

WAIT = 3            # seconds a test waits for something that should happen at once


Req = collections.namedtuple('Req', 'name keys')


def req(name, *keys):
    return Req(name, frozenset(keys))


class Batches:
    """A fake ``inject_batch``: records each batch; blocks one on a gate if asked."""

    def __init__(self):
        self.batches = []                 # [[name, ...]] in the order they started
        self.gates = {}                   # request name -> Event the batch waits on
        self.fail = {}                    # request name -> exception its batch raises
        self.started = threading.Semaphore(0)
        self._lock = threading.Lock()

    def block(self, name):
        self.gates[name] = threading.Event()
        return self.gates[name]

    def __call__(self, requests, on_report=None, owner=None):
        names = [r.name for r in requests]
        self.owners = getattr(self, 'owners', []) + [owner]
        with self._lock:
            self.batches.append(names)
        self.started.release()
        for name in names:
            if name in self.gates:
                assert self.gates[name].wait(WAIT), 'the test never released %s' % name
        for name in names:
            if name in self.fail:
                raise self.fail[name]
        return ['report:' + name for name in names]

    def wait_started(self, count=1):
        for _ in range(count):
            assert self.started.acquire(timeout=WAIT), 'no batch started'


@pytest.fixture
def make():
    """``make(window=0, max_batch=16, max_appliances=4, keys=..., still_exclusive=...)``:
    a started Scheduler over a fresh :class:`Batches`, a request's keys being its
    ``keys`` by default; stopped at the end of the test."""
    made = []

    def make(window=0.0, max_batch=16, max_appliances=4, keys=lambda r: set(r.keys),
             **kwargs):
        batches = Batches()
        s = scheduler_mod.Scheduler(batches, keys, window, max_batch,
                                    max_appliances, host='h1', **kwargs)
        s.start()
        made.append((s, batches))
        return s, batches

    yield make
    for s, batches in made:
        for gate in batches.gates.values():
            gate.set()
        s.stop(1)


def results(futures):
    return [f.result(WAIT) for f in futures]


def test_one_project_within_the_window_is_one_batch(make):
    s, b = make(window=0.3)
    futures = [s.submit('p1', req(n)) for n in ('a', 'b', 'c')]
    assert s.batches == 0 and s.queued() == 3          # waiting for the window
    assert results(futures) == ['report:a', 'report:b', 'report:c']
    assert b.batches == [['a', 'b', 'c']]
    assert s.batches == 1 and s.queued() == 0


def test_the_window_starts_with_the_oldest_request(make):
    s, b = make(window=0.2)
    t0 = time.monotonic()
    first = s.submit('p1', req('a'))
    first.result(WAIT)
    assert time.monotonic() - t0 >= 0.2
    assert b.batches == [['a']]


def test_two_projects_never_share_a_batch(make):
    s, b = make(window=0.2)
    futures = [s.submit('p1', req('a1')), s.submit('p2', req('b1')),
               s.submit('p1', req('a2')), s.submit('p2', req('b2'))]
    assert results(futures) == ['report:a1', 'report:b1', 'report:a2', 'report:b2']
    assert sorted(b.batches) == [['a1', 'a2'], ['b1', 'b2']]


def test_max_batch_splits_and_a_full_batch_does_not_wait(make):
    s, b = make(window=30, max_batch=2)
    futures = [s.submit('p1', req(n)) for n in 'abcde']
    assert results(futures[:4]) == ['report:a', 'report:b', 'report:c', 'report:d']
    assert sorted(b.batches) == [['a', 'b'], ['c', 'd']]
    assert not futures[4].done() and s.queued() == 1   # alone, it waits for its window


def test_max_appliances_bounds_concurrent_batches(make):
    s, b = make(max_appliances=1)
    gate = b.block('a')
    first = s.submit('p1', req('a'))
    b.wait_started()
    second = s.submit('p2', req('b'))
    time.sleep(0.2)
    assert b.batches == [['a']] and not second.done()
    assert (s.running(), s.queued()) == (1, 1)
    gate.set()
    assert results([first, second]) == ['report:a', 'report:b']
    assert b.batches == [['a'], ['b']]


def test_below_max_appliances_batches_run_concurrently(make):
    s, b = make(max_appliances=2)
    gate = b.block('a')
    first = s.submit('p1', req('a'))
    b.wait_started()
    assert s.submit('p2', req('b')).result(WAIT) == 'report:b'   # not behind 'a'
    assert not first.done() and s.running() == 1
    gate.set()
    assert first.result(WAIT) == 'report:a'


def test_overlapping_exclusive_keys_go_to_later_batches_in_arrival_order(make):
    s, b = make(window=0.2, max_appliances=1)
    futures = [s.submit('p1', r) for r in (req('r1', 'disk:d', 'base:b'),
                                           req('r2', 'disk:d'), req('r3', 'disk:e'),
                                           req('r4', 'disk:f', 'base:b'))]
    assert results(futures) == ['report:r1', 'report:r2', 'report:r3', 'report:r4']
    assert b.batches == [['r1', 'r3'], ['r2', 'r4']]


def test_exclusive_keys_also_wait_for_a_running_batch(make):
    s, b = make(max_appliances=2)
    gate = b.block('r1')
    first = s.submit('p1', req('r1', 'disk:d'))
    b.wait_started()
    second = s.submit('p1', req('r2', 'disk:d'))
    time.sleep(0.2)
    try:
        assert b.batches == [['r1']] and not second.done()
    finally:
        gate.set()
    assert results([first, second]) == ['report:r1', 'report:r2']


def test_a_failing_batch_fails_only_its_requests(make):
    s, b = make(window=0.1)
    b.fail['bad'] = RuntimeError('boom')
    bad = [s.submit('p1', req('bad')), s.submit('p1', req('also-in-that-batch'))]
    good = s.submit('p2', req('good'))
    for f in bad:
        with pytest.raises(RuntimeError, match='boom'):
            f.result(WAIT)
    assert good.result(WAIT) == 'report:good'
    # and the scheduler keeps serving, the failed project included
    assert s.submit('p1', req('later')).result(WAIT) == 'report:later'
    assert s.running() == 0


def test_stop_refuses_new_requests(make):
    s, _ = make()
    assert s.stop(1) == 0
    with pytest.raises(exception.AgentStopping) as e:
        s.submit('p1', req('a'))
    assert 'h1' in str(e.value) and 'shutting down' in str(e.value)


def test_stop_works_off_the_queue_without_waiting_for_the_window(make):
    s, b = make(window=30, max_batch=2)
    futures = [s.submit('p1', req(n)) for n in 'abc'] + [s.submit('p2', req('d'))]
    t0 = time.monotonic()
    assert s.stop(WAIT) == 0
    assert time.monotonic() - t0 < 1
    assert results(futures) == ['report:a', 'report:b', 'report:c', 'report:d']
    assert sorted(b.batches) == [['a', 'b'], ['c'], ['d']]


def test_stop_answers_what_is_still_queued_at_the_timeout(make):
    s, b = make(max_appliances=1)
    gate = b.block('a')
    running = s.submit('p1', req('a'))
    b.wait_started()
    queued = s.submit('p2', req('b'))
    t0 = time.monotonic()
    assert s.stop(0.2) == 1
    assert 0.2 <= time.monotonic() - t0 < 1
    with pytest.raises(exception.AgentStopping) as e:
        queued.result(WAIT)
    assert 'drain_timeout of 0.2 s ran out' in str(e.value)
    assert 'h1' in str(e.value)
    assert s.queued() == 0 and not running.done()
    gate.set()                                    # what was running still finishes
    assert running.result(WAIT) == 'report:a'
    assert b.batches == [['a']]


def test_a_later_project_is_not_starved(make):
    s, b = make(max_batch=1, max_appliances=1)
    gate = b.block('a1')
    futures = [s.submit('A', req('a1'))]
    b.wait_started()
    futures += [s.submit('A', req(n)) for n in ('a2', 'a3', 'a4')]
    futures += [s.submit('B', req('b1'))]
    gate.set()
    results(futures)
    # after each batch a project that still has requests goes behind the others
    assert b.batches == [['a1'], ['a2'], ['b1'], ['a3'], ['a4']]


def test_exclusive_keys_are_reconsidered_when_a_batch_ends(make):
    """Disks on one base wait for the first one's inspection, then share a launch."""
    learnt = []

    def still_exclusive(key):
        return not learnt

    s, b = make(max_appliances=1, still_exclusive=still_exclusive)
    gate = b.block('r1')
    futures = [s.submit('p1', req(n, 'base:b')) for n in ('r1', 'r2', 'r3')]
    b.wait_started()
    learnt.append(True)          # the first batch's inspection filled the cache
    gate.set()
    assert results(futures) == ['report:r1', 'report:r2', 'report:r3']
    assert b.batches == [['r1'], ['r2', 'r3']]


def test_keys_are_computed_once_per_request(make):
    """Computing keys may read 1 MiB of a base image: once per request, at submit, and
    after each batch only each distinct queued key is reconsidered, once."""
    computed = collections.Counter()
    asked = []

    def keys(request):
        computed[request.name] += 1
        return set(request.keys)

    def still_exclusive(key):
        asked.append(key)
        return True

    s, b = make(max_appliances=1, keys=keys, still_exclusive=still_exclusive)
    gate = b.block('r1')
    futures = [s.submit('p1', req('r1', 'disk:d'))]
    b.wait_started()
    futures += [s.submit('p1', req(n, 'disk:d', 'base:b')) for n in ('r2', 'r3', 'r4')]
    asked.clear()
    gate.set()
    assert results(futures) == ['report:r1', 'report:r2', 'report:r3', 'report:r4']
    assert b.batches == [['r1'], ['r2'], ['r3'], ['r4']]       # one disk: one at a time
    assert computed == {'r1': 1, 'r2': 1, 'r3': 1, 'r4': 1}
    # after r1: r2-r4 queued; after r2: r3, r4; after r3: r4; after r4: none
    assert sorted(asked) == sorted(['disk:d', 'base:b'] * 3)


def test_a_failing_key_check_keeps_the_keys_and_the_scheduler(make):
    calls = []

    def still_exclusive(key):
        calls.append(key)
        if len(calls) > 1:            # at submit it answers; after a batch it fails
            raise RuntimeError('boom')
        return True

    s, b = make(max_appliances=1, still_exclusive=still_exclusive)
    gate = b.block('r1')
    first = s.submit('p1', req('r1'))
    b.wait_started()
    second = s.submit('p1', req('r2', 'disk:d'))
    gate.set()
    assert results([first, second]) == ['report:r1', 'report:r2']
    assert s.running() == 0 and calls == ['disk:d', 'disk:d']


def test_a_burst_is_split_over_the_free_appliances(make):
    s, b = make(window=0.2, max_appliances=2)
    gates = [b.block('r%02d' % i) for i in range(16)]     # batches run until released
    futures = [s.submit('p1', req('r%02d' % i)) for i in range(16)]
    b.wait_started(2)
    for gate in gates:
        gate.set()
    assert len(results(futures)) == 16
    assert sorted(len(batch) for batch in b.batches) == [8, 8]


def test_a_small_burst_stays_one_batch_and_projects_keep_their_turn(make):
    s, b = make(window=0.2, max_appliances=2)
    futures = [s.submit(p, req('%s-%d' % (p, i))) for p in ('p1', 'p2', 'p3', 'p4')
               for i in range(4)]
    assert len(results(futures)) == 16
    assert sorted(b.batches) == [['%s-%d' % (p, i) for i in range(4)]
                                 for p in ('p1', 'p2', 'p3', 'p4')]


def test_streaming_batches_answer_each_request_as_its_report_is_final(make):
    gate = threading.Event()

    def inject_batch(requests, on_report=None, owner=None):
        on_report(0, 'report:' + requests[0].name)      # the first is final at once
        assert gate.wait(WAIT)
        return ['report:' + r.name for r in requests]
    s = scheduler_mod.Scheduler(inject_batch, lambda r: set(), 0.1, 16, 2, host='h1',
                                streams=True)
    s.start()
    try:
        first, second = s.submit('p1', req('a')), s.submit('p1', req('b'))
        assert first.result(WAIT) == 'report:a'
        assert not second.done()                 # its batch is still running
        gate.set()
        assert second.result(WAIT) == 'report:b'
    finally:
        gate.set()
        s.stop(1)
