#!/usr/bin/env python3
"""Benchmark: inject vs OpenStack Nova's own inject_data vs virt-copy-in, on the same images.

    .venv/bin/python tools/benchmark.py [--workdir DIR] [--cases a,b,b-burst,c,d,a-rpc,c-rpc]
        [--peers inject,nova[,virt-copy-in]] [--accelerator auto|kvm|tcg] [--reps N]
        [--appliance kernel_boot=stock ...] [--transport-url URL] [--json FILE]

Cases (the same work for every peer: three personality files and an SSH key for root):
  (a) one injection, partition 1;
  (b) partition -1 (inspection), five disks in a row built on the same base image,
      each request sent after the previous one is answered;
  (b-burst) the same five requests sent at once (inject only: Nova and virt-copy-in
      cannot batch, so their (b) rows are the reference);
  (c) 16 requests from one project submitted at once;
  (d) 4 projects x 4 disks (bench-p1..bench-p4), all 16 submitted at once (inject only;
      Nova's reference is its (c) row: 16 disks, one at a time). No appliance may hold
      two projects' disks: the reports name their appliance, and a row where one
      appliance served two projects says which and is marked NO;
  (a-rpc), (c-rpc) (a) and (c) through two real inject-agent processes on this machine,
      [agent]host bench-1 and bench-2, on one RabbitMQ (tools/rabbitmq.sh, or
      --transport-url), called by an AgentClient: (a) goes to bench-1, (c)'s 16 requests
      are spread 8 to each host. Two agents on one machine each think they own it, so
      each runs with [agent]max_appliances = 1 (2 in all, what the in-process agent uses
      on 2 cores), and without self-test (as in-process). Peak RSS is both agents'
      process trees. Printed with the overhead over the in-process (a) and (c) rows
      (target: at most 5%). Without RabbitMQ these cases are skipped, saying why.

For each peer and case it prints wall time, images/minute, peak RSS (the peer's whole
process tree, qemu included, sampled every 0.1 s) and the ratio to Nova, then a table,
and for inject a second table with the median of its reports' timings (launch, attach,
mount, writes, commit, shutdown, total) -- where a request's time goes.
Wall time is the steady state of a long-running service: from the first request to the
last answer, after the service started and its warm appliances are up (inject's agent;
Nova's one-time capability probe launch). virt-copy-in is a command, so its wall time is
its processes'. inject runs through its agent in-process (batching on, the agent's
default batch_window), as a compute driver would use it; the configuration used is
printed first. ``--reps N`` runs every inject row N times and reports the median wall
time. Nova (installed from PyPI into a virtualenv of its own under the workdir, with
Debian's guestfs binding linked in) gets no batching: its libvirt driver injects one disk
per appliance, so (c) runs its 16 injections one after another. virt-copy-in always
inspects (it is guestfish -i); it is slow (about 25 minutes for all cases), so it runs
only when --peers names it.

``--accelerator`` sets inject's [appliance]accelerator (default: inject's own default,
auto). Nova and virt-copy-in get LIBGUESTFS_BACKEND_SETTINGS force_kvm or force_tcg
(and Nova's force_tcg() for tcg only): for auto, whichever accelerator inject's warm-up
launch found working here, so every peer runs on the same one. The accelerator each
inject row actually used (from its reports) is printed. Each peer's appliance cache is
built by a warm-up launch first. This is a benchmark, not a test: it asserts nothing, it
measures and prints.

The default run (all cases, inject and Nova) takes about 14 minutes on a 2-core machine
under TCG, Nova's (c) alone 4.5 of them; a first run in a new workdir adds Nova's
install and copies of the appliance cache for the two agents (1.5 GB each). One run of
(a) varies by about half a second from run to run, more than 5% of it: use --reps 3 or
more to measure the rpc overhead; the timings table's "outside" column (the caller's
wait beyond the agent's work) shows the transport's share directly.
"""

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import warnings

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOP)
sys.path.insert(0, os.path.join(TOP, 'tools'))

import bench_rpc  # noqa: E402

KEY = ('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchmarkKeyBenchmarkKeyBenchmarkKey000 '
       'bench@inject')
