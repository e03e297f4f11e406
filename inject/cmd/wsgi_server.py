"""Serving a WSGI application with cheroot (threaded, production-grade) until SIGTERM or
Ctrl-C: what inject-api and inject-metadata share."""

import signal

from cheroot import wsgi as cheroot_wsgi
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def serve(app, host, port, threads, name, detail=''):
    """Bind ``host:port`` (port 0: any free one), say where on stdout, serve until
    SIGTERM or Ctrl-C, then stop the server and return."""
    server = cheroot_wsgi.Server((host, port), app, numthreads=threads, server_name=name)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    server.prepare()
    bound_host, bound_port = server.bind_addr[:2]
    LOG.info('%s listening on http://%s:%s/ %s', name, bound_host, bound_port, detail)
    print('%s: listening on http://%s:%s/' % (name, bound_host, bound_port), flush=True)
    try:
        server.serve()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
