"""Bounds on a request's head -- its request line, each header line, how many header
lines, their total size -- checked on the bytes received so far, so a client that
crosses one is answered as soon as it does (not after sending the rest), with a message
naming what was too large. waitress's parser does the parsing; :class:`Parser` only
looks first, and records when the request began and when its headers ended (for the
server's timeouts)."""

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

    def check(self, received):
        """The error (a waitress Error) for the head whose first bytes are
        ``received`` (anything after the blank line that ends a head is ignored), or
        None while every bound holds."""
        end = received.find(b'\r\n\r\n')
        head = (received if end < 0 else received[:end]).lstrip(b'\r\n')
        lines = head.split(b'\n')
        if len(lines[0].rstrip(b'\r')) > self.request_line:
            return URITooLong(
                'The request line is longer than %d bytes, the most this server '
                'accepts.' % self.request_line)
        headers = lines[1:]
        for line in headers:
            if len(line.rstrip(b'\r')) > self.header_line:
                return utilities.RequestHeaderFieldsTooLarge(
                    'The header line %s is longer than %d bytes (name and value), the '
                    'most this server accepts.' % (_name(line), self.header_line))
        if len(headers) > self.header_count:
            return utilities.RequestHeaderFieldsTooLarge(
                'The request has more than %d header lines, the most this server '
                'accepts.' % self.header_count)
        if headers and len(head) - len(lines[0]) - 1 > self.header_size:
            return utilities.RequestHeaderFieldsTooLarge(
                'The request\'s header lines are longer than %d bytes in all, the most '
                'this server accepts.' % self.header_size)
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
    """waitress's request parser, checking :attr:`limits` first. ``began``: when the
    request's first byte arrived; ``headers_at``: when its headers were complete (None
    before), both on the monotonic clock."""

    limits = None               # Limits, set on the subclass each server makes
    max_body = None             # the largest body accepted, in bytes

    def __init__(self, adj):
        super().__init__(adj)
        self.began = time.monotonic()
        self.headers_at = None

    def received(self, data):
        if not self.completed and not self.headers_finished:
            error = self.limits.check(self.header_plus + data)
            if error is not None:
                # As waitress does for its own head limit: a minimal request line, so
                # that the error answer has a version to speak.
                self.parse_header(b'GET / HTTP/1.0\r\n')
                self.error = error
                self.completed = self.headers_finished = True
                return len(data)
        consumed = super().received(data)
        if self.headers_finished and self.headers_at is None:
            self.headers_at = time.monotonic()
        if isinstance(self.error, utilities.RequestEntityTooLarge):
            self.error = utilities.RequestEntityTooLarge(
                'The request body is longer than %d bytes, the most this service '
                'accepts.' % self.max_body)
        return consumed


def parser_class(limits, max_body):
    """A :class:`Parser` subclass bound to ``limits`` and ``max_body``."""
    return type('Parser', (Parser,), {'limits': limits, 'max_body': max_body})
