"""The compute-side agent: where it listens, how it batches, how much it runs at once."""

import socket

from oslo_config import cfg

from inject.conf import base

agent_group = cfg.OptGroup(
    'agent',
    title='Injection agent options',
    help='inject-agent serves injection requests over oslo.messaging RPC (topic below, '
         'one server per host). Its transport is [DEFAULT]transport_url; when that is '
         'unset the agent is reachable in-process only (no broker needed).')

agent_opts = [
    cfg.StrOpt('host',
               default=socket.gethostname(),
               sample_default='<hostname>',
               help='The name this agent answers to: callers address requests to it.'),
    cfg.StrOpt('topic',
               default='inject-agent',
               help='The RPC topic every agent listens on.'),
    cfg.FloatOpt('batch_window',
                 default=0.1,
                 min=0,
                 mutable=True,
                 help='Seconds a request waits for others of the same project, so they '
                      'share one appliance (one drive each): requests sent together '
                      '(multi-create, a burst) arrive well within it. A launch costs 12-31 '
                      's under TCG; each extra drive about 0.3-0.4 s. Requests that come '
                      'later find the project\'s lingering appliance '
                      '([appliance]warm_linger).'),
    cfg.IntOpt('max_batch',
               default=16,
               min=1,
               mutable=True,
               help='Most disks in one appliance. Past about 16 the saving flattens and '
                    'each drive adds 20-80 MB to the appliance under TCG with qemu\'s '
                    'default cache (about 2 MB with [appliance]tb_size 64).'),
    cfg.IntOpt('max_appliances',
               default=0,
               min=0,
               help='Most appliances running at once. 0: one per CPU core, fewer when '
                    'available memory (MemAvailable at start) cannot hold that many next '
                    'to the [appliance]warm_appliances idle ones: under TCG about 0.4 GB '
                    'each with tb_size 64 (0.8 GB plus 80 MB per drive with qemu\'s '
                    'default cache, which inspection fills), under KVM about 0.35 GB. '
                    'Whatever this is, no '
                    'appliance is started when MemAvailable cannot hold it: the request '
                    'fails with the numbers instead.'),
    cfg.IntOpt('rpc_timeout',
               default=900,
               min=1,
               help='Seconds a caller waits for an agent\'s answer before reporting that '
                    'no agent answered.'),
    cfg.IntOpt('drain_timeout',
               default=600,
               min=0,
               help='On SIGTERM, seconds the agent keeps working to answer the requests '
                    'it already holds; then every appliance still running (launching, '
                    'hung, or at work) is killed, its disks left as they were, and what '
                    'is left is answered with an error: the agent stops within this and '
                    'a few seconds.'),
    cfg.IntOpt('selftest_interval',
               default=3600,
               min=-1,
               help='Seconds between self-tests (one appliance launch each); 0 runs it '
                    'only when the agent starts, -1 never. Callers see the last result '
                    'in the agent\'s capabilities.'),
]


def register_opts(conf):
    base.register(conf, agent_group, agent_opts)


def list_opts():
    return {agent_group: agent_opts}
