"""Options of the metadata path: ``inject-metadata`` (the metadata service), vendordata
(StaticJSON and DynamicJSON, Nova's names in ``[api]`` with their pre-Ocata
``[DEFAULT]`` names still read), the service token of ``[vendordata_dynamic_auth]`` and
Neutron's metadata proxy secret."""

import urllib.parse

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from inject.conf import api as api_conf
from inject.conf import base

VENDORDATA_AUTH_GROUP = 'vendordata_dynamic_auth'


class VendordataTargets(cfg.types.List):
    """The type of ``vendordata_dynamic_targets``: ``NAME@URL`` entries (split at the
    first ``@``, so a URL keeps its user info, as Nova), each with a name and an http
    or https URL with a host, no name twice. Anything else is a ValueError saying
    which entry and why, so oslo.config refuses the value when it is read (at the
    start of every service, see :mod:`inject.conf.check`); Nova skipped such entries
    with a warning at every request."""

    def __init__(self):
        super().__init__(type_name='NAME@URL values')

    def __call__(self, value):
        entries = [entry.strip() for entry in super().__call__(value)]
        seen = set()
        for entry in entries:
            if '@' not in entry:
                raise ValueError('entry %r has no NAME@ part' % entry)
            name, url = entry.split('@', 1)
            if not name:
                raise ValueError('the name of entry %r is empty' % entry)
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ('http', 'https') or not parts.hostname:
                raise ValueError('the URL of entry %r is not an http or https URL '
                                 'with a host' % entry)
            if name in seen:
                raise ValueError('the name %r is given twice' % name)
            seen.add(name)
        return entries


vendordata_opts = [
    cfg.ListOpt('vendordata_providers',
                item_type=cfg.types.String(choices=[
                    ('StaticJSON', 'Load a JSON file from the path configured by '
                                   'vendordata_jsonfile_path and use it as the source '
                                   'for vendor_data.json and the "static" entry of '
                                   'vendor_data2.json.'),
                    ('DynamicJSON', 'Ask each of vendordata_dynamic_targets (a POST '
                                    'per target) and put each answer under the '
                                    'target\'s name in vendor_data2.json.'),
                ]),
                default=['StaticJSON'],
                deprecated_group='DEFAULT',
                help='Vendordata providers, in the order their entries appear in '
                     'vendor_data2.json. vendor_data.json comes from StaticJSON only; '
                     'without StaticJSON it is {} (Nova answered 404 there and failed '
                     'config drive builds).'),
    cfg.StrOpt('vendordata_jsonfile_path',
               deprecated_group='DEFAULT',
               help='The JSON file of the StaticJSON provider (an object, list or '
                    'string at the top). Unset: StaticJSON gives {}. The file is '
                    'read again when it changes. A file that is missing or not JSON '
                    'is an error naming the file (vendor_data*.json answer 500, a '
                    'config drive build fails), never served as {}. For config '
                    'drives the host that builds them needs the file too.'),
    cfg.Opt('vendordata_dynamic_targets',
            type=VendordataTargets(),
            default=[],
            deprecated_group='DEFAULT',
            help='Targets of the DynamicJSON provider, each NAME@URL (split at the '
                 'first @; the URL may not contain a comma). The answer of each is '
                 'put under NAME in vendor_data2.json. A target without a name or an '
                 'http(s) URL, or a name given twice, is refused at start, whether '
                 'DynamicJSON is on or not (Nova skipped them with a warning).'),
    cfg.StrOpt('vendordata_dynamic_ssl_certfile',
               default='',
               deprecated_group='DEFAULT',
               help='Certificate file or CA bundle that https targets\' certificates '
                    'are verified against (default: the system CAs). https targets '
                    'are always verified.'),
    cfg.IntOpt('vendordata_dynamic_connect_timeout',
               default=5,
               min=3,
               deprecated_group='DEFAULT',
               help='Seconds to wait for a target to accept the connection. Keep it '
                    'above 3, the TCP retransmission timeout. A build with a config '
                    'drive waits this long for an unreachable target.'),
    cfg.IntOpt('vendordata_dynamic_read_timeout',
               default=5,
               min=1,
               deprecated_group='DEFAULT',
               help='Seconds to wait for a target\'s answer once connected. At least 1 '
                    '(Nova accepted 0, which made every call fail).'),
    cfg.BoolOpt('vendordata_dynamic_failure_fatal',
                default=False,
                help='Whether a failing target (unreachable, too slow, HTTP status '
                     '>= 400, not JSON, too large) is an error: a server built with a '
                     'config drive goes to ERROR with a fault naming the target and '
                     'the reason, and the metadata service answers vendor_data2.json '
                     'with an error naming them. When false the target\'s entry is {} '
                     'and a warning is logged, as Nova.'),
    cfg.IntOpt('vendordata_dynamic_max_response_bytes',
               default=1048576,
               min=1024,
               help='Largest answer accepted from a target, in bytes. A larger one is '
                    'a failure of that target (as a timeout is).'),
    cfg.IntOpt('metadata_cache_expiration',
               default=15,
               min=0,
               deprecated_group='DEFAULT',
               help='Seconds the metadata service keeps what it built for an instance, '
                    'and how long a target\'s answer is reused when it sends no '
                    'Cache-Control (max-age, no-cache and no-store are honoured). 0 '
                    'disables both caches.'),
    cfg.IntOpt('vendordata_dynamic_max_cache_age',
               default=86400,
               min=0,
               max=31536000,
               help='Most seconds a target\'s answer is reused, whatever its '
                    'Cache-Control asks (a larger max-age or s-maxage is cut to this, '
                    'as Apache\'s CacheMaxExpire does; a value too large to represent '
                    'counts as 2**31 first, as RFC 9111 says). After it the target is '
                    'asked again, so a changed answer reaches instances within this '
                    'time. At most one year (HTTP\'s "never expires"). A directive '
                    'that cannot be parsed (max-age=abc) is ignored: the answer is '
                    'kept for metadata_cache_expiration, also cut to this.'),
]

