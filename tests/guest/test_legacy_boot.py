"""The legacy path (2.1-2.56, injection on), booted: ``inject image`` writes personality
files, root's SSH key, /etc/network/interfaces, /meta.js and root's password into an
instance disk on the guest image (the disk a compute driver would hand it), and the
guest that boots from it is looked at from inside.

The guest gets no config drive and no OpenStack system information, so cloud-init's
ds-identify finds no datasource and cloud-init stays off: everything the guest has
beyond its image came from inject. Its network comes only from the injected
interfaces file (a static address, different from the one qemu's DHCP would give);
SSH is forwarded to that address, so logging in at all proves it was applied.
"""

import base64
import json
import secrets
import subprocess

from tests.guest import conftest
from tests.guest.conftest import expect

ADDRESS = '10.0.2.33'     # qemu's user network is 10.0.2.0/24; its DHCP starts at .15
INTERFACES = ('auto lo\niface lo inet loopback\n\n'
              'auto eth0\niface eth0 inet static\n'
              '    address %s\n    netmask 255.255.255.0\n    gateway 10.0.2.2\n' % ADDRESS)
METADATA = {'role': 'legacy', 'owner': 'inject'}
#: guest path -> content. /etc/motd exists in the image (0644), /etc/sudoers.d/README
#: too (0440: an existing file keeps its mode); the others are new, in new directories.
FILES = {
    '/etc/motd': b'Injected by the legacy path\n',
    '/etc/sudoers.d/README': b'# replaced by a personality file\n',
    '/etc/inject/legacy/app.conf': b'[app]\nlisten = 0.0.0.0:8080\n',
    '/usr/local/bin/legacy-hello': b'#!/bin/sh\necho hello\n',
}
#: what the guest must show for each: mode, owner
MODES = {
    '/etc/motd': ('644', 'root:root'),
    '/etc/sudoers.d/README': ('440', 'root:root'),
    '/etc/inject/legacy/app.conf': ('644', 'root:root'),
    '/usr/local/bin/legacy-hello': ('644', 'root:root'),
    '/etc/inject': ('755', 'root:root'),
    '/etc/inject/legacy': ('755', 'root:root'),
    '/root/.ssh': ('700', 'root:root'),
    '/root/.ssh/authorized_keys': ('600', 'root:root'),
    '/meta.js': ('644', 'root:root'),
}


def _inject(tmp_path, disk, key, password, image_dir):
    """``inject image`` as an operator runs it; returns its JSON report."""
    args = ['image', disk, '--format', 'qcow2', '--partition', '1', '--json',
            '--key', key]
    for path, content in FILES.items():
        local = tmp_path / ('file-%d' % len(args))
        local.write_bytes(content)
        args += ['--file', '%s=%s' % (path, local)]
    (tmp_path / 'interfaces').write_text(INTERFACES)
    (tmp_path / 'password').write_text(password + '\n')
    args += ['--network-file', str(tmp_path / 'interfaces'),
             '--admin-password-file', str(tmp_path / 'password')]
    for name, value in METADATA.items():
        args += ['--metadata', '%s=%s' % (name, value)]
    conf = tmp_path / 'inject.conf'
    conf.write_text('[DEFAULT]\nstate_path = %s\n[appliance]\ncache_dir = %s\n'
                    '[injection]\ninject_key = true\ninject_password = true\n'
                    'image_dirs = %s,%s\n'
                    % (tmp_path / 'state', conftest.APPLIANCE_CACHE, image_dir, tmp_path))
    proc = subprocess.run([conftest.venv_bin('inject')] + args + ['--config-file', str(conf)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, 'inject image failed (%d): %s%s' % (
        proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def test_legacy_injection_is_what_the_booted_guest_finds(tmp_path, guest_image_built, boot,
                                                         ssh_key):
    private, public = ssh_key
    password = secrets.token_urlsafe(12)
    disk = conftest.overlay(str(tmp_path / 'legacy.qcow2'), guest_image_built.disk)
    report = _inject(tmp_path, disk, public, password, guest_image_built.directory)
    assert report['ok'], report

    guest = boot(disk, 'legacy', guest_address=ADDRESS)
    guest.wait_for_ssh('root', private)

    def sh(command, step):
        return guest.ssh(command, 'root', private, step='check: ' + step)

    # personality files: content, mode and owner; and the directories made for them
    for path, content in FILES.items():
        found = sh('base64 -w0 %s' % path, 'personality file %s' % path)
        expect(guest, 'personality file %s' % path,
               found.strip() == base64.b64encode(content).decode(),
               'content differs: %r' % found[:200])
    stats = dict(line.split(' ', 1) for line in sh(
        'stat -c "%%n %%a %%U:%%G" %s' % ' '.join(MODES), 'modes').splitlines())
    for path, (mode, owner) in MODES.items():
        expect(guest, 'mode and owner of %s' % path, stats.get(path) == '%s %s' % (mode, owner),
               'the guest shows %r, expected %s %s' % (stats.get(path), mode, owner))

    # root's key: the login above used it; the file holds it once
    keys = sh('cat /root/.ssh/authorized_keys', 'root authorized_keys').splitlines()
    expect(guest, 'root authorized_keys', keys.count(public) == 1, keys)

    # /etc/network/interfaces applied: eth0 has the injected address and route
    expect(guest, '/etc/network/interfaces', sh('cat /etc/network/interfaces',
                                                'interfaces') == INTERFACES)
    addresses = sh('ip -4 -o addr show dev eth0', 'eth0 address')
    expect(guest, 'eth0 has the injected address', ' %s/24 ' % ADDRESS in addresses,
           addresses)
    route = sh('ip -4 route show default', 'default route')
    expect(guest, 'default route of the injected config', 'via 10.0.2.2 dev eth0' in route,
           route)

    # /meta.js
    meta = json.loads(sh('cat /meta.js', '/meta.js'))
    expect(guest, '/meta.js', meta == METADATA, meta)

    # No SELinux fix-up on this guest: Debian's libsemanage-common ships /etc/selinux
    # (where Nova looked) but there is no /etc/selinux/config, so no rc.local is added.
    rc_local = guest.ssh('test -e /etc/rc.local', 'root', private, check=False)
    expect(guest, 'no rc.local (not an SELinux guest)', rc_local.returncode == 1,
           rc_local)

    # cloud-init stayed out of it (no datasource): all of the above is inject's
    status = guest.ssh('cloud-init status', 'root', private, check=False)
    expect(guest, 'cloud-init did not run', 'disabled' in status.stdout, status.stdout)

    # the admin password, on the serial console: a wrong one is refused, the right one
    # logs root in
    refused, transcript = guest.serial_login('root', password + 'x')
    expect(guest, 'a wrong root password is refused on the serial console', not refused,
           transcript[-800:])
    accepted, transcript = guest.serial_login('root', password)
    expect(guest, 'the injected root password logs in on the serial console', accepted,
           transcript[-800:])
