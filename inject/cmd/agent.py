"""``inject-agent``: the compute-side injection daemon.

SIGHUP re-reads the configuration files (mutable options such as inject_partition
change live, and the change is logged); SIGTERM or SIGINT stop it after the requests it
holds are done and answered. A bad option value stops it at start (exit status 2),
named.
"""

import signal
import sys
import threading

from oslo_log import log as logging

from inject import cmd
from inject import conf as inject_conf
from inject import exception
from inject.agent import rpcapi
from inject.agent import service as service_mod

LOG = logging.getLogger(__name__)
CONF = inject_conf.register_opts(inject_conf.CONF, inject_conf.HOST_MODULES)
logging.register_options(CONF)


def main(argv=None):
    cmd.configure(CONF, sys.argv[1:] if argv is None else argv, 'inject-agent',
                  register=(rpcapi.register_opts,))
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
