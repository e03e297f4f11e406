"""A real dynamic vendordata target for tests and benchmarks: a small WSGI app that
records every request and answers as its URL's query string tells it.

    POST /anything?status=500&delay=0.2&body=...&cache_control=max-age%3D60

Query parameters (all optional):

``status``          the HTTP status (default 200)
``delay``           seconds to sleep before answering
``body``            the raw answer body (default: a JSON object echoing the request)
``size``            answer a JSON string of this many bytes
``cache_control``   the ``Cache-Control`` header to send
``location``        answer a redirect (``status``, default 302) to this ``Location``
``name``            put into the echo, to tell targets apart

Each request is recorded (:attr:`TargetApp.requests`): method, path, query, headers,
the parsed JSON body and, behind keystonemiddleware, the identity auth_token
established (``X-Identity-Status``, user, project, roles).

:func:`protected` puts keystonemiddleware's ``auth_token`` in front (the deployment
Nova's vendordata docs describe): a request without a valid token never reaches the
app (401), and the app records who the token belonged to. :func:`serve` runs an app on
loopback in a thread (cheroot). ``python -m tests.metadata.target_app --port 0`` runs
one as a process and prints its URL.
"""

import argparse
import contextlib
import json
import sys
import threading
import time
import urllib.parse

from cheroot import wsgi as cheroot_wsgi

IDENTITY_KEYS = ('HTTP_X_IDENTITY_STATUS', 'HTTP_X_USER_NAME', 'HTTP_X_USER_ID',
                 'HTTP_X_PROJECT_NAME', 'HTTP_X_PROJECT_ID', 'HTTP_X_ROLES')


class TargetApp:

    def __init__(self, record=True):
        self.record = record
        self.requests = []
        self._lock = threading.Lock()

    def clear(self):
        with self._lock:
            self.requests.clear()

    def __call__(self, environ, start_response):
        query = dict(urllib.parse.parse_qsl(environ.get('QUERY_STRING', ''),
                                             keep_blank_values=True))
        length = int(environ.get('CONTENT_LENGTH') or 0)
        raw = environ['wsgi.input'].read(length) if length else b''
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {k[5:].replace('_', '-').title(): v for k, v in environ.items()
                   if k.startswith('HTTP_')}
        if environ.get('CONTENT_TYPE'):
            headers['Content-Type'] = environ['CONTENT_TYPE']
        entry = {'method': environ['REQUEST_METHOD'], 'path': environ['PATH_INFO'],
                 'query': query, 'headers': headers, 'body': body, 'raw': raw,
                 'identity': {k[7:].lower().replace('_', '-'): environ.get(k)
                              for k in IDENTITY_KEYS if k in environ},
                 'time': time.time()}
        if self.record:
            with self._lock:
                self.requests.append(entry)
        if 'delay' in query:
            time.sleep(float(query['delay']))
        status = int(query.get('status', 302 if 'location' in query else 200))
        if 'body' in query:
            out = query['body'].encode('utf-8')
        elif 'size' in query:
            out = json.dumps('x' * max(0, int(query['size']) - 2)).encode('ascii')
        elif status == 204:
            out = b''
        else:
            out = json.dumps({'name': query.get('name'), 'seen': body,
                              'n': len(self.requests)}).encode('utf-8')
        resp_headers = [('Content-Type', 'application/json'),
                        ('Content-Length', str(len(out)))]
        if 'cache_control' in query:
            resp_headers.append(('Cache-Control', query['cache_control']))
        if 'location' in query:
            resp_headers.append(('Location', query['location']))
        reason = {200: 'OK', 201: 'Created', 204: 'No Content', 301: 'Moved Permanently',
                  302: 'Found', 303: 'See Other', 307: 'Temporary Redirect',
                  308: 'Permanent Redirect', 400: 'Bad Request',
                  401: 'Unauthorized', 404: 'Not Found', 500: 'Internal Server Error',
                  503: 'Service Unavailable'}.get(status, 'Status')
        start_response('%d %s' % (status, reason), resp_headers)
        return [out]


def protected(app, authtoken_conf):
    """``app`` behind keystonemiddleware ``auth_token`` configured by the oslo.config
    ConfigOpts ``authtoken_conf`` (tests.keystone.authtoken_config builds one)."""
    from keystonemiddleware import auth_token
    return auth_token.AuthProtocol(app, {'oslo_config_config': authtoken_conf})


@contextlib.contextmanager
def serve(app, host='127.0.0.1', port=0, threads=8):
    """Run ``app`` with cheroot in a thread; yield its base URL (no trailing /)."""
    server = cheroot_wsgi.Server((host, port), app, numthreads=threads,
                                 server_name='vendordata-target')
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield 'http://%s:%d' % server.bind_addr[:2]
    finally:
        server.stop()
        thread.join(10)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--threads', type=int, default=16)
    args = parser.parse_args(argv)
    app = TargetApp(record=False)
    with serve(app, args.host, args.port, args.threads) as url:
        print(url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
