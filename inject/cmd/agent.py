"""``inject-agent``: the compute-side injection daemon.

It registers itself in inject-api's database (``[database]connection``) and
heartbeats there every ``[DEFAULT]report_interval`` seconds, so inject-api knows the
host and whether it is up (``openstack compute service list``). SIGHUP re-reads the
configuration files (mutable options such as inject_partition change live, and the
change is logged); SIGTERM or SIGINT stop it after the requests it holds are done and
answered. A bad option value stops it at start (exit status 2), named.
"""

import signal
import sys
import threading

from oslo_config import cfg
from oslo_log import log as logging
from sqlalchemy.engine import url as sa_url

from inject import cmd
from inject import conf as inject_conf
from inject import exception
from inject.agent import rpcapi
from inject.agent import service as service_mod
from inject.db import api as db_api

LOG = logging.getLogger(__name__)
CONF = inject_conf.register_opts(inject_conf.CONF, inject_conf.AGENT_MODULES
                                 + (inject_conf.database,))
logging.register_options(CONF)


def main(argv=None):
    cmd.configure(CONF, sys.argv[1:] if argv is None else argv, 'inject-agent',
                  register=(rpcapi.register_opts,))
    logging.setup(CONF, 'inject')
    try:
        db = db_api.Database(CONF.database.connection, sync=CONF.database.sync_on_start)
    except Exception as e:
        LOG.error('Cannot use the database %s for this agent\'s heartbeat: %s. Set '
                  '[database]connection to inject-api\'s database.',
                  _shown(CONF.database.connection), e)
        return 1
    if not rpcapi.in_process(CONF) and _default_database(CONF):
        LOG.warning('[database]connection is the default SQLite file of this host: an '
                    'inject-api on another host will not see this agent\'s heartbeat. '
                    'Set it to inject-api\'s database (PostgreSQL).')
    try:
        return _serve(service_mod.AgentService(CONF, db=db))
    finally:
        db.dispose()


def _default_database(conf):
    location = conf.get_location('connection', 'database')
    return location is None or location.location == cfg.Locations.opt_default


def _shown(url):
    """A database URL without its password, for the log."""
    try:
        return sa_url.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return '(unparsable URL)'


def _serve(service):
    stop = threading.Event()
    reload = threading.Event()

    def on_term(signum, frame):
        LOG.info('Got signal %d: stopping', signum)
        stop.set()

    def on_hup(signum, frame):
        reload.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        service.start()
    except exception.InjectError as e:
        LOG.error('%s', e)
        return 1
    while not stop.is_set():
        stop.wait(0.5)
        if reload.is_set():
            reload.clear()
            service.reload()
    service.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
