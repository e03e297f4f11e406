#!/usr/bin/env python3
"""Build the bootable Debian guest image that the guest tests and ``demo --boot`` boot.

    .venv/bin/python tools/guest_image.py [--config-file F] [--state-path DIR]
                                          [--mirror URL] [--rebuild] [--json]

What it does, and nothing is mounted on the host at any step:

1. **packages**: mmdebstrap installs Debian's packages (``PACKAGES``: systemd, openssh-server,
   cloud-init, ifupdown, the cloud kernel...) from the Debian mirror the host's apt is
   configured with (``/etc/apt/sources.list*``: the entries of this release's suites)
   into a tarball. It runs in ``unshare`` mode: the mounts a chroot needs (``/proc``,
   ``/dev``...) are made in mmdebstrap's own mount namespace, never in the host's, and
   the build checks that no mount appeared under its directory meanwhile.
2. **disk**: libguestfs makes a qcow2 (MBR, ext4 labelled ``LABEL`` on partition 1), puts
   the tarball in with ``tar-in``, removes what must not be shared by every guest (SSH
   host keys, the build host's name and resolver), writes the image's own files
   (``FILES``) and copies the kernel and initrd out, for direct kernel boot
   (:mod:`inject.imagebuilder`, layout ``tarball``).

The result is cached in ``$state_path/guest-image/<digest>/`` (``debian-<release>.qcow2``,
``vmlinuz``, ``initrd``, ``build.json``), where the digest covers the whole recipe: the
release, the mirror entries, the package list, dpkg's path filters, the files, the size,
the kernel command line and ``RECIPE_VERSION``. Another recipe builds anew (older images
are removed); the same recipe reuses the cache (``--rebuild`` forces a build). Package
versions are what the mirror held at build time (``build.json`` lists the main ones).
"""

import argparse
import contextlib
import dataclasses
import fcntl
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TOP not in sys.path:
    sys.path.insert(0, TOP)

#: Bump when the build changes in a way the recipe's data does not show.
RECIPE_VERSION = 1

#: What the guest runs. The cloud kernel has virtio, ATA/CD-ROM and ISO 9660 drivers;
#: initramfs-tools builds its initrd in the chroot.
PACKAGES = ('systemd-sysv', 'udev', 'dbus', 'openssh-server', 'cloud-init', 'ifupdown',
            'isc-dhcp-client', 'iproute2', 'netbase', 'sudo', 'procps', 'e2fsprogs',
            'cloud-guest-utils',
            'linux-image-cloud-amd64', 'initramfs-tools')

#: Left out of the image (dpkg's path filters): documentation, manual pages, translations.
DPKG_OPTIONS = ('path-exclude=/usr/share/man/*', 'path-exclude=/usr/share/locale/*',
                'path-exclude=/usr/share/doc/*', 'path-include=/usr/share/doc/*/copyright',
                'path-exclude=/usr/share/info/*')

LABEL = 'debian-root'
SIZE_MB = 2048
#: Direct kernel boot: the root by label, the console on the first serial port (where
#: systemd also starts a getty), and the classic eth0 name that the legacy network
#: template (``/etc/network/interfaces``) and cloud images use.
CMDLINE = 'root=LABEL=%s ro console=ttyS0,115200 net.ifnames=0 biosdevname=0' % LABEL

_INTERFACES = '''\
# interfaces(5) file used by ifup(8) and ifdown(8)
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

# The first NIC by DHCP, as a Debian install leaves it; cloud-init adds its own
# configuration in interfaces.d when the cloud describes a network.
allow-hotplug eth0
iface eth0 inet dhcp
'''

_HOST_KEY_UNIT = '''\
[Unit]
Description=SSH host key of this guest (the image ships none)
Documentation=file:///usr/share/doc/openssh-server/README.Debian.gz
# cloud-init, when it runs, makes the host keys itself.
After=cloud-init.service
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=ssh.service
'''

