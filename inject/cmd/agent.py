"""``inject-agent``: the compute-side injection daemon.

SIGHUP re-reads the configuration files (mutable options such as inject_partition
change live, and the change is logged); SIGTERM or SIGINT stop it after the requests it
holds are done and answered.
"""

import signal
import sys
import threading

from oslo_log import log as logging

from inject import exception
from inject.agent import service as service_mod
from inject import conf as inject_conf

LOG = logging.getLogger(__name__)
CONF = inject_conf.register_opts(inject_conf.CONF)
logging.register_options(CONF)


def main(argv=None):
    CONF(sys.argv[1:] if argv is None else argv, project='inject', prog='inject-agent')
    logging.setup(CONF, 'inject')
    service = service_mod.AgentService(CONF)
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
