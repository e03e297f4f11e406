#!/usr/bin/env python3
"""Benchmark: config drive build, inject (pycdlib, in process) vs Nova's ConfigDriveBuilder
(the PyPI nova package, shelling out to Debian's genisoimage), on the same content.

    .venv/bin/python tools/configdrive_bench.py [--builds 30] [--workdir DIR] [--json FILE]

The server: user data, five personality files, an SSH key, and vendordata (a static file
and one dynamic target's answer), rendered once by inject's InstanceMetadata into the
config drive's file tree. Both builders get exactly that tree (Nova's through its own
``add_instance_metadata`` API, fed by an object whose ``metadata_for_config_drive()``
yields it) and each writes ``disk.config`` in a directory of its own. Builds alternate,
inject then Nova, so both see the same machine load; Nova's builder runs in a
long-lived process in the Nova virtualenv that tools/benchmark.py makes (``nova`` from
PyPI under WORKDIR/nova-venv; created here if missing), so neither pays interpreter
start-up per build. genisoimage is installed from Debian when missing.

Three inject rows: ``tree`` (the same input as Nova's builder: the file tree to an ISO
written atomically, fsync included), ``full`` (from InstanceInfo: rendering the
metadata, one vendordata round, then the ISO), and ``in-memory`` (the ISO into a buffer,
no file: pycdlib's own cost). The ratio compares p50s with Nova's. This is a
benchmark, not a test: it asserts nothing, it measures and prints.
"""

import argparse
import base64
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOP)

from inject.metadata import base  # noqa: E402
from inject.metadata import configdrive  # noqa: E402
from inject.metadata import instance  # noqa: E402
from inject.metadata import vendordata  # noqa: E402

NOVA_VERSION = '34.0.0'

# Runs in the Nova virtualenv: one JSON command per stdin line, one JSON answer per line.
NOVA_PEER = r'''
import base64, json, os, sys, time, warnings
warnings.simplefilter('ignore')
import nova.conf
from nova.virt import configdrive
from nova import version
CONF = nova.conf.CONF
CONF([], project='nova', default_config_files=[])

class Tree:
    """What ConfigDriveBuilder.add_instance_metadata reads from an InstanceMetadata."""
    def __init__(self, files):
        self.files = files
    def metadata_for_config_drive(self):
        return iter(self.files)

files = [(p, base64.b64decode(d)) for p, d in json.loads(sys.stdin.readline())]
print(json.dumps({'ready': version.version_string(), 'mkisofs': CONF.mkisofs_cmd,
                  'format': CONF.config_drive_format}), flush=True)
for line in sys.stdin:
    path = json.loads(line)['path']
    t = time.perf_counter()
    with configdrive.ConfigDriveBuilder(instance_md=Tree(files)) as cdb:
        cdb.make_drive(path)
    print(json.dumps({'ms': (time.perf_counter() - t) * 1000,
                      'size': os.path.getsize(path)}), flush=True)
'''


class BenchVendorData(vendordata.VendorDataProvider):
    def static(self, info):
        return {'cloud-init': '#cloud-config\npackages: [htop]\n'}

    def v2(self, info):
        return {'static': self.static(info),
                'cloud-init': '#cloud-config\nruncmd: [echo dynamic]\n',
                'testing': {'value1': 1, 'value2': 2, 'value3': 'three'}}


def server():
    info = instance.InstanceInfo(
        uuid='b65cee2f-8c69-4aeb-be2f-f79742548fc2', name='bench', hostname='bench',
        project_id='f7ac731cc11f40efbc03a9f9e1d1d21f', user_id='u1',
        image_id='70a599e0-31e7-49b7-b260-868f441e862b',
        user_data=b'#!/bin/sh\necho hello from user data\n' * 20,
        metadata={'role': 'webserver', 'priority': 'low'},
        files=[('/etc/bench/file%d.conf' % i, os.urandom(2048)) for i in range(5)],
        admin_pass='Bench-Pass-123')
    info.add_keypair('mykey', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ' + 'x' * 300
                     + ' Generated-by-Nova\n')
    return info


