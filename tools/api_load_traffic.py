"""The traffic of tools/api_load.py: keep-alive HTTP clients of inject-api, the
closed-loop and open-loop drivers, and the server bookkeeping around them (counting a
project's servers, raising its quotas, waiting for builds, finding lost servers).

Only loopback: every connection goes to 127.0.0.1.
"""

import collections
import http.client
import itertools
import json
import math
import queue
import random
import threading
import time

USER = 'load-user'
MEMBER = 'member,reader'
IMAGE = 'load'                  # name of the base image the target's image dir holds
IMAGE_REF = {}                  # its id, as GET /images lists it (find_image sets it)
MAX_REQUESTS = 1000000          # per phase, whatever the duration
STOP = threading.Event()        # Ctrl-C: every loop ends

# --- HTTP --------------------------------------------------------------------------------

class Client:
    """One keep-alive connection to inject-api, as one project and role set."""

    def __init__(self, port, project, roles=MEMBER, timeout=30):
        self.port, self.timeout = port, timeout
        self.headers = {'Accept': 'application/json', 'X-Project-Id': project,
                        'X-User-Id': USER, 'X-Roles': roles}
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None):
        """(status, parsed JSON body or None). A GET on a kept-alive connection the
        server has closed meanwhile is sent again once on a new one."""
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self.headers)
        if data is not None:
            headers['Content-Type'] = 'application/json'
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection('127.0.0.1', self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError):
                self.close()
                if attempt == 0 and reused and method == 'GET':
                    continue
                raise
            except Exception:
                self.close()
                raise
            if resp.will_close:
                self.close()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, None


def _create_body(counter):
    return {'server': {'name': 'load-%d' % next(counter), 'imageRef': IMAGE_REF['id'],
                       'flavorRef': '1'}}


def find_image(port, project, name=IMAGE):
    """Look up the id of the image called ``name`` (imageRef takes ids only, as in
    Nova) and keep it for the create bodies."""
    client = Client(port, project)
    try:
        status, body = client.request('GET', '/v2.1/images')
    finally:
        client.close()
    if status != 200:
        raise RuntimeError('GET /images answered %d' % status)
    ids = [i['id'] for i in body['images'] if i['name'] == name]
    if not ids:
        raise RuntimeError('inject-api lists no image called %r' % name)
    IMAGE_REF['id'] = ids[0]
    return ids[0]


KINDS = {
    # kind: (method, path, expected status, body maker or None)
    'limits': ('GET', '/v2.1/limits', 200, None),
    'detail': ('GET', '/v2.1/servers/detail?limit=100', 200, None),
    'create': ('POST', '/v2.1/servers', 202, _create_body),
}


