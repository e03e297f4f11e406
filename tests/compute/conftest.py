"""A real inject-api process serving images (the Image API a compute host fetches
from), a configuration for the host's fetcher, and :class:`TamperingProxy`: an HTTP
proxy in front of that inject-api that counts the image downloads and, when told,
misbehaves as a broken or hostile Image API would (a truncated body, a Content-Length
that is not the image's, more bytes than the image has, a stall, metadata without
hashes)."""

import http.client
import http.server
import json
import threading
import urllib.parse
import urllib.request

import pytest

from tests.api import support
from tests.clients.conftest import InjectApi


@pytest.fixture(scope='module')
def image_api(tmp_path_factory):
    """inject-api (noauth) serving ``cirros`` (qcow2, 16 MiB virtual, some data)."""
    state = tmp_path_factory.mktemp('inject-api-images')
    path = support.make_image(state)
    with open(path, 'ab') as f:            # a body of more than one chunk
        f.write(bytes(range(256)) * 12288)
    api = InjectApi(state)
    yield api
    api.stop()


def image_id(api, name='cirros'):
    with urllib.request.urlopen(api.endpoint + '/v2/images?name=%s' % name) as r:
        return json.load(r)['images'][0]['id']


def fetcher_conf(state_path, endpoint, **overrides):
    """A host's configuration: instances under ``state_path``, the Image API at
    ``endpoint`` (None: none configured)."""
    overrides = dict(overrides)
    if endpoint is not None:
        overrides['glance.endpoint_override'] = endpoint
    return support.make_conf(state_path, **overrides)


class TamperingProxy(http.server.ThreadingHTTPServer):
    """Forwards GETs to ``target`` (an inject-api URL); ``mode`` says what to spoil:
    None, 'truncate', 'huge-length', 'more', 'stall', 'no-hashes', 'flip'. Counts the
    /file requests in ``downloads``."""

    daemon_threads = True

    def __init__(self, target):
        super().__init__(('127.0.0.1', 0), _ProxyHandler)
        self.target = urllib.parse.urlsplit(target)
        self.url = 'http://127.0.0.1:%d%s' % (self.server_address[1], self.target.path)
        self.mode = None
        self.downloads = 0
        self.requests = 0
        self.release = threading.Event()     # ends a 'stall'
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.release.set()
        self.shutdown()
        self.server_close()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        proxy = self.server
        proxy.requests += 1
        conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port,
                                          timeout=30)
        conn.request('GET', self.path, headers={'Accept': '*/*'})
        upstream = conn.getresponse()
        body = upstream.read()
        conn.close()
        is_file = self.path.endswith('/file')
        mode = proxy.mode
        if is_file:
            proxy.downloads += 1
        headers = {k: v for k, v in upstream.getheaders()
                   if k.lower() not in ('content-length', 'connection',
                                        'transfer-encoding')}
        if not is_file:
            if mode == 'no-hashes' and upstream.status == 200:
                meta = json.loads(body)
                meta.update(os_hash_algo=None, os_hash_value=None)
                body = json.dumps(meta).encode()
            return self._send(upstream.status, headers, body, len(body))
        if mode == 'truncate':
            return self._send(200, headers, body[:len(body) // 2], len(body), close=True)
        if mode == 'huge-length':
            return self._send(200, headers, body, 10 ** 15, close=True)
        if mode == 'more':
            return self._send(200, headers, body + b'\0' * 4096, None, close=True)
        if mode == 'flip':
            body = bytes([body[0] ^ 1]) + body[1:]
        if mode == 'stall':
            half = len(body) // 2
            self._send(200, headers, body[:half], len(body), flush_only=True)
            proxy.release.wait(120)
            self.wfile.write(body[half:])
            return
        self._send(upstream.status, headers, body, len(body))

    def _send(self, status, headers, body, length, close=False, flush_only=False):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if length is not None:
            self.send_header('Content-Length', str(length))
        if close or length is None:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


@pytest.fixture
def proxy(image_api):
    p = TamperingProxy(image_api.endpoint)
    yield p
    p.stop()
