"""What is written where, in which order, and with which owner and mode.

Order (Nova's, which users rely on): SSH key, network config, metadata, admin password,
then personality files, so a personality file may replace what the other items wrote.

Owners and modes, resolved against the guest's own /etc/passwd and /etc/group (read
with two cheap calls, never through augeas):

* a personality file, /etc/network/interfaces or /meta.js that already exists keeps its
  owner and mode (only its content is replaced); a new one is root:root 0644;
* every directory created on the way is root:root 0755 (Nova made the last one 0744,
  which locks everyone but root out);
* root's ~/.ssh is root:root 0700 and authorized_keys root:root 0600, whether they
  existed or not (sshd's StrictModes refuses anything looser);
* /etc/shadow keeps its owner and mode; only root's hash changes;
* an rc.local written for the SELinux fix-up becomes executable (0755 when new).

Each item is checked after writing (``statns``: size, mode, owner) and the report
carries what the guest now has.
"""

import dataclasses
import json
import posixpath
import shlex

from inject import exception
from inject import passwords
from inject import paths
from inject import report

#: the kinds of item in write order; each is one word everywhere: in Item.kind, the
#: report and [injection]mandatory (inject.conf.injection.ITEMS)
ORDER = ('key', 'net', 'metadata', 'admin_password', 'file')

NET_PATH = '/etc/network/interfaces'
METADATA_PATH = '/meta.js'
SHADOW_PATH = '/etc/shadow'
PASSWD_PATH = '/etc/passwd'
GROUP_PATH = '/etc/group'
KEY_COMMENT = b'# The following ssh key was injected by inject\n'
SELINUX_COMMENT = '# Added by inject to give injected ssh keys their SELinux context\n'

FILE_MODE = 0o644
DIR_MODE = 0o755


@dataclasses.dataclass
class Item:
    """One thing to write; ``data`` is bytes (for admin_password: the crypt hash)."""
    kind: str
    target: str
    data: bytes
    mandatory: bool


@dataclasses.dataclass(frozen=True)
class Policy:
    """The host's injection settings that decide what is written."""
    inject_key: bool = False
    inject_password: bool = False
    password_hash: str = 'sha512-crypt'
    mandatory: tuple = ORDER      # the kinds whose failure discards the whole disk


def plan(request, policy):
    """Turn a request into [(Item or None, ItemResult)] in write order.

    Items this host does not inject (key without inject_key, password without
    inject_password) come back with no Item and a skipped result that says why.
    """
    def item(kind, target, data):
        return Item(kind, target, data, kind in policy.mandatory)

    entries = []
    if request.key is not None:
        result = report.ItemResult('key', '/root/.ssh/authorized_keys')
        if policy.inject_key:
            entries.append((item('key', result.target, request.key.encode('utf-8')), result))
        else:
            result.status = report.SKIPPED
            result.reason = 'not injected: inject_key is False on this host'
            entries.append((None, result))
    if request.net is not None:
        entries.append((item('net', NET_PATH, request.net),
                        report.ItemResult('net', NET_PATH)))
    if request.metadata is not None:
        data = json.dumps(request.metadata).encode('utf-8')
        entries.append((item('metadata', METADATA_PATH, data),
                        report.ItemResult('metadata', METADATA_PATH)))
    if request.admin_password is not None:
        result = report.ItemResult('admin_password', SHADOW_PATH + ' (root)')
        if policy.inject_password:
            hashed = passwords.hash_password(request.admin_password, policy.password_hash)
            entries.append((item('admin_password', result.target, hashed.encode('ascii')),
                            result))
        else:
            result.status = report.SKIPPED
            result.reason = 'not injected: inject_password is False on this host'
            entries.append((None, result))
    for path, contents in request.files:
        entries.append((item('file', path, contents), report.ItemResult('file', path)))
    return entries


def apply(fs, items):
    """Write ``items`` into the mounted filesystem ``fs``; return their ItemResults.

    Stops at the first failing mandatory item: the caller will throw the overlay away,
    so the items after it are reported as not attempted.
    """
    writer = _Writer(fs)
    results = []
    for index, item in enumerate(items):
        result = report.ItemResult(item.kind, item.target)
        results.append(result)
        try:
            _WRITERS[item.kind](writer, item, result)
            result.status = report.INJECTED
        except exception.InjectError as e:
            result.fail(str(e))
            if item.mandatory:
                for rest in items[index + 1:]:
                    skipped = report.ItemResult(rest.kind, rest.target)
                    skipped.fail('not attempted: mandatory %s %s failed first'
                                 % (item.kind, item.target))
                    results.append(skipped)
                break
    return results


