"""One client connection: waitress's channel, plus what the server's limits need --
whether closing it loses an answer (:meth:`Channel.waiting`), and ending it when a
client takes too long (:meth:`Channel.expire`)."""

import time

from waitress import channel
from waitress import utilities


#: Reads of unread input before a close (64 KiB each).
DRAIN_READS = 16


class RequestTimeout(utilities.Error):
    code = 408
    reason = 'Request Timeout'


class Channel(channel.HTTPChannel):
    """A connection, known to its server by its client address (``server.track``)."""

    def __init__(self, server, sock, addr, adj, map=None):
        self.addr = addr            # before waitress registers it (add_channel)
        super().__init__(server, sock, addr, adj, map=map)

    def add_channel(self, map=None):
        super().add_channel(map)
        self.server.track(self)

    def del_channel(self, map=None):
        fd = self._fileno
        super().del_channel(map)
        self.server.untrack(self, fd)

    def handle_close(self):
        # Read what the client sent and we will not (the rest of an oversize head or
        # body, answered already): closing a socket with unread input resets the
        # connection, and the client may then lose the answer before reading it.
        sock = self.socket
        if sock is not None:
            try:
                for _ in range(DRAIN_READS):
                    if not sock.recv(65536):
                        break
            except OSError:
                pass
        super().handle_close()

    def waiting(self):
        """True while no request of this connection is in a thread or queued for
        one, and nothing is left to send or to close: closing it loses no answer."""
        return not (self.requests or self.total_outbufs_len or self.will_close
                    or self.close_when_flushed)

    def expire(self, wall, now, settings):
        """End this connection if a timeout of ``settings`` has passed at ``wall``
        (time.time(), waitress's clock for activity) and ``now`` (monotonic): a
        request still arriving is answered 408, an idle connection closed. True when
        it is ending."""
        if self.requests or self.will_close or self.close_when_flushed:
            return False
        request = self.request
        idle = wall - self.last_activity > settings.client_socket_timeout
        if request is None or request.completed:
            if idle:
                self.handle_close()
                return True
            return False
        if not request.headers_finished:
            if now - request.began > settings.header_timeout:
                self._answer_timeout('The request line and headers did not arrive '
                                     'within %d seconds.' % settings.header_timeout)
                return True
        elif now - request.headers_at > settings.body_timeout:
            self._answer_timeout('The request body did not arrive within %d seconds '
                                 'of its headers.' % settings.body_timeout)
            return True
        if idle:
            self._answer_timeout('Nothing of the request arrived for %d seconds.'
                                 % settings.client_socket_timeout)
            return True
        return False

    def _answer_timeout(self, message):
        """Drop the request being received; answer 408 with ``message``, then close.
        In the loop's thread, while no request of this connection is in a thread."""
        request, self.request = self.request, None
        request.close()
        status, headers, body = RequestTimeout(message).to_response(self.adj.ident)
        head = 'HTTP/1.1 %s\r\n%sConnection: close\r\nContent-Length: %d\r\n\r\n' % (
            status, ''.join('%s: %s\r\n' % h for h in headers), len(body))
        data = head.encode('latin-1') + body
        with self.outbuf_lock:
            self.outbufs[-1].append(data)
            self.total_outbufs_len += len(data)
        self.close_when_flushed = True
        self.last_activity = time.time()
