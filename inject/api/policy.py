"""Who may do what (oslo.policy), with Nova's rule names and Nova's current defaults:
project ``reader`` (or admin) for reads, project ``member`` (or admin) for writes,
``admin`` for quota changes, quota classes and anything across projects. Every rule
is for project-scoped tokens (``scope_types=['project']``; oslo.policy >= 6 always
checks scope, so a system- or domain-scoped token is refused).

Rules can be overridden in ``policy.yaml`` (``[oslo_policy]policy_file``) as in Nova; a
commented sample: ``oslopolicy-sample-generator --namespace inject``.

The old defaults (any role of the owning project could create, rebuild and delete;
``admin`` anywhere) are kept as oslo.policy deprecated rules, as Nova keeps them:
``[oslo_policy]enforce_new_defaults = false`` accepts a request that the new *or* the
old rule allows. Leave it at its default (true) unless a deployment still depends on
the old behaviour.
"""

import time

from oslo_policy import opts as policy_opts
from oslo_policy import policy

from inject.api import faults
from inject.conf import base

#: Seconds between two looks at the policy file (and policy.d) for changes: oslo.policy
#: stat()s them on every check, several times a request; a change is seen within this
#: long, or at once after :meth:`Enforcer.reload` (SIGHUP).
RECHECK_SECONDS = 1.0

_DEPRECATED_REASON = (
    'inject-api policies now follow Nova\'s defaults with the reader/member/admin '
    'roles and project scope. The old owner-only rules, which let any role of a '
    'project (reader included) change its servers, apply only with '
    '[oslo_policy]enforce_new_defaults = false.')
_DEPRECATED_SINCE = '0.2.0'

DEPRECATED_ADMIN_POLICY = policy.DeprecatedRule(
    name='admin_api', check_str='role:admin',
    deprecated_reason=_DEPRECATED_REASON, deprecated_since=_DEPRECATED_SINCE)
DEPRECATED_ADMIN_OR_OWNER_POLICY = policy.DeprecatedRule(
    name='admin_or_owner', check_str='role:admin or project_id:%(project_id)s',
    deprecated_reason=_DEPRECATED_REASON, deprecated_since=_DEPRECATED_SINCE)

ADMIN = 'rule:context_is_admin'
PROJECT_MEMBER_OR_ADMIN = 'rule:project_member_or_admin'
PROJECT_READER_OR_ADMIN = 'rule:project_reader_or_admin'
RULE_ANY = '@'
PROJECT = ['project']

BASE_RULES = [
    policy.RuleDefault(
        'context_is_admin', 'role:admin',
        "Decides who is an administrator: sees every project's servers, the "
        "administrator-only server attributes and fault details."),
    policy.RuleDefault(
        'admin_or_owner', 'role:admin or project_id:%(project_id)s',
        'The old default of most non-admin APIs.',
        deprecated_for_removal=True, deprecated_reason=_DEPRECATED_REASON,
        deprecated_since=_DEPRECATED_SINCE),
    policy.RuleDefault(
        'admin_api', 'role:admin', 'The old default of admin APIs.',
        deprecated_for_removal=True, deprecated_reason=_DEPRECATED_REASON,
        deprecated_since=_DEPRECATED_SINCE),
    policy.RuleDefault(
        'project_member_api', 'role:member and project_id:%(project_id)s',
        'Members of the project may change its resources.',
        deprecated_rule=DEPRECATED_ADMIN_OR_OWNER_POLICY),
    policy.RuleDefault(
        'project_reader_api', 'role:reader and project_id:%(project_id)s',
        'Readers of the project may read its resources.',
        deprecated_rule=DEPRECATED_ADMIN_OR_OWNER_POLICY),
    policy.RuleDefault(
        'project_member_or_admin', 'rule:project_member_api or rule:context_is_admin',
        'Default rule of project-level write APIs.',
        deprecated_rule=DEPRECATED_ADMIN_OR_OWNER_POLICY),
    policy.RuleDefault(
        'project_reader_or_admin', 'rule:project_reader_api or rule:context_is_admin',
        'Default rule of project-level read APIs.',
        deprecated_rule=DEPRECATED_ADMIN_OR_OWNER_POLICY),
]


def _rule(name, check_str, description, *operations, **kwargs):
    return policy.DocumentedRuleDefault(
        name=name, check_str=check_str, description=description,
        operations=[{'method': m, 'path': p} for m, p in operations],
        scope_types=PROJECT, **kwargs)