class Recorder:
    """Latencies, errors and created servers of one phase (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.errors = 0
        self.samples = collections.Counter()
        self.created = []
        self.last_answer = None

    def send(self, client, kind, counter, started):
        """Send one request of ``kind``; ``started`` is the perf_counter time latency
        is measured from (the scheduled arrival in the open loop)."""
        method, path, expected, body = KINDS[kind]
        try:
            status, reply = client.request(method, path,
                                           body(counter) if body else None)
            error = None if status == expected else '%s %d' % (kind, status)
            if not error and kind == 'create':
                created = (reply or {}).get('server', {}).get('id')
                error = None if created else 'create 202 without a server id'
        except Exception as e:
            reply, error = None, '%s %s' % (kind, type(e).__name__)
        now = time.perf_counter()
        with self.lock:
            self.latencies.append(now - started)
            self.last_answer = now
            if error:
                self.errors += 1
                self.samples[error] += 1
            elif kind == 'create':
                self.created.append(created)

    def fail(self, why):
        with self.lock:
            self.errors += 1
            self.samples[why] += 1


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


# --- phases ------------------------------------------------------------------------------

def closed_loop(port, project, kind, threads, duration, max_requests=MAX_REQUESTS):
    """``threads`` clients sending ``kind`` back to back until ``duration`` seconds or
    ``max_requests`` requests have passed; return (Recorder, wall seconds)."""
    rec, counter = Recorder(), itertools.count()
    sent, lock = itertools.count(), threading.Lock()
    start = time.perf_counter()
    deadline = start + duration

    def run():
        client = Client(port, project)
        try:
            while not STOP.is_set() and time.perf_counter() < deadline:
                with lock:
                    if next(sent) >= max_requests:
                        return
                rec.send(client, kind, counter, time.perf_counter())
        finally:
            client.close()

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(duration + 120)
    return rec, time.perf_counter() - start


def open_loop(port, project, rate, duration, mix, workers, grace, seed=1):
    """Arrivals every 1/``rate`` s for ``duration`` s, kinds drawn from ``mix``
    ({kind: weight}); return (Recorder, wall seconds from the first arrival to the
    last answer, at least ``duration``)."""
    rec, counter = Recorder(), itertools.count()
    rng = random.Random(seed)
    kinds, weights = list(mix), [mix[k] for k in mix]
    arrivals = queue.Queue()
    start = time.perf_counter()
    give_up = start + duration + grace

    def work():
        client = Client(port, project)
        try:
            while True:
                item = arrivals.get()
                if item is None:
                    return
                scheduled, kind = item
                if STOP.is_set() or time.perf_counter() > give_up:
                    rec.fail('%s not sent within --grace' % kind)
                    continue
                rec.send(client, kind, counter, scheduled)
        finally:
            client.close()

    pool = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for t in pool:
        t.start()
    total = min(MAX_REQUESTS, int(rate * duration))
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if STOP.is_set():
            break
        arrivals.put((scheduled, rng.choices(kinds, weights)[0]))
    for _ in pool:
        arrivals.put(None)
    for t in pool:
        t.join(max(0.0, give_up - time.perf_counter()) + 60)
    end = max(rec.last_answer or start, start + duration)
    return rec, end - start


# --- servers: counting, waiting for builds, lost servers ---------------------------------

def server_count(port, project):
    status, body = Client(port, project).request('GET', '/v2.1/limits')
    if status != 200:
        raise RuntimeError('GET /limits answered %d' % status)
    return body['limits']['absolute']['totalInstancesUsed']


def list_ids(client, query='', max_pages=10000):
    """Ids of every server GET /servers?QUERY lists, following next links."""
    ids, path = [], '/v2.1/servers' + ('?' + query if query else '')
    for _ in range(max_pages):
        status, body = client.request('GET', path)
        if status != 200:
            raise RuntimeError('GET %s answered %d' % (path, status))
        ids += [s['id'] for s in body['servers']]
        nxt = [link['href'] for link in body.get('servers_links', ())
               if link['rel'] == 'next']
        if not nxt:
            return ids
        path = nxt[0].split('://', 1)[-1]
        path = path[path.index('/'):]
    raise RuntimeError('more than %d pages of servers' % max_pages)


def drain(port, project, created, timeout):
    """Wait up to ``timeout`` s for the servers in ``created`` to leave BUILD (all of
    the project's when ``created`` is None). Return (lost, in ERROR, seconds waited)."""
    client = Client(port, project, timeout=120)
    start = time.monotonic()
    try:
        while True:
            building = set(list_ids(client, 'status=BUILD'))
            if created is not None:
                building &= set(created)
            if not building or STOP.is_set() or time.monotonic() - start > timeout:
                break
            time.sleep(1)
        if created is None:
            return len(building), None, time.monotonic() - start
        visible = set(list_ids(client))
        errored = set(list_ids(client, 'status=ERROR')) & set(created)
        lost = (set(created) - visible) | building
        return len(lost), len(errored), time.monotonic() - start
    finally:
        client.close()


def raise_quotas(port, project):
    admin = Client(port, project, roles='admin')
    status, body = admin.request('PUT', '/v2.1/os-quota-sets/%s' % project, {
        'quota_set': {'instances': -1, 'cores': -1, 'ram': -1}})
    admin.close()
    if status != 200:
        raise RuntimeError('raising the quotas of %s answered %d: %s'
                           % (project, status, body))

