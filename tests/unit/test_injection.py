import json
import logging

import pytest
from oslo_config import cfg
from passlib.hash import md5_crypt
from passlib.hash import sha512_crypt

from inject import exception
from inject import image
from inject import injection
from inject import passwords
from inject import report
from inject.conf import injection as conf_injection
from inject.request import InjectionRequest
from inject.vfs import guestfs as vfs_guestfs
from inject.vfs.api import Drive
from inject.vfs.api import LaunchSettings
from tests.unit import fakeguestfs
from tests.unit.fakeguestfs import d
from tests.unit.fakeguestfs import f
from tests.unit.fakeguestfs import link

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJustATestKeyJustATestKeyJustATestKe user@host'
ALL = injection.Policy(inject_key=True, inject_password=True)


@pytest.fixture
def mount(fake_guestfs):
    """mount(tree) -> GuestFSFilesystem of that tree, through the driver and the fake."""
    def mount(tree):
        fake_guestfs.DISKS['/disk.qcow2'] = fakeguestfs.Disk({1: tree})
        appliance = vfs_guestfs.GuestFSDriver().launch(
            [Drive('/disk.qcow2', 'qcow2')], LaunchSettings('tcg'))
        return appliance.mount(0, 1, 'disk.qcow2')
    return mount


@pytest.fixture
def tree():
    return fakeguestfs.linux_tree()


def request(**kwargs):
    return InjectionRequest(image.DiskImage('/disk.qcow2', 'qcow2'), **kwargs)


def item(kind, target, data, mandatory=True):
    return injection.Item(kind, target, data, mandatory)


def run(mount, tree, *items):
    return injection.apply(mount(tree), list(items))


def file_item(path, data=b'data\n', mandatory=True):
    return item('file', path, data, mandatory)


def key_item(key=KEY):
    return item('key', '/root/.ssh/authorized_keys', key.encode())


def password_item(hashed='$6$salt$hash'):
    return item('admin_password', '/etc/shadow (root)', hashed.encode())


def mode_owner(node):
    return (node.type, oct(node.mode), node.uid, node.gid)


# --- plan ----------------------------------------------------------------------------------

def test_plan_order_is_key_net_metadata_password_files():
    req = request(files=[('/b', b'2'), ('/a', b'1')], admin_password='pw',
                  metadata={'k': 'v'}, net='auto lo\n', key=KEY)
    entries = injection.plan(req, ALL)
    assert [(i.kind, i.target) for i, _ in entries] == [
        ('key', '/root/.ssh/authorized_keys'), ('net', '/etc/network/interfaces'),
        ('metadata', '/meta.js'), ('admin_password', '/etc/shadow (root)'),
        ('file', '/b'), ('file', '/a')]
    assert [r.kind for _, r in entries] == [i.kind for i, _ in entries]
    assert all(r.status is None for _, r in entries)


def test_plan_skips_key_without_inject_key():
    [(planned, result)] = injection.plan(request(key=KEY), injection.Policy())
    assert planned is None
    assert result.status == report.SKIPPED
    assert result.reason == 'not injected: inject_key is False on this host'


def test_plan_skips_password_without_inject_password(monkeypatch):
    monkeypatch.setattr(passwords, 'hash_password', pytest.fail)   # not even hashed
    [(planned, result)] = injection.plan(request(admin_password='pw'),
                                         injection.Policy(inject_key=True))
    assert planned is None
    assert result.status == report.SKIPPED
    assert result.reason == 'not injected: inject_password is False on this host'


def test_plan_skipped_items_keep_their_place():
    entries = injection.plan(request(key=KEY, net='n', admin_password='pw',
                                     files=[('/x', b'')]), injection.Policy())
    assert [r.kind for _, r in entries] == ['key', 'net', 'admin_password', 'file']
    assert [i is None for i, _ in entries] == [True, False, True, False]


