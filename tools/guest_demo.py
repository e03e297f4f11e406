#!/usr/bin/env python3
"""``bash tools/setup.sh demo --boot``: inject's demo on a disk that boots, then booted.

    .venv/bin/python tools/guest_demo.py [--config-file F] [--state-path DIR]
                                         [--workdir DIR]

0. The bootable Debian guest image (tools/guest_image.py): built from Debian's packages
   the first time (about 4 minutes), then taken from ``$state_path/guest-image``.
1-3. ``inject demo``'s own steps (:func:`inject.demo.run`), on ``demo.qcow2`` made as an
   overlay on that image, with an SSH key made here and a root password this tool
   knows in place of the demo's placeholders.
4. Boots ``demo.qcow2`` under qemu (tools/guest_boot.py; TCG here) and prints what the
   guest sees: logged in as root over SSH with the injected key, the injected files
   with their modes, its address (from the injected network config), ``/meta.js``;
   then root's injected password on the serial console.

Exit status 0 when every step worked; otherwise 1, with the failed step named.
"""

import argparse
import os
import secrets
import shutil
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOP)

import guest_boot    # noqa: E402  (tools/ is not a package)
import guest_image   # noqa: E402

from inject import appliance   # noqa: E402
from inject import demo        # noqa: E402


def show(guest, key, password):
    """Step 4's look from inside; returns the problems found (empty when none)."""
    problems = []

    def sh(command):
        return guest.ssh(command, 'root', key, step='ssh: ' + command).rstrip('\n')

    paths = [path for path, _ in demo.demo_files()] + [
        '/root/.ssh/authorized_keys', '/etc/network/interfaces', '/meta.js']
    print('   logged in over SSH as root with the injected key (%s, %.0f s after qemu '
          'started)' % (guest.accelerator.upper(), guest.boot_seconds))
    print('   $ uname -sr; hostname: %s; %s' % (sh('uname -sr'), sh('hostname')))
    print('   $ stat -c "%a %U:%G %n" ...')
    for line in sh('stat -c "%%a %%U:%%G %%n" %s' % ' '.join(paths)).splitlines():
        print('     ' + line)
    print('   $ cat /etc/motd: %s' % sh('cat /etc/motd'))
    print('   $ cat /meta.js: %s' % sh('cat /meta.js'))
    address = sh('ip -4 -o addr show dev eth0 | cut -d" " -f7')
    print('   eth0 (dhcp, from the injected /etc/network/interfaces): %s' % address)
    if not address:
        problems.append('eth0 has no address')
    accepted, _ = guest.serial_login('root', password)
    print('   serial console: root\'s injected password %s'
          % ('logs in' if accepted else 'was REFUSED'))
    if not accepted:
        problems.append('the injected root password was refused on the serial console')
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config-file', action='append', default=[])
    parser.add_argument('--state-path', help='overrides [DEFAULT]state_path')
    parser.add_argument('--workdir', help='where the demo disk goes (default: '
                                          '$state_path/demo-boot)')
    args = parser.parse_args(argv)
    conf = guest_image.load_conf(args.config_file, args.state_path)
    settings = appliance.Settings.from_conf(conf)
    workdir = os.path.abspath(args.workdir or os.path.join(conf.state_path, 'demo-boot'))
    os.makedirs(workdir, exist_ok=True)

    print('== 0. The bootable Debian guest image (tools/guest_image.py)', flush=True)
    try:
        image = guest_image.ensure(conf.state_path, settings,
                                   say=lambda text: print('   ' + text, flush=True))
    except guest_image.BuildError as e:
        print('demo: FAILED at %s' % e, file=sys.stderr)
        return 1
    key, public = guest_boot.ssh_keygen(os.path.join(workdir, 'demo-key'), 'inject-demo')
    password = secrets.token_urlsafe(12)
    status = demo.run(conf, workdir, base=image.disk, key=public, admin_password=password)
    if status:
        return status

    disk = os.path.join(workdir, 'demo.qcow2')
    logs = os.path.join(workdir, 'guest')
    shutil.rmtree(logs, ignore_errors=True)
    print('\n== 4. Booting %s (direct kernel boot of the image\'s kernel; serial log in '
          '%s)' % (disk, logs), flush=True)
    try:
        with guest_boot.Guest(image, disk, logs, settings, name='inject-demo',
                              say=lambda text: print('   ' + text, flush=True)) as guest:
            guest.wait_for_ssh('root', key)
            problems = show(guest, key, password)
    except guest_boot.GuestError as e:
        print('demo: FAILED at %s' % e, file=sys.stderr)
        return 1
    print('\n%s' % ('demo: the booted guest has everything inject wrote.' if not problems
                    else 'demo: FAILED: %s' % '; '.join(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
