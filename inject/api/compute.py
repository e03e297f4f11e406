"""The spawn flow behind the API: disk from image, injection, state.

Create and rebuild return at once (202) and run :meth:`Compute.build` in a background
thread, one per server: the instance disk is made as a qcow2 overlay on the base image
under ``[api]instances_path``; a server whose record says ``config_drive = 'True'``
(asked on create, or ``[DEFAULT]force_config_drive``) gets ``disk.config`` beside it,
built from the record (user data, metadata, boot roles, key), the personality files
and the admin password, with the configured vendordata (a fatal target failure is a
fault naming the target; nothing is left half-written); the data is injected through
:func:`inject_disk`, and the server becomes ACTIVE, or ERROR with a fault saying why.
Personality files are kept with the server for the metadata service; under
``[api]personality_without_injection = metadata`` files not written into the disk are
delivered through the drive and the metadata service, and the report and the
instance action say so. The servers of one
multi-create send their injection requests together (:meth:`Compute.start_together`),
so the agent serves them with one appliance launch. The API reaches injection only
through this host's agent (inject.agent, in-process by default): :func:`inject_disk`
sends it a request, :meth:`Compute.injection_unavailable` asks its capabilities.
"""

import logging
import os
import shutil
import socket
import threading
import time

from inject import agent
from inject import exception
from inject import image as image_mod
from inject import report as report_mod
from inject import request as request_mod
from inject import servicegroup
from inject.agent import rpcapi
from inject.db import models
from inject.db import system_metadata
from inject.metadata import base as metadata_base
from inject.metadata import configdrive
from inject.metadata import instance as instance_mod
from inject.metadata.vendordata import cache as vendordata_cache
from inject.metadata.vendordata import providers as vendordata_providers

LOG = logging.getLogger(__name__)

CAPABILITIES_TIMEOUT = 10     # seconds an API request waits for the agent's answer
CONFIG_DRIVE_NAME = 'disk.config'
#: The report status of a personality file delivered through the config drive and
#: the metadata service instead of the disk (``personality_without_injection =
#: metadata``).
DELIVERED = 'delivered'
#: The targets the agent's report names for a key and an admin password.
KEY_TARGET = '/root/.ssh/authorized_keys'
PASSWORD_TARGET = '/etc/shadow (root)'
#: ``instances.config_drive`` of a server with a config drive (Nova's stored string;
#: '' without one).
CONFIG_DRIVE_TRUE = 'True'


def inject_disk(conf, injection_request, instance_id=None, project_id=None,
                agent_client=None):
    """Inject one request through this host's agent; return its Report (without a
    round trip when the in-process agent would write nothing: :func:`nothing_written`).

    ``agent_client()`` gives the client (started on first use). The instance disk lives
    on this host, so the agent asked is this host's. Requests of one project that
    arrive together share an appliance launch there.
    """
    report = nothing_written(conf, injection_request)
    if report is not None:
        return report
    reply = agent_client().inject(conf.agent.host, injection_request,
                                  instance_id=instance_id, project_id=project_id)
    return report_mod.Report.from_dict(reply)


def nothing_written(conf, req):
    """The report of injection request ``req`` without asking the agent, when the
    agent is the in-process one (its configuration is this process's) and would
    write nothing and launch no appliance: no files, no metadata, and a key and a
    password that this host's [injection] options skip, as the report says of each
    (exactly what the agent answers for it). None otherwise: ask the agent (one on
    another host, or behind a broker, has a configuration of its own)."""
    inj = conf.injection
    if (req.files or req.metadata is not None or req.net is not None
            or (req.key is not None and inj.inject_key)
            or (req.admin_password is not None and inj.inject_password)
            or req.partition is not None or not rpcapi.in_process(conf)):
        return None
    report = report_mod.Report(image=req.image.path, format=req.image.format,
                               partition_requested=inj.inject_partition,
                               request_id=req.request_id)
    for wanted, kind, target, option in (
            (req.key, 'key', KEY_TARGET, 'inject_key'),
            (req.admin_password, 'admin_password', PASSWORD_TARGET,
             'inject_password')):
        if wanted is not None:
            report.items.append(report_mod.ItemResult(
                kind, target, report_mod.SKIPPED,
                'not injected: %s is False on this host' % option))
    report.timings['total'] = 0.0
    return report