def test_plan_hashes_password_with_configured_scheme():
    [(planned, _)] = injection.plan(
        request(admin_password='s3cret'),
        injection.Policy(inject_password=True, password_hash='md5-crypt'))
    assert md5_crypt.verify('s3cret', planned.data.decode())
    assert b's3cret' not in planned.data


def test_plan_metadata_is_json():
    [(planned, _)] = injection.plan(request(metadata={'a': 'b', 'c': 'd'}), ALL)
    assert json.loads(planned.data) == {'a': 'b', 'c': 'd'}


def test_plan_mandatory_follows_policy():
    policy = injection.Policy(inject_key=True, mandatory=('file',))
    entries = injection.plan(request(key=KEY, files=[('/x', b'')]), policy)
    assert [(i.kind, i.mandatory) for i, _ in entries] == [('key', False), ('file', True)]


def test_one_word_per_kind():
    assert set(conf_injection.ITEMS) == set(injection.ORDER)
    assert injection.Policy().mandatory == injection.ORDER     # the option's default
    options = {opt.name: opt for opt in conf_injection.injection_opts}
    assert options['mandatory'].default == list(injection.ORDER)


def parse_mandatory(tmp_path, value):
    path = tmp_path / 'inject.conf'
    path.write_text('[injection]\nmandatory = %s\n' % value)
    conf = cfg.ConfigOpts()
    conf_injection.register_opts(conf)
    conf(['--config-file', str(path)])
    return conf.injection.mandatory


