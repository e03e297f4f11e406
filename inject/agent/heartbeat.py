"""An agent's heartbeat in the database (Nova's service group, database driver): the
agent registers its service row (host, ``inject-agent``) when it starts, then every
``[DEFAULT]report_interval`` seconds raises its ``report_count``, moves its
``last_seen_up`` to the database's time and stores what it can do now.

Nothing ever writes "down": inject-api finds a service down when its heartbeat is
older than ``service_down_time`` (:mod:`inject.servicegroup`). A failing report never
stops the timer: the database unreachable is logged once (with the error) until a
report succeeds again, which is logged too; a row deleted by an administrator while
the agent runs is logged as an error telling what to do (the agent does not register
again: restart it to come back, as Nova's compute does).
"""

import logging
import threading

from inject import servicegroup

LOG = logging.getLogger(__name__)


class Heartbeat:
    """Reports ``report()`` (a JSON-able dict) for ``host`` into ``db``."""

    def __init__(self, conf, db, host, report, binary=servicegroup.BINARY):
        self.conf = conf
        self.db = db
        self.host = host
        self.binary = binary
        self._report = report
        self._stop = threading.Event()
        self._thread = None
        self._registered = False
        self.disconnected = False      # the last report failed (logged once)

    def start(self):
        """Register now (a failure is logged and retried at each interval), then report
        in the background."""
        self.beat()
        self._thread = threading.Thread(target=self._loop, name='inject-heartbeat',
                                        daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def beat(self):
        """One report (the registration first, until it succeeded); True when it was
        written."""
        try:
            report = self._report()
            if not self._registered:
                self.db.service_register(self.host, self.binary, report,
                                         enabled=self.conf.enable_new_services)
                self._registered = True
                LOG.info('Service %s of host %s registered in the database',
                         self.binary, self.host)
            elif self.db.service_report(self.host, self.binary, report) is None:
                if not self.disconnected:
                    LOG.error('The services table record for the %s service on host %s '
                              'is gone. You either need to stop this service if it '
                              'should be deleted or restart it to recreate the record '
                              'in the database.', self.binary, self.host)
                self.disconnected = True
                return False
        except Exception as e:
            if not self.disconnected:
                LOG.warning('Cannot report the state of service %s of host %s to the '
                            'database (retrying every %d s): %s: %s', self.binary,
                            self.host, self.conf.report_interval, type(e).__name__, e)
            self.disconnected = True
            return False
        if self.disconnected:
            self.disconnected = False
            LOG.info('Recovered from being unable to report status.')
        return True

    def _loop(self):
        while not self._stop.wait(self.conf.report_interval):
            self.beat()