SERVERS = 'os_compute_api:servers:%s'
_SERVER = '/servers/{server_id}'
_REBUILD = ('POST', '/servers/{server_id}/action (rebuild)')
_SHOW_OPS = (('GET', _SERVER), ('GET', '/servers/detail'), ('PUT', _SERVER), _REBUILD)

SERVER_RULES = [
    _rule(SERVERS % 'index', PROJECT_READER_OR_ADMIN, 'List all servers',
          ('GET', '/servers')),
    _rule(SERVERS % 'detail', PROJECT_READER_OR_ADMIN,
          'List all servers with detailed information', ('GET', '/servers/detail')),
    _rule(SERVERS % 'index:get_all_tenants', ADMIN,
          'List all servers for all projects', ('GET', '/servers')),
    _rule(SERVERS % 'detail:get_all_tenants', ADMIN,
          'List all servers with detailed information for all projects',
          ('GET', '/servers/detail')),
    _rule(SERVERS % 'show', PROJECT_READER_OR_ADMIN, 'Show a server',
          ('GET', _SERVER)),
    _rule(SERVERS % 'show:host_status', ADMIN,
          'Show a server with its host_status (microversion 2.16 and later).',
          *_SHOW_OPS),
    _rule(SERVERS % 'show:host_status:unknown-only', ADMIN,
          'Show host_status only when it is UNKNOWN; checked when '
          'os_compute_api:servers:show:host_status does not pass.', *_SHOW_OPS),
    _rule(SERVERS % 'create', PROJECT_MEMBER_OR_ADMIN, 'Create a server',
          ('POST', '/servers')),
    _rule(SERVERS % 'delete', PROJECT_MEMBER_OR_ADMIN, 'Delete a server',
          ('DELETE', _SERVER)),
    _rule(SERVERS % 'update', PROJECT_MEMBER_OR_ADMIN, 'Update a server',
          ('PUT', _SERVER)),
    _rule(SERVERS % 'rebuild', PROJECT_MEMBER_OR_ADMIN, 'Rebuild a server', _REBUILD),
    _rule('os_compute_api:os-extended-server-attributes', ADMIN,
          'Return the OS-EXT-SRV-ATTR attributes (host, instance name, user_data '
          '...) in server bodies.', ('GET', _SERVER), ('GET', '/servers/detail'),
          ('PUT', _SERVER), _REBUILD),
]

METADATA = 'os_compute_api:server-metadata:%s'
_META = '/servers/{server_id}/metadata'
METADATA_RULES = [
    _rule(METADATA % 'index', PROJECT_READER_OR_ADMIN, 'List all metadata of a server',
          ('GET', _META)),
    _rule(METADATA % 'show', PROJECT_READER_OR_ADMIN, 'Show metadata for a server',
          ('GET', _META + '/{key}')),
    _rule(METADATA % 'create', PROJECT_MEMBER_OR_ADMIN, 'Create metadata for a server',
          ('POST', _META)),
    _rule(METADATA % 'update_all', PROJECT_MEMBER_OR_ADMIN,
          'Replace metadata for a server', ('PUT', _META)),
    _rule(METADATA % 'update', PROJECT_MEMBER_OR_ADMIN,
          'Update metadata from a server', ('PUT', _META + '/{key}')),
    _rule(METADATA % 'delete', PROJECT_MEMBER_OR_ADMIN,
          'Delete metadata from a server', ('DELETE', _META + '/{key}')),
]

ACTIONS = 'os_compute_api:os-instance-actions:%s'
_ACTION = '/servers/{server_id}/os-instance-actions/{request_id}'
ACTION_RULES = [
    _rule(ACTIONS % 'list', PROJECT_READER_OR_ADMIN, 'List actions for a server.',
          ('GET', '/servers/{server_id}/os-instance-actions')),
    _rule(ACTIONS % 'show', PROJECT_READER_OR_ADMIN,
          'Show action details for a server.', ('GET', _ACTION)),
    _rule(ACTIONS % 'events', ADMIN,
          'Add the events of an action for a server (before microversion 2.51) and '
          'their traceback. Checked after os_compute_api:os-instance-actions:show.',
          ('GET', _ACTION)),
    _rule(ACTIONS % 'events:details', ADMIN,
          'Add "details" to the events of an action (microversion 2.84 and later).',
          ('GET', _ACTION)),
]

