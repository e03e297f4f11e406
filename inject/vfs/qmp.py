"""A minimal QMP client: hot-plugging a disk into a running appliance's qemu.

libguestfs's direct backend cannot add drives after launch, but it passes extra qemu
options through (``guestfs_config``): a warm appliance is launched with a QMP socket in
a private directory, and a disk is later attached with ``blockdev-add`` + ``device_add``
on the appliance's virtio-scsi bus. Only inject's own process talks on that socket.
"""

import json
import os
import shutil
import socket
import tempfile

from inject import exception


class QMP:
    def __init__(self):
        self._dir = tempfile.mkdtemp(prefix='inject-qmp-')     # 0700
        self.path = os.path.join(self._dir, 'qmp.sock')
        self._sock = self._file = None

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

    def _read(self):
        while True:
            line = self._file.readline()
            if not line:
                raise exception.HotplugFailed(what='the appliance monitor',
                                              reason='qemu closed it')
            message = json.loads(line)
            if 'event' not in message:                 # events are not needed here
                return message

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
        """Plug block node ``node`` into the appliance as a SCSI disk."""
        self.execute('device_add', driver='scsi-hd', drive=node, id=node + '-dev')

    def close(self):
        for closable in (self._file, self._sock):
            try:
                if closable is not None:
                    closable.close()
            except OSError:
                pass
        shutil.rmtree(self._dir, ignore_errors=True)
