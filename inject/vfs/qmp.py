"""A minimal QMP client: hot-plugging a disk into a running appliance's qemu.

libguestfs's direct backend cannot add drives after launch, but it passes extra qemu
options through (``guestfs_config``): a warm appliance is launched with a QMP socket in
a private directory, and a disk is later attached with ``blockdev-add`` + ``device_add``
on the appliance's virtio-scsi bus, with its node name as the SCSI serial (the appliance's
udev names it /dev/disk/guestfs/<serial>, which ``list_disk_labels`` reads). It is
detached with ``device_del`` (waiting for qemu's DEVICE_DELETED) + ``blockdev-del``, which
flushes and closes the image: from then on qemu no longer holds the file. Only inject's
own process talks on that socket.
"""

import json
import os
import shutil
import socket
import tempfile
import time

from inject import exception


class QMP:
    def __init__(self):
        self._dir = tempfile.mkdtemp(prefix='inject-qmp-')     # 0700
        self.path = os.path.join(self._dir, 'qmp.sock')
        self._sock = self._file = None
        self._events = []          # events read while waiting for a reply

    def qemu_option(self):
        """The value of qemu's -qmp option: qemu listens, does not wait for us."""
        return 'unix:%s,server=on,wait=off' % self.path

    def connect(self, timeout=30):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
        except OSError as e:
            sock.close()
            raise exception.HotplugFailed(what='the appliance monitor',
                                          reason='cannot connect: %s' % e)
        self._sock, self._file = sock, sock.makefile('rw', encoding='utf-8')
        self._read()                                   # the greeting
        self.execute('qmp_capabilities')

    def _read_message(self):
        try:
            line = self._file.readline()
        except OSError as e:          # socket.timeout included
            raise exception.HotplugFailed(what='the appliance monitor',
                                          reason='no answer: %s' % e)
        if not line:
            raise exception.HotplugFailed(what='the appliance monitor',
                                          reason='qemu closed it')
        return json.loads(line)

    def _read(self):
        """The next reply; events read on the way are kept for :meth:`wait_event`."""
        while True:
            message = self._read_message()
            if 'event' not in message:
                return message
            self._events.append(message)
            del self._events[:-100]          # only recent ones can matter

    def wait_event(self, name, timeout, **data):
        """Wait up to ``timeout`` s for event ``name`` whose data has these items."""
        def matches(message):
            found = message.get('data') or {}
            return (message.get('event') == name
                    and all(found.get(k) == v for k, v in data.items()))
        for message in self._events:
            if matches(message):
                self._events.remove(message)
                return message
        deadline = time.monotonic() + timeout
        saved = self._sock.gettimeout()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise exception.HotplugFailed(
                        what=name, reason='qemu did not report it within %g s' % timeout)
                self._sock.settimeout(left)
                message = self._read_message()
                if matches(message):
                    return message
                if 'event' in message:
                    self._events.append(message)
        finally:
            self._sock.settimeout(saved)

    def execute(self, command, **arguments):
        request = {'execute': command}
        if arguments:
            request['arguments'] = arguments
        self._file.write(json.dumps(request) + '\n')
        self._file.flush()
        reply = self._read()
        if 'error' in reply:
            raise exception.HotplugFailed(what=command,
                                          reason=reply['error'].get('desc', reply['error']))
        return reply.get('return')

    def open_disk(self, node, path, fmt, readonly):
        """Have qemu open ``path`` as block node ``node`` (not yet seen by the guest)."""
        self.execute('blockdev-add', **{
            'node-name': node, 'driver': fmt, 'read-only': readonly,
            'file': {'driver': 'file', 'filename': path, 'read-only': readonly}})

    def plug(self, node):
        """Plug block node ``node`` into the appliance as a SCSI disk whose serial is
        ``node`` (its label in the appliance)."""
        self.execute('device_add', driver='scsi-hd', drive=node, id=node + '-dev',
                     serial=node)

    def unplug(self, node, timeout=30):
        """Unplug ``node``'s disk from the appliance and close its image (flushed)."""
        self.execute('device_del', id=node + '-dev')
        self.wait_event('DEVICE_DELETED', timeout, device=node + '-dev')
        self.execute('blockdev-del', **{'node-name': node})

    def close(self):
        for closable in (self._file, self._sock):
            try:
                if closable is not None:
                    closable.close()
            except OSError:
                pass
        shutil.rmtree(self._dir, ignore_errors=True)
