#!/usr/bin/env python3
"""Slow clients (a slowloris) for the benchmarks: hold N connections open to a server,
each having sent a request line and the start of a header, then one more byte of that
header every --interval seconds, never finishing it. A connection the server closes (or
answers: 408 after its header timeout) is opened again, so N stay open as long as the
server accepts them. A benchmark, not a test: nothing here asserts.

    .venv/bin/python tools/slow_clients.py --port 8774 [--host 127.0.0.1] [--count 1000]
        [--interval 5] [--source 127.0.0.2] [--seconds 60]

Prints "holding N" once N connections are open, then runs until --seconds pass,
SIGTERM or Ctrl-C, and prints one JSON line: how many were open (at the end, the
fewest and the mean over one-second samples after "holding"), opened in all, closed by
the server, and the statuses it answered. --source binds the clients to another
loopback address (default 127.0.0.2), as a client on another host would be, so that
a server can tell them from the benchmark's own load. The benchmarks start it with
their --slow option (tools/api_load.py, tools/metadata_bench.py).
"""

import argparse
import collections
import json
import os
import resource
import select
import signal
import socket
import sys
import time

REQUEST_START = b'GET %s HTTP/1.1\r\nHost: slow\r\nX-Slow: '


class SlowClients:
    def __init__(self, host, port, count, interval, source, path):
        self.addr = (host, port)
        self.count = count
        self.interval = interval
        self.source = source
        self.start = REQUEST_START % path.encode('ascii')
        self.epoll = select.epoll()
        self.socks = {}                   # fd -> socket
        self.opened = 0
        self.closed_by_server = 0
        self.connect_errors = 0
        self.statuses = collections.Counter()
        self.samples = []

    def open_one(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self.source:
                sock.bind((self.source, 0))
            sock.settimeout(10)
            sock.connect(self.addr)
            sock.sendall(self.start)
        except OSError:
            sock.close()
            self.connect_errors += 1
            return False
        sock.setblocking(False)
        self.socks[sock.fileno()] = sock
        self.epoll.register(sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        self.opened += 1
        return True

    def close(self, fd):
        sock = self.socks.pop(fd)
        try:
            data = sock.recv(256)
        except OSError:
            data = b''
        if data.startswith(b'HTTP/'):
            self.statuses[data.split(b' ', 2)[1].decode('ascii', 'replace')] += 1
        self.epoll.unregister(fd)
        sock.close()
        self.closed_by_server += 1

    def fill(self, deadline):
        while len(self.socks) < self.count and time.monotonic() < deadline:
            if not self.open_one():
                time.sleep(0.05)

    def run(self, seconds, stop):
        self.fill(time.monotonic() + 120)
        print('holding %d' % len(self.socks), flush=True)
        end = time.monotonic() + seconds
        next_byte = next_sample = time.monotonic()
        while not stop['now'] and time.monotonic() < end:
            for fd, _ in self.epoll.poll(0.2):
                if fd in self.socks:
                    self.close(fd)
            now = time.monotonic()
            if now >= next_byte:
                next_byte = now + self.interval
                for fd, sock in list(self.socks.items()):
                    try:
                        sock.send(b'a')
                    except OSError:
                        self.close(fd)
            if now >= next_sample:
                next_sample = now + 1.0
                self.samples.append(len(self.socks))
            self.fill(now + 0.5)
        return {'count': self.count, 'open_at_end': len(self.socks),
                'open_min': min(self.samples) if self.samples else 0,
                'open_mean': (round(sum(self.samples) / len(self.samples), 1)
                              if self.samples else 0),
                'opened': self.opened, 'closed_by_server': self.closed_by_server,
                'connect_errors': self.connect_errors,
                'statuses': dict(self.statuses)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--count', type=int, default=1000)
    p.add_argument('--interval', type=float, default=5.0,
                   help='seconds between two header bytes of a connection')
    p.add_argument('--source', default='127.0.0.2',
                   help='local address to connect from ("" for any)')
    p.add_argument('--path', default='/')
    p.add_argument('--seconds', type=float, default=3600)
    args = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 64
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (
            want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    stop = {'now': False}

    def on_signal(signum, frame):
        stop['now'] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    clients = SlowClients(args.host, args.port, args.count, args.interval, args.source,
                          args.path)
    result = clients.run(args.seconds, stop)
    print(json.dumps(result), flush=True)
    return 0


def describe(result, server):
    """One line telling a benchmark's reader what the slow clients held."""
    if result is None:
        return 'slow clients: no summary (they failed)'
    return ('slow clients: %(count)d wanted, open at the end %(open_at_end)d, fewest '
            '%(open_min)d, mean %(open_mean)s (sampled each second); %(opened)d '
            'connections opened, ' % result + '%d closed by %s (answers: %s), %d '
            'connects failed' % (result['closed_by_server'], server,
                                 ', '.join('%s x%d' % kv for kv in
                                           sorted(result['statuses'].items()))
                                 or 'none', result['connect_errors']))


class Held:
    """Run this script as a process against ``port`` for a benchmark: ``with
    Held(port, count) as held:`` returns once ``count`` connections are open;
    ``held.result`` is its JSON summary after the block."""

    def __init__(self, port, count, host='127.0.0.1', interval=5.0, source='127.0.0.2'):
        self.args = [sys.executable, os.path.abspath(__file__), '--host', host,
                     '--port', str(port), '--count', str(count),
                     '--interval', str(interval), '--source', source]
        self.result = None

    def __enter__(self):
        import subprocess
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith('holding'):
            self.proc.kill()
            raise RuntimeError('slow clients did not start: %r' % line)
        self.holding = int(line.split()[1])
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        lines = [x for x in out.splitlines() if x.startswith('{')]
        self.result = json.loads(lines[-1]) if lines else None
        return False


if __name__ == '__main__':
    sys.exit(main())