#: The image's own files: {guest path: (text, mode)}, owned by root.
FILES = {
    '/etc/fstab': ('LABEL=%s / ext4 rw,errors=remount-ro 0 1\n' % LABEL, 0o644),
    '/etc/hostname': ('debian\n', 0o644),
    '/etc/hosts': ('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n',
                   0o644),
    '/etc/machine-id': ('', 0o444),       # a new one at each guest's first boot
    # libc's own locale: nothing to generate (cloud-init keeps a system locale that is
    # set, and would otherwise generate en_US.UTF-8, which needs the locales package)
    '/etc/default/locale': ('LANG=C.UTF-8\n', 0o644),
    '/etc/network/interfaces': (_INTERFACES, 0o644),
    '/etc/systemd/system/ssh-host-key.service': (_HOST_KEY_UNIT, 0o644),
}
SYMLINKS = {'/etc/systemd/system/ssh.service.wants/ssh-host-key.service':
            '/etc/systemd/system/ssh-host-key.service'}
#: Made by the build, never to be shared by every guest booted from the image.
REMOVE = ('/etc/ssh/ssh_host_*', '/etc/resolv.conf', '/var/lib/dbus/machine-id')

#: Packages whose versions build.json records.
REPORTED = ('cloud-init', 'systemd', 'openssh-server', 'ifupdown', 'isc-dhcp-client',
            'linux-image-cloud-amd64', 'python3')

SUBDIR = 'guest-image'
KERNEL, INITRD, INFO = 'vmlinuz', 'initrd', 'build.json'
MMDEBSTRAP_TIMEOUT = 3600     # downloads and installs ~400 MB; 3-5 minutes measured
LIBGUESTFS_TIMEOUT = 1800     # tar-in of ~400 MB under TCG; about 2 minutes measured


class BuildError(Exception):
    """The image could not be built; the message names the step and what to do."""


# --- the recipe ----------------------------------------------------------------------------

def _os_release(path='/etc/os-release'):
    values = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.strip().partition('=')
                if sep:
                    values[key] = value.strip('"')
    except OSError:
        pass
    return values


def _deb822(text):
    """The stanzas of a deb822 file, as {field: value}."""
    stanzas, current, key = [], {}, None
    for line in text.splitlines() + ['']:
        if line.startswith('#'):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
        elif line[0] in ' \t' and key:
            current[key] += '\n' + line.strip()
        else:
            key, _, value = line.partition(':')
            key = key.strip()
            current[key] = value.strip()
    return stanzas


def _one_line(text):
    """The ``deb`` entries of a one-line sources.list: [(uri, suite, components)]."""
    found = []
    for line in text.splitlines():
        words = line.split('#', 1)[0].split()
        if len(words) < 3 or words[0] != 'deb':
            continue
        words = words[1:]
        if words[0].startswith('['):          # [ options ]
            while words and not words[0].endswith(']'):
                words = words[1:]
            words = words[1:]
        if len(words) >= 3:
            found.append((words[0], words[1], words[2:]))
    return found


def apt_sources(root='/'):
    """Every ``deb`` entry the host's apt is configured with: [(uri, suite, components)],
    from sources.list, sources.list.d/*.list and sources.list.d/*.sources."""
    entries = []
    etc = os.path.join(root, 'etc/apt')
    paths = [os.path.join(etc, 'sources.list')]
    paths += sorted(glob.glob(os.path.join(etc, 'sources.list.d', '*')))
    for path in paths:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith('.sources'):
            for stanza in _deb822(text):
                if 'deb' not in stanza.get('Types', '').split():
                    continue
                if stanza.get('Enabled', 'yes').lower() == 'no':
                    continue
                for uri in stanza.get('URIs', '').split():
                    for suite in stanza.get('Suites', '').split():
                        entries.append((uri, suite, stanza.get('Components', '').split()))
        elif path.endswith('.list') or path == paths[0]:
            entries += _one_line(text)
    return entries


def debian_mirrors(release, entries):
    """The mirror lines for mmdebstrap: the host's entries of ``release`` and its
    -updates and -security suites, component main. Third-party repositories (another
    suite name) are left out."""
    lines = []
    for uri, suite, components in entries:
        if suite != release and not suite.startswith(release + '-'):
            continue
        if 'main' not in components or suite.endswith('-backports'):
            continue
        line = 'deb %s %s main' % (uri, suite)
        if line not in lines:
            lines.append(line)
    return lines


