"""How a compute host's agent reports itself (Nova's service group, database driver):
``[DEFAULT]report_interval``, ``service_down_time``, ``enable_new_services`` and
``my_ip``, with Nova's names and defaults."""

from oslo_config import cfg
from oslo_utils import netutils

from inject.conf import base

service_opts = [
    cfg.IntOpt('report_interval',
               default=10,
               min=1,
               help='Seconds between two heartbeats of an inject-agent (in-process or '
                    'not) in the database: each one raises its service\'s report_count '
                    'and moves last_seen_up to the database\'s clock, with what the '
                    'host can do (can it inject, partition mode, accelerator, free '
                    'appliance slots). Keep it well below service_down_time.'),
    cfg.IntOpt('service_down_time',
               default=60,
               min=1,
               help='Seconds after its last heartbeat (or its registration, if it never '
                    'reported) when a service counts as down: inject-api lists it as '
                    '"down" and sends it no new builds. When it is not larger than '
                    'report_interval, report_interval x 2.5 is used instead (as Nova '
                    'does), with a warning.'),
    cfg.BoolOpt('enable_new_services',
                default=True,
                help='Whether an inject-agent that registers for the first time is '
                     'enabled. False: it registers disabled ("New compute service '
                     'disabled due to config option.") and gets builds only after an '
                     'administrator enables it (openstack compute service set --enable '
                     'HOST inject-agent).'),
    cfg.StrOpt('my_ip',
               default=netutils.get_my_ipv4(),
               sample_default='<host_ipv4>',
               help='The IP address of this host, shown as the hypervisor\'s host_ip.'),
]


def register_opts(conf):
    base.register(conf, None, service_opts)


def list_opts():
    return {'DEFAULT': service_opts}
