#!/usr/bin/env python3
"""Boot a guest disk under qemu and look at it from inside, as a cloud's user would.

Used by the guest tests (tests/guest) and ``bash tools/setup.sh demo --boot``. A
:class:`Guest` runs one qemu:

- direct kernel boot of the image's own kernel and initrd (:mod:`guest_image`);
- the accelerator chosen by the appliance's rules (:mod:`inject.appliance.accelerator`):
  ``[appliance]accelerator``, KVM where ``/dev/kvm`` works and is not remembered as
  broken, on trial under ``auto`` (no console output within ``kvm_probe_timeout``, or
  qemu failing, falls back to TCG and is remembered in ``cache_dir`` as the appliance
  remembers it); under TCG qemu runs through the appliance's wrapper, with its
  translation-cache bound (``tb_size``) and killed when its parent dies;
- the serial console in a socket that also logs to ``serial.log`` (kept in the work
  directory; a failure's message names it), and a getty on it for logins;
- the disk on virtio, a config drive (when given) as an IDE CD-ROM, as Nova attaches
  them; user-mode networking with the guest's SSH port forwarded to a loopback port and,
  when given, ``guestfwd`` rules (a guest address and port relayed to a host port: the
  Neutron-proxy-like path to a metadata service);
- Nova's SMBIOS system information when ``openstack_uuid`` is given (product
  ``OpenStack Nova``: what cloud-init's ds-identify looks for);
- every step bounded (``timeouts``), qemu in its own process group, killed as a group.

Failures raise :class:`GuestError`, whose message names the step (boot, ssh, serial
login, or the caller's check) and the serial log.

The guestfwd command is ``tools/guest_relay.py`` (one process per guest connection).
"""

import contextlib
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(TOOLS)
for _path in (TOP, TOOLS):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from guest_image import tail                         # noqa: E402  (after sys.path)
from inject.appliance import accelerator as accel   # noqa: E402

#: Seconds each step may take, by accelerator. TCG figures are several times what was
#: measured on a busy 2-core host (boot to SSH 1-3 minutes), so a loaded CI machine
#: does not fail them; a hung guest is still found out.
TIMEOUTS = {
    'tcg': {'ssh': 900, 'command': 300, 'serial': 300, 'cloud-init': 900},
    'kvm': {'ssh': 180, 'command': 120, 'serial': 120, 'cloud-init': 300},
}
MEMORY_MB = 1024
RELAY = os.path.join(TOOLS, 'guest_relay.py')
#: Nova's MAC prefix (fa:16:3e), for a guest that looks like a Nova guest.
MAC = 'fa:16:3e:00:00:01'
SSH_OPTIONS = ('-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
               '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR',
               '-o', 'ConnectTimeout=20', '-o', 'ServerAliveInterval=10',
               '-o', 'ServerAliveCountMax=6')


class GuestError(Exception):
    """A step failed: ``step`` names it, ``serial_log`` is where the console went."""

    def __init__(self, step, message, serial_log=None, console=''):
        self.step = step
        self.serial_log = serial_log
        text = '%s: %s' % (step, message)
        if serial_log:
            text += '\n(serial console log kept in %s)' % serial_log
        if console:
            text += '\n--- last console lines ---\n%s' % console
        super().__init__(text)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ssh_keygen(path, comment='inject-guest'):
    """A fresh ed25519 key pair at ``path`` (and ``path``.pub): (private key path,
    public key line)."""
    for name in (path, path + '.pub'):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f',
                    path], check=True, stdin=subprocess.DEVNULL)
    with open(path + '.pub') as f:
        return path, f.read().strip()