FILES = [('/etc/motd', 'benchmark motd\n'),
         ('/etc/app/app.ini', '[app]\nport = 8080\n'),
         ('/usr/local/bin/run.sh', '#!/bin/sh\ntrue\n')]
CASES = ('a', 'b', 'b-burst', 'c', 'd', 'a-rpc', 'c-rpc')
DEFAULT_PEERS = 'inject,nova'
TARGETS = {'a': 0.10, 'b': 0.15, 'b-burst': 0.15, 'c': 25.0, 'd': 25.0, 'a-rpc': 0.10,
           'c-rpc': 25.0}
THROUGHPUT = {'c', 'd', 'c-rpc'}          # compared by images/minute, the rest by time
DISKS = {'a': 1, 'b': 5, 'b-burst': 5, 'c': 16, 'd': 16, 'a-rpc': 1, 'c-rpc': 16}
PARTITION = {'a': 1, 'b': -1, 'b-burst': -1, 'c': 1, 'd': 1, 'a-rpc': 1, 'c-rpc': 1}
# Nova has no batching and no agent: these cases compare with its row for another case
NOVA_CASE = {'b-burst': 'b', 'd': 'c', 'a-rpc': 'a', 'c-rpc': 'c'}
INJECT_ONLY = set(NOVA_CASE)
RPC_CASES = {'a-rpc': 'a', 'c-rpc': 'c'}   # and the in-process row they add overhead to
RPC_OVERHEAD_TARGET = 5.0                  # per cent
D_PROJECTS = 4
TIMING_KEYS = ('launch', 'attach', 'mount', 'writes', 'commit', 'shutdown', 'total')
# total: the agent's work on the request's batch; outside: the rest of the caller's wait
MEDIAN_KEYS = TIMING_KEYS + ('outside',)


# --- measuring a process tree ---------------------------------------------------------

def _rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/status' % pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class PeakRSS:
    """Samples the RSS of the process trees under ``roots()`` every 0.1 s."""

    def __init__(self, roots):
        self.roots = roots
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._done.wait(0.1):
            pids = [p for root in self.roots() for p in bench_rpc.descendants(root)]
            self.peak = max(self.peak, _rss_mb(pids))

    def reset(self):
        self.peak = 0.0

    def stop(self):
        self._done.set()
        self._thread.join()
        return self.peak


def measure(argv, env=None):
    """Run argv; return (wall seconds, peak RSS MB of its tree, stdout). Its process
    tree is killed if this is interrupted."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, stdin=subprocess.DEVNULL)
    rss = PeakRSS(lambda: [proc.pid])
    try:
        out, err = proc.communicate()
    except BaseException:
        bench_rpc.kill_tree(bench_rpc.descendants(proc.pid))
        raise
    finally:
        peak = rss.stop()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (argv[0], proc.returncode, err[-3000:]))
    return wall, peak, out


# --- set-up ---------------------------------------------------------------------------

def nova_python(workdir):
    venv = os.path.join(workdir, 'nova-venv')
    python = os.path.join(venv, 'bin', 'python')
    if not os.path.exists(os.path.join(venv, '.ready')):
        print('benchmark: installing nova from PyPI into %s (a few minutes)' % venv,
              flush=True)
        subprocess.run(['/usr/bin/python3', '-m', 'venv', venv], check=True)
        subprocess.run([python, '-m', 'pip', 'install', '-q', 'nova'], check=True)
        open(os.path.join(venv, '.ready'), 'w').close()
    site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()'
                           '["purelib"])'], check=True, capture_output=True,
                          text=True).stdout.strip()
    for name in os.listdir('/usr/lib/python3/dist-packages'):
        if name == 'guestfs.py' or name.startswith('libguestfsmod'):
            target = os.path.join(site, name)
            if not os.path.exists(target):
                os.symlink(os.path.join('/usr/lib/python3/dist-packages', name), target)
    return python


def make_disks(images, base, count, tag):
    disks = []
    for i in range(count):
        disk = os.path.join(images, '%s-%02d.qcow2' % (tag, i))
        if os.path.exists(disk):
            os.unlink(disk)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base,
                        disk], check=True)
        disks.append(disk)
    return disks


def config_writer(workdir, appliance_options=(), accelerator=None):
    """A function (state_path, {section: {option: value}}) -> inject.conf text: the
    benchmark's settings, plus the given ones. batch_window, max_appliances and
    warm_appliances are left to inject's defaults (what a deployment gets)."""
    appliance = dict(option.split('=', 1) for option in appliance_options)
    if accelerator:
        appliance['accelerator'] = accelerator

    def text(state, extra=None):
        sections = {
            'DEFAULT': {'state_path': state},
            # inject_partition only enables injection here: every request names its own
            'injection': {'inject_key': 'true', 'inject_partition': -1,
                          'image_dirs': os.path.join(workdir, 'images')},
            'agent': {'max_batch': 16},
            'appliance': dict(appliance)}
        for section, options in (extra or {}).items():
            sections.setdefault(section, {}).update(options)
        return ''.join('[%s]\n%s' % (section, ''.join('%s = %s\n' % item
                                                      for item in options.items()))
                       for section, options in sections.items())
    return text