@dataclasses.dataclass
class Recipe:
    release: str
    mirrors: list
    arch: str = 'amd64'
    packages: tuple = PACKAGES
    dpkg_options: tuple = DPKG_OPTIONS
    files: dict = dataclasses.field(default_factory=lambda: dict(FILES))
    symlinks: dict = dataclasses.field(default_factory=lambda: dict(SYMLINKS))
    remove: tuple = REMOVE
    size_mb: int = SIZE_MB
    label: str = LABEL
    cmdline: str = CMDLINE
    version: int = RECIPE_VERSION

    def as_dict(self):
        d = dataclasses.asdict(self)
        d['files'] = {path: [text, mode] for path, (text, mode) in self.files.items()}
        for key in ('packages', 'dpkg_options', 'remove'):
            d[key] = list(d[key])
        return d

    def digest(self):
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()

    @property
    def name(self):
        return 'debian-%s' % self.release


def host_recipe(mirror=None, root='/'):
    """The recipe for this host: its Debian release and its configured mirror (or
    ``mirror``, a URL, for the release's main suite only)."""
    release = _os_release(os.path.join(root, 'etc/os-release')).get('VERSION_CODENAME')
    if not release:
        raise BuildError('image: cannot tell the Debian release from /etc/os-release '
                         '(no VERSION_CODENAME): this tool builds a guest of the host\'s '
                         'release')
    if mirror:
        mirrors = ['deb %s %s main' % (mirror, release)]
    else:
        mirrors = debian_mirrors(release, apt_sources(root))
        if not mirrors:
            raise BuildError('image: no Debian mirror for %s in /etc/apt/sources.list*; '
                             'configure one, or pass --mirror URL' % release)
    arch = subprocess.run(['dpkg', '--print-architecture'], capture_output=True,
                          text=True).stdout.strip() or 'amd64'
    if arch != 'amd64':
        raise BuildError('image: the guest image is built for amd64 (its cloud kernel); '
                         'this host is %s' % arch)
    return Recipe(release=release, mirrors=mirrors, arch=arch)


# --- the cached image ----------------------------------------------------------------------

@dataclasses.dataclass
class Image:
    """A built image: the disk, the kernel and initrd to boot it with, what the build
    recorded (``info``: recipe, timings, sizes, package versions)."""
    directory: str
    disk: str
    kernel: str
    initrd: str
    cmdline: str
    info: dict

    @classmethod
    def load(cls, directory):
        """The image cached in ``directory``, or None when it is missing or incomplete."""
        try:
            with open(os.path.join(directory, INFO)) as f:
                info = json.load(f)
        except (OSError, ValueError):
            return None
        image = cls(directory=directory, disk=os.path.join(directory, info['disk']),
                    kernel=os.path.join(directory, KERNEL),
                    initrd=os.path.join(directory, INITRD),
                    cmdline=info['recipe']['cmdline'], info=info)
        if not all(os.path.isfile(p) for p in (image.disk, image.kernel, image.initrd)):
            return None
        return image


def cache_root(state_path):
    return os.path.join(state_path, SUBDIR)


def image_dir(state_path, recipe):
    return os.path.join(cache_root(state_path), recipe.digest()[:16])


