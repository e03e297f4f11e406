"""Who may do what (oslo.policy). Rules can be overridden in policy.yaml as in Nova;
the names are Nova's."""

from oslo_policy import policy

from inject.api import faults

ADMIN = 'role:admin'
OWNER = 'project_id:%(project_id)s'
ADMIN_OR_OWNER = '%s or %s' % (ADMIN, OWNER)

RULES = [
    policy.RuleDefault('context_is_admin', ADMIN, 'Administrators.'),
    policy.RuleDefault('os_compute_api:servers:create', OWNER, 'Create a server.'),
    policy.RuleDefault('os_compute_api:servers:show', ADMIN_OR_OWNER, 'Show a server.'),
    policy.RuleDefault('os_compute_api:servers:index', ADMIN_OR_OWNER, 'List servers.'),
    policy.RuleDefault('os_compute_api:servers:detail', ADMIN_OR_OWNER,
                       'List servers in detail.'),
    policy.RuleDefault('os_compute_api:servers:delete', ADMIN_OR_OWNER,
                       'Delete a server.'),
    policy.RuleDefault('os_compute_api:servers:rebuild', ADMIN_OR_OWNER,
                       'Rebuild a server.'),
    policy.RuleDefault('os_compute_api:servers:update', ADMIN_OR_OWNER,
                       'Update a server.'),
    policy.RuleDefault('os_compute_api:server-metadata:index', ADMIN_OR_OWNER,
                       'List the metadata of a server.'),
    policy.RuleDefault('os_compute_api:server-metadata:show', ADMIN_OR_OWNER,
                       'Show one metadata item of a server.'),
    policy.RuleDefault('os_compute_api:server-metadata:create', ADMIN_OR_OWNER,
                       'Add metadata items to a server.'),
    policy.RuleDefault('os_compute_api:server-metadata:update_all', ADMIN_OR_OWNER,
                       'Replace all metadata of a server.'),
    policy.RuleDefault('os_compute_api:server-metadata:update', ADMIN_OR_OWNER,
                       'Set one metadata item of a server.'),
    policy.RuleDefault('os_compute_api:server-metadata:delete', ADMIN_OR_OWNER,
                       'Delete one metadata item of a server.'),
    policy.RuleDefault('os_compute_api:os-instance-actions:list', ADMIN_OR_OWNER,
                       'List the actions of a server.'),
    policy.RuleDefault('os_compute_api:os-instance-actions:show', ADMIN_OR_OWNER,
                       'Show one action of a server.'),
    policy.RuleDefault('os_compute_api:os-quota-sets:show', ADMIN_OR_OWNER,
                       'Show a project\'s quotas.'),
    policy.RuleDefault('os_compute_api:os-quota-sets:detail', ADMIN_OR_OWNER,
                       'Show a project\'s quotas with usage.'),
    policy.RuleDefault('os_compute_api:os-quota-sets:defaults', '@',
                       'Show default quotas.'),
    policy.RuleDefault('os_compute_api:os-quota-sets:update', ADMIN,
                       'Update a project\'s quotas.'),
    policy.RuleDefault('os_compute_api:os-quota-sets:delete', ADMIN,
                       'Revert a project\'s quotas to the defaults.'),
    policy.RuleDefault('os_compute_api:os-quota-class-sets:show', ADMIN,
                       'Show a quota class.'),
    policy.RuleDefault('os_compute_api:os-quota-class-sets:update', ADMIN,
                       'Update a quota class.'),
]


def list_rules():
    return RULES


class Enforcer:
    def __init__(self, conf):
        self._enforcer = policy.Enforcer(conf)
        self._enforcer.register_defaults(RULES)

    def is_admin(self, context):
        return self._enforcer.enforce('context_is_admin', {}, context.to_policy_values())

    def authorize(self, context, rule, project_id):
        """Raise a 403 Fault unless ``context`` may apply ``rule`` to ``project_id``."""
        if not self._enforcer.authorize(rule, {'project_id': project_id},
                                        context.to_policy_values(), do_raise=False):
            raise faults.Forbidden("Policy doesn't allow %s to be performed." % rule)
