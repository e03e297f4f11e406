"""The agent: an RPC server in front of the scheduler, plus self-tests and reloads."""

import logging
import os
import threading
import time
import weakref

import oslo_messaging as messaging

from inject import appliance
from inject import conf as inject_conf
from inject import exception
from inject import manager as manager_mod
from inject import partitions
from inject import report as report_mod
from inject import vfs
from inject.agent import heartbeat as heartbeat_mod
from inject.agent import hostinfo
from inject.agent import payload as payload_mod
from inject.agent import rpcapi
from inject.agent import scheduler as scheduler_mod
from inject.appliance import memory

LOG = logging.getLogger(__name__)

_LIVE = weakref.WeakSet()     # running services, told about configuration changes


def _log_and_apply_changes(conf, fresh):
    """oslo.config mutate hook: log each changed option, then update live services."""
    for (group, name), (old, new) in sorted(fresh.items(), key=str):
        LOG.warning('Configuration changed: [%s]%s = %s (was %s)',
                    group or 'DEFAULT', name, new, old)
    for service in list(_LIVE):
        service.apply_config(conf)


def default_max_appliances(max_batch, meminfo=memory.MEMINFO, settings=None,
                           warm_appliances=0):
    """One appliance per core, fewer when available memory cannot hold them next to
    the ``warm_appliances`` idle ones.

    What one appliance takes depends on the accelerator ``settings`` lead to (TCG when
    KVM is still on trial: if KVM fails, TCG takes its place) and the TCG cache size
    (see :func:`inject.appliance.memory.appliance_mb`); a batch appliance holds up to
    ``max_batch`` drives, a warm one ``warm_max_disks``. Never 0: the launch-time check
    (:func:`inject.appliance.memory.admit`) refuses an appliance the host cannot hold.
    """
    cores = os.cpu_count() or 1
    available_mb = memory.available_mb(meminfo)
    if available_mb is None:
        return cores
    settings = settings or appliance.Settings()
    accelerator, _, _ = appliance.choose_accelerator(settings)
    per_batch = appliance_mb(settings, accelerator, max_batch)
    per_warm = appliance_mb(settings, accelerator, settings.warm_max_disks)
    if warm_appliances < 0:       # auto: one warm appliance per appliance slot
        return max(1, min(cores, available_mb // (per_batch + per_warm)))
    usable = available_mb - per_warm * warm_appliances
    return max(1, min(cores, usable // per_batch))


def appliance_mb(settings, accelerator, drives):
    """Host memory (MB) of one appliance holding ``drives`` drives with ``settings``."""
    if accelerator == 'kvm' and settings.accelerator != 'kvm':
        accelerator = 'tcg'       # on trial: TCG takes its place if it fails
    tb_size = settings.tb_size if accelerator == 'tcg' else 0
    return memory.appliance_mb(accelerator, tb_size, drives)


_MISSING = object()


class AgentEndpoint:
    target = messaging.Target(version=rpcapi.VERSION)

    def __init__(self, service):
        self.service = service

    def inject(self, ctxt, payload=_MISSING, **unexpected):
        # A call this version cannot read is answered with a failed report naming the
        # problem, like any malformed payload (not an opaque RemoteError).
        if payload is _MISSING or unexpected:
            what = ('unexpected argument(s): %s' % ', '.join(sorted(unexpected))
                    if unexpected else 'the payload argument is missing')
            return self.service.refuse(payload if payload is not _MISSING else None,
                                       str(payload_mod.malformed(what)))
        return self.service.inject(payload)

    def capabilities(self, ctxt):
        return self.service.capabilities()


class AgentService:
    """Start with :meth:`start`; :meth:`stop` drains. Give ``transport`` to share an
    in-process transport with an :class:`inject.agent.rpcapi.AgentClient`, and ``db``
    (an :class:`inject.db.api.Database`) for the agent to register and heartbeat
    there (:mod:`inject.agent.heartbeat`); without one it does not report itself."""

    def __init__(self, conf, transport=None, manager=None, db=None):
        inject_conf.register_opts(conf, inject_conf.AGENT_MODULES)
        rpcapi.register_opts(conf)
        self.conf = conf
        self.host = conf.agent.host
        self.pool = None
        self.max_appliances = (conf.agent.max_appliances or default_max_appliances(
            conf.agent.max_batch, settings=appliance.Settings.from_conf(conf),
            warm_appliances=conf.appliance.warm_appliances))
        if manager is None:
            warm = conf.appliance.warm_appliances
            if warm < 0:
                warm = self.max_appliances
            if warm:
                self.pool = appliance.WarmPool(
                    appliance.Settings.from_conf(conf), warm,
                    conf.appliance.warm_max_disks,
                    enabled=lambda: conf.injection.inject_partition != partitions.DISABLED,
                    linger=conf.appliance.warm_linger)
            manager = manager_mod.Manager(conf, pool=self.pool)
        self.manager = manager
        self.transport = transport or rpcapi.get_transport(conf)
        self.scheduler = scheduler_mod.Scheduler(
            self.manager.inject, self.manager.scheduling_keys, conf.agent.batch_window,
            conf.agent.max_batch, self.max_appliances, host=self.host,
            still_exclusive=self.manager.still_exclusive,
            streams=True)
        target = messaging.Target(topic=conf.agent.topic, server=self.host)
        self.rpc_server = messaging.get_rpc_server(
            self.transport, target, [AgentEndpoint(self)], executor='threading')
        self.heartbeat = (heartbeat_mod.Heartbeat(conf, db, self.host, self.report)
                          if db is not None else None)
        self.selftest = {'when': None, 'ok': None, 'reason': 'not run yet'}
        self._driver_ok = False
        self._stop = threading.Event()
        self._selftest_thread = None
        conf.register_mutate_hook(_log_and_apply_changes)     # a set: registered once
        _LIVE.add(self)

    # --- lifecycle ------------------------------------------------------------------

    def start(self, selftest=True):
        if rpcapi.in_process(self.conf):
            LOG.warning('[DEFAULT]transport_url is not set: agent %s is reachable '
                        'in-process only', self.host)
        else:
            self._refuse_duplicate_host()
        self.scheduler.start()
        self.rpc_server.start()
        if self.pool is not None:
            self.pool.start()
        if self.heartbeat is not None:
            self.heartbeat.start()
        LOG.info('inject-agent %s serving topic %s: batches of up to %d disks, %d '
                 'appliance(s) at once, inject_partition=%s', self.host,
                 self.conf.agent.topic, self.conf.agent.max_batch, self.max_appliances,
                 self.conf.injection.inject_partition)
        if selftest and self.conf.agent.selftest_interval >= 0:
            self._selftest_thread = threading.Thread(target=self._selftest_loop,
                                                     name='inject-selftest', daemon=True)
            self._selftest_thread.start()

    def _refuse_duplicate_host(self, timeout=3):
        try:
            rpcapi.AgentClient(self.conf, transport=self.transport).capabilities(
                self.host, timeout=timeout)
        except exception.AgentTimeout:
            return
        raise exception.AgentHostTaken(host=self.host)

    def stop(self):
        """Stop taking requests; finish what is running and answer what is queued, for
        up to ``drain_timeout`` seconds. Then every appliance still running is killed
        -- warm ones launching or idle, a self-test's, and those of batches still at work,
        whose requests are answered with an error saying so -- and what is queued is
        answered with AgentStopping."""
        LOG.info('inject-agent %s stopping: %d running, %d queued', self.host,
                 self.scheduler.running(), self.scheduler.queued())
        self._stop.set()
        _LIVE.discard(self)
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.rpc_server.stop()
        if self.pool is not None:
            self.pool.stop_refills()   # no launch for after the drain
        drain = self.conf.agent.drain_timeout
        dropped = self.scheduler.stop(drain)
        running = self.scheduler.running()
        self.manager.stop_appliances('inject-agent %s is stopping ([agent]drain_timeout '
                                     'of %d s ran out)' % (self.host, drain))
        if self.pool is not None:
            self.pool.close()
        if running:
            LOG.warning('inject-agent %s: %d batch(es) still running after drain_timeout '
                        '(%d s); their appliances were killed', self.host, running, drain)
        self.rpc_server.wait()
        LOG.info('inject-agent %s stopped (%d request(s) answered with an error)',
                 self.host, dropped)

    def reload(self):
        """Re-read the configuration files (SIGHUP); mutable options change live."""
        LOG.info('Re-reading the configuration files')
        self.conf.mutate_config_files()

    def apply_config(self, conf):
        self.scheduler.window = conf.agent.batch_window
        self.scheduler.max_batch = conf.agent.max_batch
        if self.pool is not None:
            self.pool.refill()         # injection may just have been enabled

    # --- requests -------------------------------------------------------------------

    def inject(self, payload):
        """The report dict for ``payload``; never raises: a payload that cannot be
        decoded, or a request that fails, is answered with ``ok`` False and the reason
        in ``error``."""
        try:
            request = payload_mod.from_dict(payload)
            project = payload_mod.project_of(payload)
        except exception.InjectError as e:
            return self.refuse(payload, str(e))
        except Exception as e:      # a payload from_dict did not foresee: answer it
            LOG.exception('Cannot decode an inject payload')
            return self.refuse(payload, str(payload_mod.malformed(
                '%s: %s' % (type(e).__name__, e))))
        try:
            report = self.scheduler.submit(project, request).result()
        except exception.InjectError as e:
            return self.refuse(payload, str(e))
        except Exception as e:
            LOG.exception('Injecting %r failed', request)
            return self.refuse(payload, 'internal error of the agent: %s: %s'
                               % (type(e).__name__, e))
        return self._answer(report, payload)

    def refuse(self, payload, error):
        """A failed report for ``payload`` (whatever it holds), with ``error``."""
        image = payload.get('image') if isinstance(payload, dict) else None
        image = image if isinstance(image, dict) else {}
        report = report_mod.Report(image=_echo(image.get('path')),
                                   format=_echo(image.get('format')), error=error)
        return self._answer(report, payload)

    def _answer(self, report, payload):
        result = report.to_dict()
        result.update(host=self.host, instance_id=_echo(
            payload.get('instance_id') if isinstance(payload, dict) else None))
        return result

    def capabilities(self):
        """``can_inject`` is True once a self-test passed with injection enabled;
        ``reason`` says why injection is known not to work here, or is None (also while
        no self-test has run and nothing else is wrong)."""
        partition = self.conf.injection.inject_partition
        selftest = dict(self.selftest)
        return {
            'host': self.host,
            'can_inject': bool(selftest['ok']) and partition != partitions.DISABLED,
            'reason': self._unavailable(partition, selftest),
            'inject_partition': partition,
            'injection_enabled': partition != partitions.DISABLED,
            'accelerator': selftest.get('accelerator'),
            'accelerator_setting': self.conf.appliance.accelerator,
            'last_selftest': selftest,
            'max_appliances': self.max_appliances,
            'max_batch': self.scheduler.max_batch,
            'batch_window': self.scheduler.window,
            'warm_appliances': self.pool.ready() if self.pool is not None else 0,
            'running': self.scheduler.running(),
            'queued': self.scheduler.queued(),
        }

    def report(self):
        """What each heartbeat stores with the service: whether and how this host
        injects (``can_inject``, ``reason``, ``inject_partition``, ``accelerator``),
        its appliance slots (``max_appliances``, ``free_slots``: those not running a
        batch now), its queue and warm appliances, and its ``resources`` (see
        :func:`inject.agent.hostinfo.resources`)."""
        caps = self.capabilities()
        report = {key: caps[key] for key in (
            'can_inject', 'reason', 'inject_partition', 'accelerator', 'max_appliances',
            'running', 'queued', 'warm_appliances')}
        report['free_slots'] = max(0, caps['max_appliances'] - caps['running'])
        report['resources'] = hostinfo.resources(self.conf)
        return report

    def _unavailable(self, partition, selftest):
        """Why this host cannot inject, as far as is known without launching the
        appliance (injection disabled, the libguestfs binding missing, the last
        self-test failed), or None."""
        if partition == partitions.DISABLED:
            return 'injection is disabled ([injection]inject_partition = -2)'
        if not self._driver_ok:
            try:
                vfs.load_driver()
            except exception.InjectError as e:
                return str(e)
            self._driver_ok = True
        if selftest['ok'] is False:
            return 'the last self-test failed: %s' % selftest['reason']
        return None

    def run_selftest(self):
        """Launch the appliance once; remember when and how it went."""
        status = self.manager.status()
        self.selftest = {
            'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
            'ok': status['accelerator'] is not None,      # the appliance launched
            'accelerator': status['accelerator'],
            'kernel_boot': status['kernel_boot'],
            'launch_seconds': status['launch_seconds'],
            'reason': None if status['accelerator'] else status['reason'],
        }
        LOG.info('Self-test: %s', self.selftest)
        return self.selftest

    def _selftest_loop(self):
        while not self._stop.is_set():
            try:
                self.run_selftest()
            except Exception as e:
                LOG.exception('Self-test failed')
                self.selftest = {'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                                 'ok': False, 'reason': 'self-test crashed: %s' % e}
            interval = self.conf.agent.selftest_interval
            if not interval or self._stop.wait(interval):
                return


def _echo(value):
    """A payload's field as echoed in a report: text (at most 4096 characters) or None."""
    return value[:4096] if isinstance(value, str) else None


def start_in_process(conf, selftest=True, db=None):
    """An agent serving in this process, and a client bound to it (no broker); with
    ``db`` it registers and heartbeats there. The options they read are registered
    on ``conf``."""
    inject_conf.register_opts(conf, inject_conf.AGENT_MODULES)
    transport = rpcapi.get_transport(conf)
    service = AgentService(conf, transport=transport, db=db)
    service.start(selftest=selftest)
    return service, rpcapi.AgentClient(conf, transport=transport)
