#!/usr/bin/env python3
"""Benchmark: inject vs OpenStack Nova's own inject_data vs virt-copy-in, on the same images.

    .venv/bin/python tools/benchmark.py [--workdir DIR] [--cases a,b,b-burst,c]
        [--peers inject,nova,virt-copy-in] [--appliance kernel_boot=stock ...] [--json FILE]

Cases (the same work for every peer: three personality files and an SSH key for root):
  (a) one injection, partition 1;
  (b) partition -1 (inspection), five disks in a row built on the same base image,
      each request sent after the previous one is answered;
  (b-burst) the same five requests sent at once (inject only: Nova and virt-copy-in
      cannot batch, so their (b) rows are the reference);
  (c) 16 requests from one project submitted at once.

For each peer and case it prints wall time, images/minute, peak RSS (the peer's whole
process tree, qemu included, sampled every 0.1 s) and the ratio to Nova, then a table.
Wall time is the steady state of a long-running service: from the first request to the
last answer, after the service started (inject's agent; Nova's one-time capability
probe launch). virt-copy-in is a command, so its wall time is its processes'.
inject runs through its agent in-process (batching on), as a compute driver would use
it. Nova (installed from PyPI into a virtualenv of its own under the workdir, with
Debian's guestfs binding linked in) gets no batching: its libvirt driver injects one disk
per appliance, so (c) runs its 16 injections one after another. virt-copy-in always
inspects (it is guestfish -i). Every peer runs under TCG here (KVM does not work on these
machines) after a warm-up launch that builds its appliance cache. This is a benchmark,
not a test: it asserts nothing, it measures and prints.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOP)

KEY = ('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchmarkKeyBenchmarkKeyBenchmarkKey000 '
       'bench@inject')
FILES = [('/etc/motd', 'benchmark motd\n'),
         ('/etc/app/app.ini', '[app]\nport = 8080\n'),
         ('/usr/local/bin/run.sh', '#!/bin/sh\ntrue\n')]
TARGETS = {'a': 0.70, 'b': 0.40, 'b-burst': 0.40, 'c': 10.0}
DISKS = {'a': 1, 'b': 5, 'b-burst': 5, 'c': 16}
PARTITION = {'a': 1, 'b': -1, 'b-burst': -1, 'c': 1}
NOVA_CASE = {'b-burst': 'b'}      # Nova has no batching: its (b) row is the reference


# --- measuring a process tree ---------------------------------------------------------

def _descendants(pid):
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


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


def measure(argv, env=None):
    """Run argv; return (wall seconds, peak RSS MB of its tree, stdout)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, stdin=subprocess.DEVNULL)
    peak = [0.0]
    done = threading.Event()

    def sample():
        while not done.wait(0.1):
            peak[0] = max(peak[0], _rss_mb(_descendants(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (argv[0], proc.returncode, err[-3000:]))
    return wall, peak[0], out


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


def write_config(workdir, appliance_options=()):
    path = os.path.join(workdir, 'inject.conf')
    with open(path, 'w') as f:
        # inject_partition only enables injection here: every request names its own.
        f.write('[DEFAULT]\nstate_path = %s\n[injection]\ninject_key = true\n'
                'inject_partition = -1\n'
                'image_dirs = %s\n[agent]\nmax_batch = 16\nbatch_window = 0.5\n'
                '[appliance]\n%s'
                % (os.path.join(workdir, 'state'), os.path.join(workdir, 'images'),
                   ''.join(option.replace('=', ' = ', 1) + '\n'
                           for option in appliance_options)))
    return path


def stage_tree(workdir):
    tree = os.path.join(workdir, 'staged')
    shutil.rmtree(tree, ignore_errors=True)
    for path, content in FILES + [('/root/.ssh/authorized_keys', KEY + '\n')]:
        local = os.path.join(tree, path.lstrip('/'))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, 'w') as f:
            f.write(content)
    return tree


# --- peers ----------------------------------------------------------------------------

def run_inject(case, disks, config):
    argv = [sys.executable, os.path.abspath(__file__), '--inject-child', config,
            str(PARTITION[case]), 'sequential' if case == 'b' else 'together'] + disks
    _, rss, out = measure(argv)
    result = json.loads(out)
    return result['seconds'], rss, all(r['ok'] for r in result['reports']), result


def run_nova(case, disks, python):
    env = dict(os.environ, BENCH_FILES=json.dumps(FILES), BENCH_KEY=KEY,
               LIBGUESTFS_BACKEND_SETTINGS='force_tcg')
    argv = [python, os.path.join(TOP, 'tools', 'bench_nova_peer.py'),
            str(PARTITION[case])] + disks
    _, rss, out = measure(argv, env)
    results = json.loads(out.strip().splitlines()[-1])
    return (sum(r['seconds'] for r in results), rss, all(r['ok'] for r in results),
            results)


def run_virt_copy_in(case, disks, tree):
    env = dict(os.environ, LIBGUESTFS_BACKEND_SETTINGS='force_tcg')
    script = ' && '.join(
        'virt-copy-in --format=qcow2 -a %s %s/etc %s/usr %s/root /' % (d, tree, tree, tree)
        for d in disks)
    wall, rss, _ = measure(['bash', '-c', script], env)
    return wall, rss, True, None


def inject_child(config, partition, mode, disks):
    """The inject side, in a process of its own: an in-process agent, as a compute
    driver would run it; 'together' submits every request at once."""
    from inject import agent
    from inject import image
    from inject import request
    from inject import conf as inject_conf
    CONF = inject_conf.register_opts(inject_conf.CONF)
    CONF([], project='inject', default_config_files=[config])
    service, client = agent.start_in_process(CONF, selftest=False)
    # Steady state: a long-running agent has its warm appliances up before requests come.
    deadline = time.monotonic() + 300
    while (service.pool is not None and service.pool.ready() < service.pool.size
           and time.monotonic() < deadline):
        time.sleep(0.2)
    files = [(p, c.encode()) for p, c in FILES]

    def one(disk):
        req = request.InjectionRequest(image.DiskImage(disk, 'qcow2'), files=files,
                                       key=KEY, partition=partition)
        return client.inject(CONF.agent.host, req, project_id='bench')

    start = time.monotonic()
    try:
        if mode == 'sequential':
            reports = [one(d) for d in disks]
        else:
            reports = [None] * len(disks)

            def send(i):
                reports[i] = one(disks[i])
            threads = [threading.Thread(target=send, args=(i,)) for i in range(len(disks))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        seconds = time.monotonic() - start
    finally:
        service.stop()
    print(json.dumps({'seconds': seconds, 'reports': [
        {'ok': r['ok'], 'launch': r['timings'].get('launch'),
         'warm': 'warm_launch' in r['timings'],
         'root_found_by': r.get('root_found_by'), 'error': r.get('error')}
        for r in reports]}))


# --- main -----------------------------------------------------------------------------

def warm_up(config, python):
    """One launch per appliance cache, so no peer pays the appliance build."""
    print('benchmark: warming the appliance caches', flush=True)
    subprocess.run([os.path.join(TOP, '.venv', 'bin', 'inject'), 'status', '--config-file',
                    config], capture_output=True)
    env = dict(os.environ, LIBGUESTFS_BACKEND_SETTINGS='force_tcg')
    subprocess.run(['guestfish', '-a', '/dev/null', 'run'], env=env, check=True)
    if python:
        subprocess.run([python, '-c', 'import guestfs'], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--workdir', default='/var/tmp/inject-bench')
    parser.add_argument('--cases', default='a,b,b-burst,c')
    parser.add_argument('--peers', default='inject,nova,virt-copy-in')
    parser.add_argument('--json', metavar='FILE', help='also write the rows as JSON')
    parser.add_argument('--appliance', metavar='OPTION=VALUE', action='append', default=[],
                        help="an [appliance] option for inject's agent, e.g. "
                             "kernel_boot=stock or smp=1 (repeatable; default: inject's "
                             "defaults)")
    args = parser.parse_args()
    cases = args.cases.split(',')
    peers = args.peers.split(',')
    os.makedirs(args.workdir, exist_ok=True)
    images = os.path.join(args.workdir, 'images')
    os.makedirs(os.path.join(images, 'base'), exist_ok=True)
    config = write_config(args.workdir, args.appliance)
    python = nova_python(args.workdir) if 'nova' in peers else None
    tree = stage_tree(args.workdir)

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
    warm_up(config, python)

    rows = []
    for case in cases:
        for peer in peers:
            if case in NOVA_CASE and peer != 'inject':
                continue
            disks = make_disks(images, base, DISKS[case], '%s-%s' % (peer, case))
            # a fresh inspection cache: (b) measures the first inspection too
            cache = os.path.join(args.workdir, 'state', 'inspection-cache.json')
            if os.path.exists(cache):
                os.unlink(cache)
            print('benchmark: case (%s), %s, %d disk(s)...' % (case, peer, len(disks)),
                  flush=True)
            if peer == 'inject':
                wall, rss, ok, detail = run_inject(case, disks, config)
            elif peer == 'nova':
                wall, rss, ok, detail = run_nova(case, disks, python)
            else:
                wall, rss, ok, detail = run_virt_copy_in(case, disks, tree)
            rows.append({'case': case, 'peer': peer, 'disks': len(disks), 'wall': wall,
                         'per_min': 60.0 * len(disks) / wall, 'rss_mb': rss, 'ok': ok,
                         'detail': detail})
            print('   %.1f s, peak RSS %.0f MB, all injected: %s' % (wall, rss, ok),
                  flush=True)
            for d in disks:
                os.unlink(d)
    print_table(rows)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


def print_table(rows):
    nova = {r['case']: r for r in rows if r['peer'] == 'nova'}
    print()
    print('| case | peer | disks | wall (s) | images/min | peak RSS (MB) | all injected '
          '| vs Nova | target |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        ratio = target = '-'
        n = nova.get(NOVA_CASE.get(r['case'], r['case']))
        if n and r['peer'] != 'nova':
            if r['case'] == 'c':
                ratio = '%.1f× throughput' % (r['per_min'] / n['per_min'])
                target = '≥ %.0f×' % TARGETS['c']
            else:
                ratio = '%.2f× time' % (r['wall'] / n['wall'])
                target = '≤ %.2f×' % TARGETS[r['case']]
        print('| (%s) | %s | %d | %.1f | %.1f | %.0f | %s | %s | %s |' % (
            r['case'], r['peer'], r['disks'], r['wall'], r['per_min'], r['rss_mb'],
            'yes' if r['ok'] else 'NO', ratio, target))


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--inject-child':
        inject_child(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
    else:
        main()
