"""tools/guest_boot.py and tools/guest_relay.py without a guest: qemu's command line
(the appliance's accelerator rules, Nova's devices), KVM on trial falling back to TCG
and remembered, the process group killed, failures naming their step and the serial
log, the serial-console login, and the guestfwd relay. A fake qemu (a Python script)
stands in where a real one would boot for minutes."""

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from inject.appliance import accelerator as accel
from inject.appliance import session
from tests import tools

guest_boot = tools.load('guest_boot')

FAKE_QEMU = r'''#!%(python)s
# A qemu that boots nothing: under KVM it hangs silently (as KVM does on some hosts),
# otherwise it writes a kernel line to the serial log; it starts a child (like a
# guestfwd relay) whose pid goes to %(pids)s, then waits to be killed.
import subprocess, sys, time
args = sys.argv[1:]
with open(%(argv)r, 'a') as f:
    f.write(' '.join(args) + '\n')
child = subprocess.Popen(['sleep', '600'])
with open(%(pids)r, 'a') as f:
    f.write('%%d %%d\n' %% (__import__('os').getpid(), child.pid))
if %(exit)r is not None:
    sys.exit(%(exit)r)
if 'kvm' not in args:
    chardev = args[args.index('-chardev') + 1]
    log = [p for p in chardev.split(',') if p.startswith('logfile=')][0][8:]
    with open(log, 'a') as f:
        f.write('[    0.000000] Linux version 6.1.0 (fake)\n')
        f.write(__import__('os').environ.get('FAKE_CONSOLE', ''))
time.sleep(600)
'''


class _Image:
    kernel = '/img/vmlinuz'
    initrd = '/img/initrd'
    cmdline = 'root=LABEL=debian-root ro console=ttyS0,115200'


@pytest.fixture
def fake_qemu(tmp_path, monkeypatch):
    """Installs a fake qemu as the appliance's QEMU_BINARY; returns a namespace with
    ``argv()`` (each run's arguments) and ``pids()`` ([(qemu, child)])."""
    def install(exit=None):
        path = tmp_path / 'qemu-system-x86_64'
        path.write_text(FAKE_QEMU % {'python': sys.executable, 'argv': str(tmp_path / 'argv'),
                                     'pids': str(tmp_path / 'pids'), 'exit': exit})
        path.chmod(0o755)
        monkeypatch.setattr(accel, 'QEMU_BINARY', str(path))
        monkeypatch.delenv('LIBGUESTFS_HV', raising=False)

    class Fake:
        @staticmethod
        def argv():
            return (tmp_path / 'argv').read_text().splitlines()

        @staticmethod
        def pids():
            if not (tmp_path / 'pids').exists():
                return []
            return [tuple(map(int, line.split()))
                    for line in (tmp_path / 'pids').read_text().splitlines()]
    install()
    Fake.install = staticmethod(install)
    return Fake


def _settings(tmp_path, **kwargs):
    kwargs.setdefault('cache_dir', str(tmp_path / 'cache'))
    return session.Settings(**kwargs)


def _guest(tmp_path, settings, **kwargs):
    return guest_boot.Guest(_Image(), str(tmp_path / 'disk.qcow2'), str(tmp_path / 'run'),
                            settings, **kwargs)