metadata_group = cfg.OptGroup(
    'metadata',
    title='Metadata service options',
    help='How inject-metadata, the metadata service guests reach through Neutron\'s '
         'metadata proxy, listens.')

metadata_opts = [
    cfg.HostAddressOpt('host',
                       default='127.0.0.1',
                       deprecated_opts=[cfg.DeprecatedOpt('metadata_listen',
                                                          group='DEFAULT')],
                       help='Address inject-metadata listens on (Nova\'s '
                            '[DEFAULT]metadata_listen is read too). Loopback by '
                            'default: Neutron\'s metadata proxy on this host reaches '
                            'it there.'),
    cfg.PortOpt('port',
                default=8775,
                deprecated_opts=[cfg.DeprecatedOpt('metadata_listen_port',
                                                   group='DEFAULT')],
                help='TCP port inject-metadata listens on (Nova\'s is 8775).'),
    cfg.IntOpt('threads',
               default=16,
               min=1,
               help='Worker threads of the WSGI server (of each worker process).'),
    cfg.IntOpt('workers',
               default=1,
               min=1,
               deprecated_opts=[cfg.DeprecatedOpt('metadata_workers', group='DEFAULT')],
               help='Worker processes serving the metadata service on one listening '
                    'socket (Nova\'s [DEFAULT]metadata_workers is read too; Nova\'s '
                    'default is the number of CPUs). The parent process restarts a '
                    'worker that dies and stops them all on SIGTERM or SIGINT; a worker '
                    'whose parent died, however it died, exits at once. Each worker '
                    'keeps its own cache of the instances it served.'),
]

neutron_group = cfg.OptGroup(
    'neutron',
    title='Neutron options',
    help='What the metadata service shares with Neutron\'s metadata proxy.')

neutron_opts = [
    cfg.StrOpt('metadata_proxy_shared_secret',
               default='',
               secret=True,
               help='Secret shared with Neutron\'s metadata proxy: every request to '
                    'inject-metadata must carry X-Instance-ID-Signature, the '
                    'HMAC-SHA256 of X-Instance-ID under this secret. inject-metadata '
                    'refuses to start while it is empty.'),
]

vendordata_auth_group = cfg.OptGroup(
    VENDORDATA_AUTH_GROUP,
    title='Vendordata dynamic fetch auth options',
    help='How the DynamicJSON provider authenticates to its targets: a keystoneauth1 '
         'session and auth plugin (e.g. auth_type = password) whose token is sent as '
         'X-Auth-Token, for keystonemiddleware auth_token in front of the target to '
         'validate. Without auth_type no token is sent (a warning is logged once).')


def register_opts(conf):
    base.register(conf, api_conf.api_group, vendordata_opts)
    base.register(conf, metadata_group, metadata_opts)
    base.register(conf, neutron_group, neutron_opts)
    if VENDORDATA_AUTH_GROUP not in conf:
        conf.register_group(cfg.OptGroup(VENDORDATA_AUTH_GROUP,
                                         title=vendordata_auth_group.title,
                                         help=vendordata_auth_group.help))
    ks_loading.register_session_conf_options(conf, VENDORDATA_AUTH_GROUP)
    ks_loading.register_auth_conf_options(conf, VENDORDATA_AUTH_GROUP)


def list_opts():
    return {
        api_conf.api_group: vendordata_opts,
        metadata_group: metadata_opts,
        neutron_group: neutron_opts,
        vendordata_auth_group: (
            ks_loading.get_session_conf_options()
            + ks_loading.get_auth_common_conf_options()
            + ks_loading.get_auth_plugin_conf_options('password')
            + ks_loading.get_auth_plugin_conf_options('v2password')
            + ks_loading.get_auth_plugin_conf_options('v3password')),
    }