def stage_tree(workdir):
    tree = os.path.join(workdir, 'staged')
    shutil.rmtree(tree, ignore_errors=True)
    for path, content in FILES + [('/root/.ssh/authorized_keys', KEY + '\n')]:
        local = os.path.join(tree, path.lstrip('/'))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, 'w') as f:
            f.write(content)
    return tree


def projects_for(case, count):
    """The project of each disk: (d) has four projects of four disks each."""
    if case == 'd':
        per = max(1, count // D_PROJECTS)
        return ['bench-p%d' % (min(i // per, D_PROJECTS - 1) + 1) for i in range(count)]
    return ['bench'] * count


def libguestfs_env(accelerator):
    """The environment Nova and virt-copy-in run in, on ``accelerator`` (kvm or tcg)."""
    return dict(os.environ, BENCH_ACCELERATOR=accelerator,
                LIBGUESTFS_BACKEND_SETTINGS='force_kvm' if accelerator == 'kvm'
                else 'force_tcg')


# --- reports --------------------------------------------------------------------------

def summarize(report, project):
    """What the benchmark keeps of a report dict."""
    timings = report.get('timings') or {}
    kept = {k: timings[k] for k in TIMING_KEYS if k in timings}
    if 'total' in timings and report.get('bench_seconds') is not None:
        # the caller's wait beyond the agent's work: queue, batch window, transport
        kept['outside'] = max(0.0, report['bench_seconds'] - timings['total'])
    return {'ok': bool(report.get('ok')), 'project': project,
            'appliance': report.get('appliance'), 'accelerator': report.get('accelerator'),
            'host': report.get('host'), 'warm': 'warm_launch' in timings,
            'root_found_by': report.get('root_found_by'), 'error': report.get('error'),
            'seconds': report.get('bench_seconds'), 'timings': kept}


def mixed_projects(reports):
    """{appliance id: sorted projects} for every appliance that held two projects'
    disks."""
    seen = {}
    for r in reports:
        if r.get('appliance'):
            seen.setdefault(r['appliance'], set()).add(r.get('project'))
    return {a: sorted(p) for a, p in seen.items() if len(p) > 1}


def median_timings(reports):
    """{timing: median seconds over the reports that have it}."""
    return {key: statistics.median(r['timings'][key] for r in reports
                                   if key in r['timings'])
            for key in MEDIAN_KEYS if any(key in r['timings'] for r in reports)}


# --- peers ----------------------------------------------------------------------------

def run_inject(case, disks, config):
    spec = {'config': config, 'partition': PARTITION[case], 'disks': disks,
            'sequential': case == 'b', 'projects': projects_for(case, len(disks))}
    argv = [sys.executable, os.path.abspath(__file__), '--inject-child', json.dumps(spec)]
    _, rss, out = measure(argv)
    result = json.loads(out)
    return result['seconds'], rss, result['reports']


def run_nova(case, disks, python, accelerator):
    env = dict(libguestfs_env(accelerator), BENCH_FILES=json.dumps(FILES), BENCH_KEY=KEY)
    argv = [python, os.path.join(TOP, 'tools', 'bench_nova_peer.py'),
            str(PARTITION[case])] + disks
    _, rss, out = measure(argv, env)
    results = json.loads(out.strip().splitlines()[-1])
    return (sum(r['seconds'] for r in results), rss, all(r['ok'] for r in results),
            results)


def run_virt_copy_in(case, disks, tree, accelerator):
    script = ' && '.join(
        'virt-copy-in --format=qcow2 -a %s %s/etc %s/usr %s/root /' % (d, tree, tree, tree)
        for d in disks)
    wall, rss, _ = measure(['bash', '-c', script], libguestfs_env(accelerator))
    return wall, rss, True, None


def run_rpc(case, disks, agents, client, rss, warm):
    """One rpc case through the agents; (wall, peak RSS of both agents, reports)."""
    from inject import image
    from inject import request
    agents.wait_warm(client, warm)
    rss.reset()
    hosts = agents.hosts
    files = [(p, c.encode()) for p, c in FILES]
    projects = projects_for(case, len(disks))

    def one(i):
        req = request.InjectionRequest(image.DiskImage(disks[i], 'qcow2'), files=files,
                                       key=KEY, partition=PARTITION[case])
        return client.inject(hosts[i % len(hosts)], req, project_id=projects[i])

    reports, seconds = bench_rpc.send_all(one, len(disks))
    return seconds, rss.peak, [summarize(r, p) for r, p in zip(reports, projects)]


def inject_child(spec):
    """The inject side, in a process of its own: an in-process agent, as a compute
    driver would run it; every request is submitted at once unless sequential."""
    from inject import agent
    from inject import image
    from inject import request
    from inject import conf as inject_conf
    CONF = inject_conf.register_opts(inject_conf.CONF)
    CONF([], project='inject', default_config_files=[spec['config']])
    service, client = agent.start_in_process(CONF, selftest=False)
    # Steady state: a long-running agent has its warm appliances up before requests come.
    deadline = time.monotonic() + 300
    while (service.pool is not None and service.pool.ready() < service.pool.size
           and time.monotonic() < deadline):
        time.sleep(0.2)
    files = [(p, c.encode()) for p, c in FILES]
    disks, projects = spec['disks'], spec['projects']

    def one(i):
        req = request.InjectionRequest(image.DiskImage(disks[i], 'qcow2'), files=files,
                                       key=KEY, partition=spec['partition'])
        return client.inject(CONF.agent.host, req, project_id=projects[i])

    try:
        reports, seconds = bench_rpc.send_all(one, len(disks), spec['sequential'])
    finally:
        service.stop()
    print(json.dumps({'seconds': seconds, 'reports': [
        summarize(r, p) for r, p in zip(reports, projects)]}))


# --- main -----------------------------------------------------------------------------

def warm_up(config, peers):
    """One launch per appliance cache, so no peer pays the appliance build; returns the
    accelerator inject's launch used."""
    print('benchmark: warming the appliance caches', flush=True)
    proc = subprocess.run([sys.executable, '-m', 'inject.cmd.inject', 'status', '--json',
                           '--config-file', config], capture_output=True, text=True)
    try:
        status = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit('benchmark: inject status failed: %s' % proc.stderr[-2000:])
    if not status['accelerator']:
        raise SystemExit('benchmark: the appliance does not launch: %s' % status['reason'])
    print('benchmark: inject launched its appliance with %s (%s kernel) in %.1f s'
          % (status['accelerator'], status['kernel_boot'], status['launch_seconds']),
          flush=True)
    if set(peers) & {'nova', 'virt-copy-in'}:
        subprocess.run(['guestfish', '-a', '/dev/null', 'run'],
                       env=libguestfs_env(status['accelerator']), check=True)
    return status['accelerator']


def print_config(CONF, config_text, accelerator_used):
    from inject.agent import service as service_mod
    print('benchmark: inject.conf of the in-process agent:')
    for line in config_text.splitlines():
        print('    ' + line)
    a, p = CONF.agent, CONF.appliance
    print('benchmark: agent batch_window %.2f s, max_batch %d, max_appliances %d%s; '
          'warm_appliances %d, warm_max_disks %d; accelerator %s (%s used); rpc agents: '
          'max_appliances 1 each' % (
              a.batch_window, a.max_batch,
              a.max_appliances or service_mod.default_max_appliances(a.max_batch),
              '' if a.max_appliances else ' (auto)', p.warm_appliances, p.warm_max_disks,
              p.accelerator, accelerator_used), flush=True)


def run_rows(args, cases, peers, paths, CONF, accelerator):
    workdir, images, base, config, config_text, tree, python = paths
    rows, skipped = [], {}
    agents = client = rss = url = None
    if set(cases) & set(RPC_CASES) and 'inject' in peers:
        url, why = bench_rpc.rabbit_url(TOP, args.transport_url)
        if url is None:
            for case in set(cases) & set(RPC_CASES):
                skipped[case] = 'RabbitMQ is not available: %s' % why
                print('benchmark: case (%s) skipped: %s' % (case, skipped[case]),
                      flush=True)
    try:
        for case in cases:
            for peer in peers:
                if case in INJECT_ONLY and peer != 'inject' or case in skipped:
                    continue
                if case in RPC_CASES and agents is None:
                    from inject.agent import rpcapi
                    print('benchmark: starting inject-agent bench-1 and bench-2 on %s'
                          % url.split('@')[-1], flush=True)
                    agents = bench_rpc.Agents(workdir, config_text, url,
                                              os.path.join(workdir, 'state', 'appliance'))
                    agents.start()
                    rss = PeakRSS(agents.pids)
                    client = rpcapi.AgentClient(CONF, transport=rpcapi.get_transport(
                        CONF, url=url))
                reps = args.reps if peer == 'inject' else 1
                walls, peaks, reports, ok = [], [], [], True
                for rep in range(reps):
                    disks = make_disks(images, base, DISKS[case], '%s-%s' % (peer, case))
                    # a fresh inspection cache: (b) measures the first inspection too
                    cache = os.path.join(workdir, 'state', 'inspection-cache.json')
                    if os.path.exists(cache):
                        os.unlink(cache)
                    print('benchmark: case (%s), %s, %d disk(s)%s...' % (
                        case, peer, len(disks), ', run %d of %d' % (rep + 1, reps)
                        if reps > 1 else ''), flush=True)
                    detail = None
                    if case in RPC_CASES:
                        try:
                            # -1 (auto): one per appliance slot, and each rpc
                            # agent has max_appliances = 1
                            wall, peak, detail = run_rpc(
                                case, disks, agents, client, rss,
                                max(1, CONF.appliance.warm_appliances))
                        except RuntimeError as e:       # an agent died or stayed cold
                            skipped[case] = str(e).replace('\n', ' ')[-600:]
                            print('benchmark: case (%s) skipped: %s' % (case, e),
                                  flush=True)
                            for d in disks:
                                os.unlink(d)
                            break
                    elif peer == 'inject':
                        wall, peak, detail = run_inject(case, disks, config)
                    elif peer == 'nova':
                        wall, peak, ok_, detail = run_nova(case, disks, python, accelerator)
                        ok = ok and ok_
                    else:
                        wall, peak, ok_, _ = run_virt_copy_in(case, disks, tree, accelerator)
                        ok = ok and ok_
                    if peer == 'inject':
                        ok = ok and all(r['ok'] for r in detail)
                        reports.extend(detail)
                    walls.append(wall)
                    peaks.append(peak)
                    print('   %.1f s, peak RSS %.0f MB, all injected: %s%s' % (
                        wall, peak, ok, accelerators_text(detail if peer == 'inject'
                                                          else None)), flush=True)
                    for d in disks:
                        os.unlink(d)
                if case in skipped:
                    continue
                rows.append(make_row(case, peer, walls, peaks, ok, reports, detail,
                                     accelerator))
    finally:
        if agents is not None:
            rss.stop()
            print('benchmark: stopping the inject-agents', flush=True)
            agents.stop()
    return rows, skipped


def accelerators_text(reports):
    if not reports:
        return ''
    return ', accelerator %s' % '/'.join(sorted({str(r['accelerator']) for r in reports}))


def make_row(case, peer, walls, peaks, ok, reports, detail, accelerator):
    wall = statistics.median(walls)
    row = {'case': case, 'peer': peer, 'disks': DISKS[case], 'wall': wall, 'walls': walls,
           'per_min': 60.0 * DISKS[case] / wall, 'rss_mb': max(peaks), 'ok': ok}
    if peer == 'inject':
        mixed = mixed_projects(reports)
        row.update(ok=ok and not mixed, mixed=mixed, reports=reports,
                   timings=median_timings(reports),
                   accelerator=sorted({str(r['accelerator']) for r in reports}),
                   appliances=len({r['appliance'] for r in reports if r['appliance']}))
        if case == 'd':
            print('   mixed projects: %s' % ('none' if not mixed else '; '.join(
                '%s held %s' % (a, ', '.join(p)) for a, p in sorted(mixed.items()))))
    else:
        row.update(detail=detail, accelerator=[accelerator])
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--workdir', default='/var/tmp/inject-bench')
    parser.add_argument('--cases', default=','.join(CASES),
                        help='of %s (default: all)' % ', '.join(CASES))
    parser.add_argument('--peers', default=DEFAULT_PEERS,
                        help='of inject, nova, virt-copy-in (default: %s)' % DEFAULT_PEERS)
    parser.add_argument('--reps', type=int, default=1, metavar='N',
                        help='run each inject row N times and report the median')
    parser.add_argument('--accelerator', choices=('auto', 'kvm', 'tcg'),
                        help="inject's [appliance]accelerator (default: inject's default); "
                             "Nova and virt-copy-in get force_kvm or force_tcg to match")
    parser.add_argument('--transport-url', metavar='URL',
                        help='the RabbitMQ of the rpc cases (default: start tools/'
                             'rabbitmq.sh and use what it prints)')
    parser.add_argument('--json', metavar='FILE', help='also write the rows as JSON')
    parser.add_argument('--appliance', metavar='OPTION=VALUE', action='append', default=[],
                        help="an [appliance] option for inject's agent, e.g. "
                             "kernel_boot=stock or smp=1 (repeatable; default: inject's "
                             "defaults)")
    args = parser.parse_args()
    # oslo.messaging's import of eventlet warns about eventlet, which we do not use, and
    # 16 calls at once are more reply queues than it expects
    warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    logging.getLogger('oslo_messaging._drivers.amqpdriver').setLevel(logging.ERROR)
    cases = args.cases.split(',')
    peers = args.peers.split(',')
    unknown = sorted(set(cases) - set(CASES)) + sorted(
        set(peers) - {'inject', 'nova', 'virt-copy-in'})
    if unknown or args.reps < 1:
        parser.error('unknown case or peer: %s' % ', '.join(unknown) if unknown
                     else '--reps must be at least 1')
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    images = os.path.join(workdir, 'images')
    os.makedirs(os.path.join(images, 'base'), exist_ok=True)
    config_text = config_writer(workdir, args.appliance, args.accelerator)
    config = os.path.join(workdir, 'inject.conf')
    with open(config, 'w') as f:
        f.write(config_text(os.path.join(workdir, 'state')))
    python = nova_python(workdir) if 'nova' in peers else None
    tree = stage_tree(workdir)

    from inject import appliance
    from inject import imagebuilder
    from inject import conf as inject_conf
    CONF = inject_conf.register_opts(inject_conf.CONF)
    CONF([], project='inject', default_config_files=[config])
    base = os.path.join(images, 'base', 'base.qcow2')
    if not os.path.exists(base):
        print('benchmark: building the base image', flush=True)
        imagebuilder.build([{'path': base, 'layout': 'mbr-linux', 'format': 'qcow2'}],
                           appliance.Settings.from_conf(CONF))
    started = time.monotonic()
    accelerator = warm_up(config, peers)
    with open(config) as f:
        print_config(CONF, f.read(), accelerator)
    if set(peers) & {'nova', 'virt-copy-in'}:
        print('benchmark: Nova and virt-copy-in run with LIBGUESTFS_BACKEND_SETTINGS=%s%s'
              % (libguestfs_env(accelerator)['LIBGUESTFS_BACKEND_SETTINGS'],
                 " (and Nova's force_tcg())" if accelerator == 'tcg' else ''), flush=True)
    rows, skipped = run_rows(args, cases, peers, (workdir, images, base, config,
                                                  config_text, tree, python),
                             CONF, accelerator)
    print_table(rows, skipped)
    print_timings(rows)
    print_rpc_overhead(rows)
    print('\nbenchmark: %.0f s from the warm-up to the last row' % (
        time.monotonic() - started))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


def print_table(rows, skipped=()):
    nova = {r['case']: r for r in rows if r['peer'] == 'nova'}
    print()
    print('| case | peer | disks | wall (s) | images/min | peak RSS (MB) | all injected '
          '| vs Nova | target |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        ratio = target = '-'
        n = nova.get(NOVA_CASE.get(r['case'], r['case']))
        if n and r['peer'] != 'nova':
            if r['case'] in THROUGHPUT:
                ratio = '%.1f× throughput' % (r['per_min'] / n['per_min'])
                target = '≥ %.0f×' % TARGETS[r['case']]
            else:
                ratio = '%.2f× time' % (r['wall'] / n['wall'])
                target = '≤ %.2f×' % TARGETS[r['case']]
        print('| (%s) | %s | %d | %.1f | %.1f | %.0f | %s | %s | %s |' % (
            r['case'], r['peer'], r['disks'], r['wall'], r['per_min'], r['rss_mb'],
            'yes' if r['ok'] else 'NO', ratio, target))
    for case, why in sorted(dict(skipped).items()):
        print('| (%s) | inject | %d | - | - | - | skipped: %s | - | - |'
              % (case, DISKS[case], why))
    for r in rows:
        if r.get('mixed'):
            print('(%s): appliances holding two projects\' disks: %s' % (
                r['case'], '; '.join('%s: %s' % (a, ', '.join(p))
                                     for a, p in sorted(r['mixed'].items()))))
    accelerators = sorted({a for r in rows for a in r.get('accelerator', ())})
    print('\naccelerator used: %s' % (', '.join(accelerators) or '-'))


def print_timings(rows):
    rows = [r for r in rows if r.get('timings')]
    if not rows:
        return
    print('\ninject, median of the reports\' timings (s; launch 0: a warm appliance; '
          'total: the agent\'s work on the batch; outside: the rest of the caller\'s wait '
          '-- queue, batch window, transport):\n')
    print('| case | reports | appliances | %s |' % ' | '.join(MEDIAN_KEYS))
    print('|---|---|---|%s' % ('---|' * len(MEDIAN_KEYS)))
    for r in rows:
        print('| (%s) | %d | %d | %s |' % (
            r['case'], len(r['reports']), r['appliances'], ' | '.join(
                '%.2f' % r['timings'][k] if k in r['timings'] else '-'
                for k in MEDIAN_KEYS)))


def print_rpc_overhead(rows):
    inject = {r['case']: r for r in rows if r['peer'] == 'inject'}
    lines = []
    for case, local in RPC_CASES.items():
        if case in inject and local in inject:
            rpc, base = inject[case], inject[local]
            if case in THROUGHPUT:
                line = ('(%s): %.1f images/min vs %.1f in-process: %+.1f%% throughput'
                        % (case, rpc['per_min'], base['per_min'],
                           100.0 * (rpc['per_min'] / base['per_min'] - 1)))
            else:
                line = ('(%s): %.1f s vs %.1f s in-process: %+.1f%% wall time'
                        % (case, rpc['wall'], base['wall'],
                           100.0 * (rpc['wall'] / base['wall'] - 1)))
            outside = [r['timings'].get('outside') for r in (rpc, base)]
            if None not in outside:
                line += ('; median wait outside the agent\'s work %.2f s vs %.2f s'
                         % tuple(outside))
            lines.append(line)
    if lines:
        print('\nRPC path (two agents over RabbitMQ) vs in-process, target: at most '
              '%.0f%% worse:' % RPC_OVERHEAD_TARGET)
        for line in lines:
            print('  ' + line)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--inject-child':
        inject_child(json.loads(sys.argv[2]))
    else:
        main()
