"""Options of the config drive and of the names in the metadata tree: Nova's
``[DEFAULT]force_config_drive``, ``[api]dhcp_domain`` and
``[api]config_drive_skip_versions`` (with their pre-Ocata ``[DEFAULT]`` names still
read for the two ``[api]`` ones, as Nova)."""

from oslo_config import cfg

from inject.conf import api as api_conf
from inject.conf import base

default_opts = [
    cfg.BoolOpt('force_config_drive',
                default=False,
                help='Give every server created from now on a config drive '
                     '(instances_path/UUID/disk.config, ISO 9660 labelled config-2), '
                     'whatever its create request says. Servers created before keep '
                     'what they had, on rebuild too (Nova: launched instances are not '
                     'affected). A create may always ask for one with '
                     '"config_drive": true.'),
]

api_opts = [
    cfg.StrOpt('dhcp_domain',
               default='novalocal',
               deprecated_group='DEFAULT',
               help='Domain appended to a server\'s hostname in its metadata '
                    '(hostname, local-hostname) on the config drive and in the '
                    'metadata service. Empty: the bare hostname.'),
    cfg.StrOpt('config_drive_skip_versions',
               default=('1.0 2007-01-19 2007-03-01 2007-08-29 2007-10-10 '
                        '2007-12-15 2008-02-01 2008-09-01'),
               deprecated_group='DEFAULT',
               help='EC2 metadata versions left off the config drive, separated by '
                    'spaces (Nova\'s default: all but 2009-04-04 and latest).'),
]


def register_opts(conf):
    base.register(conf, None, default_opts)
    base.register(conf, api_conf.api_group, api_opts)


def list_opts():
    return {'DEFAULT': default_opts, api_conf.api_group: api_opts}