@contextlib.contextmanager
def _locked(root):
    os.makedirs(root, mode=0o755, exist_ok=True)
    with open(os.path.join(root, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)     # another build of this cache: wait for it
        yield


def ensure(state_path, settings, recipe=None, rebuild=False, say=print):
    """The image for ``recipe`` (default: :func:`host_recipe`), from the cache or built
    now. ``settings`` (:class:`inject.appliance.Settings`) launch the appliance.
    Raises BuildError naming the step that failed."""
    recipe = recipe or host_recipe()
    directory = image_dir(state_path, recipe)
    with _locked(cache_root(state_path)):
        image = None if rebuild else Image.load(directory)
        if image:
            say('image: cached %s (recipe %s, built %s)'
                % (image.disk, recipe.digest()[:16], image.info['built_at']))
            return image
        image = _build(directory, recipe, settings, say)
        for other in glob.glob(os.path.join(cache_root(state_path), '*')):
            if os.path.isdir(other) and other != directory:
                say('image: removing %s (another recipe)' % other)
                shutil.rmtree(other, ignore_errors=True)
        return image


# --- building --------------------------------------------------------------------------------

class _MountWatch:
    """Samples the host's mount table while a step runs: any mount point under
    ``directory`` means the step mounted something on the host."""

    def __init__(self, directory, interval=0.5, table='/proc/self/mountinfo'):
        self.directory = os.path.realpath(directory) + '/'
        self.interval = interval
        self.table = table
        self.seen = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        try:
            with open(self.table) as f:
                for line in f:
                    point = line.split()[4]
                    if (point + '/').startswith(self.directory):
                        self.seen.add(point)
        except OSError:
            pass

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def mmdebstrap_command(recipe, tarball):
    cmd = ['mmdebstrap', '--mode=unshare', '--variant=apt', '--format=tar',
           '--architectures=%s' % recipe.arch, '--include=%s' % ','.join(recipe.packages),
           '--aptopt=Acquire::Retries "3"']
    cmd += ['--dpkgopt=%s' % option for option in recipe.dpkg_options]
    return cmd + [recipe.release, tarball] + list(recipe.mirrors)


def _run_bounded(cmd, log_path, timeout, env=None):
    """Run ``cmd`` in its own process group, output to ``log_path``; on expiry the whole
    group is killed. Returns the exit status, or None when it timed out."""
    with open(log_path, 'ab') as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def tail(path, lines=15):
    """The last ``lines`` lines of a log (at most its last 64 KiB), or ''."""
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, os.path.getsize(path) - 65536))
            text = f.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    return '\n'.join(text.replace('\r', '').splitlines()[-lines:])


def _package_versions(tarball, names):
    """{package: version} of ``names``, read from the tarball's dpkg status file."""
    with tarfile.open(tarball) as tar:
        wanted = ('./var/lib/dpkg/status', 'var/lib/dpkg/status')
        member = next((m for m in tar if m.name in wanted), None)
        if member is None:
            return {}
        text = tar.extractfile(member).read().decode('utf-8', 'replace')
    versions = {}
    for stanza in _deb822(text):
        if stanza.get('Package') in names and 'installed' in stanza.get('Status', ''):
            versions[stanza['Package']] = stanza.get('Version')
    return versions