QUOTA_SETS = 'os_compute_api:os-quota-sets:%s'
QUOTA_CLASS_SETS = 'os_compute_api:os-quota-class-sets:%s'
QUOTA_RULES = [
    _rule(QUOTA_SETS % 'update', ADMIN, 'Update the quotas',
          ('PUT', '/os-quota-sets/{tenant_id}')),
    _rule(QUOTA_SETS % 'defaults', RULE_ANY, 'List default quotas',
          ('GET', '/os-quota-sets/{tenant_id}/defaults')),
    _rule(QUOTA_SETS % 'show', PROJECT_READER_OR_ADMIN, 'Show a quota',
          ('GET', '/os-quota-sets/{tenant_id}')),
    _rule(QUOTA_SETS % 'delete', ADMIN, 'Revert quotas to defaults',
          ('DELETE', '/os-quota-sets/{tenant_id}')),
    _rule(QUOTA_SETS % 'detail', PROJECT_READER_OR_ADMIN, 'Show the detail of quota',
          ('GET', '/os-quota-sets/{tenant_id}/detail')),
    _rule(QUOTA_CLASS_SETS % 'show', ADMIN, 'List quotas for specific quota classes',
          ('GET', '/os-quota-class-sets/{quota_class}')),
    _rule(QUOTA_CLASS_SETS % 'update', ADMIN, 'Update quotas for specific quota class',
          ('PUT', '/os-quota-class-sets/{quota_class}')),
]

LIMITS = 'os_compute_api:limits'
LIMITS_OTHER_PROJECT = 'os_compute_api:limits:other_project'
LIMIT_RULES = [
    _rule(LIMITS, RULE_ANY, 'Show rate and absolute limits for the current user '
          'project', ('GET', '/limits')),
    _rule(LIMITS_OTHER_PROJECT, ADMIN,
          'Show rate and absolute limits of other project (GET /limits?tenant_id=). '
          'Checked after os_compute_api:limits.', ('GET', '/limits')),
]

KEYPAIRS = 'os_compute_api:os-keypairs:%s'
# Key pairs belong to users, not projects: the owner or an administrator.
_KEYPAIR_OWNER_OR_ADMIN = '(' + ADMIN + ') or user_id:%(user_id)s'
_KEYPAIR = '/os-keypairs/{keypair_name}'
KEYPAIR_RULES = [
    _rule(KEYPAIRS % 'index', _KEYPAIR_OWNER_OR_ADMIN, 'List all keypairs',
          ('GET', '/os-keypairs')),
    _rule(KEYPAIRS % 'create', _KEYPAIR_OWNER_OR_ADMIN, 'Create a keypair',
          ('POST', '/os-keypairs')),
    _rule(KEYPAIRS % 'delete', _KEYPAIR_OWNER_OR_ADMIN, 'Delete a keypair',
          ('DELETE', _KEYPAIR)),
    _rule(KEYPAIRS % 'show', _KEYPAIR_OWNER_OR_ADMIN, 'Show details of a keypair',
          ('GET', _KEYPAIR)),
]

SERVICES = 'os_compute_api:os-services:%s'
_DEPRECATED_ADMIN = {'deprecated_rule': DEPRECATED_ADMIN_POLICY}
SERVICE_RULES = [
    _rule(SERVICES % 'list', ADMIN, 'List all running Compute services in a region.',
          ('GET', '/os-services'), **_DEPRECATED_ADMIN),
    _rule(SERVICES % 'update', ADMIN, 'Update a Compute service.',
          ('PUT', '/os-services/{service_id}'), **_DEPRECATED_ADMIN),
    _rule(SERVICES % 'delete', ADMIN, 'Delete a Compute service.',
          ('DELETE', '/os-services/{service_id}'), **_DEPRECATED_ADMIN),
]