def _gone(pid, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open('/proc/%d/stat' % pid) as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_tcg_runs_through_the_appliances_wrapper(tmp_path, fake_qemu):
    settings = _settings(tmp_path, accelerator='tcg', tb_size=64)
    argv = _guest(tmp_path, settings).command('tcg', 2222)
    _, wrapper = accel.tcg_cache(settings, 'tcg')
    assert argv[0] == wrapper and '-accel' not in argv   # the wrapper adds tcg,tb-size
    assert 'tb-size=64' in open(wrapper).read()
    argv = _guest(tmp_path, _settings(tmp_path, tb_size=0)).command('tcg', 2222)
    assert argv[0] == accel.QEMU_BINARY and argv[argv.index('-accel') + 1] == 'tcg'
    argv = _guest(tmp_path, settings).command('kvm', 2222)
    assert argv[0] == accel.QEMU_BINARY
    assert argv[argv.index('-accel') + 1] == 'kvm' and '-cpu' in argv


def test_the_command_line_has_novas_devices(tmp_path, fake_qemu):
    guest = _guest(tmp_path, _settings(tmp_path), config_drive='/x/disk.config',
                   openstack_uuid='0d4b3a84-1e0b-4fd5-9a5c-3f8e2b7a1c55',
                   network={'net': '169.254.169.0/24', 'host': '169.254.169.1',
                            'dhcpstart': '169.254.169.15'},
                   guest_address='169.254.169.15',
                   guestfwd=[('169.254.169.254', 80, '127.0.0.1', 8080)])
    argv = guest.command('tcg', 2222)
    options = dict(zip(argv, argv[1:]))
    assert options['-kernel'] == '/img/vmlinuz' and options['-initrd'] == '/img/initrd'
    assert options['-append'] == _Image.cmdline
    drives = [argv[i + 1] for i, a in enumerate(argv) if a == '-drive']
    assert drives[0].startswith('file=%s,format=qcow2,if=virtio' % guest.disk)
    assert drives[1] == ('file=/x/disk.config,format=raw,if=ide,index=1,media=cdrom,'
                         'readonly=on')
    netdev = options['-netdev']
    assert 'net=169.254.169.0/24,host=169.254.169.1,dhcpstart=169.254.169.15' in netdev
    assert 'hostfwd=tcp:127.0.0.1:2222-169.254.169.15:22' in netdev
    assert ',guestfwd=tcp:169.254.169.254:80-cmd:%s -I %s 127.0.0.1 8080' % (
        sys.executable, guest_boot.RELAY) in netdev
    assert 'product=OpenStack Nova' in options['-smbios']
    assert 'uuid=0d4b3a84-1e0b-4fd5-9a5c-3f8e2b7a1c55' in options['-smbios']
    assert 'logfile=%s' % guest.serial_log in options['-chardev']
    plain = _guest(tmp_path, _settings(tmp_path)).command('tcg', 2222)
    assert '-smbios' not in plain and 'media=cdrom' not in ' '.join(plain)


def test_a_comma_in_a_path_is_doubled(tmp_path, fake_qemu):
    guest = guest_boot.Guest(_Image(), '/a,b/disk.qcow2', str(tmp_path / 'run'),
                             _settings(tmp_path))
    assert 'file=/a,,b/disk.qcow2,format=qcow2' in ' '.join(guest.command('tcg', 2222))


def test_kvm_on_trial_that_hangs_falls_back_to_tcg_and_is_remembered(tmp_path, fake_qemu,
                                                                     monkeypatch):
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    settings = _settings(tmp_path, accelerator='auto', kvm_probe_timeout=2)
    assert accel.choose_accelerator(settings)[:2] == ('kvm', True)
    guest = _guest(tmp_path, settings)
    try:
        guest.start()
        assert guest.accelerator == 'tcg'
        assert 'printed nothing within 2 s' in guest.notes[0]
        record = accel.read_record(settings)
        assert record['accelerator'] == 'tcg' and 'a guest\'s qemu' in record['reason']
        # the next guest goes straight to TCG, as the appliance would
        assert accel.choose_accelerator(settings)[:2] == ('tcg', False)
        deadline = time.monotonic() + 30
        while len(fake_qemu.pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        first, second = fake_qemu.pids()
        assert _gone(first[0]) and _gone(first[1]), 'the hung KVM qemu was left running'
        assert '-accel kvm' in fake_qemu.argv()[0]
        assert fake_qemu.argv()[1].endswith('-accel tcg,tb-size=64')
    finally:
        guest.kill()


def test_kill_takes_qemus_process_group(tmp_path, fake_qemu):
    guest = _guest(tmp_path, _settings(tmp_path, accelerator='tcg')).start()
    deadline = time.monotonic() + 30
    while not fake_qemu.pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    (qemu, child), = fake_qemu.pids()
    guest.kill()
    assert _gone(qemu) and _gone(child), 'qemu\'s child outlived the kill'


def test_a_qemu_that_exits_fails_the_ssh_step_naming_the_serial_log(tmp_path, fake_qemu,
                                                                    ssh_key_pair):
    fake_qemu.install(exit=1)
    guest = _guest(tmp_path, _settings(tmp_path, accelerator='tcg')).start()
    with pytest.raises(guest_boot.GuestError) as failed:
        guest.wait_for_ssh('root', ssh_key_pair, timeout=60)
    assert failed.value.step == 'ssh'
    assert 'qemu exited with status 1' in str(failed.value)
    assert guest.serial_log in str(failed.value)


def test_no_ssh_in_time_fails_the_ssh_step(tmp_path, fake_qemu, ssh_key_pair):
    guest = _guest(tmp_path, _settings(tmp_path, accelerator='tcg')).start()
    try:
        with pytest.raises(guest_boot.GuestError) as failed:
            guest.wait_for_ssh('root', ssh_key_pair, timeout=3)
        assert str(failed.value).startswith('ssh: no SSH login as root within 3 s')
        assert 'Linux version 6.1.0 (fake)' in str(failed.value)   # the console's tail
    finally:
        guest.kill()


def test_a_console_line_that_means_no_login_fails_at_once(
        tmp_path, fake_qemu, ssh_key_pair, monkeypatch):
    monkeypatch.setenv('FAKE_CONSOLE', 'Cloud-init v. 22.4.2 finished. Datasource '
                       'DataSourceNone.  Up 61.22 seconds\n')
    guest = _guest(tmp_path, _settings(tmp_path, accelerator='tcg')).start()
    try:
        started = time.monotonic()
        with pytest.raises(guest_boot.GuestError) as failed:
            guest.wait_for_ssh('debian', ssh_key_pair, timeout=90, fail_on=[
                (rb'Datasource DataSourceNone', 'cloud-init found no datasource')])
        assert time.monotonic() - started < 80
        assert str(failed.value).startswith('ssh: no login to wait for: cloud-init found '
                                            'no datasource')
    finally:
        guest.kill()


@pytest.fixture
def ssh_key_pair(tmp_path):
    return guest_boot.ssh_keygen(str(tmp_path / 'key'))[0]


class _Getty(threading.Thread):
    """A serial console speaking like agetty, login and bash, on a Unix socket."""

    def __init__(self, path, password):
        super().__init__(daemon=True)
        self.password = password
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)

    def run(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                self._session(conn)

    def _line(self, conn):
        data = b''
        while not data.endswith(b'\r'):
            chunk = conn.recv(1)
            if not chunk:
                raise EOFError
            data += chunk
        return data[:-1].decode()

    def _session(self, conn):
        try:
            while True:
                self._line(conn)          # the caller's first \r
                conn.sendall(b'\r\n[  12.3] random kernel noise\r\ndebian login: ')
                user = self._line(conn)
                conn.sendall(user.encode() + b'\r\nPassword: ')
                if self._line(conn) != self.password:
                    conn.sendall(b'\r\n\r\nLogin incorrect\r\ndebian login: ')
                    return
                conn.sendall(b'\r\nLinux debian\r\nroot@debian:~# ')
                command = self._line(conn)
                conn.sendall(command.encode() + b'\r\n')
                if '$((6*7))' in command:
                    conn.sendall(b'SERIAL-42-%s\r\n' % user.encode())
                conn.sendall(b'root@debian:~# ')
                self._line(conn)          # exit
                conn.sendall(b'logout\r\n\r\ndebian login: ')
                return
        except (EOFError, OSError):
            return


def test_serial_login(tmp_path, fake_qemu):
    guest = _guest(tmp_path, _settings(tmp_path, accelerator='tcg')).start()
    try:
        getty = _Getty(guest.serial_socket, 'right horse')
        getty.start()
        accepted, transcript = guest.serial_login('root', 'wrong horse', timeout=30)
        assert not accepted and 'Login incorrect' in transcript
        accepted, transcript = guest.serial_login('root', 'right horse', timeout=30)
        assert accepted and 'SERIAL-42-root' in transcript
        getty.server.close()
    finally:
        guest.kill()


def test_serial_login_without_a_prompt_fails_its_step(tmp_path, fake_qemu):
    guest = _guest(tmp_path, _settings(tmp_path, accelerator='tcg')).start()
    try:
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        silent.bind(guest.serial_socket)
        silent.listen(1)
        with pytest.raises(guest_boot.GuestError) as failed:
            guest.serial_login('root', 'x', timeout=2)
        assert failed.value.step == 'serial login as root'
        assert "waited in vain for 'login: '" in str(failed.value)
        silent.close()
    finally:
        guest.kill()


def _relayed(handle):
    """Run ``handle(conn)`` as a one-connection service, and the relay to it as qemu's
    guestfwd runs it (the guest's connection on its stdin and stdout); returns
    (the guest's end of that connection, the relay process)."""
    service = socket.socket()
    service.bind(('127.0.0.1', 0))
    service.listen(1)

    def serve():
        conn, _ = service.accept()
        with conn:
            handle(conn)
        service.close()
    threading.Thread(target=serve, daemon=True).start()
    guest_end, relay_end = socket.socketpair()
    proc = subprocess.Popen([sys.executable, '-I', guest_boot.RELAY, '127.0.0.1',
                             str(service.getsockname()[1])],
                            stdin=relay_end, stdout=relay_end)
    relay_end.close()
    guest_end.settimeout(60)
    return guest_end, proc


def _read_to_end(sock):
    data = b''
    while True:
        chunk = sock.recv(1024)
        if not chunk:
            return data
        data += chunk


def test_the_relay_carries_a_guest_connection_to_the_service():
    got = []

    def handle(conn):
        request = b''
        while not request.endswith(b'\r\n\r\n'):
            request += conn.recv(1024)
        got.append(request)
        conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}')
    guest_end, proc = _relayed(handle)
    guest_end.sendall(b'GET /openstack HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n')
    answer = _read_to_end(guest_end)
    assert proc.wait(30) == 0
    assert got == [b'GET /openstack HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n']
    assert answer.endswith(b'\r\n\r\n{}')


def test_the_relay_tells_the_service_when_the_guest_is_done_sending():
    """A client that sends a request and shuts its sending side (HTTP/1.0 with a body
    of unknown length, or any half-close): the service must see the end, or it waits
    for more and never answers."""
    seen = []

    def handle(conn):
        conn.settimeout(20)
        try:
            data = _read_to_end(conn)
        except socket.timeout:
            seen.append('no end seen')
            return
        seen.append(data)
        conn.sendall(b'got %d bytes' % len(data))
    guest_end, proc = _relayed(handle)
    guest_end.sendall(b'x' * 5000)
    guest_end.shutdown(socket.SHUT_WR)
    answer = _read_to_end(guest_end)
    assert seen == [b'x' * 5000] and answer == b'got 5000 bytes'
    assert proc.wait(30) == 0


def test_errors_name_their_step_and_the_serial_log():
    e = guest_boot.GuestError('check: hostname', 'it is "debian"', '/logs/serial.log',
                              'last line')
    assert str(e).startswith('check: hostname: it is "debian"')
    assert '/logs/serial.log' in str(e) and 'last line' in str(e)
    assert json.dumps(guest_boot.TIMEOUTS)      # every step has a bound
    assert set(guest_boot.TIMEOUTS['tcg']) == set(guest_boot.TIMEOUTS['kvm'])