def _build(directory, recipe, settings, say):
    from inject import imagebuilder

    if not shutil.which('mmdebstrap'):
        raise BuildError('image: mmdebstrap is not installed (bash tools/setup.sh installs '
                         'it; or apt-get install mmdebstrap)')
    work = directory + '.building'
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(work, mode=0o755)
    log = os.path.join(work, 'build.log')
    tarball = os.path.join(work, 'root.tar')
    t0 = time.monotonic()
    say('image: building %s (recipe %s) from %s' % (recipe.name, recipe.digest()[:16],
                                                    ', '.join(recipe.mirrors)))
    say('image: 1/2 mmdebstrap (unshare mode) -> %s; log %s' % (tarball, log))
    env = dict(os.environ, TMPDIR=work)
    with _MountWatch(work) as watch:
        status = _run_bounded(mmdebstrap_command(recipe, tarball), log, MMDEBSTRAP_TIMEOUT,
                              env=env)
    if watch.seen:
        raise BuildError('image: mmdebstrap mounted %s on the host; refused (the build '
                         'must keep its mounts in its own namespace)' % sorted(watch.seen))
    if status is None:
        raise BuildError('image: mmdebstrap did not finish within %d s; log kept in %s'
                         % (MMDEBSTRAP_TIMEOUT, log))
    if status != 0:
        raise BuildError('image: mmdebstrap failed (exit %d); log kept in %s:\n%s'
                         % (status, log, tail(log)))
    t1 = time.monotonic()
    tar_bytes = os.path.getsize(tarball)
    versions = _package_versions(tarball, REPORTED)
    say('image:   %.0f s, tarball %.0f MB' % (t1 - t0, tar_bytes / 1e6))

    disk = os.path.join(work, recipe.name + '.qcow2')
    say('image: 2/2 libguestfs: %s (MBR, ext4 %s), tar-in, the image\'s files, '
        'kernel and initrd out' % (disk, recipe.label))
    spec = {'path': disk, 'format': 'qcow2', 'layout': 'tarball', 'size_mb': recipe.size_mb,
            'tarball': tarball, 'label': recipe.label,
            'files': {p: [t, m] for p, (t, m) in recipe.files.items()},
            'symlinks': recipe.symlinks, 'remove': list(recipe.remove),
            'download': {'/vmlinuz': os.path.join(work, KERNEL),
                         '/initrd.img': os.path.join(work, INITRD)}}
    try:
        _, (found,) = imagebuilder.build([spec], settings, timeout=LIBGUESTFS_TIMEOUT,
                                         details=True)
    except RuntimeError as e:
        raise BuildError('image: libguestfs could not write %s: %s' % (disk, e))
    os.unlink(tarball)
    t2 = time.monotonic()
    info = {
        'recipe': recipe.as_dict(), 'digest': recipe.digest(),
        'disk': os.path.basename(disk),
        'built_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'seconds': {'mmdebstrap': round(t1 - t0, 1), 'libguestfs': round(t2 - t1, 1),
                    'total': round(t2 - t0, 1)},
        'bytes': {'tarball': tar_bytes, 'qcow2': os.path.getsize(disk),
                  'used_in_guest': found['used_bytes'],
                  'kernel': os.path.getsize(os.path.join(work, KERNEL)),
                  'initrd': os.path.getsize(os.path.join(work, INITRD))},
        'kernel': found['downloads']['/vmlinuz'],
        'packages': versions,
        'load_average': os.getloadavg(),
    }
    with open(os.path.join(work, INFO), 'w') as f:
        json.dump(info, f, indent=2, sort_keys=True)
    os.rename(work, directory)
    say('image:   %.0f s; %s: qcow2 %.0f MB, %.0f MB used in the guest; kernel %s'
        % (t2 - t1, recipe.name, info['bytes']['qcow2'] / 1e6,
           info['bytes']['used_in_guest'] / 1e6, info['kernel']))
    say('image: built in %.0f s' % (t2 - t0))
    return Image.load(directory)


# --- command line ----------------------------------------------------------------------------

def load_conf(config_files=(), state_path=None):
    """inject's configuration (options registered), with ``state_path`` overridden."""
    from inject import conf as inject_conf
    conf = inject_conf.register_opts(inject_conf.new_conf())
    conf(['--config-file=%s' % f for f in config_files], project='inject',
         default_config_files=None if not config_files else [])
    if state_path:
        conf.set_override('state_path', os.path.abspath(state_path))
    return conf


def main(argv=None):
    from inject import appliance
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config-file', action='append', default=[],
                        help='inject.conf ([DEFAULT]state_path, [appliance] options)')
    parser.add_argument('--state-path', help='overrides [DEFAULT]state_path')
    parser.add_argument('--mirror', help='a Debian mirror URL instead of the host\'s')
    parser.add_argument('--rebuild', action='store_true', help='build even when cached')
    parser.add_argument('--json', action='store_true', help='print build.json')
    args = parser.parse_args(argv)
    conf = load_conf(args.config_file, args.state_path)
    try:
        image = ensure(conf.state_path, appliance.Settings.from_conf(conf),
                       host_recipe(args.mirror), rebuild=args.rebuild,
                       say=(lambda text: print(text, file=sys.stderr, flush=True))
                       if args.json else (lambda text: print(text, flush=True)))
    except BuildError as e:
        print(str(e), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(dict(image.info, directory=image.directory), indent=2))
    else:
        print(image.disk)
    return 0


if __name__ == '__main__':
    sys.exit(main())
