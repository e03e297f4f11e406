"""Options of ``inject-api``, the Compute API front, and of its quotas."""

from oslo_config import cfg

from inject.conf import base

api_group = cfg.OptGroup(
    'api',
    title='Compute API options',
    help='How inject-api listens, authenticates and treats personality files.')

api_opts = [
    cfg.HostAddressOpt('host',
                       default='127.0.0.1',
                       help='Address inject-api listens on. Loopback by default: put a '
                            'TLS-terminating proxy in front before exposing it.'),
    cfg.PortOpt('port',
                default=8774,
                help='TCP port inject-api listens on (Nova\'s is 8774).'),
    cfg.IntOpt('threads',
               default=8,
               min=1,
               help='Worker threads of the WSGI server (of each worker process).'),
    cfg.IntOpt('workers',
               min=1,
               sample_default='<number of CPUs, or 1 with an in-process agent that '
                              'may inject>',
               help='Worker processes serving the API on one listening socket (Nova\'s '
                    'osapi_compute_workers). The parent process supervises them: it '
                    'restarts a worker that dies, passes SIGHUP on (each re-reads the '
                    'policy file) and stops them all on SIGTERM or SIGINT. Default: the '
                    'number of CPUs when [DEFAULT]transport_url names a broker (the '
                    'agent is inject-agent, shared by every worker) or injection is '
                    'disabled ([injection]inject_partition = -2: the in-process agent '
                    'of each worker never launches an appliance); else 1, and more '
                    'than one is refused at start: each worker would run an in-process '
                    'agent of its own, with its own appliance limit and batches.'),
    cfg.IntOpt('max_limit',
               default=1000,
               min=0,
               help='Most items one page of a list (servers, flavors) holds; a larger or '
                    'absent "limit" gets this many, with a "next" link when the page is '
                    'full (Nova\'s [api]max_limit).'),
    cfg.IntOpt('max_request_body_size',
               default=114688,
               min=1024,
               help='Largest request body accepted, in bytes (Nova\'s default). Larger '
                    'requests are answered 413 before they are parsed.'),
    cfg.StrOpt('auth_strategy',
               default='noauth',
               choices=[('noauth', 'No authentication, for a single operator on '
                                   'loopback: the project comes from the URL or the '
                                   'X-Project-Id header, the roles from X-Roles or '
                                   'noauth_roles (not admin by default)'),
                        ('keystone', 'keystonemiddleware auth_token validates every '
                                     'token ([keystone_authtoken] options)')],
               help='How requests are authenticated.'),
    cfg.StrOpt('noauth_project',
               default='inject',
               help='With auth_strategy=noauth: the project of a request whose URL '
                    'and headers name none.'),
    cfg.StrOpt('noauth_user',
               default='inject',
               help='With auth_strategy=noauth: the user of a request whose headers '
                    'name none.'),
    cfg.ListOpt('noauth_roles',
                default=['member', 'reader'],
                help='With auth_strategy=noauth: the roles of a request without an '
                     'X-Roles header. The default is a project member, not an '
                     'administrator: quota updates, quota classes, all_tenants '
                     'listings, the administrator-only server attributes and fault '
                     'details need "X-Roles: admin" on the request (or "admin" added '
                     'here, which makes every unauthenticated caller an '
                     'administrator). Roles are expanded as Keystone\'s default '
                     'implied roles are: admin implies member, member implies reader. '
                     'Rules are oslo.policy\'s ([oslo_policy] options; the old '
                     'owner-only rules only with enforce_new_defaults = false).'),
    cfg.StrOpt('image_dir',
               default='$state_path/images',
               help='Directory of base images. Every file NAME.qcow2 or NAME.raw is an '
                    'image named NAME whose ID is derived from its file name. Keep it '
                    'inside [injection]image_dirs.'),
    cfg.StrOpt('instances_path',
               default='$state_path/instances',
               help='Where each server\'s disk (a qcow2 overlay on its base image) is '
                    'kept, one directory per server.'),
    cfg.StrOpt('personality_without_injection',
               default='error',
               choices=[('error', 'accept the create; the server goes to ERROR with a '
                                  'fault naming every file that was not injected and '
                                  'why'),
                        ('refuse', 'answer 400 up front when this host has injection '
                                   'disabled (inject_partition=-2)'),
                        ('metadata', 'deliver the files through the server\'s config '
                                     'drive (when it has one) and the metadata service '
                                     '(inject-metadata) instead: the server goes ACTIVE, '
                                     'and its inject_report system metadata and its '
                                     'instance action say the files were delivered '
                                     'there, not written into the disk. Choose it only '
                                     'when guests read their config drive or reach '
                                     'inject-metadata (cloud-init does both).')],
               help='What happens to a create or rebuild with personality files when '
                    'this host cannot inject them. Files are never dropped silently: '
                    'they are kept with the server (as the config drive and the '
                    'metadata service serve them) whatever the choice. Other items '
                    '(metadata, admin password) that fail still put the server in '
                    'ERROR.'),
]

quota_group = cfg.OptGroup(
    'quota',
    title='Quota defaults',
    help='Default limits of every project, unless the "default" quota class or a '
         'project\'s own quota set overrides them. -1 means unlimited. Names are '
         'Nova\'s.')

quota_opts = [
    cfg.IntOpt('instances', default=10, min=-1, help='Servers per project.'),
    cfg.IntOpt('cores', default=20, min=-1, help='vCPUs per project.'),
    cfg.IntOpt('ram', default=51200, min=-1, help='MiB of RAM per project.'),
    cfg.IntOpt('metadata_items', default=128, min=-1,
               help='Metadata items per server.'),
    cfg.IntOpt('injected_files', default=5, min=-1,
               help='Personality files per create or rebuild (microversion <= 2.56).'),
    cfg.IntOpt('injected_file_content_bytes', default=10240, min=-1,
               help='Bytes of one personality file, counted after base64 decoding '
                    '(Nova counted the base64 text).'),
    cfg.IntOpt('injected_file_path_length', default=255, min=-1,
               help='Bytes (UTF-8) of one personality file\'s path. Shown by the API as '
                    'injected_file_path_bytes.'),
    cfg.IntOpt('key_pairs', default=100, min=-1, help='Key pairs per user.'),
    cfg.IntOpt('server_groups', default=10, min=-1, help='Server groups per project.'),
    cfg.IntOpt('server_group_members', default=10, min=-1,
               help='Servers per server group.'),
]


def register_opts(conf):
    base.register(conf, api_group, api_opts)
    base.register(conf, quota_group, quota_opts)


def list_opts():
    return {api_group: api_opts, quota_group: quota_opts}
