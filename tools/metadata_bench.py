"""Benchmark of inject-metadata on loopback (issue 11's speed goal):

* latency: p50/p90/p99 of ``meta_data.json`` and ``vendor_data2.json``, one keep-alive
  client, StaticJSON only versus StaticJSON + one DynamicJSON target that answers in
  50 ms (its answer cached: the target sends no Cache-Control, so
  ``metadata_cache_expiration`` applies);
* throughput: requests/s and errors for ``--seconds`` (30) with ``--clients``
  keep-alive clients (processes) asking both files of many instances, DynamicJSON on.

Goal: cached p50 <= 2 x StaticJSON-only p50; >= 1000 requests/s with 0 errors.

    PYTHONPATH=. python tools/metadata_bench.py [--seconds 30] [--clients 4] [--slow N]

With ``--slow N`` (issue 17), N slow clients (tools/slow_clients.py: a request line and
a header that never ends, one byte every --slow-interval seconds, from 127.0.0.2) hold
connections to each inject-metadata from before its first measurement to its last,
reconnecting when it closes one; the output says how many were held.

It starts its own inject-metadata processes and a target process
(``python -m tests.metadata.target_app``), on a temporary SQLite database. Requests are
signed as Neutron's metadata proxy signs them. The client is a minimal HTTP/1.1 reader on
raw sockets, so that the client costs little of the machine's CPU.
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid as uuid_mod

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOP)

from inject.metadata import wsgi  # noqa: E402
from tests.metadata import service  # noqa: E402
from tools import slow_clients  # noqa: E402

PATHS = ('/openstack/latest/meta_data.json', '/openstack/latest/vendor_data2.json')


class Client:
    """One keep-alive HTTP/1.1 connection; ``get(path, headers)`` -> (status, body)."""

    def __init__(self, host, port):
        self.addr = (host, port)
        self.sock = None
        self.buf = b''

    def _connect(self):
        # A server that stops answering (slow clients holding it) shows as an error.
        self.sock = socket.create_connection(self.addr, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''

    def get(self, raw_request):
        if self.sock is None:
            self._connect()
        self.sock.sendall(raw_request)
        while b'\r\n\r\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('connection closed')
            self.buf += chunk
        head, _, rest = self.buf.partition(b'\r\n\r\n')
        lines = head.split(b'\r\n')
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b':')
            if name.strip().lower() == b'content-length':
                length = int(value)
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('connection closed')
            rest += chunk
        body, self.buf = rest[:length], rest[length:]
        return status, body


def request_bytes(host, port, path, uuid, tenant):
    headers = {'Host': '%s:%d' % (host, port), 'X-Instance-ID': uuid,
               'X-Tenant-ID': tenant,
               'X-Instance-ID-Signature': wsgi.sign(service.SECRET, uuid),
               'X-Forwarded-For': '10.0.0.9'}
    return ('GET %s HTTP/1.1\r\n' % path + ''.join(
        '%s: %s\r\n' % kv for kv in headers.items()) + '\r\n').encode('ascii')


def latency(url, instances, path, n):
    host, port = url.split('//')[1].split(':')
    port = int(port)
    client = Client(host, port)
    reqs = [request_bytes(host, port, path, u, t) for u, t in instances]
    times = []
    for i in range(n):
        raw = reqs[i % len(reqs)]
        start = time.perf_counter()
        status, body = client.get(raw)
        times.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError('%s answered %d: %r' % (path, status, body[:200]))
    times.sort()
    return {'p50': times[len(times) // 2] * 1000,
            'p90': times[int(len(times) * 0.9)] * 1000,
            'p99': times[int(len(times) * 0.99)] * 1000}


def _load_worker(args):
    url, instances, seconds, start_at = args
    host, port = url.split('//')[1].split(':')
    port = int(port)
    reqs = [request_bytes(host, port, p, u, t) for u, t in instances for p in PATHS]
    client = Client(host, port)
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    ok = errors = 0
    i = os.getpid()
    while time.time() < end:
        i += 1
        try:
            status, _ = client.get(reqs[i % len(reqs)])
        except OSError:
            errors += 1
            client.sock = None
            continue
        if status == 200:
            ok += 1
        else:
            errors += 1
    return ok, errors


def throughput(url, instances, seconds, clients):
    start_at = time.time() + 1.0
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(_load_worker, [(url, instances, seconds, start_at)] * clients)
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return {'requests': ok + errors, 'ok': ok, 'errors': errors, 'rps': ok / seconds}


def start_target():
    env = dict(os.environ, PYTHONPATH=TOP)
    proc = subprocess.Popen([sys.executable, '-m', 'tests.metadata.target_app',
                             '--port', '0'], stdout=subprocess.PIPE, text=True, env=env)
    return proc, proc.stdout.readline().strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=30)
    parser.add_argument('--clients', type=int, default=4)
    parser.add_argument('--instances', type=int, default=50)
    parser.add_argument('--latency-requests', type=int, default=2000)
    parser.add_argument('--threads', type=int, default=16,
                        help='[metadata]threads of inject-metadata')
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--slow', type=int, default=0,
                        help='slow clients holding connections during each scenario')
    parser.add_argument('--slow-interval', type=float, default=5.0,
                        help='seconds between two header bytes of a slow client')
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix='metadata-bench-')
    instances = [(str(uuid_mod.uuid4()), 'project-%d' % (i % 5))
                 for i in range(args.instances)]
    db = service.make_database(os.path.join(tmp, 'inject-api.sqlite'), [
        (u, t, 'server-%d' % i, b'#cloud-config\n', {'k': 'v'}, 'reader,member')
        for i, (u, t) in enumerate(instances)])
    static_path = os.path.join(tmp, 'vendor_data.json')
    with open(static_path, 'w') as f:
        json.dump({'cloud-init': '#cloud-config\npackages: [htop]\n'}, f)
    target, target_url = start_target()
    results = {'loadavg_before': os.getloadavg(), 'cpus': os.cpu_count()}
    try:
        scenarios = {
            'StaticJSON only': {'vendordata_providers': 'StaticJSON'},
            'StaticJSON + DynamicJSON (50 ms target, cached)': {
                'vendordata_providers': 'StaticJSON,DynamicJSON',
                'vendordata_dynamic_targets': 'slow@%s/vd?delay=0.05' % target_url},
        }
        for name, api in scenarios.items():
            api = dict(api, vendordata_jsonfile_path=static_path,
                       metadata_cache_expiration=600)
            conf = service.write_conf(os.path.join(tmp, 'inject.conf'), db, {
                'api': api, 'metadata': {'threads': args.threads}})
            with service.running(conf, log_path=os.path.join(tmp, 'metadata.log')) as (
                    url, _), contextlib.ExitStack() as stack:
                if args.slow:
                    held = slow_clients.Held(int(url.rsplit(':', 1)[1]), args.slow,
                                             interval=args.slow_interval)
                    # (called after the clients' summary is in: callbacks run last-in
                    # first-out)
                    stack.callback(lambda: results.setdefault('slow_clients', {}).update(
                        {name: held.result}))
                    stack.enter_context(held)
                # warm both caches (instance records and target answers)
                cold = latency(url, instances, PATHS[1], len(instances))
                entry = {'cold vendor_data2.json p50 (first request per instance)':
                         cold['p50']}
                for path in PATHS:
                    entry[path] = latency(url, instances, path, args.latency_requests)
                if 'DynamicJSON' in api['vendordata_providers']:
                    entry['throughput'] = throughput(url, instances, args.seconds,
                                                     args.clients)
                results[name] = entry
    finally:
        target.terminate()
        target.wait()
    results['loadavg_after'] = os.getloadavg()
    static = results['StaticJSON only']
    dyn = results['StaticJSON + DynamicJSON (50 ms target, cached)']
    print('| scenario | file | p50 ms | p90 ms | p99 ms |')
    print('|---|---|---|---|---|')
    for name in ('StaticJSON only', 'StaticJSON + DynamicJSON (50 ms target, cached)'):
        for path in PATHS:
            r = results[name][path]
            print('| %s | %s | %.2f | %.2f | %.2f |' % (
                name, path.rsplit('/', 1)[1], r['p50'], r['p90'], r['p99']))
    for path in PATHS:
        ratio = dyn[path]['p50'] / static[path]['p50']
        print('%s: cached p50 / StaticJSON-only p50 = %.2f (goal <= 2)'
              % (path.rsplit('/', 1)[1], ratio))
    t = dyn['throughput']
    print('throughput (%d keep-alive clients, %.0f s, both files, %d instances, '
          'DynamicJSON on): %.0f requests/s, %d requests, %d errors (goal >= 1000/s, '
          '0 errors)' % (args.clients, args.seconds, len(instances), t['rps'],
                         t['requests'], t['errors']))
    print('cold vendor_data2.json p50 (one 50 ms POST): %.1f ms'
          % dyn['cold vendor_data2.json p50 (first request per instance)'])
    for name, held in results.get('slow_clients', {}).items():
        print('%s: %s' % (name, slow_clients.describe(held, 'inject-metadata')))
    print('load average before %s, after %s; %d CPUs' % (
        ' '.join('%.2f' % x for x in results['loadavg_before']),
        ' '.join('%.2f' % x for x in results['loadavg_after']), results['cpus']))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
