"""Raw HTTP for the server tests: requests a normal client library would refuse to
send (oversize heads), read back as (status, body)."""

import socket

#: What the head-limit tests send, with what the answer must say; the limits are the
#: [wsgi] defaults (max_request_line 8192, max_header_line 16384, max_header_count
#: 100, max_header_size 65536).
OVERSIZE = {
    'request line': (b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\nHost: x\r\n\r\n', 414,
                     'The request line is longer than 8192 bytes'),
    'header line': (b'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 70000 + b'\r\n\r\n',
                    431, 'The header line "X-Big" is longer than 16384 bytes'),
    'header count': (b'GET / HTTP/1.1\r\n' + b''.join(b'X-H%d: v\r\n' % i
                                                      for i in range(101)) + b'\r\n',
                     431, 'The request has more than 100 header lines'),
    'header size': (b'GET / HTTP/1.1\r\n' + b''.join(b'X-H%d: %s\r\n' % (i, b'v' * 8000)
                                                     for i in range(9)) + b'\r\n',
                    431, 'header lines are longer than 65536 bytes in all'),
}


def exchange(port, data, timeout=60, host='127.0.0.1'):
    """Send ``data`` on a new connection, read until the server closes it; return
    (status, body text). The server may close before reading all of ``data``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_answer(sock)


def read_answer(sock):
    """Read ``sock`` until the server closes it; (status, body text)."""
    raw = b''
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        raw += chunk
    head, _, body = raw.partition(b'\r\n\r\n')
    if not head:
        return None, ''
    return int(head.split(b' ', 2)[1]), body.decode('utf-8', 'replace')
