"""``inject-api``: serve the Compute API front with :mod:`inject.httpserver` (waitress
behind an event loop that reads whole requests before a thread serves them), on
127.0.0.1:8774 unless ``[api]host`` and ``[api]port`` say otherwise.

    inject-api [--config-file F] [--db-sync]

Every option's value is checked first (a bad one: a line naming it, exit status 2).
``--db-sync`` applies the database migrations and exits. ``[api]workers`` processes
serve one listening socket (see :func:`worker_count`), and exit when their parent dies;
SIGHUP makes each re-read the policy file; SIGTERM or SIGINT stop them after their
builds in progress (:data:`BUILDS_STOP_SECONDS` at most), and then the in-process agent
(its ``[agent]drain_timeout`` at most).
"""

import os
import sys

from oslo_config import cfg
from oslo_log import log as logging

from inject import cmd
from inject import conf as inject_conf
from inject import httpserver
from inject import partitions
from inject.agent import rpcapi
from inject.api import auth
from inject.api import compute as compute_mod
from inject.api import policy
from inject.api import wsgi
from inject.cmd import wsgi_server
from inject.db import api as db_api
from inject.metadata.vendordata import dynamic

LOG = logging.getLogger(__name__)
CONF = inject_conf.register_opts(inject_conf.CONF)
#: how long a stopping inject-api waits for its builds in progress before it stops its
#: in-process agent (which then drains for up to [agent]drain_timeout)
BUILDS_STOP_SECONDS = 30
logging.register_options(CONF)
CONF.register_cli_opts([
    cfg.BoolOpt('db-sync', default=False,
                help='Apply the database migrations, then exit.'),
])


def main(argv=None):
    cmd.configure(CONF, sys.argv[1:] if argv is None else argv, 'inject-api',
                  register=(policy.register_opts, auth.register_opts,
                            rpcapi.register_opts, dynamic.register_opts))
    logging.setup(CONF, 'inject-api')
    if CONF.db_sync:
        db_api.Database(CONF.database.connection, sync=True).dispose()
        print('inject-api: database is at the latest revision')
        return 0
    try:
        workers = worker_count(CONF)
    except ValueError as e:
        print('inject-api: %s' % e, file=sys.stderr, flush=True)
        return 2
    detail = '(microversions 2.1 to %s)' % wsgi.microversion.MAX_VERSION
    settings = httpserver.Settings.from_conf(CONF, CONF.api.max_request_body_size)
    if workers == 1:
        app = _agent_started(wsgi.make_app(CONF))
        app.compute.recover()
        wsgi_server.serve(app, settings, CONF.api.host, CONF.api.port,
                          CONF.api.threads, 'inject-api', detail,
                          on_hup=app.policy.reload)
        _stop(app)
        return 0
    # Once, before any worker builds: migrations and the servers a previous process
    # left building (a worker restarted later must not touch the others' builds).
    db = db_api.Database(CONF.database.connection, sync=CONF.database.sync_on_start)
    try:
        compute_mod.Compute(CONF, db).recover()
    finally:
        db.dispose()
    wsgi_server.serve_workers(
        lambda: _agent_started(wsgi.make_app(
            CONF, db=db_api.Database(CONF.database.connection, sync=False))),
        settings, CONF.api.host, CONF.api.port, CONF.api.threads, 'inject-api', workers,
        detail, on_hup=lambda app: app.policy.reload(), on_stop=_stop,
        on_death=_recover_worker)
    return 0


def _agent_started(app):
    """``app`` with this host's agent started when it is the in-process one, so that
    it registers and heartbeats from the start (as a compute service does), not at
    the first build."""
    if rpcapi.in_process(CONF):
        app.compute.agent_client()
    return app


def _recover_worker(pid):
    """The servers the dead worker ``pid`` was building go to ERROR."""
    db = db_api.Database(CONF.database.connection, sync=False)
    try:
        compute_mod.Compute(CONF, db).recover_builder(compute_mod.builder(pid))
    finally:
        db.dispose()


def worker_count(conf):
    """``[api]workers``, or its default: the number of CPUs, but 1 when the
    in-process agent may inject. ValueError for several workers with an in-process
    agent that may inject: each worker would run an agent of its own (its own
    appliance limit, its own batches), which is wrong on one host. With injection
    disabled (``inject_partition = -2``, read once at start: inject-api does not
    re-read its configuration) an in-process agent never launches an appliance, so
    one per worker is harmless."""
    shared = (not rpcapi.in_process(conf)
              or conf.injection.inject_partition == partitions.DISABLED)
    if conf.api.workers is None:
        return (os.cpu_count() or 1) if shared else 1
    if conf.api.workers > 1 and not shared:
        raise ValueError(
            '[api]workers = %d needs [DEFAULT]transport_url (and inject-agent running) '
            'or injection disabled ([injection]inject_partition = -2): the in-process '
            'injection agent serves one inject-api process only' % conf.api.workers)
    return conf.api.workers


def _stop(app):
    LOG.info('inject-api stopping; waiting for builds in progress')
    app.compute.wait(timeout=BUILDS_STOP_SECONDS)
    app.compute.close()
    app.db.dispose()


if __name__ == '__main__':
    sys.exit(main())
