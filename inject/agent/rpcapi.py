"""The agent's RPC interface, client side: what a compute driver or the API calls.

Version history:

* 1.0 -- inject(payload) -> report dict; capabilities() -> dict
"""

import importlib

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_messaging import opts as messaging_opts
from oslo_messaging import transport as messaging_transport

from inject import exception
from inject.agent import payload as payload_mod
from inject.conf import agent as agent_conf
from inject.conf import base

VERSION = '1.0'
IN_PROCESS_URL = 'fake:/'


def transport_url(conf):
    """[DEFAULT]transport_url when the operator set it, else the in-process transport,
    so the embedded agent needs no broker (oslo.messaging's own default is rabbit://)."""
    # oslo.messaging registers these on its first transport; register the same objects
    # now so the option can be read (registering one object twice is a no-op).
    conf.register_opts(messaging_transport._transport_opts)
    location = conf.get_location('transport_url')
    if location is None or location.location == cfg.Locations.opt_default:
        return IN_PROCESS_URL
    return conf.transport_url


def in_process(conf):
    return transport_url(conf).startswith('fake:')


def register_opts(conf):
    """What calling the agent reads, registered on ``conf`` (as oslo.messaging
    registers what it reads on the ConfigOpts it is given): ``[agent]`` and
    oslo.messaging's options, so that a service checks their values at start."""
    agent_conf.register_opts(conf)
    # Before the copies list_opts() makes: they must equal the options oslo.messaging
    # registers itself later, defaults included.
    messaging.set_transport_defaults(control_exchange='inject')
    base.register_listed(conf, messaging_opts.list_opts())
    _register_global_only_opts(conf)


def _register_global_only_opts(conf):
    """oslo.messaging reads some options on every call but registers them on the global
    CONF only (its dispatcher, metrics and tracing options); a caller with a ConfigOpts
    of its own (a compute driver, inject-api's tests) needs them registered there too
    (on the global CONF it is the same objects again)."""
    for module, name, group in (('oslo_messaging.rpc.dispatcher', '_dispatcher_opts', None),
                                ('oslo_messaging._metrics.client', 'oslo_messaging_metrics',
                                 'oslo_messaging_metrics'),
                                ('oslo_messaging._tracing.client', 'oslo_messaging_tracing',
                                 'oslo_messaging_tracing')):
        try:
            opts = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):     # another oslo.messaging release
            continue
        conf.register_opts(opts, group=group)


def get_transport(conf, url=None):
    """The RPC transport for ``url``, by default the configured one (see above)."""
    register_opts(conf)
    return messaging.get_rpc_transport(conf, url=url or transport_url(conf))


class AgentClient:
    """Calls agents by host name. Share ``transport`` with an in-process agent."""

    def __init__(self, conf, transport=None):
        register_opts(conf)
        self.conf = conf
        self.transport = transport or get_transport(conf)
        target = messaging.Target(topic=conf.agent.topic, version=VERSION)
        self._client = messaging.get_rpc_client(self.transport, target)

    def _call(self, host, method, timeout, **kwargs):
        cctxt = self._client.prepare(server=host, timeout=timeout)
        try:
            return cctxt.call({}, method, **kwargs)
        except messaging.MessagingTimeout:
            raise exception.AgentTimeout(host=host, seconds=timeout)
        except messaging.RemoteError as e:
            raise exception.AgentRemoteError(host=host, reason='%s: %s' % (e.exc_type,
                                                                          e.value))

    def inject(self, host, request, instance_id=None, project_id=None, timeout=None):
        """Inject ``request`` (an InjectionRequest) on ``host``; return the report dict.

        A request the agent finds invalid comes back as a report with ``ok`` False and
        the reason in ``error``; no agent answering raises AgentTimeout.
        """
        return self._call(host, 'inject', timeout or self.conf.agent.rpc_timeout,
                          payload=payload_mod.to_dict(request, instance_id, project_id))

    def capabilities(self, host, timeout=30):
        """Can ``host`` inject (``can_inject``; ``reason`` says why not, when known), in
        which partition mode, with which accelerator, and how did its last self-test
        end."""
        return self._call(host, 'capabilities', timeout)