class BuildRequest:
    """What a build needs besides the database row; file contents stay in memory."""

    def __init__(self, image, files=(), admin_password=None, metadata=None,
                 action_id=None, request_id=None, key=None, created=None):
        self.image = image
        #: ``(project_id, config_drive)`` of a server whose create transaction kept
        #: its files and its builder: its build starts without writing them again.
        self.created = created
        self.key = key            # the server's SSH public key line, or None
        self.files = list(files)
        self.admin_password = admin_password
        self.metadata = metadata or {}
        self.action_id = action_id
        self.request_id = request_id
        #: What the instance action says of a successful build (None: nothing).
        self.note = None
        self.finished = False   # the action was finished with the server's state
        self.gate = None       # a _Gate shared with the other builds of one request

    def ready(self):
        """This build's disk is ready: wait until every build of its request is ready
        (or has failed) too, so their injections reach the agent together."""
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.arrive()
            gate.wait(GATE_TIMEOUT)

    def release(self):
        """This build will not inject (failed, or nothing to write): stop holding the
        others of its request for it."""
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.arrive()


#: Most seconds between a build's tries to record its failure in a database that
#: cannot be written (see Compute._error).
RECORD_RETRY_MAX_SECONDS = 30
GATE_TIMEOUT = 60      # seconds a ready build waits for the slowest of its request


class _Gate:
    """Counts down the builds of one request still preparing their disks."""

    def __init__(self, count):
        self._left = count
        self._cv = threading.Condition()

    def arrive(self):
        with self._cv:
            self._left -= 1
            self._cv.notify_all()

    def wait(self, timeout):
        with self._cv:
            self._cv.wait_for(lambda: self._left <= 0, timeout)