def test_mandatory_reads_the_old_spelling_files_as_file(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(conf_injection, '_warned', set())
    with caplog.at_level(logging.WARNING, logger='inject.conf.injection'):
        assert parse_mandatory(tmp_path, 'key,files') == ['key', 'file']
        assert parse_mandatory(tmp_path, 'files') == ['file']
    assert caplog.text.count('"files" is a deprecated spelling of "file"') == 1
    assert parse_mandatory(tmp_path, 'file,net') == ['file', 'net']


def test_mandatory_refuses_unknown_items(tmp_path):
    with pytest.raises(cfg.ConfigFileValueError,
                       match=r'admin_password, file\], but found .personality'):
        parse_mandatory(tmp_path, 'key,personality')


def test_plan_of_empty_request():
    assert injection.plan(request(), ALL) == []


# --- personality files -------------------------------------------------------------------

def test_new_file_is_root_0644(mount, tree):
    [result] = run(mount, tree, file_item('/etc/new.conf', b'hello\n'))
    assert result.status == report.INJECTED
    assert tree['/etc/new.conf'].content == b'hello\n'
    assert mode_owner(tree['/etc/new.conf']) == ('file', '0o644', 0, 0)
    assert (result.mode, result.uid, result.gid, result.size) == ('0644', 0, 0, 6)


def test_existing_file_keeps_mode_and_owner(mount, tree):
    tree['/home/alice/.profile'] = f('old\n', 0o600, 1000, 1000)
    [result] = run(mount, tree, file_item('/home/alice/.profile', b'new content\n'))
    assert result.status == report.INJECTED
    node = tree['/home/alice/.profile']
    assert node.content == b'new content\n'
    assert mode_owner(node) == ('file', '0o600', 1000, 1000)
    assert (result.mode, result.uid, result.gid) == ('0600', 1000, 1000)


def test_new_parent_dirs_are_root_0755(mount, tree):
    [result] = run(mount, tree, file_item('/opt/app/conf/app.ini'))
    for directory in ('/opt', '/opt/app', '/opt/app/conf'):
        assert mode_owner(tree[directory]) == ('dir', '0o755', 0, 0), directory
    assert mode_owner(tree['/opt/app/conf/app.ini']) == ('file', '0o644', 0, 0)
    assert result.notes == ['created /opt, /opt/app, /opt/app/conf (root:root 0755)']


def test_existing_parent_dirs_are_left_alone(mount, tree):
    run(mount, tree, file_item('/home/alice/new'))
    assert mode_owner(tree['/home/alice']) == ('dir', '0o700', 1000, 1000)


def test_new_dirs_and_files_use_the_guests_root_group(mount):
    tree = fakeguestfs.linux_tree(root_gid_in_group=7)
    run(mount, tree, file_item('/opt/x'))
    assert tree['/opt'].gid == 7 and tree['/opt/x'].gid == 7


def test_writing_to_a_directory_fails(mount, tree):
    [result] = run(mount, tree, file_item('/etc'))
    assert result.status == report.FAILED
    assert result.reason == 'Cannot write /etc in the guest: it is a directory in the guest.'
    assert tree['/etc'].type == 'dir'


def test_parent_that_is_a_file_fails_naming_it(mount, tree):
    [result] = run(mount, tree, file_item('/etc/motd/sub/x'))
    assert result.status == report.FAILED
    assert '/etc/motd/sub/x' in result.reason
    assert '/etc/motd exists in the guest and is not a directory' in result.reason
    assert tree['/etc/motd'].content == b'old motd\n'


def test_write_through_guest_symlink_stays_in_guest(mount, tree):
    tree['/etc/alias'] = link('/etc/motd')
    [result] = run(mount, tree, file_item('/etc/alias', b'via link\n'))
    assert result.status == report.INJECTED
    assert tree['/etc/motd'].content == b'via link\n'
    assert tree['/etc/alias'].type == 'link'


def test_net_config(mount, tree):
    [result] = run(mount, tree, item('net', injection.NET_PATH, b'auto lo\n'))
    assert result.status == report.INJECTED
    assert tree['/etc/network/interfaces'].content == b'auto lo\n'
    assert mode_owner(tree['/etc/network']) == ('dir', '0o755', 0, 0)


def test_metadata_written_as_json(mount, tree):
    [(planned, _)] = injection.plan(request(metadata={'role': 'web', 'x': 'y'}), ALL)
    [result] = run(mount, tree, planned)
    assert result.status == report.INJECTED
    assert json.loads(tree['/meta.js'].content) == {'role': 'web', 'x': 'y'}
    assert mode_owner(tree['/meta.js']) == ('file', '0o644', 0, 0)


# --- SSH key -------------------------------------------------------------------------------

def test_key_into_fresh_ssh_dir(mount, tree):
    [result] = run(mount, tree, key_item())
    assert result.status == report.INJECTED
    assert mode_owner(tree['/root/.ssh']) == ('dir', '0o700', 0, 0)
    keys = tree['/root/.ssh/authorized_keys']
    assert mode_owner(keys) == ('file', '0o600', 0, 0)
    assert keys.content == injection.KEY_COMMENT + KEY.encode() + b'\n'
    assert (result.mode, result.size) == ('0600', len(keys.content))


def test_key_owner_comes_from_guest_passwd_and_group(mount):
    tree = fakeguestfs.linux_tree(root_gid_in_group=7)
    [result] = run(mount, tree, key_item())
    assert mode_owner(tree['/root/.ssh']) == ('dir', '0o700', 0, 7)
    assert mode_owner(tree['/root/.ssh/authorized_keys']) == ('file', '0o600', 0, 7)
    assert (result.uid, result.gid) == (0, 7)


def test_root_gid_falls_back_to_passwd_without_group_entry(mount):
    tree = fakeguestfs.linux_tree(
        passwd='root:x:0:5:root:/root:/bin/sh\n', group='wheel:x:10:\n')
    run(mount, tree, key_item())
    assert tree['/root/.ssh/authorized_keys'].gid == 5


def test_key_goes_to_roots_home_from_passwd(mount):
    tree = fakeguestfs.linux_tree(passwd='root:x:0:0:root:/var/roothome:/bin/sh\n')
    [result] = run(mount, tree, key_item())
    assert result.target == '/var/roothome/.ssh/authorized_keys'
    assert '/var/roothome/.ssh/authorized_keys' in tree
    assert '/root/.ssh' not in tree
    assert mode_owner(tree['/var']) == ('dir', '0o755', 0, 0)
    assert mode_owner(tree['/var/roothome']) == ('dir', '0o755', 0, 0)
    assert mode_owner(tree['/var/roothome/.ssh']) == ('dir', '0o700', 0, 0)


@pytest.mark.parametrize('home, sshdir', [('/var/roothome/', '/var/roothome/.ssh'),
                                           ('/', '/.ssh'),
                                           ('/../etc', '/root/.ssh'),
                                           ('relative', '/root/.ssh')])
def test_key_follows_roots_home_as_sshd_would(mount, home, sshdir):
    tree = fakeguestfs.linux_tree(passwd='root:x:0:0:root:%s:/bin/sh\n' % home)
    [result] = run(mount, tree, key_item())
    assert result.target == sshdir + '/authorized_keys'
    assert sshdir + '/authorized_keys' in tree


def test_key_tightens_existing_ssh_dir_and_file(mount, tree):
    tree['/root/.ssh'] = d(0o777, 1000, 1000)
    tree['/root/.ssh/authorized_keys'] = f('ssh-rsa AAAAold old@host\n', 0o666, 1000, 1000)
    run(mount, tree, key_item())
    assert mode_owner(tree['/root/.ssh']) == ('dir', '0o700', 0, 0)
    assert mode_owner(tree['/root/.ssh/authorized_keys']) == ('file', '0o600', 0, 0)


def test_key_appended_with_newline_fixed(mount, tree):
    tree['/root/.ssh'] = d(0o700)
    tree['/root/.ssh/authorized_keys'] = f('ssh-rsa AAAAold old@host', 0o600)
    [result] = run(mount, tree, key_item())
    assert result.status == report.INJECTED
    assert tree['/root/.ssh/authorized_keys'].content == (
        b'ssh-rsa AAAAold old@host\n' + injection.KEY_COMMENT + KEY.encode() + b'\n')


def test_key_appended_after_content_ending_in_newline(mount, tree):
    tree['/root/.ssh'] = d(0o700)
    tree['/root/.ssh/authorized_keys'] = f('ssh-rsa AAAAold old@host\n', 0o600)
    run(mount, tree, key_item())
    assert tree['/root/.ssh/authorized_keys'].content == (
        b'ssh-rsa AAAAold old@host\n' + injection.KEY_COMMENT + KEY.encode() + b'\n')


def test_key_not_duplicated(mount, tree):
    existing = ('ssh-rsa AAAAold old@host\n  %s  \n' % KEY).encode()
    tree['/root/.ssh'] = d(0o700)
    tree['/root/.ssh/authorized_keys'] = f(existing, 0o600)
    [result] = run(mount, tree, key_item())
    assert result.status == report.INJECTED
    assert tree['/root/.ssh/authorized_keys'].content == existing
    assert result.notes == ['the key was already in /root/.ssh/authorized_keys']


def test_key_injected_twice_is_written_once(mount, tree):
    results = run(mount, tree, key_item(), key_item())
    assert [r.status for r in results] == [report.INJECTED] * 2
    assert tree['/root/.ssh/authorized_keys'].content.count(KEY.encode()) == 1


def test_authorized_keys_that_is_a_directory_fails(mount, tree):
    tree['/root/.ssh'] = d(0o700)
    tree['/root/.ssh/authorized_keys'] = d()
    [result] = run(mount, tree, key_item())
    assert result.status == report.FAILED
    assert 'authorized_keys' in result.reason and 'directory' in result.reason


# --- SELinux -------------------------------------------------------------------------------

RESTORECON = 'restorecon -RF /root/.ssh 2>/dev/null || :\n'


def test_selinux_creates_rc_d_rc_local(mount):
    tree = fakeguestfs.linux_tree(selinux=True)
    [result] = run(mount, tree, key_item())
    assert result.status == report.INJECTED
    rc = tree['/etc/rc.d/rc.local']
    assert rc.content == ('#!/bin/sh\n' + injection.SELINUX_COMMENT + RESTORECON).encode()
    assert rc.content.startswith(b'#!/bin/sh\n# Added by inject')
    assert mode_owner(rc) == ('file', '0o755', 0, 0)
    assert '/etc/rc.local' not in tree
    assert any('rc.local' in note for note in result.notes)


def test_selinux_without_rc_d_uses_etc_rc_local(mount):
    tree = fakeguestfs.linux_tree(selinux=True)
    del tree['/etc/rc.d']
    run(mount, tree, key_item())
    assert tree['/etc/rc.local'].content.endswith(RESTORECON.encode())
    assert oct(tree['/etc/rc.local'].mode) == '0o755'


def test_selinux_line_goes_before_exit_0(mount):
    tree = fakeguestfs.linux_tree(selinux=True)
    tree['/etc/rc.local'] = f('#!/bin/sh -e\necho hi\nexit 0\n\n', 0o755)
    run(mount, tree, key_item())
    assert tree['/etc/rc.local'].content.decode() == (
        '#!/bin/sh -e\necho hi\n' + injection.SELINUX_COMMENT + RESTORECON + 'exit 0\n\n')
    assert '/etc/rc.d/rc.local' not in tree


def test_selinux_appends_to_rc_local_without_exit(mount):
    tree = fakeguestfs.linux_tree(selinux=True)
    tree['/etc/rc.local'] = f('#!/bin/sh\necho hi', 0o644, 0, 0)
    run(mount, tree, key_item())
    assert tree['/etc/rc.local'].content.decode() == (
        '#!/bin/sh\necho hi\n' + injection.SELINUX_COMMENT + RESTORECON)
    assert oct(tree['/etc/rc.local'].mode) == '0o744'     # made executable, kept otherwise


def test_selinux_line_not_duplicated(mount):
    tree = fakeguestfs.linux_tree(selinux=True)
    text = '#!/bin/sh\n' + RESTORECON + 'exit 0\n'
    tree['/etc/rc.d/rc.local'] = f(text, 0o755)
    [result] = run(mount, tree, key_item())
    assert tree['/etc/rc.d/rc.local'].content.decode() == text
    assert any('already restores' in note for note in result.notes)


def test_no_selinux_no_rc_local(mount, tree):
    tree['/etc/rc.d'] = d()
    run(mount, tree, key_item())
    assert '/etc/rc.local' not in tree
    assert '/etc/rc.d/rc.local' not in tree


def test_selinux_uses_roots_home(mount):
    tree = fakeguestfs.linux_tree(selinux=True,
                                  passwd='root:x:0:0:root:/var/roothome:/bin/sh\n')
    run(mount, tree, key_item())
    assert b'restorecon -RF /var/roothome/.ssh ' in tree['/etc/rc.d/rc.local'].content


# --- admin password ------------------------------------------------------------------------

def test_password_replaces_only_roots_field(mount, tree):
    passwd_before = tree['/etc/passwd'].content
    [result] = run(mount, tree, password_item('$6$NEWSALT$NEWHASH'))
    assert result.status == report.INJECTED
    assert tree['/etc/shadow'].content.decode() == fakeguestfs.SHADOW.replace(
        'root:*:', 'root:$6$NEWSALT$NEWHASH:')
    assert tree['/etc/shadow'].content.endswith(b':::\n')
    assert mode_owner(tree['/etc/shadow']) == ('file', '0o640', 0, 42)
    assert (result.mode, result.gid) == ('0640', 42)
    assert tree['/etc/passwd'].content == passwd_before


def test_password_without_trailing_newline_stays_so(mount):
    tree = fakeguestfs.linux_tree(shadow='daemon:*:1::::::\nroot:!:1::::::')
    run(mount, tree, password_item('$1$x$y'))
    assert tree['/etc/shadow'].content == b'daemon:*:1::::::\nroot:$1$x$y:1::::::'


def test_planned_password_verifies(mount, tree):
    [(planned, _)] = injection.plan(request(admin_password='S3cret!'), ALL)
    run(mount, tree, planned)
    field = tree['/etc/shadow'].content.decode().splitlines()[0].split(':')[1]
    assert field.startswith('$6$')
    assert sha512_crypt.verify('S3cret!', field)


def test_password_root_missing_in_shadow(mount):
    tree = fakeguestfs.linux_tree(shadow='daemon:*:1::::::\n')
    [result] = run(mount, tree, password_item())
    assert result.status == report.FAILED
    assert result.reason == str(exception.GuestUserNotFound(
        user='root', file='/etc/shadow', what='the admin password'))
    assert tree['/etc/shadow'].content == b'daemon:*:1::::::\n'


def test_password_root_missing_in_passwd(mount):
    tree = fakeguestfs.linux_tree(passwd='daemon:x:1:1::/:/bin/false\n')
    [result] = run(mount, tree, password_item())
    assert result.status == report.FAILED
    assert "User root is not in the guest's /etc/passwd" in result.reason


def test_password_without_shadow_file(mount, tree):
    del tree['/etc/shadow']
    [result] = run(mount, tree, password_item())
    assert result.status == report.FAILED
    assert "/etc/shadow" in result.reason
    assert '/etc/shadow' not in tree


# --- failures and the order of the rest ----------------------------------------------------

def test_mandatory_failure_stops_the_rest(mount, tree):
    results = run(mount, tree, file_item('/first'), file_item('/etc', mandatory=True),
                  file_item('/third'), key_item())
    assert [r.status for r in results] == ['injected', 'failed', 'failed', 'failed']
    assert [r.target for r in results] == ['/first', '/etc', '/third',
                                           '/root/.ssh/authorized_keys']
    for r in results[2:]:
        assert r.reason == 'not attempted: mandatory file /etc failed first'
    assert '/first' in tree
    assert '/third' not in tree and '/root/.ssh' not in tree


def test_non_mandatory_failure_does_not_stop_the_rest(mount, tree):
    results = run(mount, tree, file_item('/etc', mandatory=False), file_item('/after'))
    assert [r.status for r in results] == ['failed', 'injected']
    assert 'directory' in results[0].reason
    assert tree['/after'].content == b'data\n'


def test_later_file_may_replace_earlier_item(mount, tree):
    entries = injection.plan(request(metadata={'a': 'b'}, files=[('/meta.js', b'{}')]), ALL)
    results = run(mount, tree, *[i for i, _ in entries])
    assert [r.status for r in results] == ['injected', 'injected']
    assert tree['/meta.js'].content == b'{}'


class ShrinkingFS:
    """A filesystem whose writes lose a byte: verification must notice."""

    def __init__(self, fs):
        self._fs = fs

    def __getattr__(self, name):
        return getattr(self._fs, name)

    def write(self, path, data):
        self._fs.write(path, data[:-1])


def test_short_write_is_detected(mount, tree):
    [result] = injection.apply(ShrinkingFS(mount(tree)), [file_item('/x', b'12345')])
    assert result.status == report.FAILED
    assert 'holds 4 bytes, not 5' in result.reason


def test_etc_selinux_without_its_config_is_not_an_selinux_guest(mount, tree):
    """Debian's libsemanage-common ships /etc/selinux (semanage.conf) on guests without
    SELinux; only SELinux's own /etc/selinux/config makes an SELinux guest (Nova
    looked for the directory and added the fix-up to every Debian guest)."""
    tree['/etc/selinux'] = d()
    tree['/etc/selinux/semanage.conf'] = f('module-store = direct\n')
    tree['/etc/rc.d'] = d()
    [result] = run(mount, tree, key_item())
    assert result.status == report.INJECTED
    assert '/etc/rc.local' not in tree and '/etc/rc.d/rc.local' not in tree
    assert not any('SELinux' in note for note in result.notes)
