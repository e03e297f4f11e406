"""A request's head -- its request line and header lines -- gathered as it arrives and
held to bounds (the request line's length, each header line's, how many header lines,
their total size) on the bytes received so far: a client that crosses one is answered as
soon as it does, with a message naming what was too large. Each byte is looked at once,
however the head is cut into packets, and waitress's parser gets the head whole, once.
"""

import time

from waitress import parser
from waitress import utilities


class URITooLong(utilities.BadRequest):
    code = 414
    reason = 'URI Too Long'


class Limits:
    """The bounds, in bytes and lines, of one server."""

    def __init__(self, request_line, header_line, header_count, header_size):
        self.request_line = request_line
        self.header_line = header_line
        self.header_count = header_count
        self.header_size = header_size


class Head:
    """The head of one request as it arrives: :meth:`add` the bytes received."""

    def __init__(self, limits):
        self.limits = limits
        self.data = bytearray()
        self.line_start = 0        # where the line being received starts
        self.headers_start = None  # where the header lines start (after the request line)
        self.header_lines = 0

    def add(self, data):
        """Add ``data``; return (error, end): the error (a waitress Error) when a bound
        is crossed, else None; ``end`` is the offset in :attr:`data` just past the blank
        line that ends the head, or None while it has not arrived."""
        scan_from = len(self.data)
        self.data += data
        end = self.data.find(b'\r\n\r\n', max(0, scan_from - 3))
        if end >= 0:
            end += 4
        limit = len(self.data) if end < 0 else end - 2
        while True:
            newline = self.data.find(b'\n', max(self.line_start, scan_from), limit)
            if newline < 0:
                break
            error = self._line(self.line_start, newline)
            if error is not None:
                return error, None
            self.line_start = newline + 1
        if end < 0:
            # The line still arriving counts too: it is at least this long (its CR
            # may have come before its LF).
            length = len(self.data) - self.line_start
            if length and self.data[-1] == 13:
                length -= 1
            error = self._check(length, partial=True)
            if error is not None:
                return error, None
        return None, (end if end >= 0 else None)

    def _line(self, start, newline):
        """Check the line from ``start`` to the LF at ``newline``."""
        length = newline - start
        if length and self.data[newline - 1] == 13:      # CR
            length -= 1
        if self.headers_start is None and length == 0:
            return None                                 # blank lines before a request
        error = self._check(length)
        if self.headers_start is None:
            self.headers_start = newline + 1
        else:
            self.header_lines += 1
        return error

    def _check(self, length, partial=False):
        limits = self.limits
        if self.headers_start is None:
            if length > limits.request_line:
                return URITooLong('The request line is longer than %d bytes, the most '
                                  'this server accepts.' % limits.request_line)
            return None
        if length > limits.header_line:
            line = bytes(self.data[self.line_start:self.line_start + length])
            return utilities.RequestHeaderFieldsTooLarge(
                'The header line %s is longer than %d bytes (name and value), the most '
                'this server accepts.' % (_name(line), limits.header_line))
        if self.header_lines + (not partial) > limits.header_count:
            return utilities.RequestHeaderFieldsTooLarge(
                'The request has more than %d header lines, the most this server '
                'accepts.' % limits.header_count)
        if self.line_start + length - self.headers_start > limits.header_size:
            return utilities.RequestHeaderFieldsTooLarge(
                'The request\'s header lines are longer than %d bytes in all, the most '
                'this server accepts.' % limits.header_size)
        return None


def _name(line):
    """How a message names the header of ``line``: its name, quoted, cut at 64 bytes."""
    name, colon, _ = line.partition(b':')
    if not colon:
        return '(a header line with no colon yet)'
    name = name.strip()
    shown = name[:64].decode('latin-1').encode('unicode_escape').decode('ascii')
    return '"%s%s"' % (shown, '...' if len(name) > 64 else '')


class Parser(parser.HTTPRequestParser):
    """waitress's request parser, given the head whole once it has arrived within
    :attr:`limits`. ``began``: when the request's first byte arrived; ``headers_at``:
    when its headers were complete (None before), both on the monotonic clock."""

    limits = None               # Limits, set on the subclass each server makes
    max_body = None             # the largest body accepted, in bytes

    def __init__(self, adj):
        super().__init__(adj)
        self.began = time.monotonic()
        self.headers_at = None
        self.head = Head(self.limits)

    def received(self, data):
        if self.completed:
            return 0
        if self.headers_finished:
            return self._body(data)
        before = len(self.head.data)
        error, end = self.head.add(data)
        if error is not None:
            # As waitress does for its own head limit: a minimal request line, so
            # that the error answer has a version to speak.
            self.parse_header(b'GET / HTTP/1.0\r\n')
            self.error = error
            self.completed = self.headers_finished = True
            self.head = None
            return len(data)
        if end is None:
            return len(data)
        whole, self.head = bytes(self.head.data[:end]), None
        consumed = super().received(whole)
        assert consumed == end, (consumed, end)
        self.headers_at = time.monotonic()
        self._name_body_error()
        return end - before

    def _body(self, data):
        consumed = super().received(data)
        self._name_body_error()
        return consumed

    def _name_body_error(self):
        if (isinstance(self.error, utilities.RequestEntityTooLarge)
                and 'this service accepts' not in self.error.body):
            self.error = utilities.RequestEntityTooLarge(
                'The request body is longer than %d bytes, the most this service '
                'accepts.' % self.max_body)


def parser_class(limits, max_body):
    """A :class:`Parser` subclass bound to ``limits`` and ``max_body``."""
    return type('Parser', (Parser,), {'limits': limits, 'max_body': max_body})
