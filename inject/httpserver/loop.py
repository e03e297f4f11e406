"""The server's event loop: waitress's dispatchers (the listening socket, the
connections, its wake-up pipe) driven by epoll with lasting registrations.

waitress's own loop builds a poll set of every open connection at every turn (about
1 ms per 1000 connections, many turns a second under load). Here a turn asks again only
the dispatchers whose interest may have changed: those that had an event, those just
added, those :meth:`Loop.touch` names, and those not quiet -- a connection is quiet while
it only waits for bytes of a request (readable, nothing to write, no request in a
thread); anything else (the listening socket, the wake-up pipe, a connection whose
request a thread serves, one with output left) is asked at every turn. A thread changes
a connection's state only while the connection has a request, and then pulls waitress's
trigger, which ends the turn.

Dispatchers are added and removed in the loop's thread only (as waitress does), through
a :class:`Map`, which records which file descriptors changed.
"""

import os
import select
import signal
import threading

from waitress import wasyncore

READ = select.EPOLLIN | select.EPOLLPRI
WRITE = select.EPOLLOUT


class Map(dict):
    """waitress's socket map (fd -> dispatcher), recording the fds added or removed."""

    def __init__(self):
        super().__init__()
        self.changed = set()

    def __setitem__(self, fd, obj):
        super().__setitem__(fd, obj)
        self.changed.add(fd)

    def __delitem__(self, fd):
        super().__delitem__(fd)
        self.changed.add(fd)

    def take_changes(self):
        changed, self.changed = self.changed, set()
        return changed


class Loop:
    """Turns of epoll over ``map`` (a :class:`Map`) until :meth:`stop`."""

    def __init__(self, map):
        self.map = map
        self.epoll = select.epoll()
        self.masks = {}          # fd -> mask registered
        self.watch = set()       # fds asked again at the next turn
        self.stopping = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.epoll.register(self._wake_r, select.EPOLLIN)

    def touch(self, fd):
        """Ask the dispatcher of ``fd`` again at the next turn (its state changed)."""
        self.watch.add(fd)

    def stop(self):
        """Make :meth:`run` return after the current turn. Safe in a signal handler."""
        self.stopping = True
        try:
            os.write(self._wake_w, b'x')
        except OSError:        # full (a wake-up is pending anyway), or closed
            pass

    def run(self, timeout):
        """Turn until :meth:`stop`, waiting at most ``timeout`` seconds for events per
        turn."""
        # In the main thread, a signal wakes the loop at once (its handler runs
        # between turns). Elsewhere (a test's server) only stop() does.
        main = threading.current_thread() is threading.main_thread()
        if main:
            previous = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        try:
            while not self.stopping:
                self.turn(timeout)
        finally:
            if main:
                signal.set_wakeup_fd(previous)

    def turn(self, timeout):
        """Bring the registrations up to date, wait for events, handle them."""
        map = self.map
        for fd in map.take_changes():
            if self.masks.pop(fd, None) is not None:
                try:
                    self.epoll.unregister(fd)
                except OSError:
                    pass       # closed already: the kernel dropped its registration
            if fd in map:
                self.watch.add(fd)
        quiet = set()
        asked = set()
        while True:
            # Asking one dispatcher may touch others (the server's readable() expires
            # connections): ask those in this turn too.
            todo = self.watch - asked
            if not todo:
                break
            for fd in todo:
                asked.add(fd)
                if self._update(fd):
                    quiet.add(fd)
        self.watch -= quiet
        events = [(fd, flags, map.get(fd)) for fd, flags in self.epoll.poll(timeout)]
        for fd, flags, obj in events:
            if fd == self._wake_r:
                self._drain_wakeups()
                continue
            # An fd closed and reused earlier in this turn belongs to another object.
            if obj is None or map.get(fd) is not obj:
                continue
            wasyncore.readwrite(obj, flags)
            self.watch.add(fd)

    def _update(self, fd):
        """Register what the dispatcher of ``fd`` waits for; True when it is quiet."""
        obj = self.map.get(fd)
        if obj is None:
            return True
        mask = 0
        if obj.readable():
            mask |= READ
        if obj.writable() and not obj.accepting:
            mask |= WRITE
        old = self.masks.get(fd)
        if old is None:
            try:
                self.epoll.register(fd, mask)
            except FileExistsError:
                self.epoll.modify(fd, mask)
        elif old != mask:
            self.epoll.modify(fd, mask)
        self.masks[fd] = mask
        return mask == READ and getattr(obj, 'requests', None) == []

    def _drain_wakeups(self):
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self):
        self.epoll.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
