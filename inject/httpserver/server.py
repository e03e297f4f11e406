"""The server of one process: accepts on a listening socket (its own or one shared
by worker processes), holds at most ``max_connections`` connections, expires slow and
idle ones, hands complete requests to waitress's thread pool, and drains on stop."""

import dataclasses
import errno
import logging as std_logging
import resource
import socket
import time

from oslo_log import log as logging
from waitress import adjustments
from waitress import server as waitress_server
from waitress import task
from waitress import wasyncore

from inject.httpserver import channel as channel_mod
from inject.httpserver import head
from inject.httpserver import loop as loop_mod

LOG = logging.getLogger(__name__)

#: Connections the kernel queues before a process accepts them: a burst of new
#: connections (a thousand slow clients arriving at once) must not fill it, or the
#: kernel drops the SYNs of everyone else and they retry a second later.
BACKLOG = 1024
#: Connections accepted per readiness event of the listening socket.
ACCEPT_BATCH = 64
#: Longest wait for events in one turn of the loop; also how often timeouts are
#: looked at, so a timeout ends up to this much late.
TURN_SECONDS = 1.0
#: Files a process keeps open besides its connections (database connections, log
#: files, pipes): the open-files limit is raised to max_connections plus this many.
RESERVED_FILES = 256
#: On stop: how long requests already received are given to be answered.
STOP_SECONDS = 10.0
#: Bytes of an answer a thread leaves for the loop to send (see Server.__init__).
SEND_BUFFER = 65536
#: Seconds between two warnings about the same limit being reached.
WARN_EVERY = 10.0


@dataclasses.dataclass(frozen=True)
class Settings:
    """What bounds a server: the ``[wsgi]`` options, and the largest request body
    of the service it serves (``max_body``, bytes)."""

    max_request_line: int
    max_header_line: int
    max_header_count: int
    max_header_size: int
    header_timeout: float
    body_timeout: float
    client_socket_timeout: float
    max_connections: int
    max_body: int

    @classmethod
    def from_conf(cls, conf, max_body):
        w = conf.wsgi
        return cls(w.max_request_line, w.max_header_line, w.max_header_count,
                   w.max_header_size, w.header_timeout, w.body_timeout,
                   w.client_socket_timeout, w.max_connections, max_body)


def fit_open_files(settings):
    """Raise this process's open-files soft limit (RLIMIT_NOFILE) to hold
    ``settings.max_connections`` connections and :data:`RESERVED_FILES` more; return
    ``settings``, with ``max_connections`` lowered (and a warning) when the hard limit
    does not allow that many. Worker processes inherit the limit."""
    need = settings.max_connections + RESERVED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            LOG.warning('could not raise the open-files limit from %d to %d: %s',
                        soft, target, e)
    if soft != resource.RLIM_INFINITY and soft < need:
        fitted = max(16, soft - RESERVED_FILES)
        LOG.warning('[wsgi]max_connections = %d needs %d open files, but the open-files '
                    'limit (RLIMIT_NOFILE) is %d: holding at most %d connections per '
                    'process. Raise the limit (ulimit -n, systemd LimitNOFILE=) to hold '
                    'more.', settings.max_connections, need, soft, fitted)
        return dataclasses.replace(settings, max_connections=fitted)
    return settings


