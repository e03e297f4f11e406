"""Options of the HTTP server inject-api and inject-metadata run in (Nova's ``[wsgi]``
group): how large a request's head may be, how long a client may take to send a
request, how many connections one process holds."""

from oslo_config import cfg

from inject.conf import base

wsgi_group = cfg.OptGroup(
    'wsgi',
    title='HTTP server options',
    help='The HTTP server of inject-api and inject-metadata. It reads a request\'s line, '
         'headers and body in its event loop and hands the request to a worker thread '
         'only once all of it has arrived, so slow or idle clients hold a connection, '
         'never a thread.')

wsgi_opts = [
    cfg.IntOpt('max_request_line',
               default=8192,
               min=256,
               help='Longest request line (method, target and version) in bytes. A '
                    'longer one is answered 414 naming the limit (eventlet\'s '
                    'url_length_limit under Nova, Apache\'s LimitRequestLine).'),
    cfg.IntOpt('max_header_line',
               default=16384,
               min=256,
               help='Longest header line (name and value) in bytes. A longer one is '
                    'answered 431 naming the header and the limit (Nova\'s '
                    '[wsgi]max_header_line; raise it if Keystone tokens are larger).'),
    cfg.IntOpt('max_header_count',
               default=100,
               min=1,
               help='Most header lines in a request. More are answered 431 (Apache\'s '
                    'LimitRequestFields).'),
    cfg.IntOpt('max_header_size',
               default=65536,
               min=1024,
               help='Most bytes of all header lines of a request together (the '
                    'request line not counted). More are answered 431.'),
    cfg.IntOpt('header_timeout',
               default=20,
               min=1,
               help='Seconds a client has, from the first byte of a request, to send '
                    'its request line and headers; then it is answered 408 and its '
                    'connection closed (Apache\'s RequestReadTimeout header=20).'),
    cfg.IntOpt('body_timeout',
               default=60,
               min=1,
               help='Seconds a client has, from the end of a request\'s headers, to '
                    'send its body; then it is answered 408 and its connection closed.'),
    cfg.IntOpt('client_socket_timeout',
               default=60,
               min=1,
               help='Seconds a connection may stay without any byte received or sent '
                    'while no request of it is being served (an idle keep-alive '
                    'connection, a client that stopped sending or reading); then it is '
                    'closed. Nova\'s option of that name (its default: 900).'),
    cfg.IntOpt('max_connections',
               default=2048,
               min=16,
               help='Most connections one process (each of inject-api\'s workers) '
                    'holds. When a new connection would exceed it, the connection that '
                    'waits for a request the longest is closed, taken from the client '
                    'address that holds the most connections; only when every '
                    'connection has a request being served are new ones left waiting '
                    'in the listen queue. The open-files limit (RLIMIT_NOFILE) is '
                    'raised to fit at start, up to its hard limit; a lower hard limit '
                    'lowers this one, with a warning.'),
]


def register_opts(conf):
    base.register(conf, wsgi_group, wsgi_opts)


def list_opts():
    return {wsgi_group: wsgi_opts}