class _Writer:
    """File operations with inject's owner/mode rules, over one mounted filesystem."""

    def __init__(self, fs):
        self.fs = fs
        self._passwd = None
        self._group = None

    # --- the guest's own accounts ----------------------------------------------------

    def _table(self, path):
        st = self.fs.stat(path)
        if st is None or not st.is_file:
            return None
        table = {}
        for line in self.fs.read(path).decode('utf-8', 'replace').splitlines():
            fields = line.split(':')
            if len(fields) >= 3 and fields[0] and not fields[0].startswith('#'):
                table.setdefault(fields[0], fields)
        return table

    def user(self, name):
        """The guest's passwd fields for ``name``, or None."""
        if self._passwd is None:
            self._passwd = self._table(PASSWD_PATH) or {}
        return self._passwd.get(name)

    def group_id(self, name):
        if self._group is None:
            self._group = self._table(GROUP_PATH) or {}
        fields = self._group.get(name)
        return _int(fields[2]) if fields else None

    def root_owner(self):
        """(uid, gid) of root and group root in the guest; 0 where the guest has none."""
        fields = self.user('root')
        uid = _int(fields[2]) if fields else None
        gid = self.group_id('root')
        if gid is None and fields and len(fields) > 3:
            gid = _int(fields[3])
        return (0 if uid is None else uid), (0 if gid is None else gid)

    def root_home(self):
        """Root's home from the guest's /etc/passwd ('/root' when it names none)."""
        fields = self.user('root')
        home = fields[5] if fields and len(fields) > 5 else ''
        if home.startswith('/') and '\0' not in home and '..' not in home.split('/'):
            return posixpath.normpath('/' + home.lstrip('/'))
        return '/root'

    # --- files and directories -------------------------------------------------------

    def make_dirs(self, path, mode=DIR_MODE, for_path=None):
        """Create ``path`` and its missing ancestors, root-owned; return those created.

        ``for_path`` is the file they are made for, named in errors.
        """
        created = []
        for directory in paths.parents(path) + [path]:
            st = self.fs.stat(directory)
            if st is None:
                self.fs.mkdir(directory)
                self.fs.chmod(directory, mode if directory == path else DIR_MODE)
                self.fs.chown(directory, *self.root_owner())
                created.append(directory)
            elif not st.is_dir:
                raise exception.GuestWriteError(
                    path=for_path or path,
                    reason='%s exists in the guest and is not a directory' % directory)
        return created

    def existing_file(self, path):
        """Stat of an existing regular file at ``path``, None if missing."""
        st = self.fs.stat(path)
        if st is not None and not st.is_file:
            raise exception.GuestWriteError(
                path=path, reason='it is a directory in the guest' if st.is_dir
                else 'it exists in the guest and is not a regular file')
        return st

    def put(self, path, data, result, append=False, new_mode=FILE_MODE):
        """Write (or append) ``data``; a new file gets root:root ``new_mode``."""
        st = self.existing_file(path)
        if st is None:
            created = self.make_dirs(posixpath.dirname(path), for_path=path)
            if created:
                result.notes.append('created %s (root:root %04o)' % (', '.join(created),
                                                                     DIR_MODE))
        (self.fs.append if append else self.fs.write)(path, data)
        if st is None:
            self.fs.chmod(path, new_mode)
            self.fs.chown(path, *self.root_owner())
        expected = len(data) + (st.size if append and st is not None else 0)
        self.verify(path, result, expected)

    def verify(self, path, result, expected_size=None):
        st = self.fs.stat(path)
        if st is None or (expected_size is not None and st.size != expected_size):
            raise exception.GuestWriteError(
                path=path, reason='after writing it holds %s bytes, not %s'
                % (None if st is None else st.size, expected_size))
        result.mode, result.uid, result.gid, result.size = (
            '%04o' % st.mode, st.uid, st.gid, st.size)


# --- one function per kind ------------------------------------------------------------

def _write_file(writer, item, result):
    writer.put(item.target, item.data, result)


def _write_net(writer, item, result):
    writer.put(NET_PATH, item.data, result)


def _write_metadata(writer, item, result):
    writer.put(METADATA_PATH, item.data, result)