class Server(waitress_server.TcpWSGIServer):
    """Serves ``app`` on the listening socket ``sock`` with ``threads`` threads;
    :meth:`run` until :meth:`stop`."""

    def __init__(self, app, sock, settings, threads, name):
        self.settings = settings
        self.name = name
        self.by_address = {}            # client address -> {fd: Channel}, oldest first
        self.overflow = False           # at max_connections, none of them closable
        self.paused_until = 0.0         # out of file descriptors: accept again then
        self._warned = {}               # what -> monotonic time of the last warning
        self._evicted = 0               # connections closed for room since that warning
        parser = head.parser_class(
            head.Limits(settings.max_request_line, settings.max_header_line,
                        settings.max_header_count, settings.max_header_size),
            settings.max_body)
        self.channel_class = type('Channel', (channel_mod.Channel,),
                                  {'parser_class': parser})
        adj = adjustments.Adjustments(
            sockets=[sock], threads=threads, ident=name,
            server_name=sock.getsockname()[0], backlog=BACKLOG,
            # What waitress would check itself: its own head limit above the sum of
            # ours (which answer first), its body limit at the service's.
            max_request_header_size=(settings.max_request_line + settings.max_header_size
                                     + 1024),
            max_request_body_size=settings.max_body + 1,
            channel_timeout=settings.client_socket_timeout,
            cleanup_interval=TURN_SECONDS, asyncore_loop_timeout=TURN_SECONDS,
            # The applications read X-Forwarded-For themselves (the metadata service
            # from Neutron's proxy): waitress must not remove it.
            clear_untrusted_proxy_headers=False)
        # A thread sends an answer itself only once this much is waiting; the rest,
        # the whole of a usual answer, the loop sends in one write when the request
        # ends. waitress's default (1: the status line and headers in one packet, the
        # body in another, each sent by the thread) cost a third of the requests a
        # second on a 2-core machine. Set on the object: the keyword is deprecated (it
        # warns) but still read by waitress 3's channel.
        adj.send_bytes = SEND_BUFFER
        self.map = loop_mod.Map()
        self.loop = loop_mod.Loop(self.map)
        dispatcher = task.ThreadedTaskDispatcher()
        dispatcher.set_thread_count(threads)
        # waitress warns at every request queued while the threads are busy: that is
        # the normal state of a loaded server, not news.
        std_logging.getLogger('waitress.queue').setLevel(std_logging.ERROR)
        super().__init__(app, self.map, _start=True, _sock=sock, dispatcher=dispatcher,
                         adj=adj, bind_socket=False,
                         sockinfo=(sock.family, sock.type, sock.proto,
                                   sock.getsockname()))

    # --- running ----------------------------------------------------------------------

    def run(self):
        """Serve until :meth:`stop`; then stop accepting, close the connections that
        wait for a request, give the requests received :data:`STOP_SECONDS` to be
        answered, and stop the threads."""
        try:
            self.loop.run(TURN_SECONDS)
        finally:
            self._drain(time.monotonic() + STOP_SECONDS)

    def stop(self):
        """Make :meth:`run` drain and return. Safe in a signal handler."""
        self.loop.stop()

    def _drain(self, deadline):
        if self.socket is not None:
            wasyncore.dispatcher.close(self)     # stop accepting (the trigger stays)
        while True:
            busy = False
            for ch in list(self.active_channels.values()):
                if ch.waiting():
                    ch.handle_close()
                else:
                    busy = True
            if not busy or time.monotonic() >= deadline:
                break
            self.loop.turn(0.1)
        if busy:
            LOG.warning('%s: %d connections still had a request after %.0f s; closing '
                        'them', self.name, len(self.active_channels), STOP_SECONDS)
        self.task_dispatcher.shutdown(cancel_pending=True,
                                      timeout=max(0.0, deadline - time.monotonic()))
        wasyncore.close_all(self.map)
        self.loop.close()

    # --- accepting ----------------------------------------------------------------------

    def readable(self):
        wall = time.time()
        if wall >= self.next_channel_cleanup:
            self.next_channel_cleanup = wall + TURN_SECONDS
            self.maintenance(wall)
        if not self.accepting:
            return False
        if self.paused_until:
            if time.monotonic() < self.paused_until:
                return False
            self.paused_until = 0.0
        if self.overflow:
            if len(self.active_channels) >= self.settings.max_connections:
                return False
            self.overflow = False
            LOG.info('%s: below [wsgi]max_connections again; accepting', self.name)
        return True

    def handle_accept(self):
        for _ in range(ACCEPT_BATCH):
            try:
                conn, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno == errno.ECONNABORTED:
                    continue
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of file descriptors (or memory) although under the limit:
                    # make room, or wait a turn.
                    if not self._evict(None):
                        self.paused_until = time.monotonic() + TURN_SECONDS
                    self._warn('accept', 'accepting a connection failed (%s); %d '
                               'connections open', e, len(self.active_channels))
                    return
                LOG.warning('%s: accepting a connection failed: %s', self.name, e)
                return
            try:
                self.set_socket_options(conn)
            except OSError:            # the client is gone already
                conn.close()
                continue
            ch = self.channel_class(self, conn, self.fix_addr(addr), self.adj,
                                    map=self.map)
            if len(self.active_channels) > self.settings.max_connections:
                if not self._evict(ch):
                    self.overflow = True
                    self._warn('overflow', '%d connections open, the most '
                               '[wsgi]max_connections allows, each with a request being '
                               'served: new connections wait in the listen queue',
                               len(self.active_channels))
                    return

    # --- the connections ---------------------------------------------------------------

    def track(self, ch):
        self.by_address.setdefault(ch.addr[0], {})[ch._fileno] = ch

    def untrack(self, ch, fd):
        held = self.by_address.get(ch.addr[0])
        if held is not None and held.get(fd) is ch:
            del held[fd]
            if not held:
                del self.by_address[ch.addr[0]]

    def _evict(self, keep):
        """Close the oldest connection waiting for a request (not ``keep``) of the
        client address holding the most connections; False when none waits."""
        for address in sorted(self.by_address, key=lambda a: len(self.by_address[a]),
                              reverse=True):
            held = self.by_address[address]
            for ch in list(held.values()):
                if ch is not keep and ch.waiting():
                    count = len(held)
                    ch.handle_close()
                    self._evicted += 1
                    if self._warn('evict', '%d connections open, the most '
                                  '[wsgi]max_connections allows: closed %d connections '
                                  'waiting for a request, the last one of %s, which held '
                                  '%d', len(self.active_channels) + 1, self._evicted,
                                  address, count):
                        self._evicted = 0
                    return True
        return False

    def maintenance(self, now):
        """End the connections whose client took too long (see Channel.expire)."""
        mono = time.monotonic()
        for fd, ch in list(self.active_channels.items()):
            if ch.expire(now, mono, self.settings) and ch._fileno is not None:
                self.loop.touch(fd)

    def set_socket_options(self, conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _warn(self, what, message, *args):
        """Log ``message`` unless ``what`` was warned about less than WARN_EVERY
        seconds ago; True when logged."""
        now = time.monotonic()
        if now - self._warned.get(what, -WARN_EVERY) < WARN_EVERY:
            return False
        self._warned[what] = now
        LOG.warning('%s: ' + message, self.name, *args)
        return True
