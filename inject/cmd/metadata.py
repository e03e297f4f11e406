"""``inject-metadata``: serve the metadata service (Nova's, as guests reach it through
Neutron's metadata proxy) with :mod:`inject.httpserver`, on 127.0.0.1:8775 unless
``[metadata]host`` and ``[metadata]port`` say otherwise.

    inject-metadata [--config-file F]

It reads inject-api's database (``[database]connection``) and never migrates it; start
inject-api (or run ``inject-api --db-sync``) first. ``[metadata]workers`` processes serve
one listening socket. It refuses to start (exit status 2) without
``[neutron]metadata_proxy_shared_secret`` or with an option whose value is invalid (an
``[api]vendordata_dynamic_targets`` entry among them), naming it.
"""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from inject import cmd
from inject import conf as inject_conf
from inject import exception
from inject import httpserver
from inject.cmd import wsgi_server
from inject.metadata import wsgi
from inject.metadata.vendordata import dynamic

LOG = logging.getLogger(__name__)
CONF = inject_conf.register_opts(inject_conf.CONF, inject_conf.METADATA_MODULES)
logging.register_options(CONF)

#: The largest request body the server receives: the metadata service takes only a
#: posted password (answered 400 above wsgi.MAX_PASSWORD_BYTES); larger bodies are
#: refused 413 before they are read.
MAX_REQUEST_BODY_BYTES = 65536


def main(argv=None):
    cmd.configure(CONF, sys.argv[1:] if argv is None else argv, 'inject-metadata',
                  register=(dynamic.register_opts,))
    logging.setup(CONF, 'inject-metadata')
    try:
        app = wsgi.make_app(CONF)
    except (exception.InjectError, cfg.Error) as e:
        print('inject-metadata: %s' % e, file=sys.stderr, flush=True)
        return 2
    settings = httpserver.Settings.from_conf(CONF, MAX_REQUEST_BODY_BYTES)
    if CONF.metadata.workers == 1:
        wsgi_server.serve(app, settings, CONF.metadata.host, CONF.metadata.port,
                          CONF.metadata.threads, 'inject-metadata')
        app.db.dispose()
        return 0
    app.db.dispose()        # it was made to check the options; each worker makes its own
    wsgi_server.serve_workers(lambda: wsgi.make_app(CONF), settings, CONF.metadata.host,
                              CONF.metadata.port, CONF.metadata.threads, 'inject-metadata',
                              CONF.metadata.workers, on_stop=lambda app: app.db.dispose())
    return 0


if __name__ == '__main__':
    sys.exit(main())
