#!/usr/bin/env python3
"""Load benchmark of inject-api (issue 10). A benchmark, not a test: it measures and
prints a table; nothing here asserts.

    .venv/bin/python tools/api_load.py [--db sqlite|postgresql] [--db-url URL]
        [--servers 1000] [--duration 60] [--threads 8] [--rate 200] [--quick]
        [--seed api|db] [--api-workers N] [--transport-url URL|rabbitmq] [--json FILE]
        [--slow N [--slow-interval S]]

It starts its own inject-api (this checkout's code) on a free 127.0.0.1 port with a
temporary state_path, noauth, injection disabled (inject_partition = -2), one 1 MiB raw
image and --api-workers worker processes (default: the number of CPUs, inject-api's own
default with injection disabled; the in-process agent); with --transport-url the agent
is an inject-agent started next to it on that broker ("rabbitmq": the loopback RabbitMQ
of tools/rabbitmq.sh); with ``--db postgresql`` on a fresh database made for the run (URL of an
existing one, whose role may create databases, from --db-url or
INJECT_TEST_POSTGRESQL_URL; ``bash tools/postgresql.sh`` prints one) and dropped after.
Load is sent as project members (X-Roles: member,reader); the project's quotas are
raised first by an administrator (PUT os-quota-sets) so that creates are never refused.

The seeded project is filled through POST /servers (--seed api, the default: a "seed"
row measures those creates, and their builds finish before the next phase) or straight
into the database through inject.db.api (--seed db: ACTIVE rows without disk files,
much faster for large --servers).

Phases, each for --duration seconds:
  closed loop, --threads clients each on one keep-alive connection, each sending its
  next request when the previous one is answered: GET /v2.1/limits,
  GET /v2.1/servers/detail?limit=100 and POST /v2.1/servers (no personality, so no
  injection: the server's qcow2 overlay is still written, its build still recorded, in
  a background thread, a real cost counted in the api CPU column), first in a project
  holding no servers, then in one seeded with --servers servers;
  open loop, in the seeded project: arrivals at --rate per second on a fixed schedule
  (--mix, default 60% servers/detail?limit=100, 20% limits, 20% create) handed to a
  pool of --workers clients, each latency measured from the arrival's scheduled time
  (no coordinated omission); arrivals not sent within --grace seconds of the end are
  errors. Afterwards builds are given --drain seconds; every server whose create was
  answered 202 must then be listed by GET /servers and not be in BUILD, else it is lost.

Columns: servers (the project's count before -> after: create phases grow it), req/s
(answered requests per second, errors included; in the open loop answered requests
over the time from the first arrival to the last answer, so a server that falls behind
shows a lower rate), p50/p99 latency, errors (transport errors, timeouts and
unexpected statuses), lost, api CPU (inject-api's processes -- the parent, its
workers and their reaped children -- and the inject-agent if any, in % of one core;
PostgreSQL's and RabbitMQ's own processes are not counted) and its CPU ms per request;
with PostgreSQL, the notes give its server processes' CPU (all of the cluster's).
With --slow N, N slow clients (tools/slow_clients.py: a request line and a header
that never ends, one byte every --slow-interval seconds, from 127.0.0.2) hold
connections to inject-api from before the first phase to the end, reconnecting when
inject-api closes one; the line under the table says how many were held.
Cost ratios are req/s at 0 servers over req/s at --servers. The load averages at the
start and at the end are printed with the table. Other load on the machine (the client
itself included) shows in the numbers: treat a shared host's results as indicative.
"""

import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_load_report as report  # noqa: E402
import api_load_target  # noqa: E402
import api_load_traffic as traffic  # noqa: E402
import slow_clients  # noqa: E402

EMPTY_PROJECT = 'load-empty'
FULL_PROJECT = 'load-full'


# --- one measured phase ------------------------------------------------------------------

def measure(target, project, phase, kind, run):
    """Run ``run()`` -> (Recorder, wall seconds); return the phase's row."""
    before = traffic.server_count(target.port, project)
    pg = target.db == 'postgresql'
    db0 = api_load_target.postgres_cpu_seconds() if pg else None
    cpu0, own0 = target.cpu_seconds(), os.times()
    rec, wall = run()
    cpu1, own1 = target.cpu_seconds(), os.times()
    db1 = api_load_target.postgres_cpu_seconds() if pg else None
    after = traffic.server_count(target.port, project)
    lat = rec.latencies
    api_cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
    own = (own1.user + own1.system) - (own0.user + own0.system)
    return {
        'phase': phase, 'kind': kind, 'db': target.db, 'project': project,
        'servers_before': before, 'servers_after': after, 'requests': len(lat),
        'errors': rec.errors, 'error_samples': dict(rec.samples.most_common(5)),
        'seconds': round(wall, 2), 'rps': len(lat) / wall if wall else 0.0,
        'p50_ms': _ms(traffic.percentile(lat, 0.50)),
        'p99_ms': _ms(traffic.percentile(lat, 0.99)),
        'api_cpu_pct': None if api_cpu is None else 100 * api_cpu / wall,
        'api_cpu_ms_per_req': (1000 * api_cpu / len(lat)) if api_cpu and lat else None,
        'client_cpu_pct': 100 * own / wall,
        'db_cpu_pct': 100 * (db1 - db0) / wall if pg and wall else None,
        'db_cpu_ms_per_req': 1000 * (db1 - db0) / len(lat) if pg and lat else None, 'created': len(rec.created),
        'lost': None, 'build_errors': None, 'drain_seconds': None,
        '_created_ids': rec.created,
    }