class Guest:
    """One qemu run of ``disk`` (qcow2) with ``image``'s kernel, initrd and command line.

    ``network``: ``None`` for qemu's default user network (10.0.2.0/24, DHCP from
    10.0.2.15), or {'net': CIDR, 'host': gateway, 'dhcpstart': address}.
    ``guest_address``: where SSH is forwarded to (default: the first DHCP address).
    ``guestfwd``: [(guest ip, guest port, host, host port)].
    """

    def __init__(self, image, disk, workdir, settings, *, config_drive=None,
                 openstack_uuid=None, network=None, guest_address=None, guestfwd=(),
                 memory_mb=MEMORY_MB, smp=None, name='guest', say=None):
        self.image = image
        self.disk = disk
        self.workdir = workdir
        self.settings = settings
        self.config_drive = config_drive
        self.openstack_uuid = openstack_uuid
        self.network = network
        self.guest_address = guest_address
        self.guestfwd = list(guestfwd)
        self.memory_mb = memory_mb
        self.smp = smp or max(1, min(2, os.cpu_count() or 1))
        self.name = name
        self.say = say or (lambda text: None)
        os.makedirs(workdir, exist_ok=True)
        self.serial_log = os.path.join(workdir, 'serial.log')
        self.qemu_log = os.path.join(workdir, 'qemu.log')
        self.serial_socket = os.path.join(workdir, 'serial.sock')
        self.proc = None
        self.accelerator = None
        self.accelerator_why = None
        self.ssh_port = None
        self.started = None
        self.boot_seconds = None     # qemu start to the first SSH login
        self.notes = []

    # --- qemu -----------------------------------------------------------------------

    def command(self, accelerator, ssh_port):
        """qemu's argv under ``accelerator`` (``kvm`` or ``tcg``)."""
        tb_size, wrapper = accel.tcg_cache(self.settings, accelerator)
        argv = [wrapper or accel.QEMU_BINARY, '-name', self.name, '-nodefaults',
                '-no-user-config', '-display', 'none', '-machine', 'pc']
        if accelerator == 'kvm':
            argv += ['-accel', 'kvm', '-cpu', 'host']
        elif not wrapper:
            argv += ['-accel', 'tcg']        # the wrapper adds -accel tcg,tb-size=N itself
        argv += ['-m', str(self.memory_mb), '-smp', str(self.smp), '-no-reboot',
                 '-kernel', self.image.kernel, '-initrd', self.image.initrd,
                 '-append', self.image.cmdline,
                 '-drive', 'file=%s,format=qcow2,if=virtio,discard=unmap' % _opt(self.disk)]
        if self.config_drive:
            argv += ['-drive', 'file=%s,format=raw,if=ide,index=1,media=cdrom,readonly=on'
                     % _opt(self.config_drive)]
        netdev = 'user,id=net0'
        if self.network:
            netdev += ',net=%(net)s,host=%(host)s,dhcpstart=%(dhcpstart)s' % self.network
        netdev += ',hostfwd=tcp:127.0.0.1:%d-%s:22' % (ssh_port, self.guest_address or '')
        for ip, port, host, host_port in self.guestfwd:
            relay = ' '.join(shlex.quote(a) for a in (
                sys.executable, '-I', RELAY, host, str(host_port)))
            netdev += ',guestfwd=tcp:%s:%d-cmd:%s' % (ip, port, _opt(relay))
        argv += ['-netdev', netdev, '-device', 'virtio-net-pci,netdev=net0,mac=%s' % MAC,
                 '-device', 'virtio-rng-pci',
                 '-chardev', 'socket,id=console0,path=%s,server=on,wait=off,logfile=%s,'
                 'logappend=on' % (_opt(self.serial_socket), _opt(self.serial_log)),
                 '-serial', 'chardev:console0']
        if self.openstack_uuid:
            argv += ['-smbios', 'type=1,manufacturer=OpenStack Foundation,'
                     'product=OpenStack Nova,family=Virtual Machine,serial=%s,uuid=%s'
                     % (self.openstack_uuid, self.openstack_uuid)]
        return argv

    def _spawn(self, accelerator):
        for path in (self.serial_socket,):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self.ssh_port = free_port()
        argv = self.command(accelerator, self.ssh_port)
        with open(self.qemu_log, 'ab') as log:
            log.write(('\n$ %s\n' % ' '.join(shlex.quote(a) for a in argv)).encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.started = time.monotonic()
        self.accelerator = accelerator

    def console(self):
        """Everything the serial console printed so far (bytes)."""
        try:
            with open(self.serial_log, 'rb') as f:
                return f.read()
        except OSError:
            return b''

    def _console_size(self):
        try:
            return os.path.getsize(self.serial_log)
        except OSError:
            return 0

    def _kvm_on_trial(self):
        """True when the KVM guest printed on its console within kvm_probe_timeout."""
        deadline = time.monotonic() + self.settings.kvm_probe_timeout
        before = self._console_size()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self._console_size() > before:
                return True
            time.sleep(0.2)
        return False

    def start(self):
        """Start qemu (with KVM on trial under ``auto``: see the module's text)."""
        accelerator, probing, why = accel.choose_accelerator(self.settings)
        self.accelerator_why = why
        self._spawn(accelerator)
        self.say('boot: %s started under %s (%s); serial log %s'
                 % (self.name, accelerator, why if len(why) < 80 else why[:77] + '...',
                    self.serial_log))
        if probing and not self._kvm_on_trial():
            status = self.proc.poll()
            reason = ('KVM failed here (a guest\'s qemu %s)'
                      % ('exited with %s' % status if status is not None else
                         'printed nothing within %d s' % self.settings.kvm_probe_timeout))
            self.kill()
            accel.write_record(self.settings, 'tcg', reason)
            self.notes.append(reason + '; used TCG instead')
            self.say('boot: %s; relaunching under TCG' % reason)
            self._spawn('tcg')
            self.accelerator_why = 'fell back: ' + reason
            self._probing = False
        else:
            self._probing = probing
        return self

    def _check_running(self, step):
        status = self.proc.poll()
        if status is not None:
            raise GuestError(step, 'qemu exited with status %s under %s:\n%s'
                             % (status, self.accelerator, tail(self.qemu_log, 10)),
                             self.serial_log, tail(self.serial_log))

    def timeout(self, step):
        return TIMEOUTS[self.accelerator or 'tcg'][step]

    def kill(self):
        """Kill qemu's process group (qemu and its guestfwd relays) and reap qemu."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()

    # --- inside the guest -----------------------------------------------------------

    def ssh_argv(self, command, user, key):
        return (['ssh', '-i', key, '-p', str(self.ssh_port)] + list(SSH_OPTIONS)
                + ['%s@127.0.0.1' % user, command])

    def wait_for_ssh(self, user, key, timeout=None, fail_on=()):
        """Seconds from qemu's start to the first SSH login as ``user`` with ``key``.

        ``fail_on``: [(bytes regex, what it means)] looked for in the console while
        waiting; one that appears fails the step at once (a guest that will never let
        this user in, e.g. cloud-init that found no datasource, need not be waited for
        until the timeout)."""
        timeout = timeout or self.timeout('ssh')
        deadline = self.started + timeout
        fail_on = [(re.compile(pattern), meaning) for pattern, meaning in fail_on]
        last = ''
        while True:
            self._check_running('ssh')
            for pattern, meaning in fail_on:
                if pattern.search(self.console()):
                    raise GuestError('ssh', 'no login to wait for: %s' % meaning,
                                     self.serial_log, tail(self.serial_log))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GuestError('ssh', 'no SSH login as %s within %d s under %s (last '
                                 'answer: %s)' % (user, timeout, self.accelerator,
                                                  last.strip() or 'none'),
                                 self.serial_log, tail(self.serial_log))
            try:
                proc = subprocess.run(self.ssh_argv('true', user, key), capture_output=True,
                                      text=True, stdin=subprocess.DEVNULL,
                                      timeout=min(60, max(5, remaining)))
                if proc.returncode == 0:
                    break
                last = proc.stderr
            except subprocess.TimeoutExpired:
                last = 'ssh itself timed out'
            time.sleep(2)
        self.boot_seconds = time.monotonic() - self.started
        if getattr(self, '_probing', False) and self.accelerator == 'kvm':
            accel.write_record(self.settings, 'kvm', 'a guest booted to SSH under KVM in '
                               '%.1f s' % self.boot_seconds)
        self.say('boot: %s answers SSH as %s after %.1f s under %s'
                 % (self.name, user, self.boot_seconds, self.accelerator))
        return self.boot_seconds

    def ssh(self, command, user, key, step=None, timeout=None, check=True):
        """Run ``command`` in the guest; returns its standard output. With ``check``, a
        non-zero exit raises GuestError naming ``step`` (default: the command)."""
        step = step or 'ssh: %s' % command
        timeout = timeout or self.timeout('command')
        self._check_running(step)
        try:
            proc = subprocess.run(self.ssh_argv(command, user, key), capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GuestError(step, 'no answer within %d s' % timeout, self.serial_log,
                             tail(self.serial_log))
        if check and proc.returncode != 0:
            raise GuestError(step, 'exit status %d: %s%s' % (
                proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]), self.serial_log)
        return proc.stdout if check else proc

    def serial_login(self, user, password, timeout=None):
        """Log in on the serial console; returns (accepted, transcript). A refused
        password is (False, ...); no prompt at all raises GuestError."""
        timeout = timeout or self.timeout('serial')
        deadline = time.monotonic() + timeout
        console = _Console(self.serial_socket, 'serial login as %s' % user, self)
        try:
            console.send('\r')
            console.expect([LOGIN_PROMPT], deadline)
            console.send(user + '\r')
            console.expect([PASSWORD_PROMPT], deadline)
            console.send(password + '\r')
            if console.expect([SHELL_PROMPT, LOGIN_INCORRECT], deadline) == 1:
                console.expect([LOGIN_PROMPT], deadline)     # back where it started
                return False, console.transcript()
            # the command line is echoed with $((...)) unexpanded: only the shell's
            # output holds the number
            console.send('echo SERIAL-$((6*7))-$(id -un)\r')
            console.expect([re.compile(b'SERIAL-42-' + re.escape(user.encode()))], deadline)
            console.send('exit\r')
            console.expect([LOGIN_PROMPT], deadline)
            return True, console.transcript()
        finally:
            console.close()


LOGIN_PROMPT = re.compile(rb'login: ')
PASSWORD_PROMPT = re.compile(rb'Password: ')
LOGIN_INCORRECT = re.compile(rb'Login incorrect')
SHELL_PROMPT = re.compile(rb'[\w.-]+@[\w.-]+:[^\r\n]*[#$] ')


class _Console:
    """The serial console's socket: send keys, wait for text. Output written while no
    one is connected is not kept (only logged), so a new console starts clean."""

    def __init__(self, path, step, guest):
        self.step = step
        self.guest = guest
        self.buffer = b''
        self.everything = b''
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as e:
            self.sock.close()
            raise GuestError(step, 'cannot connect to the console socket %s: %s'
                             % (path, e), guest.serial_log)

    def send(self, text):
        self.sock.sendall(text.encode())

    def expect(self, patterns, deadline):
        """Index of the first of ``patterns`` (compiled bytes regexes) seen; the buffer
        is consumed up to it. GuestError at the deadline."""
        while True:
            hits = [(m.end(), i) for i, m in
                    ((i, p.search(self.buffer)) for i, p in enumerate(patterns)) if m]
            if hits:
                end, index = min(hits)
                self.buffer = self.buffer[end:]
                return index
            self.guest._check_running(self.step)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GuestError(self.step, 'waited in vain for %s; the console showed:\n%s'
                                 % (' or '.join(repr(p.pattern.decode()) for p in patterns),
                                    self.transcript()[-1500:]), self.guest.serial_log)
            ready, _, _ = select.select([self.sock], [], [], min(1.0, remaining))
            if ready:
                data = self.sock.recv(65536)
                if not data:
                    raise GuestError(self.step, 'the console socket closed',
                                     self.guest.serial_log)
                self.buffer += data
                self.everything += data

    def transcript(self):
        return self.everything.decode('utf-8', 'replace').replace('\r', '')

    def close(self):
        self.sock.close()


def _opt(value):
    """A value inside a qemu option string (commas doubled)."""
    return str(value).replace(',', ',,')
