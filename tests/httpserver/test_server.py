"""The server in this process (its loop in a thread) with a small WSGI application:
slow and idle clients hold no thread, timeouts answer 408 or close, the connection limit
closes the busiest address's waiting connections, more than 1024 connections are
served (epoll, not select), bodies beyond the service's limit are refused, a stop
answers the request being served."""

import contextlib
import os
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest

from inject import httpserver
from inject.cmd import wsgi_server
from tests.httpserver import support

#: What every wait below allows: long, because a deadline here only keeps a broken
#: server from hanging the suite; what is asserted is the order of events.
PATIENCE = 60


def app(environ, start_response):
    body = environ['wsgi.input'].read()
    if environ['PATH_INFO'] == '/sleep':
        time.sleep(float(environ['QUERY_STRING']))
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(2 + len(body)))])
    return [b'ok' + body]


def settings(**changes):
    values = dict(max_request_line=8192, max_header_line=16384, max_header_count=100,
                  max_header_size=65536, header_timeout=PATIENCE, body_timeout=PATIENCE,
                  client_socket_timeout=PATIENCE, max_connections=2048, max_body=1000)
    values.update(changes)
    return httpserver.fit_open_files(httpserver.Settings(**values))


@contextlib.contextmanager
def running(threads=2, **changes):
    """A server on a free loopback port; yield (port, server)."""
    sock = wsgi_server.listening_socket('127.0.0.1', 0)
    server = httpserver.Server(app, sock, settings(**changes), threads, 'test')
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        yield sock.getsockname()[1], server
    finally:
        server.stop()
        thread.join(PATIENCE)
        assert not thread.is_alive()


def get(port, path='/', timeout=PATIENCE, source=None):
    sock = socket.create_connection(('127.0.0.1', port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    with sock:
        sock.sendall(b'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
                     % path.encode())
        return support.read_answer(sock)


def slow(port, count, source='127.0.0.2'):
    """``count`` connections that sent a request line and part of a header."""
    socks = []
    for _ in range(count):
        s = socket.create_connection(('127.0.0.1', port), source_address=(source, 0))
        s.sendall(b'GET / HTTP/1.1\r\nX-Slow: ')
        socks.append(s)
    return socks


def still_open(sock):
    """True while the server has neither answered nor closed ``sock``."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        pass
    return False


def test_slow_clients_hold_no_thread():
    with running(threads=2) as (port, _):
        socks = slow(port, 40)
        try:
            assert get(port) == (200, 'ok')
            assert all(still_open(s) for s in socks)
        finally:
            for s in socks:
                s.close()


@pytest.mark.parametrize('option, sent, message', [
    ('header_timeout', b'GET / HTTP/1.1\r\nX-Slow: a',
     'The request line and headers did not arrive within 1 seconds.'),
    ('body_timeout', b'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc',
     'The request body did not arrive within 1 seconds of its headers.'),
])
def test_a_request_not_sent_within_its_timeout_is_answered_408(option, sent, message):
    with running(**{option: 1}) as (port, _):
        with socket.create_connection(('127.0.0.1', port), timeout=PATIENCE) as s:
            start = time.monotonic()
            s.sendall(sent)
            status, body = support.read_answer(s)
            assert time.monotonic() - start >= 1
    assert status == 408
    assert message in body


def test_an_idle_connection_is_closed_after_client_socket_timeout():
    with running(client_socket_timeout=1) as (port, _):
        with socket.create_connection(('127.0.0.1', port), timeout=PATIENCE) as s:
            s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            answer = b''
            while not answer.endswith(b'\r\n\r\nok'):   # answered; kept alive
                chunk = s.recv(4096)
                assert chunk, answer
                answer += chunk
            start = time.monotonic()
            assert s.recv(4096) == b''              # then closed, without an answer
            assert time.monotonic() - start >= 1


def test_at_max_connections_the_busiest_address_loses_its_oldest():
    with running(max_connections=20) as (port, server):
        hog = slow(port, 30, source='127.0.0.2')
        mine = slow(port, 3, source='127.0.0.3')
        try:
            assert get(port, source='127.0.0.1') == (200, 'ok')
            assert all(still_open(s) for s in mine)
            assert still_open(hog[-1])
            assert not still_open(hog[0])
            assert len(server.active_channels) <= 20
        finally:
            for s in hog + mine:
                s.close()


def test_more_connections_than_select_can_watch():
    # The clients' sockets are in this process too: room for both ends.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (
            4096 if hard == resource.RLIM_INFINITY else min(4096, hard), hard))
    with running(max_connections=1500) as (port, server):
        socks = slow(port, 1100)
        try:
            assert get(port) == (200, 'ok')
            assert len(server.active_channels) >= 1100
            assert max(s.fileno() for s in socks) > 1024
        finally:
            for s in socks:
                s.close()


def test_a_body_beyond_the_services_limit_is_refused_unread():
    with running(max_body=1000) as (port, _):
        assert support.exchange(port, b'POST / HTTP/1.1\r\nContent-Length: 1000\r\n'
                                b'Connection: close\r\n\r\n' + b'b' * 1000)[0] == 200
        status, body = support.exchange(
            port, b'POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n')
    assert status == 413
    assert 'The request body is longer than 1000 bytes' in body


@pytest.mark.parametrize('what', sorted(support.OVERSIZE))
def test_an_oversize_head_is_refused_naming_what(what):
    data, code, words = support.OVERSIZE[what]
    with running() as (port, _):
        status, body = support.exchange(port, data)
        assert get(port) == (200, 'ok')
    assert (status, words in body) == (code, True), body


def test_stop_answers_the_request_being_served_and_closes_the_rest():
    with running() as (port, server):
        idle = socket.create_connection(('127.0.0.1', port))
        answer = {}
        client = threading.Thread(target=lambda: answer.update(
            result=get(port, '/sleep?1')))
        client.start()
        deadline = time.monotonic() + PATIENCE
        while not any(ch.requests for ch in list(server.active_channels.values())):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        server.stop()
        client.join(PATIENCE)
        assert answer['result'] == (200, 'ok')
        assert idle.recv(10) == b''
        idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', port))


def test_a_low_hard_open_files_limit_lowers_max_connections():
    code = ('from inject import httpserver; import resource; s = httpserver.Settings('
            '8192, 16384, 100, 65536, 20, 60, 60, 2048, 1000); '
            'print(httpserver.fit_open_files(s).max_connections, '
            'resource.getrlimit(resource.RLIMIT_NOFILE)[0])')
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        preexec_fn=lambda: __import__('resource').setrlimit(
            __import__('resource').RLIMIT_NOFILE, (512, 1024)))
    assert out.stdout.split() == ['768', '1024']
    assert 'max_connections = 2048 needs 2304 open files' in out.stderr
