"""The head bounds, on the bytes received so far: the same answer whether the head
arrives whole or a byte at a time."""

import pytest
from waitress import utilities

from inject.httpserver import head

LIMITS = head.Limits(request_line=40, header_line=30, header_count=3, header_size=70)


def check(received, step):
    """Feed ``received`` to a Head ``step`` bytes at a time; the first error, or
    None."""
    head_ = head.Head(LIMITS)
    for i in range(0, len(received), step):
        error, end = head_.add(received[i:i + step])
        if error is not None or end is not None:
            return error
    return None


@pytest.mark.parametrize('received', [
    b'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    b'GET /' + b'a' * 26 + b' HTTP/1.1\r\n',           # request line of exactly 40
    b'GET / HTTP/1.1\r\nX: ' + b'v' * 27 + b'\r\n',     # header line of exactly 30
    b'GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n',   # 3 headers
    b'\r\n\r\nGET / HTTP/1.1\r\n',                     # blank lines before a request
    b'GET / HTTP/1.1\r\nHost: x\r\n\r\n' + b'b' * 500,  # a body is not the head
    b'GET /' + b'a' * 30,                              # partial, still within
])
@pytest.mark.parametrize('step', [1, 7, 100000])
def test_within_the_bounds(received, step):
    assert check(received, step) is None


@pytest.mark.parametrize('received, error, words', [
    (b'GET /' + b'a' * 27 + b' HTTP/1.1\r\n\r\n', head.URITooLong,
     'request line is longer than 40 bytes'),
    (b'GET /' + b'a' * 60, head.URITooLong, 'request line is longer than 40'),
    (b'GET / HTTP/1.1\r\nX-Long: ' + b'v' * 30 + b'\r\n\r\n',
     utilities.RequestHeaderFieldsTooLarge, 'header line "X-Long" is longer than 30'),
    (b'GET / HTTP/1.1\r\nX-Long: ' + b'v' * 30,        # still arriving
     utilities.RequestHeaderFieldsTooLarge, '"X-Long" is longer than 30 bytes'),
    (b'GET / HTTP/1.1\r\n' + b'v' * 40,
     utilities.RequestHeaderFieldsTooLarge, 'a header line with no colon yet'),
    (b'GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n',
     utilities.RequestHeaderFieldsTooLarge, 'more than 3 header lines'),
    (b'GET / HTTP/1.1\r\nA: ' + b'1' * 25 + b'\r\nB: ' + b'2' * 25 + b'\r\nC: 33333333\r\n\r\n',
     utilities.RequestHeaderFieldsTooLarge, 'longer than 70 bytes in all'),
])
@pytest.mark.parametrize('step', [1, 7, 100000])
def test_beyond_a_bound_the_error_names_it(received, error, words, step):
    found = check(received, step)
    assert type(found) is error
    assert words in found.body
    assert found.code == (414 if error is head.URITooLong else 431)


def test_a_long_header_name_is_cut_and_escaped():
    found = check(b'GET / HTTP/1.1\r\n' + b'\x01' * 100 + b': v\r\n', 1000)
    assert '\\x01' * 64 + '..."' in found.body
