"""``inject demo``: build a small disk, inject into it the way a compute host would, then
read the result back out of the disk, so a new user sees the whole job on this host.

Three appliance launches: one builds the disk (MBR, ext4 on partition 1, a minimal
Debian root), one injects (``Manager.inject``, the same call ``inject image`` makes),
one reads back, read-only, what the guest now holds.

Given a ``base`` image (``bash tools/setup.sh demo --boot`` gives tools/guest_image.py's
bootable Debian image), the demo disk is a qcow2 overlay on it instead of a disk built
here, and ``key`` and ``admin_password`` replace the demo's placeholder key and random
password, so that the guest booted from it afterwards (tools/guest_demo.py) can be
logged into.
"""

import json
import os
import secrets
import time

from inject import appliance
from inject import image as image_mod
from inject import imagebuilder
from inject import manager
from inject import request as request_mod

DEMO_KEY = ('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVz5Lq8kPDemoKeyOnlyForInjectDemo00000000 '
            'demo@inject')
NETWORK = 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n'
METADATA = {'role': 'demo', 'owner': 'inject'}


def demo_files():
    return [
        ('/etc/motd', ('Injected by inject\'s demo at %s\n'
                       % time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())).encode()),
        ('/etc/demo/app.conf', b'[app]\nlisten = 0.0.0.0:8080\n'),
        ('/usr/local/bin/hello', b'#!/bin/sh\necho hello from an injected file\n'),
    ]


def run(conf, workdir=None, as_json=False, base=None, key=None, admin_password=None):
    workdir = os.path.abspath(workdir or os.path.join(conf.state_path, 'demo'))
    os.makedirs(workdir, exist_ok=True)
    disk = os.path.join(workdir, 'demo.qcow2')
    settings = appliance.Settings.from_conf(conf)

    def say(text):
        if not as_json:
            print(text, flush=True)

    t0 = time.monotonic()
    if base:
        say('== 1. Making %s a qcow2 overlay on %s' % (disk, base))
        image_mod.create_overlay(image_mod.DiskImage(base, 'qcow2'), disk)
        conf.set_override('image_dirs', [os.path.dirname(os.path.abspath(base))]
                          + list(conf.injection.image_dirs), 'injection')
    else:
        say('== 1. Building %s (MBR, ext4 on partition 1, a minimal Debian root)' % disk)
        imagebuilder.build([{'path': disk, 'layout': 'mbr-linux', 'format': 'qcow2'}],
                           settings)
    say('   made in %.1f s' % (time.monotonic() - t0))

    # The demo turns on what a default host leaves off, to show every item.
    for name, value in (('inject_key', True), ('inject_password', True)):
        conf.set_override(name, value, 'injection')
    files = demo_files()
    req = request_mod.InjectionRequest(
        image_mod.DiskImage(disk, 'qcow2'), files=files, key=key or DEMO_KEY, net=NETWORK,
        metadata=METADATA, admin_password=admin_password or secrets.token_urlsafe(12),
        partition=1)
    say('\n== 2. Injecting 3 files, an SSH key, network config, metadata and a root '
        'password\n   (inject_partition=1; the demo enables inject_key and inject_password)')
    report, = manager.Manager(conf).inject([req])
    say(report.format_text())

    paths = [p for p, _ in files] + ['/root/.ssh/authorized_keys', '/etc/network/interfaces',
                                     '/meta.js', '/etc/shadow', '/etc/demo']
    say('\n== 3. Reading the disk back (read-only, another appliance launch)')
    found, = imagebuilder.read_back(
        [{'path': disk, 'format': 'qcow2', 'partition': 1, 'files': paths}], settings)
    shown = {}
    for path in paths:
        entry = found.get(path)
        if entry is None:
            shown[path] = None
            say('   %-28s MISSING' % path)
            continue
        content = entry.get('content')
        if path == '/etc/shadow' and content is not None:
            root = [line for line in content.decode().splitlines() if line.startswith('root:')]
            text = root[0].split(':')[1][:3] + '... (root\'s hash, sha512-crypt)' if root else '?'
        elif content is not None:
            text = content.decode('utf-8', 'replace').splitlines()[0] if content else ''
        else:
            text = '(directory)'
        shown[path] = dict(mode='%04o' % entry['mode'], uid=entry['uid'], gid=entry['gid'],
                           first_line=text)
        say('   %-28s %04o %s:%s  %s' % (path, entry['mode'], entry['uid'], entry['gid'], text))
    missing = [p for p, e in shown.items() if e is None]
    if as_json:
        print(json.dumps({'disk': disk, 'report': report.to_dict(), 'read_back': shown},
                         indent=2))
    ok = report.ok and not missing
    say('\n%s' % ('demo: everything was injected, and the disk holds it.' if ok else
                  'demo: FAILED: %s' % (report.reason() or 'missing: %s' % missing)))
    return 0 if ok else 1