def ensure_genisoimage():
    if shutil.which('genisoimage'):
        return
    print('configdrive_bench: installing Debian\'s genisoimage', flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    subprocess.run(['apt-get', 'install', '-y', '-q', '--no-install-recommends',
                    'genisoimage'], check=True, env=env)


def nova_python(workdir):
    venv = os.path.join(workdir, 'nova-venv')
    python = os.path.join(venv, 'bin', 'python')
    if not os.path.exists(os.path.join(venv, '.ready')):
        print('configdrive_bench: installing nova from PyPI into %s (a few minutes)'
              % venv, flush=True)
        subprocess.run(['/usr/bin/python3', '-m', 'venv', venv], check=True)
        subprocess.run([python, '-m', 'pip', 'install', '-q', 'nova==%s' % NOVA_VERSION],
                       check=True)
        open(os.path.join(venv, '.ready'), 'w').close()
    return python


def pct(values, q):
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--builds', type=int, default=30)
    parser.add_argument('--workdir', default='/var/tmp/inject-bench')
    parser.add_argument('--json')
    args = parser.parse_args()

    ensure_genisoimage()
    python = nova_python(args.workdir)
    info = server()
    md = base.InstanceMetadata(info, vendordata=BenchVendorData())
    tree = list(md.config_drive_files())
    payload = sum(len(d) for _, d in tree)

    scratch = tempfile.mkdtemp(prefix='configdrive-bench-', dir=args.workdir)
    peer = subprocess.Popen([python, '-c', NOVA_PEER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=scratch)
    try:
        peer.stdin.write(json.dumps([(p, base64.b64encode(d).decode())
                                     for p, d in tree]) + '\n')
        peer.stdin.flush()
        hello = json.loads(peer.stdout.readline())

        def nova_build(path):
            peer.stdin.write(json.dumps({'path': path}) + '\n')
            peer.stdin.flush()
            return json.loads(peer.stdout.readline())

        ours_dir = os.path.join(scratch, 'inject')
        nova_dir = os.path.join(scratch, 'nova')
        os.makedirs(ours_dir)
        os.makedirs(nova_dir)
        times = {'inject tree': [], 'inject full': [], 'inject in-memory': [], 'nova': []}
        sizes = {}
        # One warm-up of each, not counted.
        configdrive.write_config_drive(os.path.join(ours_dir, 'disk.config'), tree)
        nova_build(os.path.join(nova_dir, 'disk.config'))
        for i in range(args.builds):
            path = os.path.join(ours_dir, 'disk.config')
            t = time.perf_counter()
            sizes['inject'] = configdrive.write_config_drive(path, tree)
            times['inject tree'].append((time.perf_counter() - t) * 1000)

            answer = nova_build(os.path.join(nova_dir, 'disk.config'))
            times['nova'].append(answer['ms'])
            sizes['nova'] = answer['size']

            t = time.perf_counter()
            fresh = base.InstanceMetadata(info, vendordata=BenchVendorData())
            configdrive.build_config_drive(fresh, path)
            times['inject full'].append((time.perf_counter() - t) * 1000)

            t = time.perf_counter()
            configdrive.build_iso(tree, io.BytesIO())
            times['inject in-memory'].append((time.perf_counter() - t) * 1000)
        label = configdrive.volume_label(os.path.join(nova_dir, 'disk.config'))
    finally:
        peer.stdin.close()
        peer.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)

    nova_p50 = statistics.median(times['nova'])
    rows = []
    print()
    print('config drive build: %d files, %d bytes of content; %d builds each; '
          'nova %s (%s, format %s); Nova\'s drive label %r'
          % (len(tree), payload, args.builds, hello['ready'], hello['mkisofs'],
             hello['format'], label))
    print('%-18s %9s %9s %9s %9s %10s' % ('builder', 'p50 ms', 'p95 ms', 'min ms',
                                          'max ms', 'p50/nova'))
    for name, values in times.items():
        p50 = statistics.median(values)
        row = {'builder': name, 'p50_ms': round(p50, 2),
               'p95_ms': round(pct(values, 0.95), 2), 'min_ms': round(min(values), 2),
               'max_ms': round(max(values), 2), 'ratio': round(p50 / nova_p50, 3),
               'per_build_ms': [round(v, 2) for v in values]}
        rows.append(row)
        print('%-18s %9.2f %9.2f %9.2f %9.2f %10.3f' % (
            name, row['p50_ms'], row['p95_ms'], row['min_ms'], row['max_ms'],
            row['ratio']))
    print('image sizes: inject %d bytes, nova %d bytes' % (sizes['inject'], sizes['nova']))
    print('per-build ms:')
    for row in rows:
        per_build = ' '.join('%.1f' % v for v in row['per_build_ms'])
        print('  %-16s %s' % (row['builder'], per_build))
    target = next(r for r in rows if r['builder'] == 'inject tree')['ratio']
    print('target p50(inject tree) <= 0.5 x p50(nova): %.3f -> %s'
          % (target, 'met' if target <= 0.5 else 'NOT met'))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'rows': rows, 'sizes': sizes, 'files': len(tree),
                       'nova': hello['ready']}, f, indent=1)


if __name__ == '__main__':
    main()
