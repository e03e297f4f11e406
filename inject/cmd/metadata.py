"""``inject-metadata``: serve the metadata service (Nova's, as guests reach it through
Neutron's metadata proxy) with cheroot, on 127.0.0.1:8775 unless ``[metadata]host``
and ``[metadata]port`` say otherwise.

    inject-metadata [--config-file F]

It reads inject-api's database (``[database]connection``) and never migrates it; start
inject-api (or run ``inject-api --db-sync``) first. It refuses to start without
``[neutron]metadata_proxy_shared_secret`` or with an invalid
``[api]vendordata_dynamic_targets`` entry, naming the problem.
"""

import signal
import sys

from cheroot import wsgi as cheroot_wsgi
from oslo_config import cfg
from oslo_log import log as logging

from inject import conf as inject_conf
from inject import exception
from inject.metadata import wsgi

LOG = logging.getLogger(__name__)
CONF = inject_conf.register_opts(inject_conf.CONF)
logging.register_options(CONF)


def main(argv=None):
    CONF(sys.argv[1:] if argv is None else argv, project='inject',
         prog='inject-metadata')
    logging.setup(CONF, 'inject-metadata')
    try:
        app = wsgi.make_app(CONF)
    except (exception.InjectError, cfg.Error) as e:
        print('inject-metadata: %s' % e, file=sys.stderr, flush=True)
        return 2
    server = cheroot_wsgi.Server((CONF.metadata.host, CONF.metadata.port), app,
                                 numthreads=CONF.metadata.threads,
                                 server_name='inject-metadata')

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    server.prepare()
    host, port = server.bind_addr[:2]
    LOG.info('inject-metadata listening on http://%s:%s/', host, port)
    print('inject-metadata: listening on http://%s:%s/' % (host, port), flush=True)
    try:
        server.serve()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
    app.db.dispose()
    return 0


if __name__ == '__main__':
    sys.exit(main())