def _ms(seconds):
    return None if seconds is None else seconds * 1000


def settle(target, row, timeout):
    """After a phase that created servers: wait for their builds, count the lost."""
    if row['created']:
        lost, errored, waited = traffic.drain(target.port, row['project'],
                                              row['_created_ids'], timeout)
        row.update(lost=lost, build_errors=errored, drain_seconds=round(waited, 1))
    else:
        row.update(lost=0, build_errors=0, drain_seconds=0.0)


# --- the run -----------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--db', choices=('sqlite', 'postgresql'), default='sqlite')
    p.add_argument('--db-url', help='PostgreSQL URL of an existing database (default: '
                   '$INJECT_TEST_POSTGRESQL_URL); a fresh one is made next to it')
    p.add_argument('--servers', type=int, default=1000,
                   help='servers in the seeded project (default 1000)')
    p.add_argument('--seed', choices=('api', 'db'), default='api',
                   help='seed through POST /servers (default; each gets its disk) or '
                        'straight into the database through inject.db.api (faster; '
                        'ACTIVE rows without disk files)')
    p.add_argument('--seed-timeout', type=float, default=1800)
    p.add_argument('--duration', type=float, default=60, help='seconds per phase')
    p.add_argument('--threads', type=int, default=8, help='closed-loop clients')
    p.add_argument('--rate', type=float, default=200, help='open-loop arrivals/s')
    p.add_argument('--mix', default='detail=60,limits=20,create=20')
    p.add_argument('--workers', type=int, default=64, help='open-loop clients')
    p.add_argument('--grace', type=float, default=30,
                   help='open loop: seconds after the end for arrivals to be sent')
    p.add_argument('--drain', type=float, default=300,
                   help='seconds builds are given after a phase that created servers')
    p.add_argument('--timeout', type=float, default=30, help='seconds per request')
    p.add_argument('--phases', default='limits,detail,create,open',
                   help='which of limits,detail,create,open to run')
    p.add_argument('--api-threads', type=int,
                   help='[api]threads of inject-api (default: its own default)')
    p.add_argument('--api-workers', type=int, default=os.cpu_count() or 1,
                   help='[api]workers of inject-api (default: the number of CPUs, its '
                        'own default with injection disabled)')
    p.add_argument('--transport-url',
                   help='reach the agent over this broker: an inject-agent is started '
                        'next to inject-api (default: the in-process agent; "rabbitmq": '
                        'what bash tools/rabbitmq.sh prints, which starts a loopback '
                        'RabbitMQ)')
    p.add_argument('--quick', action='store_true',
                   help='smoke run: --duration 5, --grace 10, --drain 120')
    p.add_argument('--json', help='write the rows to this file')
    p.add_argument('--slow', type=int, default=0,
                   help='slow clients holding connections during the run (default 0)')
    p.add_argument('--slow-interval', type=float, default=5.0,
                   help='seconds between two header bytes of a slow client')
    p.add_argument('--keep', action='store_true',
                   help='keep the work directory (and the PostgreSQL database)')
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.grace, args.drain = 5, 10, 120
    args.phases = [x.strip() for x in args.phases.split(',') if x.strip()]
    unknown = set(args.phases) - {'limits', 'detail', 'create', 'open'}
    if unknown:
        p.error('unknown phases: %s' % ', '.join(sorted(unknown)))
    try:
        args.mix = {k.strip(): float(w) for k, w in
                    (item.split('=') for item in args.mix.split(','))}
    except ValueError:
        p.error('--mix is KIND=WEIGHT,...')
    if set(args.mix) - set(traffic.KINDS) or not args.mix:
        p.error('--mix kinds are %s' % ', '.join(traffic.KINDS))
    if args.db == 'postgresql':
        args.db_url = args.db_url or os.environ.get('INJECT_TEST_POSTGRESQL_URL')
        if not args.db_url:
            p.error('--db postgresql needs --db-url or INJECT_TEST_POSTGRESQL_URL '
                    '(bash tools/postgresql.sh prints one)')
    if (min(args.duration, args.threads, args.rate, args.workers, args.api_workers) <= 0
            or args.servers < 0):
        p.error('--duration, --threads, --rate, --workers, --api-workers must be '
                'positive')
    if args.transport_url == 'rabbitmq':
        args.transport_url = api_load_target.rabbitmq_url()
    return args


