"""``inject-api``: serve the Compute API front with cheroot (a production, threaded
WSGI server), on 127.0.0.1:8774 unless ``[api]host`` and ``[api]port`` say otherwise.

    inject-api [--config-file F] [--db-sync]

``--db-sync`` applies the database migrations and exits.
"""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from inject import conf as inject_conf
from inject.api import wsgi
from inject.cmd import wsgi_server
from inject.db import api as db_api

LOG = logging.getLogger(__name__)
CONF = inject_conf.register_opts(inject_conf.CONF)
logging.register_options(CONF)
CONF.register_cli_opts([
    cfg.BoolOpt('db-sync', default=False,
                help='Apply the database migrations, then exit.'),
])


def main(argv=None):
    CONF(sys.argv[1:] if argv is None else argv, project='inject', prog='inject-api')
    logging.setup(CONF, 'inject-api')
    if CONF.db_sync:
        db_api.Database(CONF.database.connection, sync=True).dispose()
        print('inject-api: database is at the latest revision')
        return 0
    app = wsgi.make_app(CONF)
    app.compute.recover()
    wsgi_server.serve(app, CONF.api.host, CONF.api.port, CONF.api.threads, 'inject-api',
                      '(microversions 2.1 to %s)' % wsgi.microversion.MAX_VERSION)
    LOG.info('inject-api stopping; waiting for builds in progress')
    app.compute.wait(timeout=30)
    app.compute.close()
    app.db.dispose()
    return 0


if __name__ == '__main__':
    sys.exit(main())