class Compute:
    def __init__(self, conf, db):
        self.conf = conf
        self.db = db
        self._threads = []
        self._lock = threading.Lock()
        self._agent = None          # (in-process service or None, client)
        self._vendordata = None
        self._closing = threading.Event()

    def agent_client(self):
        """This host's agent: started in this process when no transport_url is set (the
        embedded default), else reached over RPC by this host's [agent]host name."""
        with self._lock:
            if self._agent is None:
                if rpcapi.in_process(self.conf):
                    # No self-test: its launch would compete with the first build's,
                    # and what the API asks of the agent's capabilities (why it
                    # cannot inject) needs none.
                    self._agent = agent.start_in_process(self.conf, selftest=False,
                                                         db=self.db)
                else:
                    self._agent = (None, agent.AgentClient(self.conf))
            return self._agent[1]

    def close(self):
        """Stop the in-process agent, if one was started (after :meth:`wait`), and the
        builds waiting to record their failure (:meth:`_error`)."""
        self._closing.set()
        with self._lock:
            service, _ = self._agent or (None, None)
            self._agent = None
        if service is not None:
            service.stop()

    def injection_unavailable(self):
        """Why this host's agent cannot inject, as far as it knows without launching the
        appliance (injection disabled, the libguestfs binding missing, its last
        self-test failed), or why it could not be asked; None when nothing is known
        against it. The agent answers from its own configuration, which is not the
        API's when it runs elsewhere."""
        host = self.conf.agent.host
        try:
            caps = self.agent_client().capabilities(host, timeout=CAPABILITIES_TIMEOUT)
        except exception.AgentTimeout:
            return ('no injection agent on host %s answered within %d s'
                    % (host, CAPABILITIES_TIMEOUT))
        except exception.InjectError as e:
            return str(e)
        return caps.get('reason')

    def host_refusal(self):
        """Why no build may go to this host's agent now (its service is down, forced
        down or disabled, as its heartbeats in the database say), or None. A host that
        never registered is not refused: its agent answers or times out, as before
        (inject-api starts its in-process agent, which registers, when it starts)."""
        service, now = self.db.service_get(host=self.conf.agent.host,
                                           binary=servicegroup.BINARY)
        if service is None:
            return None
        return servicegroup.refusal(service, now, self.conf)

    def disk_path(self, uuid):
        return os.path.join(self.conf.api.instances_path, uuid, 'disk')

    def config_drive_path(self, uuid):
        return os.path.join(self.conf.api.instances_path, uuid, CONFIG_DRIVE_NAME)

    def vendordata(self):
        """The configured vendordata providers, made at the first config drive (a bad
        ``vendordata_dynamic_targets`` entry fails that build, naming the entry). The
        dynamic answers are kept in the database too, for inject-metadata to reuse."""
        with self._lock:
            if self._vendordata is None:
                self._vendordata = vendordata_providers.ConfiguredVendorData(
                    self.conf, cache=vendordata_cache.SharedAnswerCache(self.db))
            return self._vendordata

    def forget_vendordata(self, uuid):
        with self._lock:
            vendordata = self._vendordata
        if vendordata is not None and vendordata.dynamic_json is not None:
            vendordata.dynamic_json.cache.forget(uuid)

    def build_config_drive(self, uuid, build):
        """Write ``disk.config`` of the server as its record says now (user data,
        metadata, boot roles, key, the personality files this build kept with it:
        what the metadata service serves too) with the build's admin password.
        Atomic: on any failure no ``disk.config`` is left."""
        info = instance_mod.load(self.db, uuid, admin_pass=build.admin_password)
        if info is None:
            return None
        md = metadata_base.InstanceMetadata(info, vendordata=self.vendordata(),
                                            conf=self.conf)
        return configdrive.build_config_drive(md, self.config_drive_path(uuid))

    def start(self, uuid, build):
        thread = threading.Thread(target=self.build, args=(uuid, build),
                                  name='build-%s' % uuid, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def start_together(self, builds):
        """Start ``[(uuid, BuildRequest)]``, the servers of one multi-create: each
        prepares its disk, then all send their injection requests at once, so the
        agent batches them (one project) into one appliance launch."""
        if len(builds) > 1:
            gate = _Gate(len(builds))
            for _, build in builds:
                build.gate = gate
        for uuid, build in builds:
            self.start(uuid, build)

    def wait(self, timeout=None):
        """Wait for every build started so far (tests, shutdown), ``timeout`` seconds at
        most in all."""
        with self._lock:
            threads = list(self._threads)
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def build(self, uuid, build):
        try:
            message = self._build(uuid, build)
        except exception.DatabaseUnavailable as e:
            LOG.error('build of %s failed', uuid)     # oslo.log adds e
            message = ('Build failed: the database could not be written (%s); rebuild '
                       'or delete this server' % e.reason)
            self._error(uuid, message, details=str(e), build=build)
        except Exception as e:   # never leave a server in BUILD
            LOG.exception('build of %s failed', uuid)
            message = 'Build failed: %s' % e
            self._error(uuid, message, details=repr(e), build=build)
        finally:
            build.release()
        if build.action_id is not None and not build.finished:
            self.db.action_finish(build.action_id, 'Error' if message else build.note)
        if not self.db.instance_alive(uuid):   # deleted meanwhile
            self.remove_disk(uuid)

    def _build(self, uuid, build):
        """Return None on success, else the fault message (already recorded)."""
        refusal = self.host_refusal()
        if refusal:
            message = 'No valid host was found. %s' % refusal
            self._error(uuid, message[:255], details=refusal, build=build)
            return message
        disk = self.disk_path(uuid)
        self.remove_disk(uuid)
        os.makedirs(os.path.dirname(disk), mode=0o700, exist_ok=True)
        try:
            image_mod.create_overlay(build.image, disk)
        except exception.InjectError as e:
            message = 'Could not create the disk from image %s: %s' % (build.image.name, e)
            self._error(uuid, message, build=build)
            return message
        sysmeta = {system_metadata.IMAGE_BASE_IMAGE_REF: build.image.id,
                   system_metadata.INJECTED_FILES: ','.join(p for p, _ in build.files)}
        # The files are kept with the server: the metadata service serves them (and a
        # later config drive of this build's files). One round of dynamic vendordata
        # requests per build (a rebuild asks again): the answers kept in the database
        # and in this process are forgotten.
        if build.created is not None:    # nothing to write: the create kept it all
            state = build.created if self.db.instance_alive(uuid) else None
        else:
            state = self.db.build_begin(uuid, build.files,
                                        {system_metadata.BUILDER: builder()})
        self.forget_vendordata(uuid)
        if state is None:
            return None
        project_id, config_drive = state
        with_drive = config_drive == CONFIG_DRIVE_TRUE
        if with_drive:
            try:
                self.build_config_drive(uuid, build)
            except exception.VendorDataTargetFailed as e:
                message = ('Config drive not built: dynamic vendordata target %s '
                           'failed: %s' % (e.target, e.reason))
                self._error(uuid, message, details=str(e), build=build)
                return message
            except exception.InjectError as e:
                message = 'Config drive not built: %s' % e
                self._error(uuid, message, details=str(e), build=build)
                return message
        delivered = None
        if build.files or build.metadata or build.admin_password or build.key:
            try:
                req = request_mod.InjectionRequest(
                    image_mod.DiskImage(disk, 'qcow2'), files=build.files,
                    metadata=build.metadata or None,
                    admin_password=build.admin_password, request_id=build.request_id,
                    key=build.key)
                build.ready()
                report = inject_disk(self.conf, req, instance_id=uuid,
                                     project_id=project_id,
                                     agent_client=self.agent_client)
            except exception.InjectError as e:
                message = _not_injected(build.files, str(e)) or 'Injection failed: %s' % e
                self._error(uuid, message, details=str(e), build=build)
                return message
            if self.conf.api.personality_without_injection == 'metadata':
                delivered = deliver_through_metadata(report, with_drive)
            sysmeta[system_metadata.INJECT_REPORT] = report.to_json()
            message, details = judge(report)
            if message:
                self._error(uuid, message, details=details, sysmeta=sysmeta,
                            build=build)
                return message
        # The action finishes with the server's state (one transaction) unless the
        # server is gone meanwhile.
        build.finished = self.db.build_finish(
            uuid, dict(vm_state='active', task_state=None, launched_at=models.utcnow(),
                       host=self.conf.agent.host), sysmeta,
            action_id=build.action_id, action_message=delivered)
        if build.finished:
            build.note = delivered
        return None

    def _error(self, uuid, message, details=None, sysmeta=None, build=None):
        """Record that the server's build failed, in one transaction
        (:meth:`~inject.db.builds.Builds.build_fail`; with ``build``, its action
        finishes too). A build thread (``build`` given) waits for a database that
        cannot be written (full, read-only): the server must not stay in BUILD once
        it can be written again. It tries again after 1, 2, 4 ... s (at most
        :data:`RECORD_RETRY_MAX_SECONDS`) until it is written or this Compute closes;
        the next start's :meth:`recover` then marks the server."""
        delay = 1
        while True:
            try:
                done = self.db.build_fail(uuid, 500, message, details, sysmeta,
                                          action_id=build and build.action_id)
                break
            except exception.DatabaseUnavailable as e:
                if build is None or self._closing.is_set():
                    raise
                reason = e.reason
            LOG.warning('server %s: cannot record that its build failed, the database '
                        'cannot be written (%s); trying again in %d s', uuid, reason,
                        delay)
            if self._closing.wait(delay):
                raise exception.DatabaseUnavailable(doing='written', reason=reason)
            delay = min(delay * 2, RECORD_RETRY_MAX_SECONDS)
        if done:
            LOG.warning('server %s: %s', uuid, message)
            if build is not None:
                build.finished = True

    def remove_disk(self, uuid):
        shutil.rmtree(os.path.dirname(self.disk_path(uuid)), ignore_errors=True)

    def recover(self):
        """Servers left building by a previous inject-api process go to ERROR."""
        for inst in self.db.instance_list():
            if inst.vm_state == 'building' or inst.task_state is not None:
                self._error(inst.uuid, 'inject-api stopped while this server was being '
                                       'built; rebuild or delete it')

    def recover_builder(self, name):
        """Servers that the process called ``name`` (see :func:`builder`), which has
        died, was building go to ERROR (the other workers' builds go on)."""
        for uuid in self.db.instances_built_by(name):
            self._error(uuid, 'the inject-api worker process building this server '
                              'stopped; rebuild or delete it')


def builder(pid=None):
    """The name of the process (this one, or the worker ``pid`` of this host) that
    builds a server, kept in its system metadata (``BUILDER``) so that the servers a
    dead inject-api worker was building can be told apart."""
    return '%s:%d' % (socket.gethostname(), os.getpid() if pid is None else pid)


def judge(report):
    """(fault message, details) for a report that leaves the server unusable, or
    (None, None). Personality files that were not injected always count, whatever the
    reason; other items only when they failed (a key or password skipped by the
    host's policy is not an error)."""
    files = [i for i in report.items if i.kind == 'file']
    missing = [i for i in files if i.status not in (report_mod.INJECTED, DELIVERED)]
    failed = [i for i in report.items if i.status == report_mod.FAILED]
    details = report.format_text()
    if missing:
        reasons = sorted({i.reason or i.status for i in missing})
        return _not_injected([(i.target, None) for i in missing],
                             '; '.join(reasons)), details
    # An error of the whole call counts unless all it cost were delivered files.
    delivered_only = bool(files) and all(i.status == DELIVERED for i in files)
    if failed or (report.error and not delivered_only):
        message = 'Injection failed: %s' % (report.error or report.reason())
        return message[:255], details
    return None, None


def deliver_through_metadata(report, with_drive):
    """Under ``personality_without_injection = metadata``: mark the personality files
    the report says were not written into the disk as delivered through the config
    drive and the metadata service (so :func:`judge` no longer counts them), note it
    in the report, and return the sentence the instance action shows (None when every
    file was injected)."""
    missing = [i for i in report.items
               if i.kind == 'file' and i.status != report_mod.INJECTED]
    if not missing:
        return None
    where = 'config drive / metadata service' if with_drive else 'metadata service'
    for item in missing:
        why = item.reason or item.status
        item.status = DELIVERED
        item.reason = ('delivered through %s, not written into the disk (%s)'
                       % (where, why))
    sentence = ('Personality files delivered through %s, not written into the disk: %s'
                % (where, ', '.join(i.target for i in missing)))
    report.notes.append(sentence)
    return sentence[:255]


def _not_injected(files, why):
    """The fault message naming every personality file that was not injected."""
    if not files:
        return None
    message = 'Personality files not injected: %s (%s)' % (
        ', '.join(path for path, _ in files), why)
    return message[:255]