def seed(target, args):
    """Bring FULL_PROJECT to --servers servers; return the seed row."""
    have = traffic.server_count(target.port, FULL_PROJECT)
    missing = max(0, args.servers - have)
    if args.seed == 'db':
        start = time.perf_counter()
        done = target.seed_db(FULL_PROJECT, traffic.USER, missing,
                              time.monotonic() + args.seed_timeout)
        wall = time.perf_counter() - start
        print('seeded %d servers through inject.db.api in %.1f s' % (done, wall),
              flush=True)
        return None
    row = measure(target, FULL_PROJECT, 'seed (create, api)', 'create', lambda:
                  traffic.closed_loop(target.port, FULL_PROJECT, 'create',
                                      args.threads, args.seed_timeout,
                                      max_requests=missing))
    settle(target, row, args.drain)
    print('seeded %d servers through POST /servers in %.1f s (%.1f/s), builds drained '
          'in %s s' % (row['created'], row['seconds'], row['rps'], row['drain_seconds']),
          flush=True)
    return row


def run(target, args):
    rows = []

    def phase(project, kind, label):
        print('phase %s ...' % label, flush=True)
        row = measure(target, project, label, kind, lambda: traffic.closed_loop(
            target.port, project, kind, args.threads, args.duration))
        if kind == 'create':
            settle(target, row, args.drain)
        rows.append(row)
        print('  %.1f req/s, p99 %s ms, %d errors' % (
            row['rps'], report.fmt(row['p99_ms']), row['errors']), flush=True)

    for project in (EMPTY_PROJECT, FULL_PROJECT):
        traffic.raise_quotas(target.port, project)
    traffic.find_image(target.port, EMPTY_PROJECT)
    for kind in ('limits', 'detail', 'create'):
        if kind in args.phases:
            phase(EMPTY_PROJECT, kind, '%s@0' % kind)
    seeded = seed(target, args)
    if seeded:
        rows.append(seeded)
    n = traffic.server_count(target.port, FULL_PROJECT)
    for kind in ('limits', 'detail', 'create'):
        if kind in args.phases:
            phase(FULL_PROJECT, kind, '%s@%d' % (kind, n))
    if 'open' in args.phases:
        print('phase open loop at %g/s ...' % args.rate, flush=True)
        row = measure(target, FULL_PROJECT, 'open %g/s' % args.rate, 'open', lambda:
                      traffic.open_loop(target.port, FULL_PROJECT, args.rate,
                                        args.duration, args.mix, args.workers,
                                        args.grace))
        settle(target, row, args.drain)
        rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_at_start = os.getloadavg()[0]
    target = api_load_target.Target(db=args.db, db_url=args.db_url,
                                    api_threads=args.api_threads, keep=args.keep,
                                    image=traffic.IMAGE, api_workers=args.api_workers,
                                    transport_url=args.transport_url)
    try:
        target.start()
        print('inject-api (%s) on %s, %s database, work directory %s' % (
            api_load_target.TOP, target.url, args.db, target.workdir), flush=True)
        if args.slow:
            with slow_clients.Held(target.port, args.slow,
                                   interval=args.slow_interval) as held:
                print('%d slow clients holding connections' % held.holding, flush=True)
                rows = run(target, args)
        else:
            held = None
            rows = run(target, args)
    except Exception:
        print('api_load: failed; the end of the inject-api log:\n%s' % target.log_tail(),
              file=sys.stderr)
        raise
    finally:
        traffic.STOP.set()
        target.stop()
    report.judge(rows, args.rate)
    print()
    print('inject-api load, %s, %d worker process(es), agent %s, %d closed-loop '
          'clients, %g s per phase, seeded through %s; %d CPUs, load average %.1f at '
          'the start, %.1f at the end' % (
              args.db, args.api_workers,
              'over a broker' if args.transport_url else 'in-process', args.threads,
              args.duration,
              'POST /servers' if args.seed == 'api' else 'inject.db.api',
              os.cpu_count(), load_at_start, os.getloadavg()[0]))
    print()
    print(report.table(rows))
    print()
    print(report.notes(rows))
    if held is not None:
        print(slow_clients.describe(held.result, 'inject-api'))
    if args.json:
        with open(args.json, 'w') as f:
            secret = ('db_url', 'transport_url')
            json.dump({'args': {k: v for k, v in vars(args).items() if k not in secret},
                       'load_average': [load_at_start, os.getloadavg()[0]],
                       'slow_clients': held.result if held is not None else None,
                       'rows': [{k: v for k, v in r.items() if not k.startswith('_')}
                                for r in rows]}, f, indent=1)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print('api_load: interrupted; inject-api stopped', file=sys.stderr)
        sys.exit(130)