HYPERVISORS = 'os_compute_api:os-hypervisors:%s'
HYPERVISOR_RULES = [
    _rule(HYPERVISORS % 'list', ADMIN, 'List all hypervisors.',
          ('GET', '/os-hypervisors'), **_DEPRECATED_ADMIN),
    _rule(HYPERVISORS % 'list-detail', ADMIN, 'List all hypervisors with details',
          ('GET', '/os-hypervisors/details'), **_DEPRECATED_ADMIN),
    _rule(HYPERVISORS % 'statistics', ADMIN, 'Show summary statistics for all '
          'hypervisors over all compute nodes.', ('GET', '/os-hypervisors/statistics'),
          **_DEPRECATED_ADMIN),
    _rule(HYPERVISORS % 'show', ADMIN, 'Show details for a hypervisor.',
          ('GET', '/os-hypervisors/{hypervisor_id}'), **_DEPRECATED_ADMIN),
    _rule(HYPERVISORS % 'uptime', ADMIN, 'Show the uptime of a hypervisor.',
          ('GET', '/os-hypervisors/{hypervisor_id}/uptime'), **_DEPRECATED_ADMIN),
    _rule(HYPERVISORS % 'search', ADMIN, 'Search hypervisor by hypervisor_hostname '
          'pattern (up to microversion 2.52).',
          ('GET', '/os-hypervisors/{hypervisor_hostname_pattern}/search'),
          **_DEPRECATED_ADMIN),
    _rule(HYPERVISORS % 'servers', ADMIN, 'List all servers on hypervisors that can '
          'match the provided hypervisor_hostname pattern (up to microversion 2.52).',
          ('GET', '/os-hypervisors/{hypervisor_hostname_pattern}/servers'),
          **_DEPRECATED_ADMIN),
]

AGGREGATE_RULES = [
    _rule('os_compute_api:os-aggregates:index', ADMIN, 'List all aggregates',
          ('GET', '/os-aggregates'), **_DEPRECATED_ADMIN),
]

RULES = (BASE_RULES + SERVER_RULES + METADATA_RULES + ACTION_RULES + QUOTA_RULES
         + LIMIT_RULES + KEYPAIR_RULES + SERVICE_RULES + HYPERVISOR_RULES
         + AGGREGATE_RULES)


def list_rules():
    """The registered defaults (the ``oslo.policy.policies`` entry point)."""
    return RULES


def register_opts(conf):
    """oslo.policy's options ([oslo_policy]), registered before the Enforcer does,
    so that inject-api checks their values at start."""
    base.register_listed(conf, policy_opts.list_opts())


class _ThrottledEnforcer(policy.Enforcer):
    """oslo.policy's Enforcer, looking at its files at most once per
    :data:`RECHECK_SECONDS` (``clock``), or at the next check after :meth:`expire`."""

    clock = staticmethod(time.monotonic)

    def __init__(self, conf):
        super().__init__(conf)
        self._next_look = None       # clock() after which the files are looked at
        self._force = False

    def expire(self, force=True):
        """Look at the files at the next check (``force``: and re-read them)."""
        self._force = force
        self._next_look = None

    def load_rules(self, force_reload=False):
        now = self.clock()
        if (not force_reload and not self._force and self._next_look is not None
                and now < self._next_look):
            return
        force, self._force = force_reload or self._force, False
        super().load_rules(force_reload=force)
        self._next_look = now + RECHECK_SECONDS


class Enforcer:
    def __init__(self, conf):
        self._enforcer = _ThrottledEnforcer(conf)
        # As Nova: the defaults of every rule changed at once; one warning per rule
        # at start would bury the log.
        self._enforcer.suppress_default_change_warnings = True
        self._enforcer.register_defaults(RULES)
        self._enforcer.load_rules()     # a broken policy file stops the start

    def can(self, context, rule, project_id=None, user_id=None):
        """Whether ``context`` may apply ``rule`` to ``project_id`` (the caller's own
        project when None) and ``user_id`` (the owner of a key pair; the caller when
        None). A token of the wrong scope may not."""
        target = {'project_id': context.project_id if project_id is None else project_id,
                  'user_id': context.user_id if user_id is None else user_id}
        return bool(self._enforcer.authorize(rule, target, context, do_raise=False))

    def reload(self):
        """Re-read the policy file at the next check (inject-api's SIGHUP)."""
        self._enforcer.expire(force=True)

    def is_admin(self, context):
        return self.can(context, 'context_is_admin')

    def authorize(self, context, rule, project_id=None, user_id=None):
        """Raise a 403 Fault unless ``context`` may apply ``rule`` to ``project_id``
        (and ``user_id``)."""
        if not self.can(context, rule, project_id, user_id):
            raise faults.Forbidden("Policy doesn't allow %s to be performed." % rule)