def _write_key(writer, item, result):
    fs = writer.fs
    sshdir = posixpath.join(writer.root_home(), '.ssh')
    keyfile = posixpath.join(sshdir, 'authorized_keys')
    result.target = keyfile
    writer.make_dirs(sshdir, mode=0o700)
    fs.chmod(sshdir, 0o700)
    fs.chown(sshdir, *writer.root_owner())

    st = writer.existing_file(keyfile)
    existing = fs.read(keyfile) if st is not None and st.size else b''
    key = item.data.strip()
    if key in (line.strip() for line in existing.splitlines()):
        result.notes.append('the key was already in %s' % keyfile)
        size = len(existing)
    else:
        prefix = b'\n' if existing and not existing.endswith(b'\n') else b''
        data = prefix + KEY_COMMENT + key + b'\n'
        fs.append(keyfile, data)
        size = len(existing) + len(data)
    fs.chmod(keyfile, 0o600)
    fs.chown(keyfile, *writer.root_owner())
    writer.verify(keyfile, result, size)
    note = _selinux_relabel(writer, sshdir)
    if note:
        result.notes.append(note)


def _selinux_relabel(writer, sshdir):
    """On an SELinux guest, have rc.local restore the context of ``sshdir`` at boot.

    A guest is an SELinux guest when it has SELinux's own configuration,
    ``/etc/selinux/config``: Nova looked for the directory ``/etc/selinux``, which
    Debian's libsemanage-common (pulled in by ``passwd``) ships on guests without
    SELinux. Unlike Nova, the restorecon path is absolute (Nova's relative ``root/.ssh`` only
    worked when rc.local ran from /), and the line goes before a final ``exit 0``
    instead of after it, where it would never run.
    """
    fs = writer.fs
    selinux = fs.stat('/etc/selinux/config')
    if selinux is None or not selinux.is_file:
        return None
    rclocal = '/etc/rc.local'
    if fs.stat(rclocal) is None:
        rcd = fs.stat('/etc/rc.d')
        if rcd is not None and rcd.is_dir:
            rclocal = '/etc/rc.d/rc.local'
    line = 'restorecon -RF %s 2>/dev/null || :' % shlex.quote(sshdir)
    st = writer.existing_file(rclocal)
    text = fs.read(rclocal).decode('utf-8', 'surrogateescape') if st is not None else ''
    if line in text.splitlines():
        return 'SELinux: %s already restores the context of %s' % (rclocal, sshdir)
    block = SELINUX_COMMENT + line + '\n'
    if not text.strip():
        text = '#!/bin/sh\n' + block
    else:
        lines = text.splitlines(keepends=True)
        last = max(i for i, l in enumerate(lines) if l.strip())
        if lines[last].strip() == 'exit 0':
            lines.insert(last, block)
            text = ''.join(lines)
        else:
            text += ('' if text.endswith('\n') else '\n') + block
    data = text.encode('utf-8', 'surrogateescape')
    if st is None:
        writer.make_dirs(posixpath.dirname(rclocal), for_path=rclocal)
    fs.write(rclocal, data)
    if st is None:
        fs.chmod(rclocal, 0o755)
        fs.chown(rclocal, *writer.root_owner())
    else:
        fs.chmod(rclocal, st.mode | 0o100)
    return 'SELinux: %s runs "%s" at boot' % (rclocal, line)


def _write_admin_password(writer, item, result):
    fs = writer.fs
    if writer.user('root') is None:
        raise exception.GuestUserNotFound(user='root', file=PASSWD_PATH,
                                          what='the admin password')
    st = writer.existing_file(SHADOW_PATH)
    if st is None:
        raise exception.GuestUserNotFound(user='root', file=SHADOW_PATH,
                                          what='the admin password')
    lines = fs.read(SHADOW_PATH).split(b'\n')
    found = False
    for i, line in enumerate(lines):
        fields = line.split(b':')
        if fields[0] == b'root' and len(fields) > 1:
            fields[1] = item.data
            lines[i] = b':'.join(fields)
            found = True
    if not found:
        raise exception.GuestUserNotFound(user='root', file=SHADOW_PATH,
                                          what='the admin password')
    data = b'\n'.join(lines)
    fs.write(SHADOW_PATH, data)
    writer.verify(SHADOW_PATH, result, len(data))


_WRITERS = {
    'file': _write_file,
    'key': _write_key,
    'net': _write_net,
    'metadata': _write_metadata,
    'admin_password': _write_admin_password,
}


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None
